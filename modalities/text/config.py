"""The text modality's section of the run config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TextConfig(BaseModel):
    """Options of the built-in text modality.

    Attributes:
        vocab_size: size of the modality's id range in the unified vocabulary;
            the sentencepiece model is trained to at most this many pieces.
        model_type: sentencepiece algorithm. BPE by default: on a small corpus
            unigram stops at a few dozen pieces and splits words into letters.
        max_length: most tokens one text may take, as input or as target;
            longer texts are an error rather than silently truncated.
        lowercase: case-fold while normalising (part of the trained model, so
            a loaded tokenizer behaves the same whatever this says later).
    """

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(512, ge=16)
    model_type: Literal["unigram", "bpe"] = "bpe"
    max_length: int = Field(512, ge=1)
    lowercase: bool = False
