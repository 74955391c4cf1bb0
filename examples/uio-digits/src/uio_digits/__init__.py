"""uio-digits: a modality for digit strings ("0451"), and a dataset to sort or reverse them.

The reference out-of-tree uio plugin. ``modality.py`` implements the contract of
``uio.plugins`` (tokenizer, processor, input encoder, output decoder, objective),
``tasks.py`` the prompt templates and the dataset, ``plugin.py`` the pluggy hooks
that the ``uio.modalities`` entry point in ``pyproject.toml`` points at.
"""

from uio_digits.modality import (
    DIGITS_SPEC,
    DigitsConfig,
    DigitsDecoder,
    DigitsEncoder,
    DigitsProcessor,
    DigitsTokenizer,
)
from uio_digits.tasks import DIGITS_DATASET, TASKS, DigitsDataConfig, build_digits

__all__ = [
    "DIGITS_DATASET",
    "DIGITS_SPEC",
    "TASKS",
    "DigitsConfig",
    "DigitsDataConfig",
    "DigitsDecoder",
    "DigitsEncoder",
    "DigitsProcessor",
    "DigitsTokenizer",
    "build_digits",
]
