"""pluggy hooks of the jsonl plugin: the ``jsonl`` dataset and the ``jsonl.generic`` task."""

from __future__ import annotations

from uio.modalities.jsonl.config import JsonlConfig
from uio.modalities.jsonl.dataset import SPLITS, build_jsonl
from uio.modalities.jsonl.generic import generic_task
from uio.plugins import DatasetSpec, TaskSpec, hookimpl


@hookimpl
def uio_datasets() -> list[DatasetSpec]:
    """The ``jsonl`` dataset builder (train on your own data without a plugin)."""
    return [
        DatasetSpec(
            name="jsonl",
            build=build_jsonl,
            config_model=JsonlConfig,
            splits=list(SPLITS),
            description="examples from a JSON Lines manifest, in the generic or a task's flat form",
        )
    ]


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """The ``jsonl.generic`` task of generic manifest lines."""
    return [generic_task()]
