"""uio.plugins — the public contract between the uio core and modality plugins.

A modality imports only from here (and ``uio.plugins.blocks``), never from
``uio.core``.
"""

from uio.plugins.hookspecs import hookimpl
from uio.plugins.spec import (
    API_VERSION,
    DatasetSpec,
    EmptyConfig,
    EncoderContext,
    FileDecoder,
    FitValueProcessor,
    FixedLengthDecoder,
    ModalitySpec,
    ObjectiveContext,
    ObjectiveExample,
    ObjectiveSpec,
    OutputDecoder,
    ProcessContext,
    Processor,
    Segment,
    TaskExample,
    TaskSpec,
    Tokenizer,
    TrainableTokenizer,
)

__all__ = [
    "API_VERSION",
    "DatasetSpec",
    "EmptyConfig",
    "EncoderContext",
    "FileDecoder",
    "FitValueProcessor",
    "FixedLengthDecoder",
    "ModalitySpec",
    "ObjectiveContext",
    "ObjectiveExample",
    "ObjectiveSpec",
    "OutputDecoder",
    "ProcessContext",
    "Processor",
    "Segment",
    "TaskExample",
    "TaskSpec",
    "Tokenizer",
    "TrainableTokenizer",
    "hookimpl",
]
