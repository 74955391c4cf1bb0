"""Generated VQ codes -> an image; PSNR against a reference; PNG files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.tokenizer import ImageTokenizer
from uio.modalities.image.value import load_image, read_image
from uio.plugins import ProcessContext

#: PSNR reported for identical images (their MSE is 0, the PSNR infinite), so
#: that averages over many examples stay finite.
MAX_PSNR = 100.0


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two ``uint8`` arrays of one shape (peak 255), at most :data:`MAX_PSNR`."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return MAX_PSNR
    return min(MAX_PSNR, 10.0 * math.log10(255.0**2 / mse))


class ImageOutputDecoder:
    """Decodes a generated code grid to a PIL image; scores, renders and writes images.

    ``output_length`` (``grid * grid``) tells the core to generate exactly one
    full grid.
    """

    file_suffix = ".png"

    def __init__(self, config: ImageConfig, tokenizer: ImageTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.output_length: int = config.num_codes

    def decode(self, ids: Sequence[int]) -> Image.Image:
        """The ``target_size`` RGB image of generated local ids (see
        :meth:`ImageTokenizer.decode` for a wrong number of ids)."""
        return self.tokenizer.decode(ids)

    def _array(self, value: Any) -> np.ndarray:
        return load_image(value, ProcessContext(), side=self.config.target_size, role="value")

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """``{"psnr": dB}`` of the prediction against the reference, both at ``target_size``.

        The reference may be a PIL image, an array or an absolute path; one that
        cannot be loaded gives ``{}`` (no score rather than a wrong one). PSNR is
        in dB (higher is better, not bounded by 1), at most :data:`MAX_PSNR`.
        """
        try:
            expected = self._array(reference)
        except (TypeError, ValueError, OSError):
            return {}
        return {"psnr": psnr_uint8(self._array(prediction), expected)}

    def render(self, value: Any) -> str:
        """``"<image 32x32>"`` (a history: ``"<3 images 32x32>"``)."""
        if isinstance(value, list | tuple):
            sizes = {self._size(v) for v in value}
            shown = sizes.pop() if len(sizes) == 1 else "mixed sizes"
            return f"<{len(value)} images {shown}>"
        return f"<image {self._size(value)}>"

    @staticmethod
    def _size(value: Any) -> str:
        if isinstance(value, Image.Image):
            return f"{value.width}x{value.height}"
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) == 3:
            h, w = (shape[0], shape[1]) if shape[-1] == 3 else (shape[1], shape[2])
            return f"{w}x{h}"
        return "?" if not isinstance(value, str | Path) else Path(value).name

    def picture(self, value: Any) -> Image.Image:
        """The image itself, as a PIL RGB image at its own size."""
        if isinstance(value, Image.Image) and value.mode == "RGB":
            return value
        return read_image(value, ProcessContext(), role="value")

    def write(self, value: Any, path: Path) -> Path:
        """Write the image as a PNG to ``path`` (``.png`` appended unless it ends so);
        parent folders are created. Returns the path written."""
        path = Path(path)
        if path.suffix.lower() != self.file_suffix:
            path = path.with_name(path.name + self.file_suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.picture(value).save(path, format="PNG")
        return path
