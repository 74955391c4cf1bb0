"""The README's "your own audio" example: the bundled folder is what its script writes,
its clips are of mixed formats, rates and channels, and the shipped experiment trains
and evaluates on it from the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import soundfile
import torch
from PIL import Image

from uio.core.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "jsonl_audio"
CONFIG = ROOT / "configs" / "experiment" / "jsonl_audio.yaml"
TASKS = {"describe", "question", "make_sound"}
#: The cpu preset's segment: longer clips are cropped to it.
SEGMENT_SECONDS = 1.024


def _lines() -> list[dict]:
    return [json.loads(line) for line in (EXAMPLE / "train.jsonl").read_text().splitlines()]


def _clips(lines: list[dict]) -> set[str]:
    return {line["input"]["audio"] for line in lines if line["task"] == "describe"}


def test_bundled_folder_is_what_make_data_writes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(EXAMPLE / "make_data.py"), "--out", str(tmp_path)], check=True,
        capture_output=True,
    )
    assert (tmp_path / "train.jsonl").read_text() == (EXAMPLE / "train.jsonl").read_text()
    written = sorted(p.name for p in (tmp_path / "clips").iterdir())
    assert written == sorted(p.name for p in (EXAMPLE / "clips").iterdir())
    for name in written:
        assert (tmp_path / "clips" / name).read_bytes() == (EXAMPLE / "clips" / name).read_bytes()
    # Small enough to ship in the repository.
    assert sum(p.stat().st_size for p in EXAMPLE.rglob("*") if p.is_file()) < 1_500_000


def test_manifest_clips_are_of_mixed_formats_rates_and_channels() -> None:
    lines = _lines()
    assert Counter(line["task"] for line in lines) == {task: 42 for task in TASKS}
    clips = _clips(lines)
    assert len(clips) == 42
    # Every clip a line names is a clip of the folder, in every role.
    named = {line["target"]["audio"] for line in lines if line["task"] == "make_sound"}
    named |= {dict(line["input"])["audio"] for line in lines if line["task"] == "question"}
    assert named == clips == {f"clips/{p.name}" for p in (EXAMPLE / "clips").iterdir()}
    infos = [soundfile.info(str(EXAMPLE / clip)) for clip in sorted(clips)]
    kinds = {(info.format, info.samplerate) for info in infos}
    assert kinds == {("WAV", 16000), ("WAV", 44100), ("FLAC", 22050)}
    assert {info.subtype for info in infos} == {"PCM_16"}
    assert {info.channels for info in infos} == {1, 2}
    assert {info.channels for info in infos if info.format == "WAV"} == {1, 2}
    durations = [info.duration for info in infos]
    assert 0.5 <= min(durations) and max(durations) <= 1.5
    # Some are cropped to the segment, most are padded.
    assert sum(d > SEGMENT_SECONDS for d in durations) >= 3
    assert sum(d < SEGMENT_SECONDS for d in durations) >= 20


def test_experiment_trains_and_evaluates_on_the_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    """The shipped config, shrunk by overrides only: fits the audio VQ-GAN, trains, evaluates,
    and writes the generated clips as WAV files."""
    torch.set_num_threads(1)
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    overrides = [
        f"train.out_dir={out}", "train.max_steps=2", "train.warmup_steps=1",
        "train.checkpoint_every_n_steps=0", "train.tokenizer_fit_examples=40",
        "modalities.audio.fit_steps=2", "modalities.audio.fit_batch_size=4",
        "modalities.audio.griffin_lim_iters=4",
        "model.d_model=32", "model.n_heads=4", "model.encoder_layers=1", "model.decoder_layers=1",
        "model.mlp_dim=64",
    ]
    assert main(["train", str(CONFIG), "--no-progress", *overrides]) == 0
    assert (out / "tokenizers" / "audio.pt").is_file()
    capsys.readouterr()
    eval_dir = tmp_path / "eval"
    assert main([
        "eval", str(out / "checkpoints" / "last.ckpt"), "--json", "--out", str(eval_dir),
    ]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["tasks"]) == TASKS
    # Text answers are matched; generated clips are scored against the reference files,
    # named relative to the manifest (and loaded like the inputs).
    assert "exact_match" in report["tasks"]["describe"]["metrics"]
    assert "exact_match" in report["tasks"]["question"]["metrics"]
    sound = report["tasks"]["make_sound"]["metrics"]
    assert 0.0 < sound["log_mel_score"] <= 1.0
    assert "spectral_snr_db" in sound
    rows = [json.loads(line) for line in (eval_dir / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == report["n"]
    played = [row for row in rows if row["task"] == "make_sound"]
    assert len(played) == report["tasks"]["make_sound"]["n"] > 0
    for row in played:
        info = soundfile.info(row["prediction"])
        assert (info.format, info.samplerate, info.channels, info.frames) == ("WAV", 8000, 1, 8192)
    # The gallery plays the input clips (named relative to the manifest) and the generated
    # ones, above their spectrograms; every file it refers to is there and valid.
    page = (eval_dir / "gallery" / "index.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    played = [s for s in sources if s.endswith(".wav")]
    assert any("describe" in s and "-in" in s for s in played), "no input clip is played"
    assert any("make-sound" in s and "-pred" in s for s in played), "no generated clip is played"
    for source in sources:
        path = eval_dir / "gallery" / source
        if source.endswith(".wav"):
            assert soundfile.info(path).frames == 8192
        else:
            with Image.open(path) as picture:
                assert picture.format == "PNG"
