"""Rendering scenes to RGB images, with the pixel bounding box of every object.

Layout: the square image is split into a 3x3 grid; cell ``(row, col)`` spans
pixels ``[col * size // 3, (col + 1) * size // 3)`` horizontally and likewise
vertically (see :func:`cell_bounds`), so any ``size`` works, not only multiples
of 3 (at 64 px the cells are 21, 21 and 22 px wide). Inside its cell an object
keeps a margin of 5% of the cell (at least 1 px) on every side; of what is
left, a ``large`` object takes 80-100% and a ``small`` one 45-55% (side of a
square extent), at a random offset inside the cell; all rounded to whole
pixels. Without jitter, large is 90% and small 50%, centred. Hence a box never leaves its cell, never touches a
neighbouring cell, and every small object is smaller than every large one.

Shapes (:mod:`uio.modalities.scenes.shapes`) are filled polygons without
anti-aliasing: each is drawn at 4x resolution and a pixel is set where the
shape covers at least half of it, so colours stay pure (every pixel is either
background or exactly one object's colour) and the geometry is exact to the
pixel.

Colours (RGB) on a dark grey ``(32, 32, 32)`` background, where all six stay
visible and far apart (the closest pair, red and orange, differ by about 95 in
RGB distance):

========  ===============
red       (220, 40, 40)
green     (40, 170, 60)
blue      (40, 90, 230)
yellow    (240, 210, 40)
purple    (150, 60, 200)
orange    (245, 130, 20)
========  ===============

Boxes are ``(x1, y1, x2, y2)`` in pixel-edge coordinates: the object's pixels
are exactly those with ``x1 <= x < x2`` and ``y1 <= y < y2`` that carry its
colour, and the box is tight (every edge row and column holds one of them). This
is the pixel frame of the box modality (``{"boxes": ..., "size": [w, h]}``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from uio.modalities.scenes.parse import parse_description
from uio.modalities.scenes.shapes import outline
from uio.modalities.scenes.world import COLORS, COLUMNS, ROWS, SHAPES, SIZES, SceneObject

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in pixels, half-open: ``x1 <= x < x2``."""

#: The RGB of every colour name of the world.
COLOR_RGB: dict[str, RGB] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 230),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "orange": (245, 130, 20),
}
assert set(COLOR_RGB) == set(COLORS), "every colour of the world needs an RGB"
BACKGROUND: RGB = (32, 32, 32)

#: Smallest image side. Below it a small object is about 3 px wide and shapes
#: merge (a 3x3 circle is a square); at 32 px all six still differ in pixels,
#: and from 64 px on they are easy to tell apart by eye.
MIN_SIZE = 32
DEFAULT_SIZE = 64

# (low, high) share of the free side of a cell taken by an object's extent, and
# the share without jitter. Small's high end stays below large's low end.
_EXTENT = {"large": (0.80, 1.00), "small": (0.45, 0.55)}
_NOMINAL = {"large": 0.90, "small": 0.50}
_MARGIN = 0.05  # of the cell side, at least 1 px
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class RenderedScene:
    """A rendered scene.

    Attributes:
        image: RGB image, ``size`` x ``size`` pixels.
        boxes: one tight pixel box ``(x1, y1, x2, y2)`` per object, in the
            objects' order (see the module docstring for the convention).
        objects: the objects that were drawn.
        size: the image side in pixels.
    """

    image: Image.Image
    boxes: tuple[Box, ...]
    objects: tuple[SceneObject, ...]
    size: int

    def box_value(self) -> dict[str, Any]:
        """The boxes as a raw value of the box modality, in pixels."""
        return {"boxes": [list(b) for b in self.boxes], "size": [self.size, self.size]}


