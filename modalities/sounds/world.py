"""The sound world: attribute vocabularies, one sound's attributes, and its caption.

A sound has a kind and four attributes, each with two or three values::

    a loud short high buzzy rising chirp

Noise bursts have no timbre (filtered noise is neither a sine nor a sawtooth),
so their captions have four words before the kind: ``a quiet long low noise burst``.
Every value is a word or phrase of its own (no value contains another
attribute's word), so a caption can be read back attribute by attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TONE, CHORD, RISING, FALLING, NOISE, RHYTHM = (
    "tone", "chord", "rising chirp", "falling chirp", "noise burst", "rhythm",
)
KINDS: tuple[str, ...] = (TONE, CHORD, RISING, FALLING, NOISE, RHYTHM)
PITCHES: tuple[str, ...] = ("low", "mid", "high")
LOUDNESSES: tuple[str, ...] = ("quiet", "loud")
DURATIONS: tuple[str, ...] = ("short", "long")
TIMBRES: tuple[str, ...] = ("pure", "buzzy")
#: The attributes in caption order (the kind comes last, as the noun).
ATTRIBUTES: tuple[str, ...] = ("loudness", "duration", "pitch", "timbre", "kind")
VALUES: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "pitch": PITCHES,
    "loudness": LOUDNESSES,
    "duration": DURATIONS,
    "timbre": TIMBRES,
}
#: Kinds without a timbre.
UNPITCHED_KINDS: frozenset[str] = frozenset({NOISE})


@dataclass(frozen=True)
class Sound:
    """The attributes of one generated sound (``timbre`` is ``None`` for noise bursts)."""

    kind: str
    pitch: str
    loudness: str
    duration: str
    timbre: str | None

    def __post_init__(self) -> None:
        for name in ("kind", "pitch", "loudness", "duration"):
            value = getattr(self, name)
            if value not in VALUES[name]:
                raise ValueError(f"{name} is {value!r}; expected one of {list(VALUES[name])}")
        if self.kind in UNPITCHED_KINDS:
            if self.timbre is not None:
                raise ValueError(f"a {self.kind} has no timbre; got timbre {self.timbre!r}")
        elif self.timbre not in TIMBRES:
            raise ValueError(f"timbre is {self.timbre!r}; expected one of {list(TIMBRES)}")

    @property
    def pair(self) -> tuple[str, str]:
        """The ``(kind, pitch)`` combination, the unit of the held-out split."""
        return (self.kind, self.pitch)

    def attributes(self) -> dict[str, str]:
        """The attributes it has, in caption order (no ``timbre`` for noise bursts): the
        plain dict raw examples store as ``sound``."""
        return {a: getattr(self, a) for a in ATTRIBUTES if getattr(self, a) is not None}

    @classmethod
    def from_dict(cls, value: Any) -> Sound:
        """A sound from its dict form; a ValueError naming the bad or missing key."""
        if not isinstance(value, dict):
            raise ValueError(f"a sound must be a dict of attributes; got {type(value).__name__}")
        unknown = sorted(set(value) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown sound attribute(s) {unknown}; expected some of {list(ATTRIBUTES)}")
        missing = [a for a in ("kind", "pitch", "loudness", "duration") if a not in value]
        if missing:
            raise ValueError(f"sound {value} lacks attribute(s) {missing}")
        return cls(value["kind"], value["pitch"], value["loudness"], value["duration"], value.get("timbre"))


def caption(sound: Sound) -> str:
    """The one canonical caption, e.g. ``"a loud short high buzzy rising chirp"``."""
    return "a " + " ".join(sound.attributes().values())


def applicable(attribute: str, kind: str) -> bool:
    """Whether sounds of ``kind`` have ``attribute`` (noise bursts have no timbre)."""
    return not (attribute == "timbre" and kind in UNPITCHED_KINDS)


def read_attributes(text: str) -> dict[str, str]:
    """The attribute values a free text names, one per attribute it names unambiguously.

    Values are matched as whole words (``"rising chirp"`` as a phrase); an
    attribute with no value or with two different values in the text is left out.
    """
    words = f" {' '.join(re.findall(r'[a-z]+', text.lower()))} "
    found = {}
    for attribute, values in VALUES.items():
        named = [v for v in values if f" {v} " in words]
        if len(named) == 1:
            found[attribute] = named[0]
    return found
