"""Options of the ``jsonl`` dataset, as written in a data-mixture config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class JsonlConfig(BaseModel):
    """Options of the ``jsonl`` dataset.

    Attributes:
        path: the train manifest (relative paths are taken from the current directory).
        heldout_path: a separate held-out manifest; ``None``: split ``path`` instead.
        heldout_fraction: with no ``heldout_path``, the share of ``path``'s lines
            that form the held-out split, chosen by hashing each line's ``id`` (or
            its content), so the split is stable across runs, seeds and edits of
            other lines.
        skip_bad_examples: skip malformed lines (with a warning that counts them)
            instead of failing on the first.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    heldout_path: str | None = None
    heldout_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    skip_bad_examples: bool = False

    @field_validator("path", "heldout_path")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a manifest path must not be empty")
        return value
