"""The raw value of the box modality: reading and checking it, normalised to ``[0, 1]``.

A box value is a dict with a list of boxes ``[x1, y1, x2, y2]`` (left, top,
right, bottom; ``x1 <= x2`` and ``y1 <= y2``) in one of two coordinate frames:

- pixels, with the image size as ``[width, height]``::

      {"boxes": [[12, 40, 200, 310], [0, 0, 64, 64]], "size": [640, 480]}

  every ``x`` lies in ``[0, width]`` and every ``y`` in ``[0, height]``;
- normalised to ``[0, 1]`` when there is no ``"size"``::

      {"boxes": [[0.1, 0.2, 0.5, 0.9]]}

``"boxes"`` may be empty (nothing to detect). Decoded values are in the
normalised frame (ids carry no image size): multiply by the size for pixels.
A label per box belongs to another modality (a text segment), not here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Box = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` normalised to ``[0, 1]``."""

COORDINATES = ("x1", "y1", "x2", "y2")
KEYS = ("boxes", "size")
EXAMPLE = '{"boxes": [[x1, y1, x2, y2], ...], "size": [width, height]}'


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field} is {value!r} ({type(value).__name__}); expected a number")
    if not math.isfinite(value):
        raise ValueError(f"{field} is {value!r}; expected a finite number")
    return float(value)


def _size(value: Any) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f'"size" is {value!r}; expected [width, height] in pixels')
    width, height = (_number(v, f'"size"[{i}]') for i, v in enumerate(value))
    if width <= 0 or height <= 0:
        raise ValueError(f'"size" is {list(value)!r}; width and height must be positive')
    return width, height


def _box(value: Any, index: int, size: tuple[float, float] | None, check: bool) -> Box:
    field = f'"boxes"[{index}]'
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"{field} is {value!r} ({type(value).__name__}); expected a list [x1, y1, x2, y2]"
        )
    if len(value) != 4:
        raise ValueError(f"{field} has {len(value)} values; expected 4: [x1, y1, x2, y2]")
    coords = [_number(v, f"{field}[{i}] ({COORDINATES[i]})") for i, v in enumerate(value)]
    width, height = size if size is not None else (1.0, 1.0)
    if check:
        for i, c in enumerate(coords):
            limit = width if i % 2 == 0 else height
            if not 0.0 <= c <= limit:
                frame = (
                    f"the image [0, {'width' if i % 2 == 0 else 'height'}={limit:g}]"
                    if size is not None
                    else '[0, 1] (without "size", coordinates must be normalised; add '
                    '"size": [width, height] for pixel coordinates)'
                )
                raise ValueError(f"{field} {COORDINATES[i]}={c:g} is outside {frame}")
        for lo, hi in ((0, 2), (1, 3)):
            if coords[hi] < coords[lo]:
                raise ValueError(
                    f"{field} has {COORDINATES[hi]}={coords[hi]:g} < "
                    f"{COORDINATES[lo]}={coords[lo]:g}; expected [x1, y1, x2, y2] with "
                    f"x1 <= x2 and y1 <= y2"
                )
    return (coords[0] / width, coords[1] / height, coords[2] / width, coords[3] / height)


def read_boxes(value: Any, *, check: bool = True) -> list[Box]:
    """The boxes of a raw value, normalised to ``[0, 1]``.

    Args:
        value: a box value (see the module docstring).
        check: also require every coordinate inside the image and ``x1 <= x2``,
            ``y1 <= y2``. Off to read generated predictions, which may be malformed
            and are then simply scored low.

    Raises:
        TypeError: the value, a box or a coordinate has the wrong type.
        ValueError: a wrong length, an unknown key, a coordinate outside the
            image or a box with its corners swapped; the message names the field.
    """
    if not isinstance(value, dict):
        raise TypeError(
            f"a box value must be a dict like {EXAMPLE} (\"size\" only for pixel coordinates), "
            f"got {type(value).__name__}"
        )
    unknown = sorted(str(k) for k in value if k not in KEYS)
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} in a box value; expected {EXAMPLE} (labels go in a "
            f"separate segment of another modality)"
        )
    if "boxes" not in value:
        raise ValueError(f'a box value needs "boxes"; expected {EXAMPLE}')
    boxes = value["boxes"]
    if not isinstance(boxes, list | tuple):
        raise TypeError(
            f'"boxes" is {type(boxes).__name__}; expected a list of [x1, y1, x2, y2] lists'
        )
    size = _size(value["size"]) if value.get("size") is not None else None
    return [_box(b, i, size, check) for i, b in enumerate(boxes)]


def as_value(boxes: Sequence[Sequence[float]]) -> dict[str, list[list[float]]]:
    """Normalised boxes as a raw value (no ``"size"``)."""
    return {"boxes": [[float(c) for c in box] for box in boxes]}
