"""Raw box values -> local ids, in dataloader workers."""

from __future__ import annotations

from typing import Any

import torch

from uio.modalities.box.config import BoxConfig
from uio.modalities.box.tokenizer import BoxTokenizer
from uio.modalities.box.value import read_boxes
from uio.plugins import ProcessContext, Segment

NAME = "box"


def _where(ctx: ProcessContext) -> str:
    return f"example {ctx.example_id!r}" if ctx.example_id else "an example"


class BoxProcessor:
    """Checks a box value and quantises it: 4 local ids per box, for the encoder or decoder.

    Bad values (swapped corners, coordinates outside the image, wrong lengths,
    non-numbers, more than ``max_boxes`` boxes) raise ``ValueError`` or
    ``TypeError`` naming the example and the field.
    """

    def __init__(self, config: BoxConfig, tokenizer: BoxTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer

    def _ids(self, value: Any, ctx: ProcessContext, role: str) -> list[int]:
        try:
            boxes = read_boxes(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{_where(ctx)}: box {role}: {exc}") from None
        if len(boxes) > self.config.max_boxes:
            raise ValueError(
                f"{_where(ctx)}: box {role} has {len(boxes)} boxes, more than box.max_boxes="
                f"{self.config.max_boxes}; fix: raise box.max_boxes"
            )
        return self.tokenizer.encode_boxes(boxes)

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """A 1D segment of local ids, 4 per box (empty for no boxes)."""
        ids = self._ids(value, ctx, "input")
        return Segment(modality=NAME, ids=torch.tensor(ids, dtype=torch.long))

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """Local ids the decoder must produce (the core adds the end token)."""
        return self._ids(value, ctx, "target")
