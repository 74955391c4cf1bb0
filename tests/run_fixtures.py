"""A tiny experiment config on the embedded scene data, for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

TINY_EXPERIMENT = """\
name: tiny
seed: 0
model:
  d_model: 32
  n_heads: 4
  encoder_layers: 1
  decoder_layers: 1
  mlp_dim: 64
  num_sentinels: 8
modalities:
  text:
    vocab_size: 96
data:
  sources:
    - dataset: scene_qa
      options: {{train_examples: 300, heldout_examples: 40}}
  encoder_length: 128
  decoder_length: 16
  batch_rows: 2
train:
  max_steps: {steps}
  warmup_steps: 2
  lr: 0.003
  out_dir: {out}
  checkpoint_every_n_steps: {every}
  log_every_n_steps: 1
  tokenizer_fit_examples: 300
eval:
  max_examples: 16
  batch_size: 8
generate:
  max_new_tokens: 6
"""


def write_tiny_experiment(directory: Path, steps: int = 4, every: int = 2, out: Path | None = None) -> Path:
    """Write the tiny experiment YAML into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tiny.yaml"
    path.write_text(TINY_EXPERIMENT.format(steps=steps, every=every, out=out or directory / "run"))
    return path
