"""uio.modalities.sounds — the sound world: synthesised sounds with text descriptions.

A sound is a tone, chord, rising or falling chirp, noise burst or rhythm with a
pitch (low / mid / high), a loudness (quiet / loud), a duration (short / long)
and, unless it is noise, a timbre (pure / buzzy), captioned in one canonical
form::

    a loud short high buzzy rising chirp

Raw examples hold the attributes and a seed; the tasks synthesise 8 kHz clips
from them (:func:`synthesize`) for the ``audio`` modality. The ``heldout``
split uses (kind, pitch) pairs never drawn in ``train``. A separately trained
classifier (:mod:`.classifier`, shipped weights) judges generated clips. The
plugin provides no modality of its own.
"""

from uio.modalities.sounds.config import CAPTION, QUESTION, SOUND_TASKS, TEXT_TO_AUDIO, SoundsConfig
from uio.modalities.sounds.dataset import SPLITS, build_sounds
from uio.modalities.sounds.holdout import holdout_pairs, train_pairs
from uio.modalities.sounds.synth import synthesize
from uio.modalities.sounds.world import ATTRIBUTES, KINDS, VALUES, Sound, caption, read_attributes

__all__ = [
    "ATTRIBUTES",
    "CAPTION",
    "KINDS",
    "QUESTION",
    "SOUND_TASKS",
    "SPLITS",
    "TEXT_TO_AUDIO",
    "VALUES",
    "Sound",
    "SoundsConfig",
    "build_sounds",
    "caption",
    "holdout_pairs",
    "read_attributes",
    "synthesize",
    "train_pairs",
]
