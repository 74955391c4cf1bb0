"""Prompt templates of the sound tasks: a raw ``sounds`` example -> text and audio values.

Every task synthesises its clip from the example (see :func:`.fields.audio_value`)
and picks one of several phrasings with the given random generator; the text
prompt comes first, then the clip. Audio values are ``{"waveform": float32
[samples], "sample_rate": int}``, the form the ``audio`` modality takes and its
decoder returns.

=================== =========================== =====================================
task                inputs                      target
=================== =========================== =====================================
sound.caption       prompt, clip                text: the canonical caption
sound.text_to_audio prompt with the caption     audio: the nominal clip (no jitter)
sound.question      question, clip              text: the attribute's value ("high")
=================== =========================== =====================================
"""

from __future__ import annotations

import random
from typing import Any

from uio.modalities.sounds.config import CAPTION, QUESTION, TEXT_TO_AUDIO
from uio.modalities.sounds.fields import audio_value, sound_of, where
from uio.modalities.sounds.score import illustrate_text_to_audio, score_caption, score_text_to_audio
from uio.modalities.sounds.world import ATTRIBUTES, applicable, caption
from uio.plugins import TaskExample, TaskSpec

TEXT, AUDIO = "text", "audio"
# One-word answers: span corruption of "high" teaches nothing (as for the scene questions).
SHORT_ANSWER_OBJECTIVES = ["text.prefix_lm"]

#: Phrasings per task; ``{caption}`` is the canonical caption ("a loud short high pure tone").
PROMPTS: dict[str, tuple[str, ...]] = {
    CAPTION: (
        "describe the sound.",
        "what do you hear?",
        "caption this audio.",
        "write a caption for the sound.",
        "what sound is this?",
        "describe the audio clip.",
    ),
    TEXT_TO_AUDIO: (
        "generate {caption}.",
        "make the sound of {caption}.",
        "synthesize {caption}.",
        "play {caption}.",
        "produce audio of {caption}.",
        "{caption}",
    ),
}

#: Question phrasings per attribute.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "kind": (
        "what kind of sound is this?",
        "what type of sound do you hear?",
        "name the kind of sound.",
        "which kind of sound is it?",
    ),
    "pitch": (
        "what is the pitch of the sound?",
        "is the sound low, mid or high?",
        "how high is the sound?",
        "which pitch does the sound have?",
    ),
    "loudness": (
        "is the sound loud or quiet?",
        "how loud is the sound?",
        "what is the loudness of the sound?",
    ),
    "duration": (
        "is the sound short or long?",
        "how long does the sound last?",
        "what is the duration of the sound?",
    ),
    "timbre": (
        "is the sound pure or buzzy?",
        "what is the timbre of the sound?",
        "does it sound pure or buzzy?",
    ),
}


def build_caption(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt, clip] -> caption`` (e.g. ``"a loud short high buzzy rising chirp"``)."""
    text = caption(sound_of(raw))
    return TaskExample(
        inputs=[(TEXT, rng.choice(PROMPTS[CAPTION])), (AUDIO, audio_value(raw))], target=(TEXT, text)
    )


def build_text_to_audio(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[prompt with the caption] -> clip``, nominal (a function of the text alone)."""
    prompt = rng.choice(PROMPTS[TEXT_TO_AUDIO]).format(caption=caption(sound_of(raw)))
    return TaskExample(inputs=[(TEXT, prompt)], target=(AUDIO, audio_value(raw, jitter=False)))


def build_question(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """``[question about attribute, clip] -> its value``."""
    sound = sound_of(raw)
    attribute = raw.get("attribute")
    if attribute not in QUESTIONS:
        raise ValueError(f"{where(raw)}: field 'attribute' is {attribute!r}; expected one of {list(ATTRIBUTES)}")
    if not applicable(attribute, sound.kind):
        raise ValueError(f"{where(raw)}: a {sound.kind} has no {attribute} to ask about")
    return TaskExample(
        inputs=[(TEXT, rng.choice(QUESTIONS[attribute])), (AUDIO, audio_value(raw))],
        target=(TEXT, sound.attributes()[attribute]),
    )


def sound_tasks() -> list[TaskSpec]:
    """The TaskSpecs ``sound.caption``, ``sound.text_to_audio`` and ``sound.question``."""
    return [
        TaskSpec(
            name=CAPTION, build=build_caption, target_modality=TEXT, score=score_caption,
            description="caption a generated sound: 'a loud short high buzzy rising chirp'",
        ),
        TaskSpec(
            name=TEXT_TO_AUDIO, build=build_text_to_audio, target_modality=AUDIO,
            score=score_text_to_audio, illustrate=illustrate_text_to_audio,
            description="generate the sound a caption describes (judged by the sound classifier)",
        ),
        TaskSpec(
            name=QUESTION, build=build_question, target_modality=TEXT,
            objectives=list(SHORT_ANSWER_OBJECTIVES),
            description="name one attribute of a sound (kind, pitch, loudness, duration or timbre)",
        ),
    ]
