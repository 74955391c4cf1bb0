"""uio.modalities.image — the built-in image modality (UIO2's image input and output).

A raw value is a PIL image, an image file path (relative to the example's
``base_dir``), or an array (``H x W x 3`` uint8 or ``3 x H x W`` floats in
``[0, 1]``); a list of those is a history of frames (see :mod:`.value`).

Inputs: the image is resized to ``input_size`` and encoded by a timm ViT, one
token per patch with 2D positions (a history is compressed by the core's
perceiver resampler). Targets: the image is resized to ``target_size`` and
tokenized by a VQ-GAN into a ``grid x grid`` code grid, which the decoder
generates and decodes back to an image (scored by PSNR). The VQ-GAN is trained
by ``uio fit-tokenizer``. Objectives: [S] generation and [R] masked denoising.
"""

from uio.modalities.image.config import PRESETS, ImageConfig, VitConfig
from uio.modalities.image.decoder import ImageOutputDecoder, psnr_uint8
from uio.modalities.image.encoder import ImageInputEncoder, build_vit, load_vit_weights
from uio.modalities.image.objectives import DIRECT, MASKED_DENOISING, OBJECTIVES, mask_patches
from uio.modalities.image.processor import ImageProcessor, patch_positions
from uio.modalities.image.tokenizer import ImageTokenizer
from uio.modalities.image.value import load_frames, load_image, read_image

__all__ = [
    "DIRECT",
    "MASKED_DENOISING",
    "OBJECTIVES",
    "PRESETS",
    "ImageConfig",
    "ImageInputEncoder",
    "ImageOutputDecoder",
    "ImageProcessor",
    "ImageTokenizer",
    "VitConfig",
    "build_vit",
    "load_frames",
    "load_image",
    "load_vit_weights",
    "mask_patches",
    "patch_positions",
    "psnr_uint8",
    "read_image",
]
