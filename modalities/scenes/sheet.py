"""Tiling rendered scenes into one image, to look at many at once (e.g. in a gallery)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from uio.modalities.scenes.render import RenderedScene

#: Colour of the gaps between tiles and of the box outlines.
SHEET_BACKGROUND = (255, 255, 255)


def contact_sheet(
    scenes: Sequence[RenderedScene],
    columns: int,
    *,
    gap: int = 2,
    boxes: bool = False,
) -> Image.Image:
    """The scenes' images in a grid, row-major, ``columns`` per row.

    The sheet is ``columns * size + (columns + 1) * gap`` pixels wide and
    ``rows * size + (rows + 1) * gap`` high, with ``rows = ceil(len(scenes) /
    columns)``; unused tiles of the last row stay blank. With ``boxes``, each
    object's box is outlined one pixel outside it, on the sheet only.

    Raises:
        TypeError: if ``columns`` or ``gap`` is not an int.
        ValueError: if ``scenes`` is empty or mixes image sizes, ``columns < 1``
            or ``gap < 0``.
    """
    for name, value, low in (("columns", columns, 1), ("gap", gap, 0)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} is {value!r} ({type(value).__name__}); expected an int")
        if value < low:
            raise ValueError(f"{name} is {value}; expected an int >= {low}")
    if not scenes:
        raise ValueError("scenes is empty; expected at least one RenderedScene")
    sizes = sorted({scene.size for scene in scenes})
    if len(sizes) > 1:
        raise ValueError(f"scenes have different sizes {sizes}; expected one image size")
    size = sizes[0]
    rows = math.ceil(len(scenes) / columns)
    sheet = Image.new(
        "RGB",
        (columns * size + (columns + 1) * gap, rows * size + (rows + 1) * gap),
        SHEET_BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    for index, scene in enumerate(scenes):
        left = gap + (index % columns) * (size + gap)
        top = gap + (index // columns) * (size + gap)
        sheet.paste(scene.image, (left, top))
        if boxes:
            for x1, y1, x2, y2 in scene.boxes:
                # Just outside the half-open box, so no pixel of the object is hidden
                # (Pillow's rectangle is inclusive; renderer margins keep it in the tile).
                draw.rectangle(
                    (left + x1 - 1, top + y1 - 1, left + x2, top + y2), outline=SHEET_BACKGROUND
                )
    return sheet
