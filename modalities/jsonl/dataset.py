"""The ``jsonl`` dataset builder: a user's manifest(s) -> the train and heldout splits."""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

from uio.modalities.jsonl.config import JsonlConfig
from uio.modalities.jsonl.reader import read_manifest

SPLITS: tuple[str, ...] = ("train", "heldout")


def in_heldout(split_key: str, fraction: float) -> bool:
    """Whether a line with this split key belongs to the held-out share ``fraction``.

    A hash, not a random draw: the same line lands in the same split in every run.
    """
    digest = hashlib.sha256(split_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_jsonl(options: JsonlConfig | dict[str, Any], split: str, seed: int) -> list[dict[str, Any]]:
    """The raw examples of one split of a user's manifest(s).

    With ``heldout_path`` each split is its own file; otherwise both come from
    ``path``, split by :func:`in_heldout`. ``seed`` is not used: the split is
    meant to stay put whatever the seed (the data loader shuffles).

    Raises:
        ValueError: on an unknown split, or a manifest problem naming file and line.
    """
    if not isinstance(options, JsonlConfig):
        options = JsonlConfig.model_validate(options)
    if split not in SPLITS:
        raise ValueError(f"jsonl has no split {split!r}; expected one of {', '.join(SPLITS)}")
    skip = options.skip_bad_examples
    if options.heldout_path is not None:
        chosen = options.path if split == "train" else options.heldout_path
        return read_manifest(chosen, skip_bad_examples=skip).examples

    manifest = read_manifest(options.path, skip_bad_examples=skip)
    want_heldout = split == "heldout"
    examples = [
        example
        for example, key in zip(manifest.examples, manifest.split_keys, strict=True)
        if in_heldout(key, options.heldout_fraction) == want_heldout
    ]
    if not examples and not (want_heldout and options.heldout_fraction == 0):
        warnings.warn(
            f"{manifest.path}: the {split} split is empty ({len(manifest.examples)} examples, "
            f"heldout_fraction={options.heldout_fraction})",
            stacklevel=2,
        )
    return examples
