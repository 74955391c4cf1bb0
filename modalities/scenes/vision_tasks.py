"""Prompt templates of the scene vision tasks: a raw ``scene_vision`` example -> images, boxes, text.

Every task renders its pictures from the example (see :mod:`.vision_render`) and
picks one of several phrasings with the given random generator. Text prompts
come first, then the image, then (``scene.region_caption``) the box, as UIO2
orders its inputs. Captions and detection lists follow the canonical object
order (row-major by cell, :func:`~.vision_dataset.canonical_order`) whatever
order the example's ``scene`` lists them in.

==================== =============================== =========================
task                 inputs                          target
==================== =============================== =========================
scene.caption        prompt, image                   text: the description
scene.vqa            question, image                 text: the answer
scene.detect         prompt, image                   box: every object
scene.refexp         referring prompt, image         box: that object
scene.region_caption prompt, image, box              text: "small red circle"
scene.text_to_image  prompt with the description     image at ``_target_size``
scene.inpaint        prompt naming the object, image image at ``_target_size``
                     with its cell blanked
==================== =============================== =========================
"""

from __future__ import annotations

import random
from typing import Any

from PIL import Image

from uio.modalities.scenes.draw import draw_boxes, pixel_boxes, side_by_side
from uio.modalities.scenes.questions import QUESTION_KINDS, resolve
from uio.modalities.scenes.render import RenderedScene
from uio.modalities.scenes.tasks import reference_text, render_question
from uio.modalities.scenes.vision_config import (
    CAPTION,
    DETECT,
    INPAINT,
    REFEXP,
    REGION_CAPTION,
    TEXT_TO_IMAGE,
    VQA,
)
from uio.modalities.scenes.vision_dataset import canonical_order
from uio.modalities.scenes.vision_fields import (
    object_index,
    scene_objects,
    target_size,
    text_field,
    where,
)
from uio.modalities.scenes.vision_render import (
    clean_target,
    inpaint_target,
    input_scene,
    masked_input,
)
from uio.modalities.scenes.vision_score import detection_map_at_50, score_inpaint, score_scene_image
from uio.modalities.scenes.world import SceneObject, describe
from uio.plugins import TaskExample, TaskSpec

TEXT, IMAGE, BOX = "text", "image", "box"
# Short one-answer targets: span corruption of "two" teaches nothing (as for
# the scene question tasks).
SHORT_ANSWER_OBJECTIVES = ["text.prefix_lm"]

#: Phrasings per task; fields: ``{object}`` (e.g. "small red circle"),
#: ``{position}`` (e.g. "top left"), ``{scene}`` (the description).
PROMPTS: dict[str, tuple[str, ...]] = {
    CAPTION: (
        "describe the image.",
        "what does the picture show?",
        "caption this image.",
        "list the objects in the picture.",
        "write a description of the scene.",
    ),
    DETECT: (
        "detect all objects.",
        "find every object in the image.",
        "locate all the objects.",
        "give the box of each object.",
        "where are the objects?",
    ),
    REFEXP: (
        "find the {object}.",
        "locate the {object}.",
        "where is the {object}? give its box.",
        "draw a box around the {object}.",
        "the {object}.",
    ),
    REGION_CAPTION: (
        "what is in the marked region?",
        "name the object in the box.",
        "what object is inside the box?",
        "describe the region.",
    ),
    TEXT_TO_IMAGE: (
        "draw: {scene}",
        "generate an image of this scene: {scene}",
        "render the scene. {scene}",
        "paint a picture of: {scene}",
        "{scene}",
    ),
    INPAINT: (
        "draw a {object} at {position}.",
        "fill in the {object} at {position}.",
        "add a {object} in the {position} cell.",
        "complete the image with a {object} at {position}.",
    ),
}


def object_name(obj: SceneObject) -> str:
    """The region caption of an object: ``"small red circle"``."""
    return f"{obj.size} {obj.color} {obj.shape}"


