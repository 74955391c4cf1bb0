"""Write ``train.jsonl``: a tiny "your own data" manifest for the ``jsonl`` dataset.

Two text tasks in the generic line form, so metrics come out per task:

- ``add``: ``{"text": "what is three plus four?"}`` -> ``{"text": "seven"}``
- ``reverse``: ``{"text": "reverse: apple river stone"}`` -> ``{"text": "stone river apple"}``

Deterministic: ``python examples/jsonl_qa/make_data.py`` rewrites the same file.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen",
]
WORDS = [
    "apple", "river", "stone", "cloud", "tiger", "lamp", "garden", "violin", "rocket",
    "pepper", "window", "forest", "candle", "bridge", "mirror", "planet",
]


def add_line(rng: random.Random) -> dict:
    """One ``add`` example: two digits in words, their sum in words."""
    a, b = rng.randrange(10), rng.randrange(10)
    return {
        "task": "add",
        "input": {"text": f"what is {NUMBERS[a]} plus {NUMBERS[b]}?"},
        "target": {"text": NUMBERS[a + b]},
    }


def reverse_line(rng: random.Random) -> dict:
    """One ``reverse`` example: three to five words, in reverse order."""
    words = rng.sample(WORDS, rng.randint(3, 5))
    return {
        "task": "reverse",
        "input": {"text": "reverse: " + " ".join(words)},
        "target": {"text": " ".join(reversed(words))},
    }


def make_lines(count: int, seed: int = 0) -> list[dict]:
    """``count`` examples, alternating the two tasks."""
    rng = random.Random(seed)
    return [(add_line if i % 2 == 0 else reverse_line)(rng) for i in range(count)]


def main() -> None:
    """Command line: ``make_data.py [--count N] [--out PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("train.jsonl"))
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as f:
        for line in make_lines(args.count):
            f.write(json.dumps(line) + "\n")
    print(f"wrote {args.count} lines to {args.out}")


if __name__ == "__main__":
    main()
