"""Training the sound classifier on freshly synthesised clips (see :mod:`.classifier` for the CLI)."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uio.modalities.audio.features import log_mel
from uio.modalities.sounds.classifier_model import (
    HEADS,
    IGNORE,
    MEL,
    SAMPLES,
    SoundClassifier,
    loss_fn,
    sound_labels,
)
from uio.modalities.sounds.dataset import draw_sound
from uio.modalities.sounds.degrade import degrade_mels, degrade_waves, griffin_lim_roundtrip
from uio.modalities.sounds.synth import synthesize
from uio.modalities.sounds.world import KINDS, PITCHES, VALUES, Sound, applicable
from uio.plugins.blocks.progress import progress_bar
from uio.plugins.blocks.weights import save_tagged_safetensors

#: ``format`` entry of the weight file's metadata.
FORMAT = "uio.sounds.classifier/1"
ALL_PAIRS = [(k, p) for k in KINDS for p in PITCHES]
#: Share of each training batch rebuilt through Griffin-Lim, and its iteration range.
GRIFFIN_LIM_SHARE = 0.35
GRIFFIN_LIM_ITERS = (4, 32)
#: Share of each batch left clean.
CLEAN_SHARE = 0.25
#: Share of training clips synthesised without jitter: the ``sound.text_to_audio``
#: targets a generator learns to imitate are nominal clips.
NOMINAL_SHARE = 0.1
#: Loud clips may get up to this much louder (below full scale), quiet ones this
#: much quieter: loudness is ordinal, so the classifier must not learn a band.
LEVEL_EXTENSION_DB = 6.0
_LOUDNESS = HEADS.index("loudness")


def synth_batch(rng: random.Random, n: int, nominal_share: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` clips of random sounds (every pair, held-out ones included), a share
    ``nominal_share`` without jitter: waveforms ``[n, SAMPLES]`` at 8 kHz and labels
    ``[n, len(HEADS)]``."""
    sounds = [draw_sound(rng, ALL_PAIRS) for _ in range(n)]
    waves = np.stack([
        synthesize(s, MEL.sample_rate, SAMPLES, rng.getrandbits(31), jitter=rng.random() >= nominal_share)
        for s in sounds
    ])
    return torch.from_numpy(waves), torch.tensor([sound_labels(s) for s in sounds])


def nominal_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """The nominal clip (the ``sound.text_to_audio`` target) of every one of the 132
    attribute combinations, with labels."""
    sounds = [
        Sound(kind, pitch, loudness, duration, timbre)
        for kind, pitch, loudness, duration in itertools.product(KINDS, PITCHES, VALUES["loudness"], VALUES["duration"])
        for timbre in (VALUES["timbre"] if applicable("timbre", kind) else (None,))
    ]
    waves = np.stack([synthesize(s, MEL.sample_rate, SAMPLES, jitter=False) for s in sounds])
    return torch.from_numpy(waves), torch.tensor([sound_labels(s) for s in sounds])


