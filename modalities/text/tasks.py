"""Prompt templates of the text modality: language modelling and text-to-text."""

from __future__ import annotations

import random
from typing import Any

from uio.plugins import TaskExample, TaskSpec

MODALITY = "text"


def _field(raw: dict[str, Any], task: str, name: str) -> Any:
    if name not in raw:
        where = f" (example {raw['id']!r})" if "id" in raw else ""
        raise ValueError(
            f"task {task!r}{where} needs field {name!r}; the example has fields {sorted(raw)}"
        )
    return raw[name]


def build_lm(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``{"text": ...}`` -> no inputs, the text as target; the objective makes the inputs."""
    return TaskExample(inputs=[], target=(MODALITY, _field(raw, "text.lm", "text")))


def build_seq2seq(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``{"input", "target", optional "instruction"}`` -> instruction and input -> target.

    ``instruction`` may be a list of phrasings, one of which is picked with ``rng``
    (as UIO2's prompt dictionary does).
    """
    task = "text.seq2seq"
    source = _field(raw, task, "input")
    target = _field(raw, task, "target")
    instruction = raw.get("instruction")
    if isinstance(instruction, list | tuple):
        instruction = rng.choice(instruction) if instruction else None
    if instruction:
        source = f"{instruction} {source}" if str(source) else str(instruction)
    return TaskExample(inputs=[(MODALITY, source)], target=(MODALITY, target))


LM = TaskSpec(
    name="text.lm",
    build=build_lm,
    target_modality=MODALITY,
    objectives=None,
    description="language modelling on raw text with any text objective ([S], [R], [X])",
)
SEQ2SEQ = TaskSpec(
    name="text.seq2seq",
    build=build_seq2seq,
    target_modality=MODALITY,
    objectives=["text.prefix_lm"],
    description="text to text, with an optional instruction (one of several phrasings)",
)
TASKS = [LM, SEQ2SEQ]
