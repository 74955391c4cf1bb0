"""The ``sounds`` dataset builder: sound attributes per example, deterministic per split.

A raw example holds the sound's attributes, never samples: the task's ``build``
synthesises the clip (seeded by ``_seed``, so an example always sounds the
same). Keys of every example: ``task``, ``id``, ``sound`` (attribute dict, see
:class:`~.world.Sound`), ``_seed``, ``_sample_rate``, ``_seconds``;
``sound.question`` examples add ``attribute`` (what is asked) and ``group``
(``sound.question.<attribute>``, so metrics come per attribute).
"""

from __future__ import annotations

import random
from typing import Any

from uio.modalities.sounds.config import QUESTION, SoundsConfig
from uio.modalities.sounds.holdout import Pair, holdout_pairs, train_pairs
from uio.modalities.sounds.world import (
    ATTRIBUTES,
    DURATIONS,
    LOUDNESSES,
    TIMBRES,
    Sound,
    applicable,
)

DATASET = "sounds"
SPLITS: tuple[str, ...] = ("train", "heldout")


def question_group(attribute: str) -> str:
    """The metrics group of a ``sound.question`` example, e.g. ``sound.question.pitch``."""
    return f"{QUESTION}.{attribute}"


def draw_sound(rng: random.Random, pairs: list[Pair]) -> Sound:
    """A sound of one of ``pairs`` (kind, pitch), the other attributes uniform."""
    kind, pitch = rng.choice(pairs)
    timbre = rng.choice(TIMBRES) if applicable("timbre", kind) else None
    return Sound(kind, pitch, rng.choice(LOUDNESSES), rng.choice(DURATIONS), timbre)


def build_sounds(options: SoundsConfig | dict[str, Any] | None, split: str, seed: int) -> list[dict[str, Any]]:
    """Raw examples of one split, deterministic in ``(options, split, seed)``.

    Tasks come in even shares (in shuffled order) and question attributes in
    turn. ``train`` sounds never have a held-out (kind, pitch) pair; every
    ``heldout`` sound has one. Each split has a random stream of its own, so the
    ``heldout`` split of a seed is the same whatever ``train_examples`` is.

    Raises:
        ValueError: on an unknown split or invalid options.
    """
    if not isinstance(options, SoundsConfig):
        options = SoundsConfig.model_validate(options or {})
    if split not in SPLITS:
        raise ValueError(f"{DATASET} has no split {split!r}; expected one of {', '.join(SPLITS)}")
    rng = random.Random(f"{DATASET}-{seed}-{split}")
    if split == "train":
        pairs, total = train_pairs(options.holdout_fraction), options.train_examples
    else:
        pairs, total = sorted(holdout_pairs(options.holdout_fraction)), options.heldout_examples
    schedule = [options.tasks[i % len(options.tasks)] for i in range(total)]
    rng.shuffle(schedule)

    examples = []
    asked = 0
    for index, task in enumerate(schedule):
        fields: dict[str, Any] = {}
        usable = pairs
        if task == QUESTION:
            attribute = ATTRIBUTES[asked % len(ATTRIBUTES)]
            asked += 1
            # Only sounds that have the attribute can be asked about it (some pair
            # of every held-out set is pitched: noise is never first on a diagonal).
            usable = [p for p in pairs if applicable(attribute, p[0])]
            fields = {"attribute": attribute, "group": question_group(attribute)}
        sound = draw_sound(rng, usable)
        examples.append({
            "task": task,
            "id": f"{split}-{index}",
            "sound": sound.attributes(),
            "_seed": rng.getrandbits(31),
            "_sample_rate": options.sample_rate,
            "_seconds": options.seconds,
            **fields,
        })
    return examples