def cell_bounds(row: int, col: int, size: int) -> Box:
    """Pixel bounds ``(x1, y1, x2, y2)`` (half-open) of grid cell ``(row, col)``."""
    return (col * size // 3, row * size // 3, (col + 1) * size // 3, (row + 1) * size // 3)


def render_scene(
    objects: Sequence[SceneObject],
    size: int = DEFAULT_SIZE,
    rng_or_seed: int | random.Random = 0,
    *,
    jitter: bool = True,
) -> RenderedScene:
    """Draw ``objects`` on a ``size`` x ``size`` image, each inside its grid cell.

    The same objects, size and seed give byte-identical pixels. With a
    ``random.Random``, the renderer draws from it (three numbers per object, in
    the objects' order), so a caller can chain renders on one stream.

    Args:
        objects: the scene, at most one object per cell.
        size: side of the square image in pixels, at least :data:`MIN_SIZE`.
        rng_or_seed: seed (int) or random generator of the position and scale jitter.
        jitter: ``False`` centres every object at its nominal scale (the rng is unused).

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: on a too small ``size``, an unknown attribute value, a row or
            column off the grid, or two objects in one cell.
    """
    _check_size(size)
    rng = _rng(rng_or_seed)
    if isinstance(objects, str) or not isinstance(objects, Sequence):
        raise TypeError(
            f"objects is {type(objects).__name__}; expected a sequence of SceneObject"
        )
    objects = tuple(objects)
    _check_objects(objects)
    image = Image.new("RGB", (size, size), BACKGROUND)
    boxes = []
    for index, obj in enumerate(objects):
        mask = _mask(obj, size, rng, jitter)
        box = mask.getbbox()
        if box is None:  # unreachable above MIN_SIZE; kept loud rather than silent
            raise RuntimeError(f"objects[{index}] ({obj.phrase()}) covers no pixel at size {size}")
        image.paste(COLOR_RGB[obj.color], (0, 0, size, size), mask)
        boxes.append(box)
    return RenderedScene(image=image, boxes=tuple(boxes), objects=objects, size=size)


def render_example(
    example: dict[str, Any], size: int = DEFAULT_SIZE, seed: int = 0, *, jitter: bool = True
) -> RenderedScene:
    """Render the scene of a raw ``scene_qa`` example (its ``"scene"`` description).

    The jitter stream is seeded by ``seed`` and the example's ``"id"``, so the
    examples of one dataset differ in layout and each is reproducible alone.

    Raises:
        TypeError: if ``example`` is not a dict or ``seed`` not an int.
        ValueError: if the example has no ``"scene"``, its description cannot be read (see
            :func:`~uio.modalities.scenes.parse.parse_description`), or as
            :func:`render_scene` does.
    """
    if not isinstance(example, dict):
        raise TypeError(
            f"example is {type(example).__name__}; expected a raw scene_qa example (a dict)"
        )
    if "scene" not in example:
        raise ValueError(
            f'example has no "scene" description (keys: {sorted(example)}); expected a raw '
            f"scene_qa example"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed is {seed!r} ({type(seed).__name__}); expected an int")
    objects = parse_description(example["scene"])
    rng = random.Random(f"scene-render-{seed}-{example.get('id', '')}")
    return render_scene(objects, size, rng, jitter=jitter)


def _extent(obj: SceneObject, size: int, rng: random.Random, jitter: bool) -> tuple[int, int, int]:
    """``(left, top, side)`` of the object's square extent, in whole pixels.

    Whole pixels keep edges crisp: a square fills its box exactly, with no
    half-covered border pixels dropped at the corners.
    """
    x1, y1, x2, y2 = cell_bounds(obj.row, obj.col, size)
    margin = max(1, round(_MARGIN * (x2 - x1)))
    free_x, free_y = x2 - x1 - 2 * margin, y2 - y1 - 2 * margin
    if jitter:
        share, u, v = rng.uniform(*_EXTENT[obj.size]), rng.random(), rng.random()
    else:
        share, u, v = _NOMINAL[obj.size], 0.5, 0.5
    side = max(1, round(share * min(free_x, free_y)))
    return x1 + margin + round(u * (free_x - side)), y1 + margin + round(v * (free_y - side)), side


def _mask(obj: SceneObject, size: int, rng: random.Random, jitter: bool) -> Image.Image:
    """The object's pixels: 255 where its shape covers at least half of the pixel."""
    left, top, side = _extent(obj, size, rng, jitter)
    big = Image.new("L", (size * _SUPERSAMPLE, size * _SUPERSAMPLE), 0)
    # Pillow puts integer coordinates at pixel centres; ours are pixel edges.
    polygon = [
        ((left + u * side) * _SUPERSAMPLE - 0.5, (top + v * side) * _SUPERSAMPLE - 0.5)
        for u, v in outline(obj.shape)
    ]
    ImageDraw.Draw(big).polygon(polygon, fill=255)
    return big.reduce(_SUPERSAMPLE).point(lambda level: 255 if level >= 128 else 0)


def _check_size(size: Any) -> None:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"size is {size!r} ({type(size).__name__}); expected an int (pixels)")
    if size < MIN_SIZE:
        raise ValueError(
            f"size is {size}; expected at least {MIN_SIZE} pixels (smaller cells of the 3x3 "
            f"grid make small shapes indistinguishable)"
        )


def _rng(rng_or_seed: Any) -> random.Random:
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    if isinstance(rng_or_seed, bool) or not isinstance(rng_or_seed, int):
        raise TypeError(
            f"rng_or_seed is {rng_or_seed!r} ({type(rng_or_seed).__name__}); expected an int "
            f"seed or a random.Random"
        )
    return random.Random(rng_or_seed)


def _check_objects(objects: tuple[Any, ...]) -> None:
    taken: dict[tuple[int, int], int] = {}
    for i, obj in enumerate(objects):
        where = f"objects[{i}]"
        if not isinstance(obj, SceneObject):
            raise TypeError(f"{where} is {obj!r} ({type(obj).__name__}); expected a SceneObject")
        for name, allowed in (("size", SIZES), ("color", COLORS), ("shape", SHAPES)):
            value = getattr(obj, name)
            if value not in allowed:
                raise ValueError(
                    f"{where}.{name} is {value!r}; expected one of {', '.join(allowed)}"
                )
        for name, count in (("row", len(ROWS)), ("col", len(COLUMNS))):
            value = getattr(obj, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
                raise ValueError(f"{where}.{name} is {value!r}; expected an int in 0..{count - 1}")
        cell = (obj.row, obj.col)
        if cell in taken:
            raise ValueError(
                f"{where} and objects[{taken[cell]}] are both in cell (row={cell[0]}, "
                f"col={cell[1]}); expected at most one object per cell"
            )
        taken[cell] = i
