"""Write a small "your own folder of pictures" example for the ``jsonl`` dataset.

Pictures of one coloured shape (a disc, a square or a triangle) on a light
background, as a user's folder would hold them: of different sizes, not square,
and saved in different modes (RGB, RGBA, palette), which ``uio`` converts to RGB
and resizes. ``train.jsonl`` names them by path relative to itself, with three
tasks per picture:

- ``caption``: picture -> ``{"text": "a red disc"}``
- ``locate``: ``"where is the disc?"`` + picture -> the shape's box in pixels
- ``draw``: ``"draw a red disc"`` -> picture (a 64 px square picture)

Deterministic: ``python examples/jsonl_images/make_data.py`` rewrites the same
files.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = {
    "red": (205, 45, 45),
    "green": (45, 150, 70),
    "blue": (50, 80, 210),
    "black": (25, 25, 25),
}
SHAPES = ("disc", "square", "triangle")
BACKGROUND = (236, 232, 220)
MODES = ("RGB", "RGBA", "P")


def draw_shape(size: tuple[int, int], color: str, shape: str, rng: random.Random) -> tuple[Image.Image, list[int]]:
    """A picture of ``size`` (w, h) with one shape, and the shape's box ``[x1, y1, x2, y2]``."""
    w, h = size
    side = rng.randint(min(w, h) // 3, (min(w, h) * 3) // 4)
    x1, y1 = rng.randint(0, w - side), rng.randint(0, h - side)
    box = [x1, y1, x1 + side, y1 + side]
    picture = Image.new("RGB", size, BACKGROUND)
    pen = ImageDraw.Draw(picture)
    fill = COLORS[color]
    if shape == "disc":
        pen.ellipse([x1, y1, x1 + side - 1, y1 + side - 1], fill=fill)
    elif shape == "square":
        pen.rectangle([x1, y1, x1 + side - 1, y1 + side - 1], fill=fill)
    else:
        pen.polygon([(x1 + side / 2, y1), (x1 + side - 1, y1 + side - 1), (x1, y1 + side - 1)], fill=fill)
    return picture, box


def write_example(out: Path, count: int, seed: int) -> int:
    """Write ``count`` pictures, 64 px drawings and ``train.jsonl`` under ``out``; returns lines."""
    rng = random.Random(seed)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "drawings").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        color, shape = rng.choice(sorted(COLORS)), rng.choice(SHAPES)
        size = (rng.randint(64, 160), rng.randint(64, 160))
        picture, box = draw_shape(size, color, shape, rng)
        mode = MODES[i % len(MODES)]
        photo = f"photos/{i:03d}.png"
        picture.convert(mode).save(out / photo)
        drawing, _ = draw_shape((64, 64), color, shape, rng)
        drawn = f"drawings/{i:03d}.png"
        drawing.save(out / drawn)
        name = f"{color} {shape}"
        lines += [
            {"task": "caption", "input": {"image": photo}, "target": {"text": f"a {name}"}},
            {"task": "locate", "input": [["text", f"where is the {shape}?"], ["image", photo]],
             "target": {"box": {"boxes": [box], "size": list(size)}}},
            {"task": "draw", "input": {"text": f"draw a {name}"}, "target": {"image": drawn}},
        ]
    rng.shuffle(lines)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (out / "train.jsonl").write_text(text, encoding="utf-8")
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--count", type=int, default=160, help="pictures (three lines each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = write_example(args.out, args.count, args.seed)
    print(f"wrote {n} lines and {2 * args.count} pictures under {args.out}")


if __name__ == "__main__":
    main()
