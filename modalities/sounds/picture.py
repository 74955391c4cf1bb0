"""Spectrogram pictures of clips, for the eval gallery."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from uio.modalities.sounds.classifier_model import spectrograms

# Log-mel values mapped to black .. white (silence is -11.5, a loud sound about +2).
_DARK, _BRIGHT = -11.5, 2.0


def spectrogram_strip(waves: Sequence[tuple[np.ndarray, int]], scale: int = 4, gap: int = 4) -> Image.Image:
    """The log-mel spectrograms of ``(waveform, sample rate)`` pairs side by side, low
    frequencies at the bottom, each pixel ``scale`` x ``scale``, white gaps between."""
    mels = spectrograms(waves).numpy()
    levels = np.clip((mels - _DARK) / (_BRIGHT - _DARK), 0.0, 1.0)
    pictures = [(255 * level[::-1]).astype(np.uint8) for level in levels]
    height, width = pictures[0].shape
    canvas = np.full((height, len(pictures) * (width + gap) - gap), 255, dtype=np.uint8)
    for i, picture in enumerate(pictures):
        canvas[:, i * (width + gap) : i * (width + gap) + width] = picture
    image = Image.fromarray(canvas, mode="L").convert("RGB")
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
