"""Image input encoder: a timm ViT over the patches, projected to the model width.

The ViT, its weight loading and the masking live in the shared patch-encoder block
(:mod:`uio.plugins.blocks.patch_encoder`); this module sizes them from the image config.
"""

from __future__ import annotations

from timm.models.vision_transformer import VisionTransformer

from uio.modalities.image.config import ImageConfig
from uio.plugins import EncoderContext
from uio.plugins.blocks import patch_encoder
from uio.plugins.blocks.patch_encoder import PatchEncoder, build_patch_vit, conv_stem

__all__ = ["ImageInputEncoder", "build_vit", "conv_stem", "load_vit_weights"]


def build_vit(config: ImageConfig) -> VisionTransformer:
    """The patch encoder's ViT for RGB ``input_size`` images, without class token, pooling or head."""
    return build_patch_vit(
        config.vit, grid_size=(config.input_size, config.input_size), patch_size=config.patch_size, in_channels=3
    )


def load_vit_weights(vit: VisionTransformer, spec: str) -> None:
    """Load a timm ViT state dict from a file into ``vit`` (errors name ``image.vit.weights``);
    see :func:`uio.plugins.blocks.patch_encoder.load_vit_weights`."""
    patch_encoder.load_vit_weights(vit, spec, field="image.vit.weights")


class ImageInputEncoder(PatchEncoder):
    """Pixel payloads -> one ``d_model`` embedding per patch.

    Each payload is an image segment's features (see
    :class:`~uio.modalities.image.processor.ImageProcessor`):
    ``{"pixels": [F, 3, S, S], "mask": None or bool [F * N]}``. Masked patches'
    pixels are zeroed and get a learned mask embedding; with ``vit.trainable:
    false`` the ViT is frozen and stays in eval mode (as UIO2 freezes its
    pretrained ViT). See :class:`~uio.plugins.blocks.patch_encoder.PatchEncoder`.
    """

    def __init__(self, config: ImageConfig, ctx: EncoderContext) -> None:
        vit = build_vit(config)
        if config.vit.weights is not None:
            load_vit_weights(vit, config.vit.weights)
        super().__init__(
            vit,
            ctx.d_model,
            trainable=config.vit.trainable,
            key="pixels",
            name="image",
            hint="image.input_size",
        )
        self.input_size = config.input_size
        self.per_side = config.patches_per_side
