"""The ``scene_qa`` dataset builder: deterministic scenes and questions, per split."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from uio.modalities.scenes.config import SceneQAConfig
from uio.modalities.scenes.holdout import Pair, holdout_pairs, train_pairs
from uio.modalities.scenes.questions import answer, ask
from uio.modalities.scenes.world import COLORS, NUM_CELLS, SHAPES, SIZES, SceneObject, describe

SPLITS: tuple[str, ...] = ("train", "heldout")
DESCRIBE = "scene.describe"
_ALL_PAIRS: tuple[Pair, ...] = tuple((c, s) for c in COLORS for s in SHAPES)
# A scene that admits no question of the wanted kind is redrawn; with the
# allowed sizes a handful of draws suffice, so hitting this means a bug.
_MAX_DRAWS = 1000


def build_scene_qa(
    options: SceneQAConfig | dict[str, Any] | None, split: str, seed: int
) -> list[dict[str, Any]]:
    """Raw examples of one split, deterministic in ``(options, split, seed)``.

    Each example is ``{"task", "id", "scene", "query", "answer"}``: ``scene`` is
    the description text, ``query`` the structured question (see
    :mod:`uio.modalities.scenes.questions`; ``{}`` for ``scene.describe``) and
    ``answer`` its one correct answer. Question kinds are balanced exactly. Each
    split has a random stream of its own, so the ``heldout`` split of a seed is
    the same whatever ``train_examples`` is.

    Raises:
        ValueError: on an unknown split or invalid options.
    """
    if not isinstance(options, SceneQAConfig):
        options = SceneQAConfig.model_validate(options or {})
    if split not in SPLITS:
        raise ValueError(f"scene_qa has no split {split!r}; expected one of {', '.join(SPLITS)}")
    rng = random.Random(f"scene_qa-{seed}-{split}")
    held = holdout_pairs(options.holdout_fraction)
    pool = train_pairs(options.holdout_fraction)

    total = options.train_examples if split == "train" else options.heldout_examples
    # Describe examples are training material for denoisers, never evaluated.
    n_describe = round(options.describe_fraction * total) if split == "train" else 0
    kinds = options.question_kinds
    schedule = [kinds[i % len(kinds)] for i in range(total - n_describe)] + [DESCRIBE] * n_describe
    rng.shuffle(schedule)
    unseen = held if split == "heldout" and options.heldout_about_unseen else None

    examples = []
    for index, kind in enumerate(schedule):
        for _ in range(_MAX_DRAWS):
            objects = _draw_scene(rng, options, split, held, pool)
            example = _make_example(kind, f"{split}-{index}", objects, unseen, rng)
            if example is not None:
                examples.append(example)
                break
        else:
            raise RuntimeError(f"no {kind} question found in {_MAX_DRAWS} scenes; options: {options}")
    return examples


def _draw_scene(
    rng: random.Random,
    options: SceneQAConfig,
    split: str,
    held: frozenset[Pair],
    pool: Sequence[Pair],
) -> list[SceneObject]:
    """Objects with distinct cells and distinct (colour, shape) pairs, in random order."""
    count = rng.randint(options.min_objects, options.max_objects)
    cells = rng.sample(range(NUM_CELLS), count)
    if split == "train":
        candidates = list(pool)
        pairs = []
    else:
        pairs = [rng.choice(sorted(held))]
        candidates = [p for p in _ALL_PAIRS if p != pairs[0]]
    while len(pairs) < count:
        pair = rng.choice(candidates)
        candidates.remove(pair)
        if options.unique_shapes and any(pair[1] == p[1] for p in pairs):
            continue
        pairs.append(pair)
    objects = [
        SceneObject(size=rng.choice(SIZES), color=c, shape=s, row=cell // 3, col=cell % 3)
        for (c, s), cell in zip(pairs, cells, strict=True)
    ]
    rng.shuffle(objects)
    return objects


def _make_example(
    kind: str,
    example_id: str,
    objects: list[SceneObject],
    unseen: frozenset[Pair] | None,
    rng: random.Random,
) -> dict[str, Any] | None:
    scene = describe(objects)
    if kind == DESCRIBE:
        return {"task": kind, "id": example_id, "scene": scene, "query": {}, "answer": scene}
    # Questions about an unseen combination need composition, not recall of
    # the training pairs.
    focus = objects if unseen is None else [o for o in objects if o.pair in unseen]
    query = ask(kind, objects, focus, rng)
    if query is None:
        return None
    return {
        "task": kind,
        "id": example_id,
        "scene": scene,
        "query": query,
        "answer": answer(kind, query, objects),
    }
