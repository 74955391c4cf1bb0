"""The pictures of a raw ``scene_vision`` example: its input image and its image targets.

Input images are jittered (objects move and scale inside their cells), seeded by
the example's ``_render_seed`` and ``id``, so an example renders the same pixels
every time. The ``scene.text_to_image`` target is unjittered: every object
centred at its nominal scale, so the picture is a function of the text alone and
a model can learn it exactly. The ``scene.inpaint`` target keeps the input's
layout (the same jitter stream, at ``_target_size``) and draws the missing
object unjittered, so it too is a function of what the model sees.
"""

from __future__ import annotations

from PIL import Image

from uio.modalities.scenes.render import (
    BACKGROUND,
    RenderedScene,
    cell_bounds,
    render_example,
    render_scene,
)
from uio.modalities.scenes.vision_fields import (
    image_size,
    object_index,
    render_seed,
    scene_objects,
    target_size,
)
from uio.modalities.scenes.world import SceneObject


def input_scene(raw: dict) -> RenderedScene:
    """The example's input image at ``_image_size`` (jittered), with pixel boxes in scene order."""
    return _jittered(raw, image_size(raw))


def clean_target(raw: dict) -> Image.Image:
    """The whole scene at ``_target_size``, unjittered: the ``scene.text_to_image`` target."""
    return render_scene(scene_objects(raw), target_size(raw), jitter=False).image


def masked_input(raw: dict) -> Image.Image:
    """The input image with the cell of object ``index`` painted background."""
    scene = input_scene(raw)
    obj = scene.objects[object_index(raw, list(scene.objects))]
    image = scene.image.copy()
    image.paste(BACKGROUND, cell_bounds(obj.row, obj.col, scene.size))
    return image


def inpaint_target(raw: dict) -> Image.Image:
    """The input's layout at ``_target_size`` with object ``index`` drawn unjittered."""
    scene = _jittered(raw, target_size(raw))
    obj = scene.objects[object_index(raw, list(scene.objects))]
    return with_nominal_object(scene.image, obj)


def with_nominal_object(image: Image.Image, obj: SceneObject) -> Image.Image:
    """A copy of ``image`` whose cell of ``obj`` holds only ``obj``, centred at nominal scale."""
    size = image.size[0]
    # Objects never leave their cell, so the cell of a one-object render is
    # exactly the object on background.
    box = cell_bounds(obj.row, obj.col, size)
    alone = render_scene([obj], size, jitter=False).image
    result = image.copy()
    result.paste(alone.crop(box), box[:2])
    return result


def _jittered(raw: dict, size: int) -> RenderedScene:
    scene_objects(raw)  # a clear error naming the example before rendering
    return render_example(raw, size, seed=render_seed(raw))
