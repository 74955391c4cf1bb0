"""Scoring generated scene images with the scene classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from uio.modalities.box.metrics import detection_map
from uio.modalities.scenes.classifier import classify
from uio.modalities.scenes.vision_fields import object_index, scene_objects, where
from uio.modalities.scenes.world import NUM_CELLS, SceneObject


def expected_cells(objects: list[SceneObject]) -> list[tuple[str, str] | None]:
    """What each of the 9 cells (row-major) should hold: ``(colour, shape)`` or ``None``."""
    cells: list[tuple[str, str] | None] = [None] * NUM_CELLS
    for obj in objects:
        cells[3 * obj.row + obj.col] = obj.pair
    return cells


def _read(raw: dict[str, Any], prediction: Any) -> tuple[list[SceneObject], list]:
    # Eval's chance level passes another example's reference as the prediction, as
    # the image processor prepares it: an RGB uint8 array.
    if isinstance(prediction, np.ndarray) and prediction.ndim == 3 and prediction.shape[-1] == 3:
        prediction = Image.fromarray(prediction.astype(np.uint8, copy=False))
    if not isinstance(prediction, Image.Image):
        raise TypeError(
            f"{where(raw)}: the prediction is {type(prediction).__name__}; expected a "
            f"PIL.Image.Image (the decoded image target) or an RGB array"
        )
    objects = scene_objects(raw)
    return objects, classify([prediction])[0]


def score_scene_image(raw: dict[str, Any], prediction: Any, reference: Any) -> dict[str, float]:
    """``scene_match`` and ``object_recall`` of a generated picture of the example's scene.

    ``scene_match`` is 1.0 when the classifier reads every cell as the scene holds
    it (empty cells included), else 0.0; ``object_recall`` is the share of the
    scene's objects found with the right colour and shape in their cell. Sizes
    are not judged. ``reference`` is unused: the truth is the ``scene`` text.
    """
    return _scene_metrics(*_read(raw, prediction))


def score_inpaint(raw: dict[str, Any], prediction: Any, reference: Any) -> dict[str, float]:
    """:func:`score_scene_image` plus ``object_drawn``: 1.0 if the asked-for object is in its cell."""
    objects, seen = _read(raw, prediction)
    target = objects[object_index(raw, objects)]
    return {
        **_scene_metrics(objects, seen),
        "object_drawn": float(seen[3 * target.row + target.col] == target.pair),
    }


def _scene_metrics(objects: list[SceneObject], seen: list) -> dict[str, float]:
    found = sum(seen[3 * o.row + o.col] == o.pair for o in objects)
    return {
        "scene_match": float(seen == expected_cells(objects)),
        "object_recall": found / len(objects) if objects else 1.0,
    }


def detection_map_at_50(raws: list[dict[str, Any]], predictions: list[Any], references: list[Any]) -> dict[str, float]:
    """Class-agnostic mAP@0.5 of ``scene.detect`` over every evaluated example.

    The box modality generates boxes only (no class name, no confidence), so every
    predicted box scores 1 and all objects are one class (see
    :func:`uio.modalities.box.metrics.detection_map`).
    """
    return {"map@0.5": detection_map(predictions, references, iou_threshold=0.5)}
