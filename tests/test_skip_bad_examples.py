"""data.skip_bad_examples: bad training examples are counted and reported, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from uio.core.assembly import assemble
from uio.core.config import load_config
from uio.core.data import TrainStream
from uio.core.pipeline import ExampleError

CONFIG = """\
name: skip
seed: 0
model: {{d_model: 32, n_heads: 4, encoder_layers: 1, decoder_layers: 1, mlp_dim: 64, num_sentinels: 4}}
modalities:
  text: {{vocab_size: 64}}
  box: {{num_bins: 50}}
data:
  sources:
    - dataset: jsonl
      options: {{path: {manifest}, heldout_fraction: 0.0}}
  encoder_length: 32
  decoder_length: 16
  batch_rows: 2
  skip_bad_examples: {skip}
train: {{max_steps: 3, warmup_steps: 1, out_dir: {out}, checkpoint_every_n_steps: 0,
         log_every_n_steps: 1, tokenizer_fit_examples: 100}}
"""


def _manifest(path: Path) -> Path:
    lines = []
    for i in range(12):
        box = [10, 10, 30, 40] if i % 4 else [30, 10, 10, 40]  # every 4th: x2 < x1
        lines.append({"id": f"ex{i}", "task": "locate", "input": {"text": f"object {i}"},
                      "target": {"box": {"boxes": [box], "size": [64, 64]}}})
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def _config(tmp_path: Path, skip: bool) -> Path:
    path = tmp_path / f"skip-{skip}.yaml"
    path.write_text(CONFIG.format(manifest=_manifest(tmp_path / "boxes.jsonl"), out=tmp_path / "run", skip=str(skip).lower()))
    return path


def _stream(tmp_path: Path, skip: bool) -> TrainStream:
    run = assemble(load_config(_config(tmp_path, skip), []))
    run.prepare_tokenizers(log=lambda *_: None)
    cfg = run.config
    return TrainStream(run.pipeline(), run.sources("train"), cfg.seed, cfg.data.batch_rows,
                       cfg.data.encoder_length, cfg.data.decoder_length, run.modality_index,
                       skip_bad_examples=skip)


def test_a_bad_example_stops_training_naming_the_example_and_field(tmp_path: Path) -> None:
    stream = _stream(tmp_path, skip=False)
    with pytest.raises(ExampleError, match=r"example ex\d+ .*box target.*x2"):
        for _ in zip(range(20), iter(stream), strict=False):
            pass


def test_skipped_examples_are_counted_with_their_reasons(tmp_path: Path) -> None:
    stream = _stream(tmp_path, skip=True)
    batches = [b for _, b in zip(range(10), iter(stream), strict=False)]
    state = batches[-1].stream_state
    assert state["skipped"] > 0
    assert all("x2" in r for r in state["skipped_reasons"])
    # Every packed example is a good one.
    assert all(t == "locate" for b in batches for row in b.tasks for t in row)


def test_train_reports_skipped_examples(tmp_path: Path, capsys) -> None:
    from uio.core.cli import main

    assert main(["train", str(_config(tmp_path, skip=True)), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "bad training example" in out and "x2" in out
