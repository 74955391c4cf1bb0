"""Entry point of the built-in audio modality (``uio.modalities`` group, name ``audio``)."""

from __future__ import annotations

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.decoder import AudioOutputDecoder
from uio.modalities.audio.encoder import AudioInputEncoder
from uio.modalities.audio.objectives import OBJECTIVES
from uio.modalities.audio.processor import AudioProcessor
from uio.modalities.audio.tokenizer import AudioTokenizer
from uio.plugins import ModalitySpec, hookimpl

AUDIO_SPEC = ModalitySpec(
    name="audio",
    api_version=1,  # the contract this code was written for; another uio refuses it
    config_model=AudioConfig,
    vocab_size=lambda cfg: cfg.vocab_size,
    build_tokenizer=AudioTokenizer,
    build_processor=AudioProcessor,
    build_input_encoder=AudioInputEncoder,
    build_output_decoder=AudioOutputDecoder,
    objectives=OBJECTIVES,
    position_dims=2,
    guidance=True,
    description=(
        "audio clips: log-mel spectrogram patches in, spectrogram VQ (or EnCodec) codes out "
        "(UIO2: 4.08 s at 16 kHz, 512 codes of 8,192 per clip)"
    ),
)


@hookimpl
def uio_modalities() -> list[ModalitySpec]:
    """The audio modality."""
    return [AUDIO_SPEC]
