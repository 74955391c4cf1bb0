"""Denoising objectives for text targets: UIO2's [S], [R] and [X] (arXiv 2312.17172 sec. 5.1).

They follow UL2's mixture of denoisers (arXiv 2205.05131): [S] prefix language
modelling, [R] regular T5 span corruption, [X] extreme span corruption. Every
objective works on global ids and returns a new example; the input is not modified.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from uio.modalities.text.spans import random_spans
from uio.plugins import ObjectiveContext, ObjectiveExample, ObjectiveSpec, Segment

MODALITY = "text"

# T5's span-corruption defaults (arXiv 1910.10683): 15% noise, mean span length 3.
REGULAR_NOISE_DENSITY = 0.15
REGULAR_MEAN_SPAN = 3.0
# UL2's X-denoiser corrupts a large share of the text in long spans (arXiv 2205.05131).
EXTREME_NOISE_DENSITY = 0.5
EXTREME_MAX_MEAN_SPAN = 32


def _segment(ids: list[int]) -> Segment:
    return Segment(modality=MODALITY, ids=torch.tensor(ids, dtype=torch.long))


def _target_ids(example: ObjectiveExample) -> list[int]:
    if example.target.ids is None:
        raise ValueError(
            f"text objective got a target of modality {example.target.modality!r} without ids"
        )
    return [int(i) for i in example.target.ids.tolist()]


def prefix_lm(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    """[S]: with inputs, the example as it is (the inputs are the prefix); without
    inputs, the target split at a random point into prefix (input) and continuation."""
    if example.inputs:
        return example
    ids = _target_ids(example)
    if len(ids) < 2:
        return example
    cut = rng.randint(1, len(ids) - 1)
    return replace(example, inputs=[_segment(ids[:cut])], target=_segment(ids[cut:]))


def corrupt_spans(
    example: ObjectiveExample,
    rng: random.Random,
    ctx: ObjectiveContext,
    noise_density: float,
    mean_span_length: float,
) -> ObjectiveExample:
    """Replace random spans of the target with sentinels, T5-style.

    The corrupted copy of the target is appended to the inputs; the new target is
    ``sentinel_0 span_0 sentinel_1 span_1 ...`` (the core adds the end token).
    """
    ids = _target_ids(example)
    if not ids:
        return example
    if not ctx.sentinel_ids:
        raise ValueError("span corruption needs sentinel tokens, but the vocabulary has none")
    spans = random_spans(len(ids), noise_density, mean_span_length, len(ctx.sentinel_ids), rng)
    corrupted: list[int] = []
    target: list[int] = []
    pos = 0
    for sentinel, (start, end) in zip(ctx.sentinel_ids, spans, strict=False):
        corrupted += ids[pos:start] + [int(sentinel)]
        target += [int(sentinel)] + ids[start:end]
        pos = end
    corrupted += ids[pos:]
    return replace(
        example, inputs=[*example.inputs, _segment(corrupted)], target=_segment(target)
    )


def span_corruption(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    """[R]: T5 span corruption, 15% noise in spans of mean length 3."""
    return corrupt_spans(example, rng, ctx, REGULAR_NOISE_DENSITY, REGULAR_MEAN_SPAN)


def extreme_span_corruption(
    example: ObjectiveExample, rng: random.Random, ctx: ObjectiveContext
) -> ObjectiveExample:
    """[X]: UL2's extreme denoiser, 50% noise in long spans (shorter for short texts)."""
    n = 0 if example.target.ids is None else int(example.target.ids.numel())
    mean_span = min(EXTREME_MAX_MEAN_SPAN, max(2, n // 4))
    return corrupt_spans(example, rng, ctx, EXTREME_NOISE_DENSITY, mean_span)


PREFIX_LM = ObjectiveSpec(
    name="text.prefix_lm",
    prefix="S",
    target_modalities=[MODALITY],
    apply=prefix_lm,
    description="[S] prefix LM: continue the text from its inputs or from a random prefix",
)
SPAN_CORRUPTION = ObjectiveSpec(
    name="text.span_corruption",
    prefix="R",
    target_modalities=[MODALITY],
    apply=span_corruption,
    description="[R] T5 span corruption: 15% of tokens in spans of mean length 3",
)
EXTREME_SPAN_CORRUPTION = ObjectiveSpec(
    name="text.extreme_span_corruption",
    prefix="X",
    target_modalities=[MODALITY],
    apply=extreme_span_corruption,
    description="[X] UL2 extreme span corruption: 50% of tokens in long spans",
)
OBJECTIVES = [PREFIX_LM, SPAN_CORRUPTION, EXTREME_SPAN_CORRUPTION]