def detect_target(raw: dict[str, Any]) -> tuple[RenderedScene, dict[str, Any]]:
    """The input render and the box value of all its objects, in canonical order."""
    scene = input_scene(raw)
    by_cell = canonical_order(scene.objects)
    boxes = [list(scene.boxes[scene.objects.index(obj)]) for obj in by_cell]
    return scene, {"boxes": boxes, "size": [scene.size, scene.size]}


def refexp_target(raw: dict[str, Any]) -> tuple[RenderedScene, dict[str, Any], dict[str, str]]:
    """The input render, the box value of the referred object, and the reference.

    The ``reference`` must name exactly one object; an ``index``, if present,
    must be that object.
    """
    scene = input_scene(raw)
    objects = list(scene.objects)
    reference = raw.get("reference")
    if not isinstance(reference, dict) or not reference:
        raise ValueError(
            f"{where(raw)}: field 'reference' must be a dict like {{'color': 'red', 'shape': "
            f"'circle'}} (got {reference!r})"
        )
    try:
        target = resolve(reference, objects)
    except ValueError as exc:
        raise ValueError(f"{where(raw)}: field 'reference': {exc}") from exc
    index = objects.index(target)
    if "index" in raw and object_index(raw, objects) != index:
        raise ValueError(
            f"{where(raw)}: field 'index' is {raw['index']} but 'reference' {reference} names "
            f"object {index}"
        )
    box = {"boxes": [list(scene.boxes[index])], "size": [scene.size, scene.size]}
    return scene, box, reference


# ------------------------------------------------------------------ build functions


def build_caption(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt, image] -> description`` in canonical order."""
    scene = input_scene(raw)
    caption = describe(canonical_order(scene.objects))
    return TaskExample(
        inputs=[(TEXT, rng.choice(PROMPTS[CAPTION])), (IMAGE, scene.image)], target=(TEXT, caption)
    )


def build_vqa(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[question, image] -> answer``; the question is rendered from ``kind`` and ``query``
    (or taken ready from ``question``)."""
    answer = text_field(raw, "answer")
    if "question" in raw:
        question = text_field(raw, "question")
    else:
        kind = raw.get("kind")
        if kind not in QUESTION_KINDS:
            raise ValueError(
                f"{where(raw)}: field 'kind' is {kind!r}; expected one of {list(QUESTION_KINDS)}"
            )
        query = raw.get("query")
        try:
            question = render_question(kind, query, rng)  # type: ignore[arg-type]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{where(raw)}: malformed query {query!r} ({type(exc).__name__}: {exc}); see "
                f"uio.modalities.scenes.questions"
            ) from exc
    return TaskExample(
        inputs=[(TEXT, question), (IMAGE, input_scene(raw).image)], target=(TEXT, answer)
    )


def build_detect(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt, image] -> boxes`` of every object, canonical order, in pixels."""
    scene, boxes = detect_target(raw)
    return TaskExample(
        inputs=[(TEXT, rng.choice(PROMPTS[DETECT])), (IMAGE, scene.image)], target=(BOX, boxes)
    )


def build_refexp(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[referring prompt, image] -> box`` of the one object the ``reference`` names."""
    scene, box, reference = refexp_target(raw)
    prompt = rng.choice(PROMPTS[REFEXP]).format(object=reference_text(reference))
    return TaskExample(inputs=[(TEXT, prompt), (IMAGE, scene.image)], target=(BOX, box))


def build_region_caption(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt, image, box of object index] -> "small red circle"``."""
    scene = input_scene(raw)
    index = object_index(raw, list(scene.objects))
    box = {"boxes": [list(scene.boxes[index])], "size": [scene.size, scene.size]}
    return TaskExample(
        inputs=[(TEXT, rng.choice(PROMPTS[REGION_CAPTION])), (IMAGE, scene.image), (BOX, box)],
        target=(TEXT, object_name(scene.objects[index])),
    )


def build_text_to_image(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt with the description] -> image`` at ``_target_size``, unjittered."""
    text = describe(canonical_order(scene_objects(raw)))
    prompt = rng.choice(PROMPTS[TEXT_TO_IMAGE]).format(scene=text)
    return TaskExample(inputs=[(TEXT, prompt)], target=(IMAGE, clean_target(raw)))


