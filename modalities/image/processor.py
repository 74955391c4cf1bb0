"""Raw image values -> pixel segments for the encoder and VQ codes for the decoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.pixels import to_tensor
from uio.modalities.image.tokenizer import NOT_FITTED, ImageTokenizer
from uio.modalities.image.value import is_history, load_frames, load_image, where
from uio.plugins import ProcessContext, Segment

NAME = "image"


def patch_positions(per_side: int) -> torch.Tensor:
    """``[per_side**2, 2]`` (row, column) of each patch, row-major."""
    rows, cols = torch.meshgrid(torch.arange(per_side), torch.arange(per_side), indexing="ij")
    return torch.stack([rows.reshape(-1), cols.reshape(-1)], dim=1)


class ImageProcessor:
    """Loads image values (see :mod:`~uio.modalities.image.value`) in dataloader workers.

    An input becomes a segment of one token per ViT patch; its features are
    ``{"pixels": [F, 3, S, S] float32 in [-1, 1], "mask": None, "mask_ratio": float}``
    (``mask`` is set by the masked-denoising objective; ``mask_ratio`` tells it how
    much to mask, since objectives do not see the config). One image carries 2D
    (row, column) patch positions; a history of ``F > 1`` frames asks the core to
    compress it (``compress=True``) and carries none.
    """

    def __init__(self, config: ImageConfig, tokenizer: ImageTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self._positions = patch_positions(config.patches_per_side)

    def _load(self, value: Any, ctx: ProcessContext, side: int, role: str) -> list[np.ndarray]:
        c = self.config
        sides = (c.input_size, c.target_size)
        return load_frames(value, ctx, side=side, role=role, strict=c.strict, strict_sides=sides)

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """``F * N`` tokens (``N`` patches per frame) of the image or history."""
        frames = self._load(value, ctx, self.config.input_size, "input")
        history = len(frames) > 1
        features = {"pixels": to_tensor(frames), "mask": None, "mask_ratio": self.config.mask_ratio}
        return Segment(
            modality=NAME,
            features=features,
            positions=None if history else self._positions.clone(),
            num_tokens=len(frames) * self.config.num_patches,
            compress=history,
        )

    def _target_array(self, value: Any, ctx: ProcessContext) -> np.ndarray:
        if is_history(value):
            raise ValueError(
                f"{where(ctx)}: image target is a history of {len(value)} frames; a target must "
                f"be one image"
            )
        c = self.config
        return load_image(
            value, ctx, side=c.target_size, role="target", strict=c.strict, strict_sides=(c.input_size,)
        )

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """The ``grid * grid`` VQ codes (row-major) of the image at ``target_size``."""
        if not self.tokenizer.is_fitted:
            raise RuntimeError(f"{where(ctx)}: {NOT_FITTED}")
        return self.tokenizer.encode_arrays([self._target_array(value, ctx)])[0].tolist()

    def fit_value(self, value: Any, ctx: ProcessContext) -> np.ndarray | list[np.ndarray]:
        """The image as the tokenizer's ``fit`` takes it: RGB ``uint8 [target_size]^2 x 3``
        (a list of those for a history, whose frames are all fitted on)."""
        frames = self._load(value, ctx, self.config.target_size, "target")
        return frames if is_history(value) else frames[0]
