"""Outlines of the six scene shapes as polygons in the unit square.

Each outline is a closed polygon with ``(x, y)`` vertices in ``[0, 1]``, ``y``
pointing down (image convention), scaled uniformly so that its longer side
spans the whole unit square and centred along the shorter one. The renderer
maps the unit square onto an object's extent; the drawn shape's tight box is
therefore the extent itself, except for the star (slightly less tall than wide).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from uio.modalities.scenes.world import SHAPES

Point = tuple[float, float]

# Enough vertices that the circle and the heart's lobes are smooth even after
# 4x supersampling at 256 px.
_CURVE_POINTS = 64
# Inner / outer radius of the star: fatter than a regular star's 0.38 so its
# points stay visible on a small object at 64 px.
_STAR_INNER = 0.5


def _fit(points: Sequence[Point]) -> tuple[Point, ...]:
    """Scale uniformly into the unit square (longer side = 1) and centre the shorter side."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    scale = 1.0 / max(width, height)
    dx = (1.0 - width * scale) / 2
    dy = (1.0 - height * scale) / 2
    return tuple(((x - min(xs)) * scale + dx, (y - min(ys)) * scale + dy) for x, y in points)


def _circle() -> tuple[Point, ...]:
    step = 2 * math.pi / _CURVE_POINTS
    return _fit([(math.cos(i * step), math.sin(i * step)) for i in range(_CURVE_POINTS)])


def _star() -> tuple[Point, ...]:
    points = []
    for i in range(10):
        radius = 1.0 if i % 2 == 0 else _STAR_INNER
        angle = -math.pi / 2 + i * math.pi / 5  # first point straight up
        points.append((radius * math.cos(angle), radius * math.sin(angle)))
    return _fit(points)


def _heart() -> tuple[Point, ...]:
    # The classic parametric heart; y is negated because image y points down.
    points = []
    for i in range(_CURVE_POINTS):
        t = 2 * math.pi * i / _CURVE_POINTS
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((x, -y))
    return _fit(points)


#: Unit-square outline of every shape in :data:`~uio.modalities.scenes.world.SHAPES`.
OUTLINES: dict[str, tuple[Point, ...]] = {
    "circle": _circle(),
    "square": ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),
    "triangle": ((0.5, 0.0), (1.0, 1.0), (0.0, 1.0)),
    "star": _star(),
    "heart": _heart(),
    "diamond": ((0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)),
}
assert set(OUTLINES) == set(SHAPES), "every shape of the world needs an outline"


def outline(shape: str) -> tuple[Point, ...]:
    """The unit-square polygon of ``shape``.

    Raises:
        ValueError: if ``shape`` is not one of the world's shapes.
    """
    if shape not in OUTLINES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    return OUTLINES[shape]