def build_inpaint(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt naming object index and its cell, image without it] -> the whole image``."""
    objects = scene_objects(raw)
    obj = objects[object_index(raw, objects)]
    prompt = rng.choice(PROMPTS[INPAINT]).format(object=object_name(obj), position=obj.position)
    return TaskExample(
        inputs=[(TEXT, prompt), (IMAGE, masked_input(raw))], target=(IMAGE, inpaint_target(raw))
    )


# ------------------------------------------------------------------ gallery pictures


def illustrate_detect(raw: dict[str, Any], prediction: Any, reference: Any) -> Image.Image:
    """The input image 4x, true boxes green, predicted boxes red."""
    scene, truth = detect_target(raw)
    return _boxes_picture(scene, truth, prediction)


def illustrate_refexp(raw: dict[str, Any], prediction: Any, reference: Any) -> Image.Image:
    """The input image 4x, the true box green, the predicted box(es) red."""
    scene, truth, _ = refexp_target(raw)
    return _boxes_picture(scene, truth, prediction)


def illustrate_text_to_image(
    raw: dict[str, Any], prediction: Any, reference: Any
) -> Image.Image | None:
    """Prediction | clean render of the truth, each 4x; ``None`` if the prediction is no image."""
    if not isinstance(prediction, Image.Image):
        return None
    return side_by_side([prediction, clean_target(raw)], 4 * target_size(raw))


def illustrate_inpaint(raw: dict[str, Any], prediction: Any, reference: Any) -> Image.Image | None:
    """Masked input | prediction | truth, each scaled to 4x the target size."""
    if not isinstance(prediction, Image.Image):
        return None
    return side_by_side([masked_input(raw), prediction, inpaint_target(raw)], 4 * target_size(raw))


def _boxes_picture(scene: RenderedScene, truth: dict[str, Any], prediction: Any) -> Image.Image:
    size = scene.size
    return draw_boxes(scene.image, pixel_boxes(truth, size, size), pixel_boxes(prediction, size, size))


# ------------------------------------------------------------------ specs


def vision_tasks() -> list[TaskSpec]:
    """The TaskSpecs of the scene vision tasks (``scene.caption`` ... ``scene.inpaint``)."""
    return [
        TaskSpec(
            name=CAPTION, build=build_caption, target_modality=TEXT,
            description="describe a rendered scene: every object, row-major by cell",
        ),
        TaskSpec(
            name=VQA, build=build_vqa, target_modality=TEXT,
            objectives=list(SHORT_ANSWER_OBJECTIVES),
            description="answer a count/shape/where/... question about a rendered scene",
        ),
        TaskSpec(
            name=DETECT, build=build_detect, target_modality=BOX, illustrate=illustrate_detect,
            corpus_score=detection_map_at_50,
            description="the pixel box of every object, row-major by cell",
        ),
        TaskSpec(
            name=REFEXP, build=build_refexp, target_modality=BOX, illustrate=illustrate_refexp,
            description="the box of the one object a phrase like 'the small red circle' names",
        ),
        TaskSpec(
            name=REGION_CAPTION, build=build_region_caption, target_modality=TEXT,
            objectives=list(SHORT_ANSWER_OBJECTIVES),
            description="name the object in a given box, e.g. 'small red circle'",
        ),
        TaskSpec(
            name=TEXT_TO_IMAGE, build=build_text_to_image, target_modality=IMAGE,
            score=score_scene_image, illustrate=illustrate_text_to_image,
            description="draw the described scene (objects centred in their cells)",
        ),
        TaskSpec(
            name=INPAINT, build=build_inpaint, target_modality=IMAGE,
            score=score_inpaint, illustrate=illustrate_inpaint,
            description="redraw a scene with a blanked cell, adding the object the text names",
        ),
    ]
