"""Raw text -> local ids, in dataloader workers."""

from __future__ import annotations

from typing import Any

import torch

from uio.modalities.text.config import TextConfig
from uio.modalities.text.tokenizer import SentencePieceTokenizer, as_text
from uio.plugins import ProcessContext, Segment

_PREVIEW_CHARS = 40


def _where(ctx: ProcessContext) -> str:
    return f"example {ctx.example_id!r}" if ctx.example_id else "an example"


class TextProcessor:
    """Tokenizes text for the encoder (a ``Segment``) or the decoder (a list of ids).

    Accepts strings and numbers (spelled with ``str``). A text longer than
    ``max_length`` tokens is an error, never silently truncated.
    """

    def __init__(self, config: TextConfig, tokenizer: SentencePieceTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer

    def _ids(self, value: Any, ctx: ProcessContext, role: str) -> list[int]:
        try:
            text = as_text(value)
        except TypeError:
            raise TypeError(
                f"{_where(ctx)}: text {role} must be a string, got {type(value).__name__}"
            ) from None
        ids = self.tokenizer.encode(text)
        if len(ids) > self.config.max_length:
            preview = text[:_PREVIEW_CHARS] + ("..." if len(text) > _PREVIEW_CHARS else "")
            raise ValueError(
                f"{_where(ctx)}: text {role} of {len(ids)} tokens exceeds text.max_length="
                f"{self.config.max_length} (text starts {preview!r}); fix: shorten it or raise "
                f"text.max_length"
            )
        return ids

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """A 1D segment of local ids (may be empty for an empty string)."""
        ids = self._ids(value, ctx, "input")
        return Segment(modality="text", ids=torch.tensor(ids, dtype=torch.long))

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """Local ids the decoder must produce (the core adds the end token)."""
        return self._ids(value, ctx, "target")
