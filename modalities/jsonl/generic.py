"""The generic line form and its task ``jsonl.generic``.

A generic record names its segments itself::

    {"task": "my_task", "input": {"text": "what is two plus two?"}, "target": {"text": "four"}}

``input`` maps modality -> value, or is a list of ``[modality, value]`` pairs
(for several inputs of one modality, in order); it may be left out. ``target``
maps exactly one modality -> value.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from uio.plugins import TaskExample, TaskSpec

GENERIC_TASK = "jsonl.generic"
_MODALITY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

Part = tuple[str, Any]


def _show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _part(modality: Any, value: Any, where: str) -> Part:
    if not isinstance(modality, str) or not _MODALITY_NAME.match(modality):
        raise ValueError(
            f"{where}: {_show(modality)} is not a modality name (lowercase letters, digits "
            f"and _, e.g. \"text\" or \"image\")"
        )
    if value is None:
        raise ValueError(f"{where}: the value of modality {modality!r} is null")
    return modality, value


def generic_parts(record: dict[str, Any]) -> tuple[list[Part], Part]:
    """The ``(inputs, target)`` of a generic record; a ValueError saying what is expected."""
    target = record.get("target")
    if not isinstance(target, dict) or len(target) != 1:
        raise ValueError(
            f'"target" must map exactly one modality to a value, e.g. {{"text": "four"}}; '
            f"got {_show(target)}"
        )
    ((target_modality, target_value),) = target.items()
    target_part = _part(target_modality, target_value, '"target"')

    if "input" not in record and "inputs" in record:
        raise ValueError('unknown key "inputs"; did you mean "input"?')
    raw = record.get("input", {})
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list) and all(isinstance(p, list) and len(p) == 2 for p in raw):
        items = [(p[0], p[1]) for p in raw]
    else:
        raise ValueError(
            f'"input" must map modality -> value, e.g. {{"text": "..."}}, or be a list of '
            f'[modality, value] pairs, e.g. [["image", "a.png"], ["image", "b.png"]]; '
            f"got {_show(raw)}"
        )
    inputs = [_part(m, v, f'"input" item {i}') for i, (m, v) in enumerate(items)]
    return inputs, target_part


def build_generic(example: dict[str, Any], rng: random.Random) -> TaskExample:
    """A generic record -> TaskExample with its inputs in order and its one target."""
    try:
        inputs, target = generic_parts(example)
    except ValueError as exc:
        raise ValueError(f"example {example.get('id', '?')!r} of task {GENERIC_TASK}: {exc}") from None
    return TaskExample(inputs=inputs, target=target)


def generic_task() -> TaskSpec:
    """The TaskSpec of generic records (target modality decided per example)."""
    return TaskSpec(
        name=GENERIC_TASK,
        build=build_generic,
        target_modality=None,
        objectives=None,
        description="a JSON Lines record naming its own input and target segments",
    )
