"""Training the image tokenizer's VQ-GAN (what ``uio fit-tokenizer`` runs for images).

The loop is the shared one of :mod:`uio.plugins.blocks.vqgan_fit` (L1 +
commitment + a hinge patch-adversarial term from ``fit_adversarial_start``); a
tenth of the images is held out to report PSNR and codebook usage, and a picture
of held-out originals above their reconstructions is saved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.pixels import to_uint8
from uio.plugins.blocks import vqgan_fit
from uio.plugins.blocks.vqgan import VQGAN, psnr
from uio.plugins.blocks.vqgan_fit import FIT_SEED, HELDOUT_SHARE, VQGANFitOptions

__all__ = [
    "FIT_SEED",
    "HELDOUT_SHARE",
    "PICTURE_COUNT",
    "PICTURE_TILE",
    "RECONSTRUCTIONS_FILE",
    "comparison_sheet",
    "fit_device",
    "split_heldout",
    "train_vqgan",
]

RECONSTRUCTIONS_FILE = "reconstructions.png"
#: Held-out images shown in the reconstructions picture.
PICTURE_COUNT = 8
#: Smallest tile side in the picture (small images are enlarged, pixel for pixel).
PICTURE_TILE = 96
LABEL = "image tokenizer"


def fit_device(config: ImageConfig) -> torch.device:
    """The device ``config.fit_device`` names (``"auto"``: CUDA when available)."""
    return vqgan_fit.fit_device(config.fit_device, "image.fit_device")


def split_heldout(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train indices, held-out indices)``: a random tenth (at least one) held out."""
    return vqgan_fit.split_heldout(count, generator, LABEL, "images")


def comparison_sheet(originals: np.ndarray, reconstructions: np.ndarray) -> Image.Image:
    """Originals in the top row, their reconstructions below (``uint8 [n, S, S, 3]`` each)."""
    count, side = originals.shape[0], originals.shape[1]
    scale = max(1, -(-PICTURE_TILE // side))
    tile, gap = side * scale, 2
    sheet = Image.new("RGB", (count * (tile + gap) - gap, 2 * tile + gap), "white")
    for row, arrays in enumerate((originals, reconstructions)):
        for i, array in enumerate(arrays):
            image = Image.fromarray(array, "RGB").resize((tile, tile), Image.Resampling.NEAREST)
            sheet.paste(image, (i * (tile + gap), row * (tile + gap)))
    return sheet


def _describe(reconstruction: torch.Tensor, batch: torch.Tensor) -> str:
    return f"psnr {psnr(reconstruction, batch):.2f} dB"


def train_vqgan(model: VQGAN, images: torch.Tensor, config: ImageConfig, out_dir: Path) -> dict[str, float]:
    """Train ``model`` on ``images`` (``[N, 3, S, S]`` in ``[-1, 1]``) as ``config`` says.

    The model ends in eval mode on the CPU; the caller's random state is left as it was.

    Returns:
        ``heldout_psnr`` (dB, on the held-out images through encode and decode),
        ``codebook_usage`` (share of the codes used by the held-out images) and
        ``steps``.
    """
    options = VQGANFitOptions.from_config(config, config.target_size, "image", "images", _describe)
    result = vqgan_fit.train_vqgan(model, images, options)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shown = slice(0, PICTURE_COUNT)
    comparison_sheet(to_uint8(result.heldout[shown]), to_uint8(result.reconstructions[shown])).save(
        out_dir / RECONSTRUCTIONS_FILE
    )
    return {
        "heldout_psnr": psnr(result.reconstructions, result.heldout),
        "codebook_usage": result.codes.unique().numel() / config.codebook_size,
        "steps": result.steps,
    }
