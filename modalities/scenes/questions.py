"""Structured questions about a scene: how to ask one, and its one correct answer.

A query is a plain dict (it is stored in raw examples and may come from a JSON
Lines manifest). An object is referred to by a *reference*: a dict with some of
the keys ``size``, ``color`` and ``shape``, which must match exactly one object.

=============== ======================================================== ================
task            query                                                    answer
=============== ======================================================== ================
scene.count     ``{"attribute": "color", "value": "red"}``               ``"two"``
scene.color     ``{"object": {"shape": "star"}}``                        ``"red"``
scene.shape     ``{"object": {"size": "small", "color": "red"}}``        ``"star"``
scene.where     ``{"object": {"color": "red", "shape": "star"}}``        ``"top left"``
scene.relation  ``{"object": ref, "relation": "left_of", "other": ref}`` ``"yes"``
scene.direction ``{"object": ref, "other": ref}``                        ``"above left"``
=============== ======================================================== ================
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from uio.modalities.scenes.world import COLORS, NUMBER_WORDS, SHAPES, SIZES, SceneObject

COUNT, COLOR, SHAPE, WHERE, RELATION, DIRECTION = (
    "scene.count", "scene.color", "scene.shape", "scene.where", "scene.relation", "scene.direction",
)
#: Every question kind, in a fixed order.
QUESTION_KINDS: tuple[str, ...] = (COUNT, COLOR, SHAPE, WHERE, RELATION, DIRECTION)

ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {"color": COLORS, "shape": SHAPES, "size": SIZES}

#: Relation name -> whether ``object`` stands in that relation to ``other``.
RELATIONS: dict[str, Callable[[SceneObject, SceneObject], bool]] = {
    "left_of": lambda a, b: a.col < b.col,
    "right_of": lambda a, b: a.col > b.col,
    "above": lambda a, b: a.row < b.row,
    "below": lambda a, b: a.row > b.row,
}

# Keys a reference may use, per kind; the first tuple is the shortest form.
_REFERENCE_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    COLOR: (("shape",), ("size", "shape")),
    SHAPE: (("color",), ("size", "color")),
    WHERE: (("shape",), ("color", "shape"), ("size", "color", "shape")),
    RELATION: (("shape",), ("color", "shape"), ("size", "color", "shape")),
}
_REFERENCE_KEYS[DIRECTION] = _REFERENCE_KEYS[RELATION]

# Share of count questions about an attribute value seen in the scene (the rest
# pick any value, which makes "zero" answers).
_COUNT_PRESENT_SHARE = 0.75

Query = dict[str, Any]


def matches(obj: SceneObject, reference: dict[str, str]) -> bool:
    """Whether an object has every attribute value the reference names."""
    return all(obj.attribute(key) == value for key, value in reference.items())


def resolve(reference: dict[str, str], objects: Sequence[SceneObject]) -> SceneObject:
    """The one object a reference names; a ValueError if none or several match."""
    found = [obj for obj in objects if matches(obj, reference)]
    if len(found) != 1:
        raise ValueError(f"reference {reference} matches {len(found)} objects, not exactly one")
    return found[0]


def answer(kind: str, query: Query, objects: Sequence[SceneObject]) -> str:
    """The correct answer to a query about a scene (a ValueError if it has none)."""
    if kind == COUNT:
        attribute, value = query["attribute"], query["value"]
        return NUMBER_WORDS[sum(obj.attribute(attribute) == value for obj in objects)]
    if kind == RELATION:
        holds = RELATIONS[query["relation"]](
            resolve(query["object"], objects), resolve(query["other"], objects)
        )
        return "yes" if holds else "no"
    if kind == DIRECTION:
        return direction(resolve(query["object"], objects), resolve(query["other"], objects))
    target = resolve(query["object"], objects)
    if kind == COLOR:
        return target.color
    if kind == SHAPE:
        return target.shape
    if kind == WHERE:
        return target.position
    raise ValueError(f"unknown question kind {kind!r}; expected one of {', '.join(QUESTION_KINDS)}")


def ask(
    kind: str,
    objects: Sequence[SceneObject],
    focus: Sequence[SceneObject],
    rng: random.Random,
) -> Query | None:
    """A query of one kind with a unique answer, about one of the ``focus`` objects.

    Returns ``None`` when the scene admits no such question (the caller draws
    another scene).
    """
    if kind == COUNT:
        return _ask_count(focus, rng)
    if kind == RELATION:
        return _ask_relation(objects, focus, rng)
    if kind == DIRECTION:
        return _ask_direction(objects, focus, rng)
    if kind not in _REFERENCE_KEYS:
        raise ValueError(f"unknown question kind {kind!r}; expected one of {', '.join(QUESTION_KINDS)}")
    for obj in rng.sample(list(focus), len(focus)):
        reference = _reference(obj, objects, kind, rng)
        if reference is not None:
            return {"object": reference}
    return None


def direction(obj: SceneObject, other: SceneObject) -> str:
    """Where ``obj`` lies seen from ``other``: a vertical word, a horizontal word or
    both, e.g. ``"above left"``, ``"below"``, ``"right"`` (the cells differ)."""
    vertical = "above" if obj.row < other.row else "below" if obj.row > other.row else ""
    horizontal = "left" if obj.col < other.col else "right" if obj.col > other.col else ""
    return " ".join(word for word in (vertical, horizontal) if word)


def _reference(
    obj: SceneObject, objects: Sequence[SceneObject], kind: str, rng: random.Random
) -> dict[str, str] | None:
    """A random reference that names ``obj`` alone among ``objects``, if there is one."""
    unique = []
    for keys in _REFERENCE_KEYS[kind]:
        reference = {key: obj.attribute(key) for key in keys}
        if sum(matches(other, reference) for other in objects) == 1:
            unique.append(reference)
    return rng.choice(unique) if unique else None


def _ask_count(focus: Sequence[SceneObject], rng: random.Random) -> Query:
    attribute = rng.choice(tuple(ATTRIBUTE_VALUES))
    if rng.random() < _COUNT_PRESENT_SHARE:
        value = rng.choice(list(focus)).attribute(attribute)
    else:
        value = rng.choice(ATTRIBUTE_VALUES[attribute])
    return {"attribute": attribute, "value": value}


def _ask_relation(
    objects: Sequence[SceneObject], focus: Sequence[SceneObject], rng: random.Random
) -> Query | None:
    # Draw the answer first so that yes and no are equally likely.
    wanted = rng.random() < 0.5
    candidates = [
        (a, relation, b)
        for a in objects
        for b in objects
        if a is not b and (a in focus or b in focus)
        for relation, holds in RELATIONS.items()
        if holds(a, b) == wanted
    ]
    if not candidates:
        return None
    a, relation, b = rng.choice(candidates)
    query = _pair_query(a, b, objects, RELATION, rng)
    if query is None:
        return None
    return {"object": query["object"], "relation": relation, "other": query["other"]}


def _ask_direction(
    objects: Sequence[SceneObject], focus: Sequence[SceneObject], rng: random.Random
) -> Query | None:
    pairs = [(a, b) for a in objects for b in objects if a is not b and (a in focus or b in focus)]
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    return _pair_query(a, b, objects, DIRECTION, rng)


def _pair_query(
    a: SceneObject, b: SceneObject, objects: Sequence[SceneObject], kind: str, rng: random.Random
) -> Query | None:
    """``{"object": ref_a, "other": ref_b}`` if both objects can be named uniquely."""
    ref_a, ref_b = _reference(a, objects, kind, rng), _reference(b, objects, kind, rng)
    if ref_a is None or ref_b is None:
        return None
    return {"object": ref_a, "other": ref_b}
