"""pluggy hook specifications: the only extension points of uio.

A plugin is a module (or object) with functions of these names decorated with
``uio.plugins.hookimpl``, registered under the entry-point group
``uio.modalities``. Every hook is called once per run, when the registry loads.
"""

from __future__ import annotations

import pluggy

from uio.plugins.spec import DatasetSpec, ModalitySpec, ObjectiveSpec, TaskSpec

PROJECT_NAME = "uio"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def uio_modalities() -> list[ModalitySpec]:
    """Called when plugins load: return the modalities this plugin provides."""


@hookspec
def uio_objectives() -> list[ObjectiveSpec]:
    """Called when plugins load: return extra denoising objectives (beyond those in specs)."""


@hookspec
def uio_tasks() -> list[TaskSpec]:
    """Called when plugins load: return prompt templates mapping raw examples to segments."""


@hookspec
def uio_datasets() -> list[DatasetSpec]:
    """Called when plugins load: return dataset builders a data mixture can name."""
