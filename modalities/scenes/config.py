"""Options of the ``scene_qa`` dataset, as written in a data-mixture config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from uio.modalities.scenes.holdout import num_holdout_pairs, train_pairs
from uio.modalities.scenes.questions import DIRECTION, QUESTION_KINDS, RELATION
from uio.modalities.scenes.world import NUM_CELLS, SHAPES


def check_scene_counts(min_objects: int, max_objects: int, holdout_fraction: float, unique_shapes: bool) -> None:
    """Raise a ValueError saying why scenes of these sizes cannot be drawn (shared by the
    scene datasets' options)."""
    if not min_objects <= max_objects <= NUM_CELLS:
        raise ValueError(
            f"need 1 <= min_objects <= max_objects <= {NUM_CELLS} (one object per grid "
            f"cell); got min_objects={min_objects}, max_objects={max_objects}"
        )
    available = len(train_pairs(holdout_fraction))
    if max_objects > available:
        raise ValueError(
            f"max_objects={max_objects} exceeds the {available} (colour, shape) pairs "
            f"left for training with holdout_fraction={holdout_fraction}; objects of "
            f"a scene have distinct pairs, so lower max_objects or holdout_fraction"
        )
    if unique_shapes and max_objects > len(SHAPES):
        raise ValueError(
            f"unique_shapes needs max_objects <= {len(SHAPES)} (one shape per object); "
            f"got max_objects={max_objects}"
        )


class SceneOptions(BaseModel):
    """Options every scene dataset shares (see :class:`SceneQAConfig` for their meaning)."""

    model_config = ConfigDict(extra="forbid")

    train_examples: int = Field(20000, ge=0)
    heldout_examples: int = Field(1000, ge=0)
    min_objects: int = Field(2, ge=1)
    max_objects: int = Field(4, ge=1)
    holdout_fraction: float = 0.2
    unique_shapes: bool = False
    heldout_about_unseen: bool = True

    @field_validator("holdout_fraction")
    @classmethod
    def _usable_fraction(cls, value: float) -> float:
        num_holdout_pairs(value)  # raises with the allowed range
        return value

    @model_validator(mode="after")
    def _drawable(self) -> SceneOptions:
        check_scene_counts(self.min_objects, self.max_objects, self.holdout_fraction, self.unique_shapes)
        return self


class SceneQAConfig(SceneOptions):
    """Options of the ``scene_qa`` dataset.

    Attributes:
        train_examples: examples in the ``train`` split.
        heldout_examples: examples in the ``heldout`` split.
        min_objects: fewest objects in a scene.
        max_objects: most objects in a scene (at most 9, one per grid cell).
        holdout_fraction: share of the 36 (colour, shape) pairs that never occur
            in training; every held-out scene contains at least one of them.
        describe_fraction: share of ``train`` examples of kind ``scene.describe``
            (the bare scene text, for denoising objectives such as span corruption).
        unique_shapes: every object of a scene has a shape of its own, so one
            word can name it (an easier reading task; colours may repeat).
        kinds: restrict the question kinds (e.g. ``["scene.count"]``); ``None``: all.
        heldout_about_unseen: held-out questions (other than counts) are about an
            object of an unseen pair, so answering needs composition; ``False``:
            about any object, the unseen pair then only being present in the scene.
    """

    describe_fraction: float = Field(0.0, ge=0.0, le=1.0)
    kinds: list[str] | None = None

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("kinds must name at least one question kind (or be null for all)")
        unknown = [k for k in value if k not in QUESTION_KINDS]
        if unknown:
            raise ValueError(
                f"unknown question kind(s) {unknown}; expected some of {list(QUESTION_KINDS)}"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"kinds lists a kind twice: {value}")
        return value

    @model_validator(mode="after")
    def _consistent_sizes(self) -> SceneQAConfig:
        for kind in (RELATION, DIRECTION):
            if kind in self.question_kinds and self.max_objects < 2:
                raise ValueError(f"{kind} questions need max_objects >= 2")
        return self

    @property
    def question_kinds(self) -> tuple[str, ...]:
        """The question kinds to generate, in a fixed order."""
        return tuple(self.kinds) if self.kinds is not None else QUESTION_KINDS
