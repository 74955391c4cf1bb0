"""Gallery pictures: boxes over an enlarged image, and images side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw

TRUE_COLOR = (40, 220, 40)
PREDICTED_COLOR = (255, 0, 0)
GAP_COLOR = (255, 255, 255)
#: How much gallery pictures enlarge the images (nearest neighbour, pixels stay crisp).
SCALE = 4

PixelBox = tuple[float, float, float, float]


def upscale(image: Image.Image, factor: int = SCALE) -> Image.Image:
    """``image`` enlarged ``factor`` times, nearest neighbour, in RGB."""
    return image.convert("RGB").resize(
        (image.width * factor, image.height * factor), Image.Resampling.NEAREST
    )


def pixel_boxes(value: Any, width: int, height: int) -> list[PixelBox]:
    """The boxes of a box value in the pixels of a ``width`` x ``height`` image.

    Reads both frames of the box modality: pixels with ``"size"`` (rescaled to
    this image) and normalised without it (what the box decoder returns). Being
    for predictions, it is lenient: anything that is not four finite numbers is
    skipped, never an error.
    """
    if not isinstance(value, dict) or not isinstance(value.get("boxes"), list | tuple):
        return []
    sx, sy = float(width), float(height)
    size = value.get("size")
    if isinstance(size, list | tuple) and len(size) == 2 and all(_finite(v) and v > 0 for v in size):
        sx, sy = width / float(size[0]), height / float(size[1])
    boxes = []
    for box in value["boxes"]:
        if isinstance(box, list | tuple) and len(box) == 4 and all(_finite(c) for c in box):
            x1, y1, x2, y2 = (float(c) for c in box)
            boxes.append((x1 * sx, y1 * sy, x2 * sx, y2 * sy))
    return boxes


def draw_boxes(
    image: Image.Image,
    true_boxes: Sequence[PixelBox],
    predicted_boxes: Sequence[PixelBox],
    factor: int = SCALE,
) -> Image.Image:
    """``image`` enlarged ``factor`` times with true boxes in green and predicted ones in red.

    Boxes are in the pixels of ``image`` (half-open, pixel edges). The predicted
    ones are drawn last, so where both agree the red outline shows on top.
    """
    picture = upscale(image, factor)
    draw = ImageDraw.Draw(picture)
    for boxes, color in ((true_boxes, TRUE_COLOR), (predicted_boxes, PREDICTED_COLOR)):
        for x1, y1, x2, y2 in boxes:
            left, right = sorted((x1 * factor, x2 * factor))
            top, bottom = sorted((y1 * factor, y2 * factor))
            # Pillow's rectangle includes its far edge; the box's far edge is exclusive.
            draw.rectangle((left, top, max(left, right - 1), max(top, bottom - 1)), outline=color)
    return picture


def side_by_side(images: Sequence[Image.Image], height: int, gap: int = 2) -> Image.Image:
    """The images in one row, each scaled (nearest) to ``height`` pixels high, ``gap`` apart."""
    if not images:
        raise ValueError("side_by_side needs at least one image")
    tiles = [
        image.convert("RGB").resize(
            (max(1, round(image.width * height / image.height)), height),
            Image.Resampling.NEAREST,
        )
        for image in images
    ]
    width = sum(t.width for t in tiles) + gap * (len(tiles) + 1)
    sheet = Image.new("RGB", (width, height + 2 * gap), GAP_COLOR)
    left = gap
    for tile in tiles:
        sheet.paste(tile, (left, gap))
        left += tile.width + gap
    return sheet


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
