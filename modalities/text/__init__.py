"""uio.modalities.text — the built-in text modality (sentencepiece ids, T5/UL2 denoisers)."""

from uio.modalities.text.config import TextConfig
from uio.modalities.text.decoder import TextOutputDecoder, normalize_answer
from uio.modalities.text.encoder import TextInputEncoder
from uio.modalities.text.objectives import (
    EXTREME_SPAN_CORRUPTION,
    OBJECTIVES,
    PREFIX_LM,
    SPAN_CORRUPTION,
    corrupt_spans,
    extreme_span_corruption,
    prefix_lm,
    span_corruption,
)
from uio.modalities.text.processor import TextProcessor
from uio.modalities.text.spans import random_spans
from uio.modalities.text.tasks import LM, SEQ2SEQ, TASKS
from uio.modalities.text.tokenizer import SentencePieceTokenizer

__all__ = [
    "EXTREME_SPAN_CORRUPTION",
    "LM",
    "OBJECTIVES",
    "PREFIX_LM",
    "SEQ2SEQ",
    "SPAN_CORRUPTION",
    "TASKS",
    "SentencePieceTokenizer",
    "TextConfig",
    "TextInputEncoder",
    "TextOutputDecoder",
    "TextProcessor",
    "corrupt_spans",
    "extreme_span_corruption",
    "normalize_answer",
    "prefix_lm",
    "random_spans",
    "span_corruption",
]
