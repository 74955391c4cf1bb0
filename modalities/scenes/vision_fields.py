"""Reading the fields of a raw ``scene_vision`` example, with errors that name the example."""

from __future__ import annotations

from typing import Any

from uio.modalities.scenes.parse import parse_description
from uio.modalities.scenes.render import DEFAULT_SIZE, MIN_SIZE
from uio.modalities.scenes.world import SceneObject

#: Sizes used when a hand-written example leaves ``_image_size`` / ``_target_size`` out.
DEFAULT_IMAGE_SIZE = DEFAULT_SIZE
DEFAULT_TARGET_SIZE = 32


def where(raw: dict[str, Any]) -> str:
    """``"example 'train-3' of task scene.detect"``, the start of every error message."""
    return f"example {raw.get('id', '?')!r} of task {raw.get('task', '?')}"


def text_field(raw: dict[str, Any], key: str) -> str:
    """A string field; a ValueError naming the example and field otherwise."""
    value = raw.get(key)
    if not isinstance(value, str):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise ValueError(f"{where(raw)}: field {key!r} must be a string (got {found})")
    return value


def int_field(raw: dict[str, Any], key: str, default: int | None = None, low: int = 0) -> int:
    """An int field ``>= low`` (``default`` when missing, if given)."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        found = "missing" if value is None else repr(value)
        raise ValueError(f"{where(raw)}: field {key!r} must be an int >= {low} (got {found})")
    return value


def scene_objects(raw: dict[str, Any]) -> list[SceneObject]:
    """The objects of the example's ``scene`` description, in its order."""
    try:
        return parse_description(text_field(raw, "scene"))
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(where(raw)):
            raise
        raise ValueError(f"{where(raw)}: field 'scene': {exc}") from exc


def image_size(raw: dict[str, Any]) -> int:
    """Side of the input image (``_image_size``)."""
    return int_field(raw, "_image_size", DEFAULT_IMAGE_SIZE, MIN_SIZE)


def target_size(raw: dict[str, Any]) -> int:
    """Side of an image target (``_target_size``)."""
    return int_field(raw, "_target_size", DEFAULT_TARGET_SIZE, MIN_SIZE)


def render_seed(raw: dict[str, Any]) -> int:
    """The dataset seed the example's renders derive from (``_render_seed``)."""
    return int_field(raw, "_render_seed", 0)


def object_index(raw: dict[str, Any], objects: list[SceneObject]) -> int:
    """The ``index`` of the object the example is about, checked against the scene."""
    index = int_field(raw, "index")
    if index >= len(objects):
        raise ValueError(
            f"{where(raw)}: field 'index' is {index} but the scene has {len(objects)} object(s)"
        )
    return index
