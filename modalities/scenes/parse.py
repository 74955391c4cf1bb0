"""Reading a scene description back into objects: the inverse of ``world.describe``."""

from __future__ import annotations

import re

from uio.modalities.scenes.world import COLORS, COLUMNS, ROWS, SHAPES, SIZES, SceneObject

_CLAUSE = re.compile(
    rf"a ({'|'.join(SIZES)}) ({'|'.join(COLORS)}) ({'|'.join(SHAPES)}) "
    rf"at ({'|'.join(ROWS)}) ({'|'.join(COLUMNS)})\."
)


def parse_description(text: str) -> list[SceneObject]:
    """The objects of a description made by :func:`~uio.modalities.scenes.world.describe`.

    Example: ``"a small red circle at top left."`` gives
    ``[SceneObject("small", "red", "circle", 0, 0)]``.

    Raises:
        TypeError: if ``text`` is not a string.
        ValueError: if ``text`` is not exactly a sequence of such clauses
            separated by single spaces.
    """
    if not isinstance(text, str):
        raise TypeError(f"text is {text!r} ({type(text).__name__}); expected a str")
    objects = []
    position = 0
    while position < len(text):
        start = position + 1 if objects else position
        if objects and text[position] != " ":
            break
        match = _CLAUSE.match(text, start)
        if match is None:
            break
        size, color, shape, row, col = match.groups()
        objects.append(SceneObject(size, color, shape, ROWS.index(row), COLUMNS.index(col)))
        position = match.end()
    if position != len(text) or not objects:
        raise ValueError(
            f"cannot read a scene from {text!r} at character {position}; expected clauses like "
            f"'a small red circle at top left.' separated by single spaces"
        )
    return objects
