"""Detection mAP over a set of images, through ``torchmetrics`` (pycocotools backend).

A helper for the evaluation of detection tasks: per-example scores
(:class:`~uio.modalities.box.decoder.BoxOutputDecoder`) cannot rank boxes across
images, mAP can.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from uio.modalities.box.value import read_boxes


def _labels(
    given: Sequence[Sequence[Hashable]] | None,
    counts: list[int],
    side: str,
    ids: dict[Hashable, int],
) -> list[torch.Tensor]:
    if given is None:
        return [torch.zeros(n, dtype=torch.long) for n in counts]
    if len(given) != len(counts):
        raise ValueError(f"{side} labels cover {len(given)} images, the boxes {len(counts)}")
    out = []
    for image, (labels, n) in enumerate(zip(given, counts, strict=True)):
        if len(labels) != n:
            raise ValueError(
                f"{side} image #{image}: {len(labels)} labels for {n} boxes; give one per box"
            )
        numbers = [ids.setdefault(label, len(ids)) for label in labels]
        out.append(torch.tensor(numbers, dtype=torch.long))
    return out


def detection_map(
    predictions: Sequence[Any],
    references: Sequence[Any],
    *,
    scores: Sequence[Sequence[float]] | None = None,
    predicted_labels: Sequence[Sequence[Hashable]] | None = None,
    reference_labels: Sequence[Sequence[Hashable]] | None = None,
    iou_threshold: float = 0.5,
) -> float:
    """COCO-style mean average precision at one IoU threshold (default mAP@0.5).

    Args:
        predictions: one box value per image (as the box decoder returns them).
        references: one box value per image, in the same order.
        scores: a confidence per predicted box; ``None``: every box scores 1 (a
            generated sequence carries no confidence), and ties rank in the order
            given, image by image, as pycocotools sorts stably.
        predicted_labels, reference_labels: a class per box (any hashable, e.g. a
            label text); ``None``: one class for every box.
        iou_threshold: the IoU at which a prediction matches a reference box.

    Returns:
        mAP in ``[0, 1]``: AP averaged over the classes that have reference boxes,
        each AP the 101-point interpolated area under the precision-recall curve.

    Raises:
        ValueError: mismatched lengths, bad box values, or no reference box at all
            (mAP is then undefined).
    """
    # Imported here: the metric pulls in its backend, which a run that only
    # trains never needs.
    from torchmetrics.detection import MeanAveragePrecision

    if len(predictions) != len(references):
        raise ValueError(
            f"detection_map: {len(predictions)} predictions for {len(references)} references; "
            "give one box value per image on both sides"
        )
    pred_boxes = [read_boxes(p, check=False) for p in predictions]
    ref_boxes = [read_boxes(r) for r in references]
    if not any(ref_boxes):
        raise ValueError("detection_map: no reference boxes at all, so mAP is undefined")
    ids: dict[Hashable, int] = {}
    ref_labels = _labels(reference_labels, [len(b) for b in ref_boxes], "reference", ids)
    pred_labels = _labels(predicted_labels, [len(b) for b in pred_boxes], "predicted", ids)
    if scores is None:
        pred_scores = [torch.ones(len(b)) for b in pred_boxes]
    else:
        pred_scores = [torch.tensor([float(x) for x in s]) for s in scores]
        if [len(s) for s in pred_scores] != [len(b) for b in pred_boxes]:
            raise ValueError("detection_map: give one score per predicted box, image by image")

    metric = MeanAveragePrecision(
        box_format="xyxy",
        iou_type="bbox",
        iou_thresholds=[iou_threshold],
        backend="pycocotools",
    )
    metric.update(
        [
            {"boxes": _tensor(b), "scores": s, "labels": lab}
            for b, s, lab in zip(pred_boxes, pred_scores, pred_labels, strict=True)
        ],
        [
            {"boxes": _tensor(b), "labels": lab}
            for b, lab in zip(ref_boxes, ref_labels, strict=True)
        ],
    )
    return float(metric.compute()["map"])


def _tensor(boxes: list[tuple[float, float, float, float]]) -> torch.Tensor:
    return torch.tensor(boxes, dtype=torch.float).reshape(-1, 4)
