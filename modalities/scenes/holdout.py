"""Which (colour, shape) combinations are held out of training."""

from __future__ import annotations

from functools import lru_cache

from uio.modalities.scenes.world import COLORS, SHAPES

Pair = tuple[str, str]

# Pairs are taken along "diagonals" of the colour x shape table (colour i with
# shape i + d), one whole diagonal before the next: every colour and every shape
# then loses at most one more combination than any other, so all of them keep
# training examples as long as one diagonal stays in train.
_MAX_DIAGONALS = len(SHAPES) - 1


def _diagonal_order() -> list[Pair]:
    n = len(COLORS)
    return [(COLORS[i], SHAPES[(i + d) % len(SHAPES)]) for d in range(len(SHAPES)) for i in range(n)]


def num_holdout_pairs(fraction: float) -> int:
    """How many pairs a ``holdout_fraction`` holds out; a ValueError if that is unusable."""
    total = len(COLORS) * len(SHAPES)
    count = round(fraction * total)
    most = _MAX_DIAGONALS * len(COLORS)
    if not 1 <= count <= most:
        raise ValueError(
            f"holdout_fraction={fraction} holds out {count} of {total} (colour, shape) pairs; "
            f"it must hold out between 1 and {most} (fraction {1 / total:.3f} to "
            f"{most / total:.3f}) so the held-out split exists and every colour and shape "
            f"still appears in training"
        )
    return count


@lru_cache(maxsize=64)
def holdout_pairs(fraction: float) -> frozenset[Pair]:
    """The held-out ``(colour, shape)`` pairs for a fraction; independent of the seed.

    The set is fixed by ``fraction`` alone, so runs with different seeds agree on
    what "unseen" means. With the default 0.2, 7 of the 36 pairs are held out.
    """
    return frozenset(_diagonal_order()[: num_holdout_pairs(fraction)])


def train_pairs(fraction: float) -> list[Pair]:
    """The pairs that may appear in training scenes, in a fixed order."""
    held = holdout_pairs(fraction)
    return [(c, s) for c in COLORS for s in SHAPES if (c, s) not in held]
