"""Which (kind, pitch) combinations are held out of training."""

from __future__ import annotations

from functools import lru_cache

from uio.modalities.sounds.world import KINDS, PITCHES

Pair = tuple[str, str]

# Pairs are taken along "diagonals" of the kind x pitch table (kind i with pitch
# i + d), one whole diagonal before the next: each diagonal takes one pitch from
# every kind and two kinds from every pitch, so as long as one diagonal stays in
# train every kind and every pitch keep training examples.
_MAX_DIAGONALS = len(PITCHES) - 1


def _diagonal_order() -> list[Pair]:
    return [(KINDS[i], PITCHES[(i + d) % len(PITCHES)]) for d in range(len(PITCHES)) for i in range(len(KINDS))]


def num_holdout_pairs(fraction: float) -> int:
    """How many pairs a ``holdout_fraction`` holds out; a ValueError if that is unusable."""
    total = len(KINDS) * len(PITCHES)
    count = round(fraction * total)
    most = _MAX_DIAGONALS * len(KINDS)
    if not 1 <= count <= most:
        raise ValueError(
            f"holdout_fraction={fraction} holds out {count} of {total} (kind, pitch) pairs; "
            f"it must hold out between 1 and {most} (fraction {1 / total:.3f} to "
            f"{most / total:.3f}) so the held-out split exists and every kind and pitch "
            f"still appears in training"
        )
    return count


@lru_cache(maxsize=64)
def holdout_pairs(fraction: float) -> frozenset[Pair]:
    """The held-out ``(kind, pitch)`` pairs for a fraction; independent of the seed.

    The set is fixed by ``fraction`` alone, so runs with different seeds agree on
    what "unseen" means. With the default 0.33, the 6 pairs of the first diagonal
    are held out: one pitch of every kind.
    """
    return frozenset(_diagonal_order()[: num_holdout_pairs(fraction)])


def train_pairs(fraction: float) -> list[Pair]:
    """The pairs that may appear in training, in a fixed order."""
    held = holdout_pairs(fraction)
    return [(k, p) for k in KINDS for p in PITCHES if (k, p) not in held]
