"""Generated ids -> text, and exact-match scoring."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from uio.modalities.text.tokenizer import SentencePieceTokenizer

_WHITESPACE = re.compile(r"\s+")


def normalize_answer(text: Any) -> str:
    """Strip, collapse whitespace, lowercase and drop trailing punctuation."""
    text = _WHITESPACE.sub(" ", str(text)).strip().lower()
    return text.rstrip(string.punctuation + " ")


class TextOutputDecoder:
    """Detokenizes generated local ids and scores predictions by normalised exact match."""

    def __init__(self, tokenizer: SentencePieceTokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, ids: Sequence[int]) -> str:
        """The text for generated local ids."""
        return self.tokenizer.decode(ids)

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """``{"exact_match": 1.0 or 0.0}``; a list of references matches if any one does."""
        refs = reference if isinstance(reference, list | tuple) else [reference]
        pred = normalize_answer(prediction)
        hit = any(pred == normalize_answer(r) for r in refs)
        return {"exact_match": 1.0 if hit else 0.0}

    def render(self, value: Any) -> str:
        """The text on one line."""
        return _WHITESPACE.sub(" ", str(value)).strip()
