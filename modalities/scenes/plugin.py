"""pluggy hooks of the scenes plugin: the ``scene_qa`` and ``scene_vision`` datasets and the
``scene.*`` tasks."""

from __future__ import annotations

from uio.modalities.scenes.config import SceneQAConfig
from uio.modalities.scenes.dataset import SPLITS, build_scene_qa
from uio.modalities.scenes.tasks import scene_tasks
from uio.modalities.scenes.vision_config import SceneVisionConfig
from uio.modalities.scenes.vision_dataset import build_scene_vision
from uio.modalities.scenes.vision_tasks import vision_tasks
from uio.plugins import DatasetSpec, TaskSpec, hookimpl


@hookimpl
def uio_datasets() -> list[DatasetSpec]:
    """The ``scene_qa`` (text) and ``scene_vision`` (rendered images) dataset builders."""
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
        ),
        DatasetSpec(
            name="scene_vision",
            build=build_scene_vision,
            config_model=SceneVisionConfig,
            splits=list(SPLITS),
            description=(
                "rendered 3x3-grid scenes for captioning, VQA, detection, referring "
                "expressions, region captions, text-to-image and inpainting; the heldout "
                "split uses (colour, shape) pairs never seen in train"
            ),
        ),
    ]


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """The question tasks ``scene.count|color|shape|where|relation|direction``,
    ``scene.describe`` and the vision tasks ``scene.caption|vqa|detect|refexp|
    region_caption|text_to_image|inpaint``."""
    return scene_tasks() + vision_tasks()
