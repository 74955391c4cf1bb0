"""``train.compile``: compiled layers train like eager ones and leave checkpoints unchanged."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import tiny_model, tiny_vocab
from run_fixtures import write_tiny_experiment

from uio.core import compilation
from uio.core.cli import main
from uio.core.compilation import compile_layers


def test_compile_layers_keeps_parameter_names(monkeypatch):
    monkeypatch.setattr(compilation, "compile_problem", lambda: None)  # skip the ~30 s probe compile
    model = tiny_model(tiny_vocab())
    names = list(model.state_dict())
    assert compile_layers(model) is None
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


def _compiler_missing(fn):
    def fail(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")

    return fail


def test_compile_falls_back_to_eager_and_says_why(monkeypatch):
    monkeypatch.setattr(compilation.torch, "compile", _compiler_missing)
    model = tiny_model(tiny_vocab())
    problem = compile_layers(model)
    assert problem == "RuntimeError: InvalidCxxCompiler: No working C++ compiler found"
    assert all(
        layer._compiled_call_impl is None
        for layer in (*model.encoder_layers, *model.decoder_layers)
    )


def test_train_with_compile_unavailable_trains_eager_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compilation.torch, "compile", _compiler_missing)
    cfg = write_tiny_experiment(tmp_path, steps=2, every=2)
    assert main(["train", str(cfg), "--no-progress", "train.compile=true"]) == 0
    out = capsys.readouterr().out
    assert "torch.compile cannot run here, training eager" in out
    assert "No working C++ compiler found" in out
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
