"""The entry point (``uio.modalities`` group, name ``digits``): four pluggy hooks.

Each hook is a plain function marked with ``@hookimpl`` (without the marker
pluggy ignores it). A hook this plugin has no use for can simply be left out.
"""

from __future__ import annotations

from uio.plugins import DatasetSpec, ModalitySpec, ObjectiveSpec, TaskSpec, hookimpl

from uio_digits.modality import DIGITS_SPEC
from uio_digits.tasks import DIGITS_DATASET, TASKS


@hookimpl
def uio_modalities() -> list[ModalitySpec]:
    """The ``digits`` modality."""
    return [DIGITS_SPEC]


@hookimpl
def uio_objectives() -> list[ObjectiveSpec]:
    """Nothing beyond the objectives listed in the spec (``digits.direct``)."""
    return []


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """``digits.sort`` and ``digits.reverse``."""
    return list(TASKS)


@hookimpl
def uio_datasets() -> list[DatasetSpec]:
    """The ``digits`` dataset builder."""
    return [DIGITS_DATASET]
