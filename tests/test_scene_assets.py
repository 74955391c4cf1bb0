"""The weight files shipped in modalities/scenes/assets: they load, they are as good as the
README says, and the command that remakes the VQ-GAN runs (at a small scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from uio.core.cli import main
from uio.modalities.image.config import ImageConfig
from uio.modalities.image.tokenizer import ImageTokenizer
from uio.modalities.scenes.dataset import build_scene_qa
from uio.modalities.scenes.render import render_example
from uio.plugins.blocks.vqgan import psnr

SHIPPED = "pkg://uio.modalities.scenes/assets/image_vqgan.pt"
VISION = Path(__file__).resolve().parents[1] / "configs" / "experiment" / "default.yaml"


def test_shipped_vqgan_reconstructs_held_out_scenes_above_24_db() -> None:
    torch.set_num_threads(1)
    tokenizer = ImageTokenizer(ImageConfig(tokenizer_weights=SHIPPED))
    assert tokenizer.is_fitted and tokenizer.vocab_size == 512
    scenes = build_scene_qa({"train_examples": 0, "heldout_examples": 64, "max_objects": 3}, "heldout", 7)
    arrays = [np.asarray(render_example(s, size=32).image) for s in scenes]
    codes = tokenizer.encode_arrays(arrays)
    assert codes.shape == (64, 64)  # 64 scenes, an 8x8 grid each
    back = tokenizer.decode_codes(codes.view(64, 8, 8))
    to_float = lambda a: torch.from_numpy(np.asarray(a)).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731
    assert psnr(to_float(back), to_float(np.stack(arrays))) >= 24.0
    assert codes.unique().numel() >= 64  # far from a collapsed codebook


def test_the_documented_fit_command_runs_at_a_small_scale(tmp_path: Path, capsys) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "vqgan"
    args = ["fit-tokenizer", str(VISION), "--modality", "image", "modalities.image.tokenizer_weights=null",
            "modalities.image.fit_steps=2", "modalities.image.fit_batch_size=4",
            "data.sources[0].options.train_examples=60", "data.sources[1].options.train_examples=20",
            "data.sources[2].options.train_examples=20",
            "train.tokenizer_fit_examples=60", f"train.out_dir={out}"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "heldout_psnr=" in printed and "codebook_usage=" in printed
    saved = out / "tokenizers" / "image.pt"
    assert (out / "tokenizers" / "image" / "reconstructions.png").exists()
    # The file the README copies into assets loads as tokenizer_weights.
    assert ImageTokenizer(ImageConfig(tokenizer_weights=str(saved))).is_fitted


def test_fit_tokenizer_refits_only_the_named_modality(tmp_path: Path, capsys) -> None:
    out = tmp_path / "only-text"
    args = ["fit-tokenizer", str(VISION), "--modality", "text",
            "data.sources[0].options.train_examples=60", "data.sources[1].options.train_examples=20",
            "train.tokenizer_fit_examples=60", f"train.out_dir={out}"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "fitting tokenizers: text ..." in printed  # the shipped VQ-GAN is not refitted
    assert list((out / "tokenizers").glob("text*"))
    assert not (out / "tokenizers" / "image").exists()


def test_fit_tokenizer_names_a_modality_it_cannot_refit(tmp_path: Path) -> None:
    args = ["fit-tokenizer", str(VISION), "--modality", "box", f"train.out_dir={tmp_path}"]
    with pytest.raises(SystemExit, match=r"--modality: cannot refit 'box': expected one of .*text"):
        main(args)
