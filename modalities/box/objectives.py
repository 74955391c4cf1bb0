"""The objective for box targets: [S], generate the boxes from the task's inputs.

UIO2 trains non-text targets only with [S] generation (arXiv 2312.17172 sec.
5.1); the text denoisers do not apply, because they name only text targets.
"""

from __future__ import annotations

import random

from uio.plugins import ObjectiveContext, ObjectiveExample, ObjectiveSpec

MODALITY = "box"


def direct(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    """[S]: the task's inputs -> its boxes, unchanged (the example as the task built it)."""
    return example


DIRECT = ObjectiveSpec(
    name="box.direct",
    prefix="S",
    target_modalities=[MODALITY],
    apply=direct,
    description="[S] generate the target boxes (4 location ids each) from the task's inputs",
)
OBJECTIVES = [DIRECT]
