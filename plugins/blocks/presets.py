"""Named size presets for a modality's config: a preset fills every field the user left unset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel


def fill_preset(given: Mapping[str, Any], preset: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` with the preset's value for every key it lacks (nested dicts too).

    A nested value given as a pydantic model instance counts only for the fields
    set on it, so ``vit=VitConfig(depth=3)`` keeps the preset's width.
    """
    out = dict(given)
    for key, value in preset.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, Mapping):
            mine = out[key]
            if isinstance(mine, BaseModel):  # an instance: only what was set on it counts
                mine = {k: getattr(mine, k) for k in mine.model_fields_set}
            if isinstance(mine, Mapping):
                out[key] = fill_preset(mine, value)
    return out
