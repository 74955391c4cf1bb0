"""The shared block that learned tokenizers save, check and fingerprint their state with."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from uio.plugins.blocks import tokenizer_state as ts


def test_a_fresh_module_is_the_same_every_time_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = ts.seeded_module(0, lambda: nn.Linear(4, 4))
    b = ts.seeded_module(0, lambda: nn.Linear(4, 4))
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(a.weight, b.weight)
    assert not a.training
    assert not torch.equal(ts.seeded_module(1, lambda: nn.Linear(4, 4)).weight, a.weight)


def test_a_state_of_another_format_is_refused_naming_what_was_found() -> None:
    with pytest.raises(ValueError, match=r"not an image tokenizer state \(format 'x/1', expected 'y/1'\)"):
        ts.require_format({"format": "x/1"}, "y/1", "image tokenizer", "ImageTokenizer")
    with pytest.raises(ValueError, match=r"format 'list'.*ImageTokenizer.state_dict\(\)"):
        ts.require_format([], "y/1", "image tokenizer", "ImageTokenizer")
    ts.require_format({"format": "y/1"}, "y/1", "image tokenizer", "ImageTokenizer")


def test_differing_sizes_are_named_with_both_values() -> None:
    saved, mine = {"n_mels": 64, "n_fft": 256}, {"n_fft": 256, "n_mels": 32, "frames": 64}
    differ = ts.differing_sizes(saved, mine)
    assert differ == ["n_mels", "frames"]
    assert ts.describe_differences(saved, mine, differ) == "n_mels=64 (config: 32); frames=None (config: 64)"


def test_weights_round_trip_and_ill_fitting_weights_are_a_clear_error() -> None:
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    ts.load_module_weights(target, {"weights": ts.module_weights(source)}, "toy")
    assert torch.equal(target.weight, source.weight)
    with pytest.raises(ValueError, match="the toy state's weights do not fit the model"):
        ts.load_module_weights(nn.Linear(5, 2), {"weights": ts.module_weights(source)}, "toy")
    with pytest.raises(ValueError, match="do not fit"):
        ts.load_module_weights(target, {}, "toy")


def test_the_fingerprint_changes_with_the_sizes_and_with_any_weight() -> None:
    module = ts.seeded_module(0, lambda: nn.Linear(3, 2))
    first = ts.fingerprint({"size": 3}, module)
    assert len(first) == 16
    assert ts.fingerprint({"size": 3}, module) == first
    assert ts.fingerprint({"size": 4}, module) != first
    with torch.no_grad():
        module.bias[0] += 1e-6
    assert ts.fingerprint({"size": 3}, module) != first
