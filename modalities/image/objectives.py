"""Objectives for image targets (UIO2's denoisers for images, arXiv 2312.17172).

- ``image.direct`` [S]: generate the image's code grid from the task's inputs.
- ``image.masked_denoising`` [R]: the target image itself joins the inputs with
  a random share of its patches masked; the decoder produces the full code grid.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from uio.plugins import ObjectiveContext, ObjectiveExample, ObjectiveSpec, Segment
from uio.plugins.blocks.objectives import generate_target

#: Share of patches masked when the segment does not say (MAE's ratio, He et al.
#: 2021, arXiv 2111.06377). The configured ``image.mask_ratio`` reaches the
#: objective through the segment's features, since objectives do not see configs.
DEFAULT_MASK_RATIO = 0.75


def mask_patches(segment: Segment, rng: random.Random, ratio: float | None = None) -> Segment:
    """A copy of an image input segment with ``round(ratio * num_tokens)`` patches masked.

    The patches are drawn with ``rng`` (at least one masked, at least one left);
    ``ratio`` defaults to the segment's ``features["mask_ratio"]``, else
    :data:`DEFAULT_MASK_RATIO`. The pixels are untouched: the input encoder hides
    the masked patches.
    """
    if not isinstance(segment.features, dict) or "pixels" not in segment.features:
        raise ValueError(
            f"masked denoising needs an image segment with pixel features, got a "
            f"{segment.modality!r} segment with {type(segment.features).__name__} features"
        )
    if ratio is None:
        ratio = float(segment.features.get("mask_ratio") or DEFAULT_MASK_RATIO)
    n = segment.num_tokens
    count = min(max(round(ratio * n), 1), n - 1) if n > 1 else n
    mask = torch.zeros(n, dtype=torch.bool)
    mask[rng.sample(range(n), count)] = True
    return replace(segment, features={**segment.features, "mask": mask})


def _masked_denoising(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    if example.target_input is None:
        raise ValueError(
            "image.masked_denoising needs ObjectiveExample.target_input (the target processed "
            "as an input); the core sets it for objectives with needs_target_input=True"
        )
    masked = mask_patches(example.target_input, rng)
    return replace(example, inputs=[*example.inputs, masked])


DIRECT = generate_target(
    "image", "[S] generate the image's VQ code grid (row-major) from the task's inputs"
)
MASKED_DENOISING = ObjectiveSpec(
    name="image.masked_denoising",
    prefix="R",
    target_modalities=["image"],
    apply=_masked_denoising,
    needs_target_input=True,
    description=(
        "[R] the target image joins the inputs with image.mask_ratio of its patches masked; "
        "generate its full VQ code grid"
    ),
)
OBJECTIVES = [DIRECT, MASKED_DENOISING]