def extend_levels(waves: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Make loud clips up to :data:`LEVEL_EXTENSION_DB` louder (never past full scale) and
    quiet ones up to that much quieter, each by its own random amount; labels stay true."""
    amount = torch.rand(waves.shape[0], generator=gen) * LEVEL_EXTENSION_DB
    louder = labels[:, _LOUDNESS] == VALUES["loudness"].index("loud")
    gain = 10 ** (torch.where(louder, amount, -amount) / 20)
    headroom = 0.99 / waves.abs().amax(dim=1).clamp_min(1e-6)
    return waves * torch.minimum(gain, torch.maximum(headroom, torch.ones_like(gain))).unsqueeze(1)


def degraded_batch(waves: torch.Tensor, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Log-mels of a batch of which :data:`CLEAN_SHARE` stays clean and the rest is degraded:
    levels extended (:func:`extend_levels`), some through a Griffin-Lim round trip, then
    waveform noise and gain, then spectrogram smearing, blockiness and speckle (see
    :mod:`.degrade`)."""
    n = waves.shape[0]
    touched = torch.rand(n, generator=gen) >= CLEAN_SHARE
    waves = torch.where(touched.unsqueeze(1), extend_levels(waves, labels, gen), waves)
    rebuild = touched & (torch.rand(n, generator=gen) < GRIFFIN_LIM_SHARE / (1 - CLEAN_SHARE))
    if rebuild.any():
        n_iter = int(torch.randint(GRIFFIN_LIM_ITERS[0], GRIFFIN_LIM_ITERS[1] + 1, (1,), generator=gen))
        smear = float(torch.rand(1, generator=gen))  # up to one mel bin
        waves = waves.clone()
        waves[rebuild] = griffin_lim_roundtrip(waves[rebuild], MEL, n_iter, smear)
    waves = degrade_waves(waves, gen, touched)
    return degrade_mels(log_mel(waves, MEL), gen, touched & ~rebuild)


@torch.no_grad()
def evaluate(model: SoundClassifier, mels: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy per attribute (``kind`` ... ``timbre``, timbre over pitched sounds only) and
    ``all`` (share of clips with every attribute right)."""
    model.eval()
    predicted = torch.cat([model.predict(m) for m in mels.split(256)])
    right = (predicted == labels) | (labels == IGNORE)
    metrics = {h: right[labels[:, i] != IGNORE, i].float().mean().item() for i, h in enumerate(HEADS)}
    metrics["all"] = right.all(dim=1).float().mean().item()
    return metrics


def fit_classifier(
    steps: int = 1000,
    seed: int = 0,
    out_path: str | Path | None = None,
    *,
    batch: int = 32,
    lr: float = 3e-3,
    width: int = 32,
    eval_clips: int = 600,
    progress: bool = True,
) -> dict[str, float]:
    """Train a :class:`SoundClassifier` and save its weights.

    Every step synthesises ``batch`` new random clips (all 18 kind-pitch pairs,
    jitter on for all but :data:`NOMINAL_SHARE`) and degrades most of them (:func:`degraded_batch`). Every tenth
    of the run it prints the accuracy per attribute on ``eval_clips`` clean clips
    of a separate random stream; at the end it measures on the same clips, clean
    and rebuilt by Griffin-Lim from their mel spectrograms (32 iterations, light
    smearing, faint noise), and on the nominal clip of every attribute
    combination. Deterministic in its arguments (on one thread).

    Returns:
        ``clean_<attribute>``, ``griffin_lim_<attribute>`` and ``nominal_<attribute>``
        accuracies (and ``..._all``), ``loss`` (mean of the last 100 steps) and
        ``parameters``.
    """
    if steps < 1 or batch < 1 or eval_clips < 1:
        raise ValueError(f"steps ({steps}), batch ({batch}) and eval_clips ({eval_clips}) must be positive")
    torch.manual_seed(seed)
    model = SoundClassifier(width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = min(100, steps // 10 + 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
    )
    rng = random.Random(f"sound-classifier-train-{seed}")
    gen = torch.Generator().manual_seed(seed)
    eval_waves, eval_labels = synth_batch(random.Random(f"sound-classifier-eval-{seed}"), eval_clips)
    eval_mels = log_mel(eval_waves, MEL)
    every = max(1, steps // 10)
    recent: list[float] = []
    status = "loss {task.fields[loss]:.3f}  held-out all {task.fields[acc]}"
    with progress_bar("[bold]sound classifier[/]", status, disable=not progress) as bar:
        task = bar.add_task("", total=steps, loss=float("nan"), acc="-    ")
        for step in range(steps):
            model.train()
            waves, labels = synth_batch(rng, batch, NOMINAL_SHARE)
            loss = loss_fn(model(degraded_batch(waves, labels, gen)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            recent = (recent + [loss.item()])[-100:]
            fields: dict[str, Any] = {"loss": sum(recent) / len(recent)}
            if (step + 1) % every == 0 or step + 1 == steps:
                accuracy = evaluate(model, eval_mels, eval_labels)
                fields["acc"] = f"{accuracy['all']:.3f}"
                if progress:
                    per_head = "  ".join(f"{h} {accuracy[h]:.3f}" for h in HEADS)
                    bar.console.print(f"step {step + 1:>5}  held-out (clean) {per_head}")
            bar.update(task, advance=1, **fields)

    clean = evaluate(model, eval_mels, eval_labels)
    torch.manual_seed(seed + 1)
    rebuilt = griffin_lim_roundtrip(eval_waves, MEL, GRIFFIN_LIM_ITERS[1], smear=0.5)
    rebuilt = rebuilt + 0.002 * torch.randn(rebuilt.shape, generator=torch.Generator().manual_seed(seed + 1))
    griffin = evaluate(model, log_mel(rebuilt, MEL), eval_labels)
    nominal_waves, nominal_labels = nominal_batch()
    nominal = evaluate(model, log_mel(nominal_waves, MEL), nominal_labels)
    metrics = {
        **{f"clean_{k}": v for k, v in clean.items()},
        **{f"griffin_lim_{k}": v for k, v in griffin.items()},
        **{f"nominal_{k}": v for k, v in nominal.items()},
        "loss": sum(recent) / len(recent),
        "parameters": float(sum(p.numel() for p in model.parameters())),
    }
    if out_path is not None:
        save_classifier(model, out_path, {"steps": steps, "seed": seed, "batch": batch, **metrics})
    return metrics


def save_classifier(model: SoundClassifier, path: str | Path, info: dict[str, Any]) -> Path:
    """Write the weights as safetensors, with width, mel settings and ``info`` in the metadata.

    Written to a temporary file and renamed, so a crash never leaves a torn file.
    """
    metadata = {
        "format": FORMAT,
        "width": str(model.width),
        "mel": json.dumps(MEL.__dict__, sort_keys=True),
        "samples": str(SAMPLES),
        "info": json.dumps(info, sort_keys=True),
    }
    return save_tagged_safetensors(model, path, metadata)
