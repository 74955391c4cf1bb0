"""``train.compile``: compiled layers train like eager ones and leave checkpoints unchanged."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import tiny_model, tiny_vocab
from run_fixtures import write_tiny_experiment

from uio.core.cli import main
from uio.core.lightning import compile_layers


def test_compile_layers_keeps_parameter_names():
    model = tiny_model(tiny_vocab())
    names = list(model.state_dict())
    compile_layers(model)
    assert list(model.state_dict()) == names
    layers = [*model.encoder_layers, *model.decoder_layers]
    assert all(layer._compiled_call_impl is not None for layer in layers)
    assert model.token_embedding._compiled_call_impl is None  # the embedding stays eager


@pytest.mark.slow  # the first compile on CPU takes about a minute
def test_compiled_training_matches_eager(tmp_path):
    states = {}
    for compiled in (False, True):
        cfg = write_tiny_experiment(tmp_path / str(compiled), steps=2, every=2)
        assert main(["train", str(cfg), "--no-progress", f"train.compile={compiled}"]) == 0
        ckpt = torch.load(tmp_path / str(compiled) / "run" / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == 2
        states[compiled] = ckpt["state_dict"]
    assert list(states[True]) == list(states[False])  # no "_orig_mod." in any name
    for name, value in states[False].items():
        torch.testing.assert_close(states[True][name], value, rtol=1e-3, atol=1e-4, msg=name)
