"""The scene classifier network and its labels: per grid cell, empty or a (colour, shape) pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from uio.modalities.scenes.render import BACKGROUND, cell_bounds
from uio.modalities.scenes.world import COLORS, NUM_CELLS, SHAPES, SceneObject

Pair = tuple[str, str]
#: Class 0 is an empty cell; class ``1 + 6 * colour + shape`` a (colour, shape) pair.
CLASSES: tuple[Pair | None, ...] = (None, *((c, s) for c in COLORS for s in SHAPES))
NUM_CLASSES = len(CLASSES)
_INDEX: dict[Pair | None, int] = {pair: i for i, pair in enumerate(CLASSES)}


def cell_labels(objects: Sequence[SceneObject]) -> list[int]:
    """The class of each of the 9 cells (row-major) of a scene; sizes are ignored."""
    labels = [0] * NUM_CELLS
    for obj in objects:
        labels[3 * obj.row + obj.col] = _INDEX[obj.pair]
    return labels


def image_tensor(images: Sequence[Image.Image]) -> torch.Tensor:
    """``[n, 3, h, w]`` float pixels in ``[0, 1]`` of RGB images of one size."""
    arrays = [np.asarray(image.convert("RGB"), dtype=np.uint8) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)


class SceneClassifier(nn.Module):
    """Reads a square RGB image of side ``size`` and classifies each of its 9 grid cells.

    Each cell is cut out exactly as the renderer lays cells out (so an object is
    always wholly inside its crop), padded with background to a common square and
    read by one small shared CNN: the same weights serve all 9 cells, which
    gives 9 training samples per scene.

    Args:
        size: the image side it reads; other sizes must be resized first.
        width: channels of the deeper conv layers (the first two have half).
    """

    def __init__(self, size: int = 32, width: int = 32) -> None:
        super().__init__()
        self.size = size
        self.width = width
        self.bounds = [cell_bounds(r, c, size) for r in range(3) for c in range(3)]
        self.crop = max(max(x2 - x1, y2 - y1) for x1, y1, x2, y2 in self.bounds)
        half = width // 2
        self.features = nn.Sequential(
            nn.Conv2d(3, half, 3, padding=1), nn.ReLU(),
            nn.Conv2d(half, half, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(half, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(3),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(9 * width, 64), nn.ReLU(), nn.Linear(64, NUM_CLASSES)
        )
        self.register_buffer(
            "background", torch.tensor(BACKGROUND, dtype=torch.float32).div(255.0).view(3, 1, 1),
            persistent=False,
        )

    def cells(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[n, 3, size, size]`` -> ``[n * 9, 3, crop, crop]`` cell crops, background-padded."""
        if pixels.dim() != 4 or pixels.shape[1:] != (3, self.size, self.size):
            raise ValueError(
                f"pixels have shape {tuple(pixels.shape)}; expected [n, 3, {self.size}, "
                f"{self.size}] (resize images to the classifier's size first)"
            )
        crops = []
        for x1, y1, x2, y2 in self.bounds:
            crop = pixels[:, :, y1:y2, x1:x2]
            pad_w, pad_h = self.crop - (x2 - x1), self.crop - (y2 - y1)
            if pad_w or pad_h:
                canvas = self.background.expand(pixels.shape[0], 3, self.crop, self.crop).clone()
                canvas[:, :, : y2 - y1, : x2 - x1] = crop
                crop = canvas
            crops.append(crop)
        return torch.stack(crops, dim=1).flatten(0, 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[n, 3, size, size]`` pixels in ``[0, 1]`` -> ``[n, 9, NUM_CLASSES]`` logits."""
        crops = (self.cells(pixels) - 0.5) / 0.25
        logits = self.head(self.features(crops))
        return logits.view(pixels.shape[0], NUM_CELLS, NUM_CLASSES)

    def predict(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[n, 9]`` predicted classes."""
        return self(pixels).argmax(dim=-1)


def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over all cells."""
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())
