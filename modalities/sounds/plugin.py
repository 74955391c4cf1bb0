"""pluggy hooks of the sounds plugin: the ``sounds`` dataset and the ``sound.*`` tasks."""

from __future__ import annotations

from uio.modalities.sounds.config import SoundsConfig
from uio.modalities.sounds.dataset import DATASET, SPLITS, build_sounds
from uio.modalities.sounds.tasks import sound_tasks
from uio.plugins import DatasetSpec, TaskSpec, hookimpl


@hookimpl
def uio_datasets() -> list[DatasetSpec]:
    """The ``sounds`` dataset builder."""
    return [
        DatasetSpec(
            name=DATASET,
            build=build_sounds,
            config_model=SoundsConfig,
            splits=list(SPLITS),
            description=(
                "synthesised tones, chords, chirps, noise bursts and rhythms with captions and "
                "attribute questions; the heldout split uses (kind, pitch) pairs never seen in train"
            ),
        )
    ]


@hookimpl
def uio_tasks() -> list[TaskSpec]:
    """``sound.caption``, ``sound.text_to_audio`` and ``sound.question``."""
    return sound_tasks()
