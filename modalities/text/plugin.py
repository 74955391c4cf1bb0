"""Entry point of the built-in text modality (``uio.modalities`` group, name ``text``)."""

from __future__ import annotations

from uio.modalities.text.config import TextConfig
from uio.modalities.text.decoder import TextOutputDecoder
from uio.modalities.text.encoder import TextInputEncoder
from uio.modalities.text.objectives import OBJECTIVES
from uio.modalities.text.processor import TextProcessor
from uio.modalities.text.tasks import TASKS
from uio.modalities.text.tokenizer import SentencePieceTokenizer
from uio.plugins import API_VERSION, ModalitySpec, TaskSpec, hookimpl

TEXT_SPEC = ModalitySpec(
    name="text",
    api_version=API_VERSION,
    config_model=TextConfig,
    vocab_size=lambda cfg: cfg.vocab_size,
    build_tokenizer=SentencePieceTokenizer,
    build_processor=TextProcessor,
    build_input_encoder=lambda cfg, ctx: TextInputEncoder(ctx),
    build_output_decoder=lambda cfg, tokenizer: TextOutputDecoder(tokenizer),
    objectives=OBJECTIVES,
    position_dims=1,
    description="text through a sentencepiece tokenizer (unigram or BPE) fitted on the data",
)


@hookimpl
def uio_modalities() -> list[ModalitySpec]:
    """The text modality."""
    return [TEXT_SPEC]


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """``text.lm`` and ``text.seq2seq``."""
    return list(TASKS)
