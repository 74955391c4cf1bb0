"""uio.modalities.scenes — the embedded default data: small scenes described in text.

A scene holds 2 to 4 objects (size, colour, shape) on distinct cells of a 3x3
grid and is described in regular text::

    a small red circle at top left. a large blue star at middle right.

Questions about it (``scene.count``, ``scene.color``, ``scene.shape``,
``scene.where``, ``scene.relation``) have one exactly checkable answer. The
``heldout`` split contains (colour, shape) combinations never seen in ``train``,
so a model must compose attributes rather than recall scenes. The plugin
provides no modality: its examples are plain text for the ``text`` modality.
Scenes can also be drawn to RGB images with a pixel box per object
(:func:`render_scene`, :func:`render_example`; see :mod:`.render`), not yet
part of the examples.
"""

from uio.modalities.scenes.config import SceneQAConfig
from uio.modalities.scenes.dataset import DESCRIBE, SPLITS, build_scene_qa
from uio.modalities.scenes.holdout import holdout_pairs, train_pairs
from uio.modalities.scenes.parse import parse_description
from uio.modalities.scenes.questions import QUESTION_KINDS, answer, ask
from uio.modalities.scenes.render import RenderedScene, render_example, render_scene
from uio.modalities.scenes.sheet import contact_sheet
from uio.modalities.scenes.tasks import PHRASINGS, render_question, scene_tasks
from uio.modalities.scenes.world import SceneObject, describe

__all__ = [
    "DESCRIBE",
    "PHRASINGS",
    "QUESTION_KINDS",
    "SPLITS",
    "RenderedScene",
    "SceneObject",
    "SceneQAConfig",
    "answer",
    "ask",
    "build_scene_qa",
    "contact_sheet",
    "describe",
    "holdout_pairs",
    "parse_description",
    "render_example",
    "render_question",
    "render_scene",
    "scene_tasks",
    "train_pairs",
]
