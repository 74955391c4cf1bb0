"""Options of the ``sounds`` dataset, as written in a data-mixture config, and its task names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from uio.modalities.sounds.holdout import num_holdout_pairs
from uio.modalities.sounds.synth import MIN_SAMPLE_RATE

CAPTION = "sound.caption"
TEXT_TO_AUDIO = "sound.text_to_audio"
QUESTION = "sound.question"
#: Every task of the sound world, in a fixed order.
SOUND_TASKS: tuple[str, ...] = (CAPTION, TEXT_TO_AUDIO, QUESTION)
#: Shortest clip, in seconds: the short sounds must still span a few spectrogram frames.
MIN_SECONDS = 0.25
MAX_SECONDS = 10.0


class SoundsConfig(BaseModel):
    """Options of the ``sounds`` dataset.

    Attributes:
        train_examples: examples in the ``train`` split.
        heldout_examples: examples in the ``heldout`` split; every one is of a
            (kind, pitch) pair never drawn in ``train``.
        sample_rate: samples per second of the clips (at least 8000).
        seconds: length of every clip; durations ("short", "long") and onsets
            are shares of it.
        holdout_fraction: share of the 18 (kind, pitch) pairs held out of
            training (0.33: 6 pairs, one pitch of every kind).
        tasks: which tasks to generate, in even shares (full names, e.g.
            ``sound.caption``).
    """

    model_config = ConfigDict(extra="forbid")

    train_examples: int = Field(20000, ge=0)
    heldout_examples: int = Field(600, ge=0)
    sample_rate: int = Field(8000, ge=MIN_SAMPLE_RATE, le=48000)
    seconds: float = Field(1.024, ge=MIN_SECONDS, le=MAX_SECONDS)
    holdout_fraction: float = 0.33
    tasks: list[str] = Field(default_factory=lambda: list(SOUND_TASKS))

    @field_validator("holdout_fraction")
    @classmethod
    def _usable_fraction(cls, value: float) -> float:
        num_holdout_pairs(value)  # raises with the allowed range
        return value

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"tasks must name at least one of {list(SOUND_TASKS)}")
        unknown = [t for t in value if t not in SOUND_TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; expected some of {list(SOUND_TASKS)}")
        if len(set(value)) != len(value):
            raise ValueError(f"a task is listed twice: {value}")
        return value

    @property
    def samples(self) -> int:
        """Samples per clip: ``round(seconds * sample_rate)`` (8,192 by default)."""
        return round(self.seconds * self.sample_rate)
