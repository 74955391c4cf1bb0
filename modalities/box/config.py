"""The box modality's section of the run config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class BoxConfig(BaseModel):
    """Options of the built-in box modality.

    Attributes:
        num_bins: location bins per coordinate, which is also the size of the
            modality's id range. UIO2 discretises boxes and other sparse
            structures into 1000 location tokens (arXiv 2312.17172, sec. 3.1).
        max_boxes: most boxes one value may hold, as input or as target; more is
            an error rather than silently truncated. 100 is the number of
            detections COCO's evaluation counts per image.
    """

    model_config = ConfigDict(extra="forbid")

    num_bins: int = Field(1000, ge=2)
    max_boxes: int = Field(100, ge=1)
