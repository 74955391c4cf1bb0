"""The scene world: attribute vocabularies, objects on a 3x3 grid, and their description."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart", "diamond")
SIZES: tuple[str, ...] = ("small", "large")
ROWS: tuple[str, ...] = ("top", "middle", "bottom")
COLUMNS: tuple[str, ...] = ("left", "center", "right")
NUMBER_WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)
#: Cells of the grid, numbered row-major: cell ``3 * row + column``.
NUM_CELLS = len(ROWS) * len(COLUMNS)


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene: three attributes and a grid cell (0-based row and column)."""

    size: str
    color: str
    shape: str
    row: int
    col: int

    @property
    def position(self) -> str:
        """The cell in words, e.g. ``"top left"``."""
        return f"{ROWS[self.row]} {COLUMNS[self.col]}"

    @property
    def pair(self) -> tuple[str, str]:
        """The ``(colour, shape)`` combination, the unit of the held-out split."""
        return (self.color, self.shape)

    def attribute(self, name: str) -> str:
        """The value of ``"size"``, ``"color"`` or ``"shape"``."""
        if name not in ("size", "color", "shape"):
            raise ValueError(f"unknown attribute {name!r}; expected size, color or shape")
        return str(getattr(self, name))

    def phrase(self) -> str:
        """The object's clause of a scene description, without the full stop."""
        return f"a {self.size} {self.color} {self.shape} at {self.position}"


def describe(objects: Sequence[SceneObject]) -> str:
    """The scene description: one clause per object, in the given order.

    Example: ``"a small red circle at top left. a large blue star at middle right."``
    """
    return " ".join(f"{obj.phrase()}." for obj in objects)


def plural(shape: str) -> str:
    """The plural of a shape name (all of them are regular)."""
    return f"{shape}s"
