"""The ``scene_vision`` dataset builder: scenes for the image tasks, deterministic per split.

A raw example holds the scene as text, never pixels: the task's ``build`` renders
the image (seeded by ``_render_seed`` and the example ``id``, so an example always
renders the same pixels). Objects are listed in :func:`canonical_order`, so
captions and detection lists have one right answer.

Keys of every example: ``task``, ``id``, ``scene`` (description, canonical
order), ``_image_size``, ``_target_size``, ``_render_seed``. Per task:

====================== ===================================================
scene.vqa              ``group`` (``scene.vqa.<kind>``), ``kind``, ``query``, ``answer``
scene.refexp           ``index`` (of the object in ``scene``), ``reference``
scene.region_caption   ``index``
scene.inpaint          ``index``
others                 nothing more
====================== ===================================================
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from uio.modalities.scenes.dataset import SPLITS, _draw_scene
from uio.modalities.scenes.holdout import Pair, holdout_pairs, train_pairs
from uio.modalities.scenes.questions import answer, ask, matches
from uio.modalities.scenes.vision_config import (
    REFEXP,
    SINGLE_OBJECT_TASKS,
    VQA,
    SceneVisionConfig,
)
from uio.modalities.scenes.world import SceneObject, describe

DATASET = "scene_vision"
# Reference forms of scene.refexp, shortest first; each always names the shape.
_REFERENCE_KEYS: tuple[tuple[str, ...], ...] = (
    ("shape",), ("color", "shape"), ("size", "color", "shape"),
)
# A scene that admits no question of the wanted kind is redrawn; a handful of
# draws suffice, so hitting this means a bug.
_MAX_DRAWS = 1000


def canonical_order(objects: Sequence[SceneObject]) -> list[SceneObject]:
    """Objects sorted row-major by grid cell (top left first): the order of captions and boxes."""
    return sorted(objects, key=lambda obj: (obj.row, obj.col))


def vqa_group(kind: str) -> str:
    """The metrics group of a ``scene.vqa`` example, e.g. ``scene.vqa.count``."""
    return f"{VQA}.{kind.rsplit('.', 1)[-1]}"


def task_counts(weights: dict[str, float], total: int) -> dict[str, int]:
    """``total`` split over the tasks in proportion to ``weights``, exactly (largest remainder)."""
    norm = sum(weights.values())
    quotas = {task: total * w / norm for task, w in weights.items()}
    counts = {task: int(q) for task, q in quotas.items()}
    # Ties go to the earlier task, so the split is a function of the options alone.
    order = sorted(weights, key=lambda t: (-(quotas[t] - counts[t]), list(weights).index(t)))
    for task in order[: total - sum(counts.values())]:
        counts[task] += 1
    return counts


def build_scene_vision(
    options: SceneVisionConfig | dict[str, Any] | None, split: str, seed: int
) -> list[dict[str, Any]]:
    """Raw examples of one split, deterministic in ``(options, split, seed)``.

    Each split has a random stream of its own, so the ``heldout`` split of a seed
    is the same whatever ``train_examples`` is. Train scenes never hold a
    held-out (colour, shape) pair; every held-out scene holds one.

    Raises:
        ValueError: on an unknown split or invalid options.
    """
    if not isinstance(options, SceneVisionConfig):
        options = SceneVisionConfig.model_validate(options or {})
    if split not in SPLITS:
        raise ValueError(f"{DATASET} has no split {split!r}; expected one of {', '.join(SPLITS)}")
    rng = random.Random(f"{DATASET}-{seed}-{split}")
    held = holdout_pairs(options.holdout_fraction)
    pool = train_pairs(options.holdout_fraction)
    total = options.train_examples if split == "train" else options.heldout_examples
    schedule = [
        task for task, n in task_counts(options.task_weights(), total).items() for _ in range(n)
    ]
    rng.shuffle(schedule)
    unseen = held if split == "heldout" and options.heldout_about_unseen else None

    examples = []
    vqa_seen = 0
    for index, task in enumerate(schedule):
        kind = options.vqa_kinds[vqa_seen % len(options.vqa_kinds)] if task == VQA else ""
        vqa_seen += task == VQA
        for _ in range(_MAX_DRAWS):
            # _draw_scene reads only min_objects, max_objects and unique_shapes.
            objects = canonical_order(_draw_scene(rng, options, split, held, pool))  # type: ignore[arg-type]
            fields = _task_fields(task, kind, objects, unseen, rng)
            if fields is not None:
                break
        else:
            raise RuntimeError(f"no {task} {kind} example found in {_MAX_DRAWS} scenes: {options}")
        examples.append({
            "task": task,
            "id": f"{split}-{index}",
            "scene": describe(objects),
            "_image_size": options.image_size,
            "_target_size": options.target_size,
            "_render_seed": seed,
            **fields,
        })
    return examples


def _task_fields(
    task: str,
    kind: str,
    objects: list[SceneObject],
    unseen: frozenset[Pair] | None,
    rng: random.Random,
) -> dict[str, Any] | None:
    """What ``task`` needs beyond the scene, or ``None`` if this scene cannot serve it."""
    # About an unseen pair in held-out scenes: that needs composition, not recall.
    focus = objects if unseen is None else [o for o in objects if o.pair in unseen]
    if task == VQA:
        query = ask(kind, objects, focus, rng)
        if query is None:
            return None
        return {
            "group": vqa_group(kind),
            "kind": kind,
            "query": query,
            "answer": answer(kind, query, objects),
        }
    if task not in SINGLE_OBJECT_TASKS:
        return {}
    target = rng.choice(focus)
    fields: dict[str, Any] = {"index": objects.index(target)}
    if task == REFEXP:
        references = [{k: target.attribute(k) for k in keys} for keys in _REFERENCE_KEYS]
        # The full reference is always unique: pairs differ within a scene.
        unique = [r for r in references if sum(matches(o, r) for o in objects) == 1]
        fields["reference"] = rng.choice(unique)
    return fields
