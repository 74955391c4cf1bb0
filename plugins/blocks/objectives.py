"""Objectives any modality can reuse, named by what they do."""

from __future__ import annotations

import random

from uio.plugins.spec import ObjectiveContext, ObjectiveExample, ObjectiveSpec


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
