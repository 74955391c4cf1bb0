"""Objectives for image targets (UIO2's denoisers for images, arXiv 2312.17172).

- ``image.direct`` [S]: generate the image's code grid from the task's inputs.
- ``image.masked_denoising`` [R]: the target image itself joins the inputs with
  a random share of its patches masked; the decoder produces the full code grid.

Both are the shared blocks of :mod:`uio.plugins.blocks.objectives`.
"""

from __future__ import annotations

from uio.plugins.blocks.objectives import (
    DEFAULT_MASK_RATIO,
    generate_target,
    mask_patches,
    masked_denoising,
)

__all__ = ["DEFAULT_MASK_RATIO", "DIRECT", "MASKED_DENOISING", "OBJECTIVES", "mask_patches"]

DIRECT = generate_target(
    "image", "[S] generate the image's VQ code grid (row-major) from the task's inputs"
)
MASKED_DENOISING = masked_denoising(
    "image",
    "[R] the target image joins the inputs with image.mask_ratio of its patches masked; "
    "generate its full VQ code grid",
)
OBJECTIVES = [DIRECT, MASKED_DENOISING]
