"""Tasks ``digits.sort`` and ``digits.reverse``, and the ``digits`` dataset that feeds them.

A raw example is a dict: ``{"id": "train-7", "task": "digits.sort", "digits": "3141"}``.
A task turns it into raw input and target values; the instruction is text (the
built-in text modality), so one model learns both tasks in one sequence.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from uio.plugins import DatasetSpec, TaskExample, TaskSpec

# Several phrasings per task, one picked at random per example (UIO2's prompt dictionary).
PHRASES = {
    "digits.sort": ["sort the digits", "put the digits in order", "digits, smallest first"],
    "digits.reverse": ["reverse the digits", "write the digits backwards", "digits, last first"],
}


def _digits(raw: dict[str, Any], task: str) -> str:
    if "digits" not in raw:
        raise ValueError(f"task {task!r} needs field 'digits'; the example has {sorted(raw)}")
    return str(raw["digits"])


def build_sort(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """An instruction and the digits -> the digits in ascending order."""
    digits = _digits(raw, "digits.sort")
    return TaskExample(
        inputs=[("text", rng.choice(PHRASES["digits.sort"])), ("digits", digits)],
        target=("digits", "".join(sorted(digits))),
    )


def build_reverse(raw: dict[str, Any], rng: random.Random) -> TaskExample:
    """An instruction and the digits -> the digits last to first."""
    digits = _digits(raw, "digits.reverse")
    return TaskExample(
        inputs=[("text", rng.choice(PHRASES["digits.reverse"])), ("digits", digits)],
        target=("digits", digits[::-1]),
    )


TASKS = [
    TaskSpec(
        name="digits.sort",
        build=build_sort,
        target_modality="digits",
        objectives=["digits.direct"],
        description="sort a digit string",
    ),
    TaskSpec(
        name="digits.reverse",
        build=build_reverse,
        target_modality="digits",
        objectives=["digits.direct"],
        description="reverse a digit string",
    ),
]


class DigitsDataConfig(BaseModel):
    """The ``options`` of a ``dataset: digits`` entry in a data mixture."""

    model_config = ConfigDict(extra="forbid")

    train_examples: int = Field(2000, ge=0)
    heldout_examples: int = Field(200, ge=0)
    min_length: int = Field(2, ge=1)
    max_length: int = Field(6, ge=1)

    @model_validator(mode="after")
    def _lengths(self) -> DigitsDataConfig:
        if self.min_length > self.max_length:
            raise ValueError(f"min_length={self.min_length} exceeds max_length={self.max_length}")
        return self


SPLITS = ("train", "heldout")


def build_digits(options: DigitsDataConfig, split: str, seed: int) -> list[dict[str, Any]]:
    """Random digit strings, alternating tasks; the same arguments give the same list."""
    count = options.train_examples if split == "train" else options.heldout_examples
    rng = random.Random(f"digits:{split}:{seed}")
    tasks = sorted(PHRASES)
    examples = []
    for i in range(count):
        length = rng.randint(options.min_length, options.max_length)
        digits = "".join(rng.choice("0123456789") for _ in range(length))
        examples.append({"id": f"{split}-{i}", "task": tasks[i % len(tasks)], "digits": digits})
    return examples


DIGITS_DATASET = DatasetSpec(
    name="digits",
    build=build_digits,
    config_model=DigitsDataConfig,
    splits=list(SPLITS),
    description="random digit strings for digits.sort and digits.reverse",
)
