"""The scene-pretrained ViT: its questions keep held-out pairs out, the documented command
runs at a small scale and writes weights the image modality loads, and the shipped
weights see shapes (a fresh readout on the frozen ViT names them, a random ViT's does not)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from uio.core.config import load_config
from uio.modalities.image.config import ImageConfig
from uio.modalities.image.encoder import build_vit, load_vit_weights
from uio.modalities.scenes.holdout import holdout_pairs
from uio.modalities.scenes.vit_pretrain import (
    FORMAT,
    HOLDOUT_FRACTION,
    ShapeReader,
    accuracy,
    fit_step,
    main,
    pretrain_vit,
    shape_questions,
)
from uio.modalities.scenes.world import COLORS, SHAPES

SHIPPED = "pkg://uio.modalities.scenes/assets/scene_vit.safetensors"
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "experiment" / "scene_pretrained_vit.yaml"


def test_questions_never_ask_about_held_out_pairs() -> None:
    pixels, colours, shapes = shape_questions(300, 3, seed=5)
    assert pixels.shape == (300, 3, 64, 64) and pixels.min() >= -1 and pixels.max() <= 1
    asked = {(COLORS[c], SHAPES[s]) for c, s in zip(colours.tolist(), shapes.tolist(), strict=True)}
    assert asked.isdisjoint(holdout_pairs(HOLDOUT_FRACTION))
    assert len(asked) > 20  # most of the 29 training pairs come up
    again = shape_questions(300, 3, seed=5)
    assert torch.equal(again[0], pixels) and torch.equal(again[2], shapes)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="objects=7"):
        shape_questions(1, 7, seed=0)
    with pytest.raises(ValueError, match="steps=0"):
        pretrain_vit(ImageConfig(), 0, progress=False)


def test_the_documented_command_writes_weights_the_modality_loads(tmp_path: Path, capsys) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "vit.safetensors"
    assert main(["--steps", "2", "--batch", "2", "--out", str(out)]) == 0
    assert '"test_accuracy"' in capsys.readouterr().out
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["format"] == FORMAT
    vit = build_vit(ImageConfig())
    before = vit.pos_embed.detach().clone()
    load_vit_weights(vit, str(out))
    assert not torch.equal(before, vit.pos_embed)


def test_the_command_refuses_other_file_types(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--steps", "1", "--out", str(tmp_path / "vit.pt")])


def test_the_opt_in_experiment_loads_the_shipped_weights() -> None:
    config = load_config(CONFIG)
    assert config.modality_configs["image"].vit.weights == SHIPPED
    assert config.modality_configs["image"].vit.trainable is False  # frozen, as UIO2's
    assert config.run.train.max_time_minutes == 12.2  # + 2.3 min of pretraining = the default's 14.5
    assert config.run.name == "scene_pretrained_vit"


def _readout_accuracy(vit_weights: str | None, steps: int = 200) -> float:
    """Train only a fresh readout on a frozen ViT; its accuracy on new questions."""
    torch.manual_seed(0)
    reader = ShapeReader(ImageConfig())
    if vit_weights is not None:
        load_vit_weights(reader.vit, vit_weights)
    reader.vit.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in reader.parameters() if p.requires_grad], lr=2e-3)
    for step in range(steps):
        fit_step(reader, optimizer, *shape_questions(32, 3, seed=10_000 + step))
    return accuracy(reader, *shape_questions(300, 3, seed=99))


def test_the_shipped_vit_sees_shapes_and_a_random_one_does_not() -> None:
    torch.set_num_threads(2)
    assert _readout_accuracy(SHIPPED) >= 0.75
    assert _readout_accuracy(None) <= 0.45  # chance is 1/6


def test_unseen_questions_ask_about_a_held_out_pair_among_training_pairs() -> None:
    pixels, colours, shapes = shape_questions(60, 3, seed=5, unseen=True)
    assert pixels.shape == (60, 3, 64, 64)
    asked = {(COLORS[c], SHAPES[s]) for c, s in zip(colours.tolist(), shapes.tolist(), strict=True)}
    assert asked <= holdout_pairs(HOLDOUT_FRACTION) and len(asked) > 3
