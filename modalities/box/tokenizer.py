"""Box coordinates <-> location bins: a fixed quantiser, 4 local ids per box."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from uio.modalities.box.config import BoxConfig
from uio.modalities.box.value import Box, as_value, read_boxes

IDS_PER_BOX = 4


class BoxTokenizer:
    """Each normalised coordinate ``c`` -> bin ``floor(c * num_bins)`` (``1.0`` in the last bin).

    A box is the ids of ``x1, y1, x2, y2`` in that order; bin ``i`` decodes to its
    centre ``(i + 0.5) / num_bins``, so a round trip moves a coordinate by at most
    half a bin width. Nothing is learned: the state is only ``num_bins``.
    """

    def __init__(self, config: BoxConfig) -> None:
        self.config = config
        self.num_bins: int = config.num_bins
        self.vocab_size: int = config.num_bins

    # ------------------------------------------------------------------ bins

    def quantise(self, coordinate: float) -> int:
        """The bin of a normalised coordinate in ``[0, 1]``."""
        return min(max(math.floor(coordinate * self.num_bins), 0), self.num_bins - 1)

    def dequantise(self, bin_id: int) -> float:
        """The centre of a bin, normalised."""
        return (int(bin_id) + 0.5) / self.num_bins

    def snap(self, box: Sequence[float]) -> Box:
        """A normalised box moved to its bins' centres (what a round trip gives)."""
        x1, y1, x2, y2 = (self.dequantise(self.quantise(c)) for c in box)
        return (x1, y1, x2, y2)

    def encode_boxes(self, boxes: Sequence[Sequence[float]]) -> list[int]:
        """Local ids of normalised boxes, 4 per box."""
        return [self.quantise(c) for box in boxes for c in box]

    def decode_boxes(self, ids: Sequence[int]) -> list[Box]:
        """Normalised boxes at bin centres; ids outside the range and a trailing partial box
        are dropped."""
        kept = [int(i) for i in ids if 0 <= int(i) < self.num_bins]
        whole = len(kept) - len(kept) % IDS_PER_BOX
        return [
            (
                self.dequantise(kept[k]),
                self.dequantise(kept[k + 1]),
                self.dequantise(kept[k + 2]),
                self.dequantise(kept[k + 3]),
            )
            for k in range(0, whole, IDS_PER_BOX)
        ]

    # ------------------------------------------------------------------ Tokenizer protocol

    def encode(self, value: Any) -> list[int]:
        """Local ids (``0 <= id < num_bins``) of a raw box value, 4 per box."""
        return self.encode_boxes(read_boxes(value))

    def decode(self, ids: Sequence[int]) -> dict[str, list[list[float]]]:
        """``{"boxes": [[x1, y1, x2, y2], ...]}``, normalised (see :meth:`decode_boxes`)."""
        return as_value(self.decode_boxes(ids))

    def state_dict(self) -> dict[str, Any]:
        """``{"num_bins": int}``: the only thing the ids depend on."""
        return {"num_bins": self.num_bins}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Check that a saved quantiser used the same number of bins."""
        saved = int(state.get("num_bins", -1))
        if saved != self.num_bins:
            raise ValueError(
                f"box tokenizer was saved with num_bins={saved} but box.num_bins is "
                f"{self.num_bins}; fix: set box.num_bins={saved} to match the checkpoint"
            )

    def fingerprint(self) -> str:
        """A hash of the id mapping (bin count, coordinate order, centre decoding)."""
        scheme = f"box-bins:{self.num_bins}:x1y1x2y2:floor:centre"
        return hashlib.sha256(scheme.encode()).hexdigest()[:16]
