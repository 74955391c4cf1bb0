"""The ``digits`` modality: strings of decimal digits, one token per digit.

Every part of the contract in ``uio.plugins`` in its simplest form. Imports come
from ``uio.plugins`` only, never from ``uio.core``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from uio.plugins import (
    EncoderContext,
    ModalitySpec,
    ObjectiveContext,
    ObjectiveExample,
    ObjectiveSpec,
    ProcessContext,
    Segment,
)

NAME = "digits"
ALPHABET = "0123456789"


class DigitsConfig(BaseModel):
    """The ``modalities.digits`` section of a run config.

    Attributes:
        max_length: most digits one value may have, as input or as target.
    """

    model_config = ConfigDict(extra="forbid")  # a typo in the YAML is an error, not ignored

    max_length: int = Field(16, ge=1)


def as_digits(value: Any) -> str:
    """A raw value as a digit string: ``"0451"`` as it is, a non-negative int spelled out."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and all(c in ALPHABET for c in value):
        return value
    raise ValueError(f"expected a string of digits 0-9 (or a non-negative int), got {value!r}")


class DigitsTokenizer:
    """Digit ``d`` <-> local id ``d``. Fixed, so nothing to fit and an empty state."""

    vocab_size = len(ALPHABET)

    def __init__(self, config: DigitsConfig) -> None:
        self.config = config

    def encode(self, value: Any) -> list[int]:
        """Local ids ``0..9``, one per digit."""
        return [ALPHABET.index(c) for c in as_digits(value)]

    def decode(self, ids: Sequence[int]) -> str:
        """The digit string; ids outside ``0..9`` are dropped."""
        return "".join(ALPHABET[int(i)] for i in ids if 0 <= int(i) < len(ALPHABET))

    def state_dict(self) -> dict[str, Any]:
        """Nothing learned: an empty dict (it still travels in checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore."""

    def fingerprint(self) -> str:
        """A hash of the alphabet: changes only if the id mapping does."""
        return hashlib.sha256(ALPHABET.encode()).hexdigest()[:16]


class DigitsProcessor:
    """Raw value -> local ids; runs in dataloader workers, so it holds only picklable state."""

    def __init__(self, config: DigitsConfig, tokenizer: DigitsTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer

    def _ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        where = f"example {ctx.example_id!r}" if ctx.example_id else "an example"
        try:
            ids = self.tokenizer.encode(value)
        except ValueError as exc:
            raise ValueError(f"{where}: digits: {exc}") from None
        if len(ids) > self.config.max_length:
            raise ValueError(
                f"{where}: {len(ids)} digits exceed digits.max_length={self.config.max_length}; "
                f"fix: raise digits.max_length"
            )
        return ids

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """A 1D segment of local ids (the core shifts them into the unified vocabulary)."""
        return Segment(modality=NAME, ids=torch.tensor(self._ids(value, ctx), dtype=torch.long))

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """Local ids the decoder must produce (the core adds the end token)."""
        return self._ids(value, ctx)


class DigitsEncoder(nn.Module):
    """Embeds the (global) ids with the core's shared token table; owns no parameters.

    It keeps the context, not ``ctx.embed_ids``: were that an ``nn.Embedding``,
    assigning it to ``self`` would register the shared table here a second time.
    """

    def __init__(self, ctx: EncoderContext) -> None:
        super().__init__()
        self._ctx = ctx

    def forward(self, payloads: list[torch.Tensor]) -> torch.Tensor:
        """``[total digits, d_model]`` for all segments of the batch, concatenated in order."""
        return self._ctx.embed_ids(torch.cat([p.reshape(-1) for p in payloads]).long())


class DigitsDecoder:
    """Generated local ids -> digit string; scored by exact match and per-digit accuracy."""

    def __init__(self, tokenizer: DigitsTokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """``exact_match`` and ``digit_accuracy`` (position-wise, over the longer string)."""
        pred, ref = str(prediction), as_digits(reference)
        longest = max(len(pred), len(ref), 1)
        same = sum(a == b for a, b in zip(pred, ref, strict=False))
        return {"exact_match": float(pred == ref), "digit_accuracy": same / longest}

    def render(self, value: Any) -> str:
        return str(value)


def direct(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    """[S]: the task's inputs -> its target, unchanged (the example as the task built it)."""
    return example


DIRECT = ObjectiveSpec(
    name="digits.direct",
    prefix="S",
    target_modalities=[NAME],
    apply=direct,
    description="[S] produce the target digits from the task's inputs",
)

DIGITS_SPEC = ModalitySpec(
    name=NAME,
    api_version=1,  # the contract this code was written for; another uio refuses it
    config_model=DigitsConfig,
    vocab_size=len(ALPHABET),
    build_tokenizer=DigitsTokenizer,
    build_processor=DigitsProcessor,
    build_input_encoder=lambda config, ctx: DigitsEncoder(ctx),
    build_output_decoder=lambda config, tokenizer: DigitsDecoder(tokenizer),
    objectives=[DIRECT],
    position_dims=1,
    description="strings of decimal digits, one token per digit",
)
