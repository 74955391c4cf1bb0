"""Generated location ids -> boxes, and IoU scoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from uio.modalities.box.iou import match_boxes
from uio.modalities.box.tokenizer import BoxTokenizer
from uio.modalities.box.value import read_boxes

#: IoU at which a predicted box counts as correct (the usual detection threshold).
HIT_IOU = 0.5


class BoxOutputDecoder:
    """Decodes generated ids to boxes and scores them against a reference box value.

    Both sides are scored at the modality's resolution: every coordinate is moved
    to the centre of its bin first, so a reference decoded from its own ids
    scores exactly 1.
    """

    def __init__(self, tokenizer: BoxTokenizer) -> None:
        self.tokenizer = tokenizer

    def decode(self, ids: Sequence[int]) -> dict[str, list[list[float]]]:
        """``{"boxes": [[x1, y1, x2, y2], ...]}`` normalised; a trailing partial box is dropped."""
        return self.tokenizer.decode(ids)

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """``iou`` and ``acc@0.5`` of a prediction against a reference, both in ``[0, 1]``.

        Boxes are matched one to one, greedily by IoU. ``iou`` is the summed IoU of
        the matches over the larger of the two box counts (a missed or extra box
        counts 0). ``acc@0.5`` is 1 when both have the same number of boxes and
        every match reaches IoU 0.5 (for one box: IoU >= 0.5). No boxes on either
        side scores 1.
        """
        snap = self.tokenizer.snap
        predicted = [snap(b) for b in read_boxes(prediction, check=False)]
        expected = [snap(b) for b in read_boxes(reference)]
        count = max(len(predicted), len(expected))
        if count == 0:
            return {"iou": 1.0, "acc@0.5": 1.0}
        matches = match_boxes(predicted, expected)
        hits = sum(1 for _, _, iou in matches if iou >= HIT_IOU)
        all_hit = len(predicted) == len(expected) and hits == count
        return {
            "iou": sum(iou for _, _, iou in matches) / count,
            "acc@0.5": 1.0 if all_hit else 0.0,
        }

    def render(self, value: Any) -> str:
        """``"2 boxes: [0.100 0.200 0.500 0.900] [...]"``, normalised, on one line."""
        boxes = read_boxes(value, check=False)
        if not boxes:
            return "no boxes"
        shown = " ".join("[" + " ".join(f"{c:.3f}" for c in box) + "]" for box in boxes)
        return f"{len(boxes)} box{'es' if len(boxes) != 1 else ''}: {shown}"
