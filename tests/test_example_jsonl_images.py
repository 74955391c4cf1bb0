"""The README's "your own pictures" example: the bundled folder is what its script
writes, and the shipped experiment trains and evaluates on it from the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from uio.core.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "jsonl_images"
CONFIG = ROOT / "configs" / "experiment" / "jsonl_images.yaml"


def test_bundled_folder_is_what_make_data_writes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_data.py"), "--out", str(tmp_path)], check=True,
        capture_output=True,
    )
    assert (tmp_path / "train.jsonl").read_text() == (EXAMPLE / "train.jsonl").read_text()
    for folder in ("photos", "drawings"):
        written = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert written == sorted(p.name for p in (EXAMPLE / folder).iterdir())
        for name in written:
            assert (tmp_path / folder / name).read_bytes() == (EXAMPLE / folder / name).read_bytes()


def test_manifest_pictures_are_of_mixed_sizes_and_modes() -> None:
    lines = [json.loads(line) for line in (EXAMPLE / "train.jsonl").read_text().splitlines()]
    assert {line["task"] for line in lines} == {"caption", "locate", "draw"}
    photos = {line["input"]["image"] for line in lines if line["task"] == "caption"}
    opened = [Image.open(EXAMPLE / photo) for photo in sorted(photos)[:30]]
    assert {picture.mode for picture in opened} == {"RGB", "RGBA", "P"}
    assert len({picture.size for picture in opened}) > 10
    for line in lines:
        if line["task"] == "locate":
            (x1, y1, x2, y2), (w, h) = line["target"]["box"]["boxes"][0], line["target"]["box"]["size"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_experiment_trains_and_evaluates_on_the_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """The shipped config, shrunk by overrides only: fits the VQ-GAN, trains, evaluates."""
    torch.set_num_threads(1)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    overrides = [
        f"train.out_dir={out}", "train.max_steps=2", "train.warmup_steps=1",
        "train.checkpoint_every_n_steps=0", "train.tokenizer_fit_examples=60",
        "modalities.image.fit_steps=2", "modalities.image.fit_batch_size=4",
        "model.d_model=32", "model.n_heads=4", "model.encoder_layers=1", "model.decoder_layers=1",
        "model.mlp_dim=64",
    ]
    assert main(["train", str(CONFIG), "--no-progress", *overrides]) == 0
    assert (out / "tokenizers").is_dir()
    capsys.readouterr()
    assert main([
        "eval", str(out / "checkpoints" / "last.ckpt"), "--json", "--out", str(tmp_path / "eval"),
    ]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["tasks"]) == {"caption", "locate", "draw"}
    # Drawings are scored against the reference files, named relative to the manifest.
    assert "psnr" in report["tasks"]["draw"]["metrics"]
    assert "iou" in report["tasks"]["locate"]["metrics"]
    generations = (tmp_path / "eval" / "generations.jsonl").read_text().splitlines()
    assert len(generations) == report["n"]

