"""Training end to end: checkpoints, atomic writes, resuming, loading, CLI errors."""

from __future__ import annotations

import os

import pytest
import torch
from run_fixtures import write_tiny_experiment

from uio.core import checkpoint as ckpt_module
from uio.core.checkpoint import CheckpointError, atomic_torch_save
from uio.core.cli import main
from uio.core.inference import load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run of 4 steps, checkpoints every 2."""
    d = tmp_path_factory.mktemp("trained")
    cfg = write_tiny_experiment(d, steps=4, every=2)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    return d / "run" / "checkpoints"


def test_checkpoint_is_plain_and_self_describing(trained):
    ckpt = torch.load(trained / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4
    uio = ckpt["uio"]
    assert uio["config"]["name"] == "tiny"
    assert [m["name"] for m in uio["manifest"]["modalities"]] == ["text"]
    assert uio["tokenizers"]["text"]["model_proto"].dtype == torch.uint8
    assert uio["stream_state"]["next_index"] > 0


def test_resume_continues_the_same_run(tmp_path, trained):
    """2 steps + resume to 4 == the 4-step run, weight for weight."""
    cfg = write_tiny_experiment(tmp_path / "a", steps=2, every=2)
    assert main(["train", str(cfg), "--no-progress"]) == 0
    resumed_cfg = write_tiny_experiment(tmp_path / "a", steps=4, every=2)
    assert main(["train", str(resumed_cfg), "--no-progress", "--resume", "auto"]) == 0
    a = torch.load(tmp_path / "a" / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(trained / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 4
    assert a["uio"]["stream_state"] == b["uio"]["stream_state"]
    for key, value in b["state_dict"].items():
        torch.testing.assert_close(a["state_dict"][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"w": torch.ones(3)}, target)

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save({"w": torch.zeros(3)}, target)
    assert torch.load(target, weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]
    assert os.listdir(tmp_path) == ["last.ckpt"]  # the temp file is cleaned up


def test_overrides_after_flags_reach_the_config(trained, capsys):
    import json

    args = ["eval", str(trained / "last.ckpt"), "--json", "eval.max_examples=4"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(trained / "last.ckpt"), "--bogus"])
    assert exit_info.value.code == 2


def test_mismatched_vocabulary_is_named(trained):
    with pytest.raises(CheckpointError, match=r"modality 'text': size is 96 in the checkpoint but 128 now"):
        load_run(trained / "last.ckpt", ["modalities.text.vocab_size=128"])


def test_load_and_generate(trained):
    loaded = load_run(trained / "last.ckpt")
    from uio.core.generation import DecodeOptions

    rows = loaded.generate(loaded.run.dataset("heldout")[:3], DecodeOptions(max_new_tokens=4))
    assert len(rows) == 3
    assert all(isinstance(r["prediction"], str) and "exact_match" in r["scores"] for r in rows)


def test_eval_json_has_chance(trained, capsys):
    import json

    assert main(["eval", str(trained / "last.ckpt"), "--json", "--max-examples", "10"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n"] == 10
    for task in summary["tasks"].values():
        assert set(task["metrics"]) == set(task["chance"]) == {"exact_match"}


def test_missing_checkpoint_is_a_message_not_a_traceback(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope.ckpt")]) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err


def test_bad_config_lists_every_error_without_traceback(tmp_path, capsys):
    cfg = write_tiny_experiment(tmp_path)
    text = cfg.read_text().replace("max_steps:", "max_step:").replace("d_model: 32", "d_model: big")
    text = text.replace("dataset: scene_qa", "dataset: scene_qaa")
    cfg.write_text(text)
    assert main(["config", "validate", str(cfg), "model.nope=1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in ("train.max_step", "max_steps", "model.d_model", "scene_qa", "model.nope"):
        assert needle in err, needle


def test_export_writes_safetensors_matching_the_checkpoint(trained, tmp_path):
    from safetensors.torch import load_file

    assert main(["export", str(trained / "last.ckpt"), str(tmp_path / "export")]) == 0
    weights = load_file(str(tmp_path / "export" / "model.safetensors"))
    ckpt = torch.load(trained / "last.ckpt", weights_only=True)
    assert set(weights) == {k.removeprefix("model.") for k in ckpt["state_dict"]}
    torch.testing.assert_close(weights["token_embedding.weight"], ckpt["state_dict"]["model.token_embedding.weight"])
    assert "| text |" in (tmp_path / "export" / "README.md").read_text()


def test_error_at_the_train_key_is_printed_as_text_not_emoji(tmp_path, capsys):
    cfg = write_tiny_experiment(tmp_path)
    assert main(["config", "validate", str(cfg), "train=5"]) == 2
    err = capsys.readouterr().err
    assert ":train:" in err and "\U0001f68b" not in err  # rich would turn ":train:" into a tram
