"""Prompt templates of the scene tasks: a raw example -> text inputs and text target.

A question task reads ``scene`` (description text), ``query`` (see
:mod:`uio.modalities.scenes.questions`) and ``answer`` from the raw example and
renders the question in one of several phrasings picked with the given random
generator. A raw example may carry a ready ``question`` string instead of a
``query`` (handy in hand-written JSON Lines manifests).
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from uio.modalities.scenes.dataset import DESCRIBE
from uio.modalities.scenes.questions import COLOR, COUNT, DIRECTION, RELATION, SHAPE, WHERE, Query
from uio.modalities.scenes.world import plural
from uio.plugins import TaskExample, TaskSpec

TEXT = "text"
QUESTION_OBJECTIVES = ["text.prefix_lm"]

#: Phrasings per question kind; fields: ``things`` (count), ``object`` and ``other``
#: (references, without article) and ``relation``.
PHRASINGS: dict[str, tuple[str, ...]] = {
    COUNT: (
        "how many {things} are there?",
        "how many {things}?",
        "count the {things}.",
        "what is the number of {things}?",
        "how many {things} does the scene contain?",
    ),
    COLOR: (
        "what color is the {object}?",
        "which color does the {object} have?",
        "name the color of the {object}.",
        "the {object} is which color?",
    ),
    SHAPE: (
        "what shape is the {object}?",
        "which shape does the {object} have?",
        "name the shape of the {object}.",
        "the {object} is which shape?",
    ),
    WHERE: (
        "where is the {object}?",
        "in which cell is the {object}?",
        "what is the position of the {object}?",
        "where can the {object} be found?",
    ),
    RELATION: (
        "is the {object} {relation} the {other}?",
        "is it true that the {object} is {relation} the {other}?",
        "does the {object} lie {relation} the {other}?",
    ),
    DIRECTION: (
        "where is the {object} relative to the {other}?",
        "in which direction from the {other} is the {object}?",
        "seen from the {other}, where is the {object}?",
    ),
}

RELATION_WORDS: dict[str, str] = {
    "left_of": "left of",
    "right_of": "right of",
    "above": "above",
    "below": "below",
}


def reference_text(reference: dict[str, str]) -> str:
    """A reference in words, e.g. ``"small red circle"`` or ``"red object"``."""
    words = [reference[k] for k in ("size", "color") if k in reference]
    words.append(reference.get("shape", "object"))
    return " ".join(words)


def render_question(kind: str, query: Query, rng: random.Random) -> str:
    """The question text of a query, in a phrasing picked with ``rng``."""
    template = rng.choice(PHRASINGS[kind])
    if kind == COUNT:
        value = query["value"]
        things = plural(value) if query["attribute"] == "shape" else f"{value} objects"
        return template.format(things=things)
    fields = {"object": reference_text(query["object"])}
    if kind == RELATION:
        fields["relation"] = RELATION_WORDS[query["relation"]]
    if kind in (RELATION, DIRECTION):
        fields["other"] = reference_text(query["other"])
    return template.format(**fields)


def _text_field(example: dict[str, Any], key: str, task: str) -> str:
    value = example.get(key)
    if not isinstance(value, str):
        found = "missing" if value is None else f"a {type(value).__name__}"
        raise ValueError(
            f"example {example.get('id', '?')!r} of task {task}: field {key!r} must be a string "
            f"(got {found})"
        )
    return value


def build_question(kind: str, example: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[scene text, question text] -> answer text`` for one question kind."""
    scene = _text_field(example, "scene", kind)
    answer = _text_field(example, "answer", kind)
    if "question" in example:
        question = _text_field(example, "question", kind)
    else:
        query = example.get("query")
        try:
            question = render_question(kind, query, rng)  # type: ignore[arg-type]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"example {example.get('id', '?')!r} of task {kind}: malformed query {query!r} "
                f"({type(exc).__name__}: {exc}); see uio.modalities.scenes.questions"
            ) from exc
    return TaskExample(inputs=[(TEXT, scene), (TEXT, question)], target=(TEXT, answer))


def build_describe(example: dict[str, Any], rng: random.Random) -> TaskExample:
    """No inputs -> the scene text (objectives such as span corruption reshape it)."""
    return TaskExample(inputs=[], target=(TEXT, _text_field(example, "scene", DESCRIBE)))


_DESCRIPTIONS = {
    COUNT: "count the objects with a colour, shape or size; answer a number word",
    COLOR: "the colour of the object a shape (and size) identifies",
    SHAPE: "the shape of the object a colour (and size) identifies",
    WHERE: "the grid cell of an object, e.g. 'top left'",
    RELATION: "whether one object is left of / right of / above / below another: yes or no",
    DIRECTION: "where one object lies seen from another, e.g. 'above left' or 'right'",
}


def scene_tasks() -> list[TaskSpec]:
    """The TaskSpecs of the scene question kinds and of ``scene.describe``."""
    specs = [
        TaskSpec(
            name=kind,
            build=partial(build_question, kind),  # a partial, unlike a closure, pickles
            target_modality=TEXT,
            objectives=list(QUESTION_OBJECTIVES),
            description=_DESCRIPTIONS[kind],
        )
        for kind in PHRASINGS
    ]
    specs.append(
        TaskSpec(
            name=DESCRIBE,
            build=build_describe,
            target_modality=TEXT,
            objectives=None,
            description="the scene description as a bare text target (for denoising objectives)",
        )
    )
    return specs
