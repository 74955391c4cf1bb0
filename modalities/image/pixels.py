"""Conversions between RGB ``uint8`` arrays, PIL images and model tensors in ``[-1, 1]``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image


def to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """``[F, 3, S, S]`` float32 in ``[-1, 1]`` from ``F`` RGB ``uint8`` arrays ``[S, S, 3]``."""
    stacked = torch.from_numpy(np.stack(list(frames))).permute(0, 3, 1, 2)
    return stacked.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """RGB ``uint8`` arrays ``[B, S, S, 3]`` from ``[B, 3, S, S]`` floats in about ``[-1, 1]``."""
    scaled = (images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_pil(array: np.ndarray) -> Image.Image:
    """A PIL RGB image from an RGB ``uint8`` array ``[H, W, 3]``."""
    return Image.fromarray(np.ascontiguousarray(array), "RGB")
