"""Cheap torch augmentations that imitate the flaws of generated images.

A model's generated picture is never a clean render: a VQ decoder smooths
edges and shifts colours, and tokens in the wrong place leave blocky patches
and speckles. The scene classifier trains on clean renders passed through
these, so that it judges *what* was drawn rather than how crisply.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _uniform(n: int, low: float, high: float, gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(n, *shape, generator=gen) * (high - low) + low


def _chosen(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    """``[n, 1, 1, 1]`` bool: which images of the batch get an augmentation."""
    return (torch.rand(n, generator=gen) < p).view(n, 1, 1, 1)


def color_shift(x: torch.Tensor, gen: torch.Generator, gain: float = 0.12, offset: float = 0.06) -> torch.Tensor:
    """Per image and channel, scale by ``1 +- gain`` and add ``+- offset``."""
    n = x.shape[0]
    scale = _uniform(n, 1 - gain, 1 + gain, gen, 3, 1, 1)
    shift = _uniform(n, -offset, offset, gen, 3, 1, 1)
    return x * scale + shift


def blur(x: torch.Tensor, gen: torch.Generator, low: float = 0.3, high: float = 0.9) -> torch.Tensor:
    """Gaussian blur, a random sigma per image (5x5 separable kernel)."""
    n = x.shape[0]
    sigma = _uniform(n, low, high, gen, 1)
    taps = torch.arange(-2, 3, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # [n, 5]
    # One group per (image, channel): each image gets its own kernel.
    weight = kernel.repeat_interleave(3, dim=0)
    flat = x.reshape(1, n * 3, *x.shape[2:])
    flat = F.conv2d(F.pad(flat, (2, 2, 0, 0), mode="replicate"), weight.view(n * 3, 1, 1, 5), groups=n * 3)
    flat = F.conv2d(F.pad(flat, (0, 0, 2, 2), mode="replicate"), weight.view(n * 3, 1, 5, 1), groups=n * 3)
    return flat.view_as(x)


def smooth(x: torch.Tensor, gen: torch.Generator, low: float = 1.4, high: float = 2.2) -> torch.Tensor:
    """VQ-decoder-like smoothing: bilinear down by a random factor and back up (per batch)."""
    factor = float(_uniform(1, low, high, gen))
    side = max(4, round(x.shape[-1] / factor))
    small = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


def blocky(x: torch.Tensor, gen: torch.Generator, block: int = 2) -> torch.Tensor:
    """JPEG-like blockiness: blend each ``block`` x ``block`` patch toward its mean."""
    n = x.shape[0]
    h, w = x.shape[-2:]
    pooled = F.avg_pool2d(x, block, ceil_mode=True)
    blocks = F.interpolate(pooled, scale_factor=block, mode="nearest")[..., :h, :w]
    alpha = _uniform(n, 0.3, 0.8, gen, 1, 1, 1)
    return x + alpha * (blocks - x)


def noise(x: torch.Tensor, gen: torch.Generator, high: float = 0.06) -> torch.Tensor:
    """Gaussian pixel noise with a random standard deviation per image."""
    std = _uniform(x.shape[0], 0.0, high, gen, 1, 1, 1)
    return x + std * torch.randn(x.shape, generator=gen)


def shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Move the whole picture by up to one pixel each way (per batch), edges replicated."""
    dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    h, w = x.shape[-2:]
    return padded[..., 1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]


# (augmentation, probability per image) in the order they are applied.
_PIPELINE = (
    (shift, 0.2),
    (smooth, 0.3),
    (blur, 0.3),
    (blocky, 0.2),
    (color_shift, 0.7),
    (noise, 0.5),
)


def degrade(x: torch.Tensor, gen: torch.Generator, clean_share: float = 0.3) -> torch.Tensor:
    """Augment a batch ``[n, 3, h, w]`` in ``[0, 1]``; ``clean_share`` of the images stay as they are.

    Every other image goes through each augmentation with its own probability.
    Deterministic in the state of ``gen``.
    """
    n = x.shape[0]
    touched = ~_chosen(n, clean_share, gen)
    out = x
    for fn, p in _PIPELINE:
        out = torch.where(_chosen(n, p, gen) & touched, fn(out, gen), out)
    return out.clamp(0.0, 1.0)
