"""Pictures of spectrograms: a colour map, low frequencies at the bottom, enlarged."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

#: Anchor colours of the map, from quiet to loud (close to matplotlib's "magma";
#: written out here so that no plotting library is needed).
_ANCHORS = np.array(
    [
        (0, 0, 4),
        (59, 15, 112),
        (140, 41, 129),
        (222, 73, 104),
        (254, 159, 109),
        (252, 253, 191),
    ],
    dtype=np.float64,
)
#: Smallest height in pixels of a drawn spectrogram (small ones are enlarged, cell for cell).
MIN_HEIGHT = 128


def colour_map(values: np.ndarray) -> np.ndarray:
    """RGB ``uint8 [..., 3]`` of values in ``[0, 1]`` (clipped) through the colour map."""
    positions = np.clip(values, 0.0, 1.0) * (len(_ANCHORS) - 1)
    anchors = np.arange(len(_ANCHORS))
    channels = [np.interp(positions, anchors, _ANCHORS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def spectrogram_picture(grid: torch.Tensor | np.ndarray, min_height: int = MIN_HEIGHT) -> Image.Image:
    """A picture of a normalised log-mel ``[n_mels, frames]`` (silence -1, full scale +1).

    Time runs left to right and the lowest mel band is at the bottom; each cell
    is enlarged to a square block of whole pixels until the picture is at least
    ``min_height`` tall.
    """
    values = grid.detach().float().cpu().numpy() if isinstance(grid, torch.Tensor) else np.asarray(grid)
    if values.ndim != 2:
        raise ValueError(f"a spectrogram picture needs [n_mels, frames], got shape {tuple(values.shape)}")
    rgb = colour_map((values[::-1] + 1.0) / 2.0)  # row 0 (lowest band) drawn last: at the bottom
    scale = max(1, -(-min_height // values.shape[0]))
    rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def comparison_sheet(rows: Sequence[Sequence[Image.Image]], gap: int = 2) -> Image.Image:
    """Pictures laid out in rows (e.g. originals above reconstructions) on white."""
    width = max(sum(p.width for p in row) + gap * (len(row) - 1) for row in rows)
    height = sum(max(p.height for p in row) for row in rows) + gap * (len(rows) - 1)
    sheet = Image.new("RGB", (width, height), "white")
    top = 0
    for row in rows:
        left = 0
        for picture in row:
            sheet.paste(picture, (left, top))
            left += picture.width + gap
        top += max(p.height for p in row) + gap
    return sheet
