"""The digits plugin keeps the uio contract, loads through its entry point, and its tasks work."""

from __future__ import annotations

import random

import pytest

from uio_digits import DIGITS_SPEC, DigitsDataConfig, DigitsTokenizer, build_digits
from uio_digits import plugin as digits_plugin
from uio_digits.tasks import build_reverse, build_sort

pytest_plugins = ["uio.plugins.testing"]

SAMPLES = ["0", "42", "0451", "9876543210", 7]


def test_contract(uio_contract) -> None:
    uio_contract(DIGITS_SPEC, sample_values=SAMPLES)


def test_contract_catches_a_broken_tokenizer(uio_contract) -> None:
    class OffByOne(DigitsTokenizer):
        def encode(self, value):
            return [i + 1 for i in super().encode(value)]

    broken = DIGITS_SPEC.model_copy(update={"build_tokenizer": OffByOne})
    with pytest.raises(AssertionError, match=r"local id 10 is outside \[0, vocab_size=10\)"):
        uio_contract(broken, sample_values=["9"])


def test_registers_in_process(uio_isolated_registry) -> None:
    registry = uio_isolated_registry("digits", digits_plugin)
    assert sorted(registry.modalities) == ["digits"]
    assert sorted(registry.tasks) == ["digits.reverse", "digits.sort"]
    assert registry.dataset("digits").config_model is DigitsDataConfig
    assert [o.name for o in registry.objectives_for("digits")] == ["digits.direct"]


def test_entry_point_is_installed(uio_register) -> None:
    """After `pip install -e .`, the registry finds this package through its entry point."""
    info = uio_register.registry.plugin("digits")
    assert (info.status, info.distribution, info.modalities) == ("ok", "uio-digits", ["digits"])


def test_tasks_and_dataset() -> None:
    rng = random.Random(0)
    assert build_sort({"digits": "3141"}, rng).target == ("digits", "1134")
    assert build_reverse({"digits": "3141"}, rng).target == ("digits", "1413")
    options = DigitsDataConfig(train_examples=4, heldout_examples=2, min_length=3, max_length=3)
    train = build_digits(options, "train", seed=0)
    assert train == build_digits(options, "train", seed=0)  # deterministic
    assert [e["task"] for e in train] == ["digits.reverse", "digits.sort"] * 2
    assert all(len(e["digits"]) == 3 and e["digits"].isdigit() for e in train)
    assert len(build_digits(options, "heldout", seed=0)) == 2
    with pytest.raises(ValueError, match="needs field 'digits'"):
        build_sort({"task": "digits.sort"}, rng)
