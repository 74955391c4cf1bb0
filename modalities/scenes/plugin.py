"""pluggy hooks of the scenes plugin: the ``scene_qa`` dataset and the ``scene.*`` tasks."""

from __future__ import annotations

from uio.modalities.scenes.config import SceneQAConfig
from uio.modalities.scenes.dataset import SPLITS, build_scene_qa
from uio.modalities.scenes.tasks import scene_tasks
from uio.plugins import DatasetSpec, TaskSpec, hookimpl


@hookimpl
def uio_datasets() -> list[DatasetSpec]:
    """The ``scene_qa`` dataset builder."""
    return [
        DatasetSpec(
            name="scene_qa",
            build=build_scene_qa,
            config_model=SceneQAConfig,
            splits=list(SPLITS),
            description=(
                "generated 3x3-grid scenes in text with count/color/shape/where/relation "
                "questions; the heldout split uses (colour, shape) pairs never seen in train"
            ),
        )
    ]


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """The question tasks ``scene.count|color|shape|where|relation`` and ``scene.describe``."""
    return scene_tasks()
