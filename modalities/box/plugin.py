"""Entry point of the built-in box modality (``uio.modalities`` group, name ``box``)."""

from __future__ import annotations

from uio.modalities.box.config import BoxConfig
from uio.modalities.box.decoder import BoxOutputDecoder
from uio.modalities.box.encoder import BoxInputEncoder
from uio.modalities.box.objectives import OBJECTIVES
from uio.modalities.box.processor import BoxProcessor
from uio.modalities.box.tokenizer import BoxTokenizer
from uio.plugins import ModalitySpec, hookimpl

BOX_SPEC = ModalitySpec(
    name="box",
    api_version=1,  # the contract this code was written for; another uio refuses it
    config_model=BoxConfig,
    vocab_size=lambda cfg: cfg.num_bins,
    build_tokenizer=BoxTokenizer,
    build_processor=BoxProcessor,
    build_input_encoder=lambda cfg, ctx: BoxInputEncoder(ctx),
    build_output_decoder=lambda cfg, tokenizer: BoxOutputDecoder(tokenizer),
    objectives=OBJECTIVES,
    position_dims=1,
    description="bounding boxes [x1, y1, x2, y2] as 4 location bins each (UIO2: 1000 bins)",
)


@hookimpl
def uio_modalities() -> list[ModalitySpec]:
    """The box modality."""
    return [BOX_SPEC]
