"""Intersection over union of normalised boxes, and greedy one-to-one matching."""

from __future__ import annotations

from collections.abc import Sequence


def _area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes, in ``[0, 1]``.

    A box with swapped corners has no area. Two boxes without area (e.g. a point
    or a line) have IoU 1 if they are the same box and 0 otherwise, so that a
    degenerate reference can still be matched exactly.
    """
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = _area(a) + _area(b) - inter
    if union <= 0.0:
        return 1.0 if tuple(a) == tuple(b) else 0.0
    return inter / union


def match_boxes(
    predicted: Sequence[Sequence[float]], reference: Sequence[Sequence[float]]
) -> list[tuple[int, int, float]]:
    """``(predicted index, reference index, IoU)`` pairs, each box used at most once.

    Greedy by descending IoU (ties by index), as COCO matches detections; pairs
    that do not overlap at all are never matched.
    """
    pairs = sorted(
        (
            (-box_iou(p, r), i, j)
            for i, p in enumerate(predicted)
            for j, r in enumerate(reference)
        ),
    )
    used_p: set[int] = set()
    used_r: set[int] = set()
    matches = []
    for negative, i, j in pairs:
        if negative >= 0.0:  # IoU 0: nothing left that overlaps
            break
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        matches.append((i, j, -negative))
    return matches
