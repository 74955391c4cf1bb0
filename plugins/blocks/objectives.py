"""Objectives any modality can reuse, named by what they do.

- :func:`generate_target` [S]: produce the task's target from its inputs.
- :func:`masked_denoising` [R]: the target joins the inputs as patches with a
  share masked (:func:`mask_patches`); the decoder produces the full target.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import partial

import torch

from uio.plugins.spec import ObjectiveContext, ObjectiveExample, ObjectiveSpec, Segment

#: Share of patches masked when the segment does not say (MAE's ratio, He et al.
#: 2021, arXiv 2111.06377). A modality's configured ratio reaches the objective
#: through the segment's ``features["mask_ratio"]``, since objectives do not see configs.
DEFAULT_MASK_RATIO = 0.75


def _unchanged(example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext) -> ObjectiveExample:
    return example


def generate_target(modality: str, description: str = "") -> ObjectiveSpec:
    """[S] for ``modality``: produce the task's target from its inputs, as the task built them.

    UIO2 trains non-text targets with [S] generation only (arXiv 2312.17172 sec. 5.1).
    The objective is named ``<modality>.direct``.
    """
    return ObjectiveSpec(
        name=f"{modality}.direct",
        prefix="S",
        target_modalities=[modality],
        apply=_unchanged,
        description=description or f"[S] generate the {modality} target from the task's inputs",
    )


def mask_patches(segment: Segment, rng: random.Random, ratio: float | None = None) -> Segment:
    """A copy of a patch segment with ``round(ratio * num_tokens)`` patches masked.

    A patch segment's features are a dict with a ``"mask"`` entry (``None`` when
    nothing is masked), as :class:`~uio.plugins.blocks.patch_encoder.PatchEncoder`
    reads them. The patches are drawn with ``rng`` (at least one masked, at least
    one left); ``ratio`` defaults to ``features["mask_ratio"]``, else
    :data:`DEFAULT_MASK_RATIO`. The values are untouched: the input encoder hides
    the masked patches.
    """
    if not isinstance(segment.features, dict) or "mask" not in segment.features:
        raise ValueError(
            f"masked denoising needs a patch segment (features: a dict with a 'mask' entry), got a "
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
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext, *, name: str
) -> ObjectiveExample:
    if example.target_input is None:
        raise ValueError(
            f"{name} needs ObjectiveExample.target_input (the target processed as an input); "
            f"the core sets it for objectives with needs_target_input=True"
        )
    masked = mask_patches(example.target_input, rng)
    return replace(example, inputs=[*example.inputs, masked])


def masked_denoising(modality: str, description: str = "") -> ObjectiveSpec:
    """[R] for ``modality``: the target, processed as an input, joins the inputs with a share
    of its patches masked (:func:`mask_patches`); the decoder produces the full target.

    UIO2 masks input image and audio patches for [R] (arXiv 2312.17172 sec. 5.1).
    The objective is named ``<modality>.masked_denoising`` and needs the core to
    set ``ObjectiveExample.target_input``.
    """
    name = f"{modality}.masked_denoising"
    return ObjectiveSpec(
        name=name,
        prefix="R",
        target_modalities=[modality],
        apply=partial(_masked_denoising, name=name),  # a partial pickles; a closure would not
        needs_target_input=True,
        description=description or f"[R] the {modality} target joins the inputs with patches masked",
    )
