"""Options of the ``scene_vision`` dataset and the names of its tasks."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from uio.modalities.scenes.config import SceneOptions
from uio.modalities.scenes.questions import COUNT, DIRECTION, QUESTION_KINDS, RELATION, SHAPE, WHERE
from uio.modalities.scenes.render import MIN_SIZE

CAPTION = "scene.caption"
VQA = "scene.vqa"
DETECT = "scene.detect"
REFEXP = "scene.refexp"
REGION_CAPTION = "scene.region_caption"
TEXT_TO_IMAGE = "scene.text_to_image"
INPAINT = "scene.inpaint"
#: Every vision task, in a fixed order (the order of ``tasks`` when it is ``None``).
VISION_TASKS: tuple[str, ...] = (
    CAPTION, VQA, DETECT, REFEXP, REGION_CAPTION, TEXT_TO_IMAGE, INPAINT,
)
#: Tasks whose raw examples name one object of the scene (``index``).
SINGLE_OBJECT_TASKS: frozenset[str] = frozenset({REFEXP, REGION_CAPTION, INPAINT})
#: The question kinds of ``configs/data/scene_qa.yaml``: the ones a small model learns.
DEFAULT_VQA_KINDS: tuple[str, ...] = (COUNT, SHAPE, WHERE)


class SceneVisionConfig(SceneOptions):
    """Options of the ``scene_vision`` dataset.

    ``train_examples``, ``heldout_examples``, ``min_objects``, ``max_objects``,
    ``holdout_fraction`` and ``unique_shapes`` mean what they mean for
    :class:`~uio.modalities.scenes.config.SceneQAConfig` (here 1 to 3 objects).

    Attributes:
        image_size: side in pixels of the rendered input images (and the pixel
            frame of the box values).
        target_size: side in pixels of the image targets (``scene.text_to_image``,
            ``scene.inpaint``).
        tasks: which tasks to generate (full names, e.g. ``scene.detect``);
            ``None``: all of :data:`VISION_TASKS`.
        weights: relative share of each task in ``tasks`` (tasks left out weigh
            1); ``None``: an even split. Counts are exact (largest remainder).
        vqa_kinds: question kinds of ``scene.vqa`` (balanced exactly).
        heldout_about_unseen: held-out ``scene.vqa``, ``scene.refexp``,
            ``scene.region_caption`` and ``scene.inpaint`` examples concern an
            object of an unseen pair (counts: mostly an attribute value of one, as
            in ``scene_qa``), so they test composition; ``False``: any object of
            the (still unseen-pair) scene.
    """

    min_objects: int = Field(1, ge=1)
    max_objects: int = Field(3, ge=1)
    image_size: int = Field(64, ge=MIN_SIZE)
    target_size: int = Field(32, ge=MIN_SIZE)
    tasks: list[str] | None = None
    weights: dict[str, float] | None = None
    vqa_kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_VQA_KINDS))

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("tasks must name at least one task (or be null for all)")
        _check_names(value, VISION_TASKS, "task")
        return value

    @field_validator("vqa_kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("vqa_kinds must name at least one question kind")
        _check_names(value, QUESTION_KINDS, "question kind")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SceneVisionConfig:
        if VQA in self.task_names:
            for kind in (RELATION, DIRECTION):
                if kind in self.vqa_kinds and self.max_objects < 2:
                    raise ValueError(f"vqa_kinds {kind} needs max_objects >= 2")
        if self.weights is not None:
            unknown = sorted(set(self.weights) - set(self.task_names))
            if unknown:
                raise ValueError(
                    f"weights name task(s) {unknown} that are not generated; tasks: "
                    f"{list(self.task_names)}"
                )
            bad = {k: v for k, v in self.weights.items() if not v > 0}
            if bad:
                raise ValueError(f"weights must be positive (drop a task from tasks instead): {bad}")
        return self

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks to generate, in a fixed order."""
        return tuple(self.tasks) if self.tasks is not None else VISION_TASKS

    def task_weights(self) -> dict[str, float]:
        """Relative weight of every generated task."""
        given = self.weights or {}
        return {task: float(given.get(task, 1.0)) for task in self.task_names}


def _check_names(value: list[str], known: tuple[str, ...], what: str) -> None:
    unknown = [k for k in value if k not in known]
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; expected some of {list(known)}")
    if len(set(value)) != len(value):
        raise ValueError(f"a {what} is listed twice: {value}")
