"""The sound classifier: which kind, pitch, loudness, duration and timbre a clip has.

It judges generated audio (``sound.text_to_audio``): a small CNN
(:class:`~.classifier_model.SoundClassifier`, about 92k parameters) reads the
clip's log-mel spectrogram (8 kHz, n_fft 256, hop 128, 32 mels) and names each
attribute. It trains on fresh synthetic clips of every (kind, pitch) pair,
most of them degraded to sound generated (:mod:`.degrade`: a Griffin-Lim round
trip from the mel spectrogram, noise, smearing), so a lost phase or a blurred
spectrogram does not fool it.

The shipped weights (``assets/sound_classifier.safetensors``) were made on one
CPU thread with::

    python -m uio.modalities.sounds.classifier --steps 1000 --seed 0 \\
        --out modalities/sounds/assets/sound_classifier.safetensors
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from uio.modalities.sounds.classifier_model import SoundClassifier, read_sound, spectrograms
from uio.modalities.sounds.classifier_train import FORMAT, fit_classifier
from uio.modalities.sounds.fields import waveform_of
from uio.plugins.blocks.weights import load_frozen_module

DEFAULT_WEIGHTS = "sound_classifier.safetensors"

__all__ = [
    "DEFAULT_WEIGHTS",
    "SoundClassifier",
    "classify",
    "default_weights_path",
    "fit_classifier",
    "load_classifier",
    "main",
]


def default_weights_path() -> Path:
    """The shipped weights, found through the package (works from any working directory)."""
    resource = importlib.resources.files("uio.modalities.sounds").joinpath("assets", DEFAULT_WEIGHTS)
    return Path(str(resource))


def load_classifier(path_or_default: str | Path | None = None) -> SoundClassifier:
    """A classifier in eval mode on the CPU, from a weight file (``None``: the shipped one).

    Cached per process and path: every call with the same path returns the same
    module, so do not train it in place.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a sound-classifier weight file.
    """
    path = default_weights_path() if path_or_default is None else Path(path_or_default)
    return _load(str(path.resolve()))


@functools.lru_cache(maxsize=8)
def _load(path: str) -> SoundClassifier:
    return load_frozen_module(
        path, FORMAT, "sound classifier", f"python -m uio.modalities.sounds.classifier --out {path}",
        lambda metadata: SoundClassifier(int(metadata["width"])),
    )


@torch.no_grad()
def classify(
    clips: Sequence[Any], classifier: SoundClassifier | None = None, sample_rate: int = 8000
) -> list[dict[str, str]]:
    """Per clip, the attributes the classifier hears, e.g. ``{"kind": "tone", "pitch": "high", ...}``
    (no ``timbre`` when it hears a noise burst).

    A clip is an audio value ``{"waveform", "sample_rate"}`` or a bare mono
    waveform at ``sample_rate``; other rates are resampled to 8 kHz, other
    lengths stretched to the classifier's 1.024 s.

    Raises:
        TypeError: if a clip is neither, naming its index.
    """
    model = classifier if classifier is not None else load_classifier()
    waves = [waveform_of(clip, sample_rate, what=f"clips[{i}]") for i, clip in enumerate(clips)]
    if not waves:
        return []
    return [read_sound(row) for row in model.predict(spectrograms(waves)).tolist()]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m uio.modalities.sounds.classifier``: train and save a sound classifier."""
    parser = argparse.ArgumentParser(
        prog="python -m uio.modalities.sounds.classifier",
        description="Train the sound classifier on synthesised, degraded clips and save its weights.",
    )
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32, help="clips per step (default 32)")
    parser.add_argument("--width", type=int, default=32, help="CNN channels (default 32)")
    parser.add_argument("--eval-clips", type=int, default=600, help="held-out clips to measure on")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="weight file to write (.safetensors)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    metrics = fit_classifier(
        args.steps, args.seed, args.out,
        batch=args.batch, width=args.width, eval_clips=args.eval_clips, progress=not args.quiet,
    )
    size_kb = args.out.stat().st_size / 1024
    print(json.dumps({**metrics, "weights": str(args.out), "kib": round(size_kb, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
