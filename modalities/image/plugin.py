"""Entry point of the built-in image modality (``uio.modalities`` group, name ``image``)."""

from __future__ import annotations

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.decoder import ImageOutputDecoder
from uio.modalities.image.encoder import ImageInputEncoder
from uio.modalities.image.objectives import OBJECTIVES
from uio.modalities.image.processor import ImageProcessor
from uio.modalities.image.tokenizer import ImageTokenizer
from uio.plugins import ModalitySpec, hookimpl

IMAGE_SPEC = ModalitySpec(
    name="image",
    api_version=1,  # the contract this code was written for; another uio refuses it
    config_model=ImageConfig,
    vocab_size=lambda cfg: cfg.codebook_size,
    build_tokenizer=ImageTokenizer,
    build_processor=ImageProcessor,
    build_input_encoder=ImageInputEncoder,
    build_output_decoder=ImageOutputDecoder,
    objectives=OBJECTIVES,
    position_dims=2,
    guidance=True,
    description=(
        "RGB images: ViT patches in, a grid of VQ-GAN codes out "
        "(UIO2: 384 px in, 32x32 codes of 16,384 at 256 px)"
    ),
)


@hookimpl
def uio_modalities() -> list[ModalitySpec]:
    """The image modality."""
    return [IMAGE_SPEC]
