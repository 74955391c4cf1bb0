"""How well the audio modality's input encoder carries a sound's kind and pitch to pairs it never heard.

The sound world holds out one pitch of every kind: held-out clips pair a kind
with a pitch never heard together in training, so a held-out question about
either attribute, and a held-out caption, tests composition. This script
isolates the input side of that: the audio ViT of ``modalities.audio`` (the
``cpu`` preset plus each variant's overrides) reads clips of **training**
(kind, pitch) pairs only and names their kind (six classes) and their pitch
(three) through two one-layer attention readouts. It then reads fresh clips of
training pairs and of **held-out** pairs. The table gives, per variant, the
median over seeds of held-out accuracy on kind, on pitch and on both at once
(what a caption needs), and the ratio of "both" to the reference's (the preset
as it is). An encoder that stored each training pair as one unit would name
one attribute of a held-out clip right and the other wrong.

Measured with the defaults (2 CPU cores, 700 steps of 32 clips, 2 seeds, 308 s):
every variant names both attributes of training pairs (0.98-0.99), but of
held-out pairs the ``cpu`` preset names the kind 0.30, the pitch 0.66 and both
0.09 (chance 0.06); 64 mel bands: kind 0.42, pitch 0.45, both 0.06; a
convolutional stem (``vit.stem=conv``, translation-equivariant filters before
the patches): kind 0.04, pitch 0.88, both 0.00. Trained on the kind alone, the
same encoder names held-out kinds 0.42 (32 bands) and 0.70 (64 bands): its
forerunner with one head, ``benchmarks/audio_kind_transfer.py`` in commit
346f1c0. So the encoder stores the twelve training pairs as units: on an
unseen pair it gets one attribute right and the other wrong, and finer bands
or a convolutional stem only move which one. The whole default model shows
the same trade (README, "Audio and the sound world").

    .venv/bin/python benchmarks/audio_attribute_transfer.py       # ~5 min on 2 cores
    .venv/bin/python benchmarks/audio_attribute_transfer.py --variants 'n_mels=64' 'n_mels=64,patch_size=16' 'vit.depth=4'
    .venv/bin/python benchmarks/audio_attribute_transfer.py --quick   # smoke test, seconds
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_args, environment, print_table, ratio, set_threads  # noqa: E402

from uio.modalities.audio.config import AudioConfig  # noqa: E402
from uio.modalities.audio.encoder import build_audio_vit  # noqa: E402
from uio.modalities.audio.spectrogram import spectrogram_grid  # noqa: E402
from uio.modalities.sounds.dataset import draw_sound  # noqa: E402
from uio.modalities.sounds.holdout import holdout_pairs, train_pairs  # noqa: E402
from uio.modalities.sounds.synth import synthesize  # noqa: E402
from uio.modalities.sounds.world import KINDS, PITCHES  # noqa: E402

REFERENCE = "cpu preset"
#: The sounds' default held-out fraction (configs/data/sounds.yaml): one pitch of every kind.
HOLDOUT_FRACTION = 0.33
#: The attributes read, with their values (their order is the label columns').
ATTRIBUTES: dict[str, tuple[str, ...]] = {"kind": KINDS, "pitch": PITCHES}
#: Evaluations from this share of the steps on are averaged (single evaluations swing by 0.1).
AVERAGE_FROM = 0.4


def parse_overrides(text: str) -> dict[str, Any]:
    """``"n_mels=64,vit.stem=conv"`` -> ``{"n_mels": 64, "vit": {"stem": "conv"}}``.

    Values are integers or words; a ``vit.`` key sets a field of the audio ViT.
    """
    overrides: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not (value.isdigit() or value.isidentifier()):
            raise ValueError(f"variant item {item!r}: expected KEY=INTEGER or KEY=WORD, e.g. n_mels=64 or vit.stem=conv")
        parsed: Any = int(value) if value.isdigit() else value
        section, dot, field = key.partition(".")
        if not dot:
            overrides[key] = parsed
        elif section == "vit" and field:
            overrides.setdefault("vit", {})[field] = parsed
        else:
            raise ValueError(f"variant item {item!r}: only vit.FIELD keys may be dotted")
    return overrides


def variant_config(overrides: dict[str, Any]) -> AudioConfig:
    """The ``cpu`` preset with ``overrides``; ViT fields not overridden keep the preset's values."""
    vit = overrides.get("vit")
    if vit is None:
        return AudioConfig(preset="cpu", **overrides)
    preset_vit = AudioConfig(preset="cpu").vit.model_dump()
    return AudioConfig(preset="cpu", **{**overrides, "vit": {**preset_vit, **vit}})


def clips(
    config: AudioConfig, count: int, pairs: list[tuple[str, str]], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` jittered clips of ``pairs`` as the audio processor grids them, and their
    ``[count, 2]`` (kind, pitch) indices."""
    rng = random.Random(seed)
    grids, labels = [], []
    samples = round(config.sample_rate * config.segment_seconds)
    for _ in range(count):
        sound = draw_sound(rng, pairs)
        wave = torch.from_numpy(synthesize(sound, config.sample_rate, samples, rng.randrange(2**31)))
        grids.append(spectrogram_grid(wave[None], config))
        labels.append((KINDS.index(sound.kind), PITCHES.index(sound.pitch)))
    return torch.cat(grids), torch.tensor(labels)


class AttributeReader(nn.Module):
    """The audio ViT plus, per attribute, a learned query attending over its patches and a linear layer."""

    def __init__(self, config: AudioConfig) -> None:
        super().__init__()
        self.vit = build_audio_vit(config)
        width, heads = config.vit.width, config.vit.heads
        self.queries = nn.Parameter(torch.randn(1, len(ATTRIBUTES), width) * 0.02)
        self.attend = nn.MultiheadAttention(width, heads, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(width, len(values)) for values in ATTRIBUTES.values())

    def forward(self, grids: torch.Tensor) -> list[torch.Tensor]:
        """Logits per attribute, in :data:`ATTRIBUTES` order."""
        patches = self.vit.forward_features(grids)
        read, _ = self.attend(self.queries.expand(len(grids), -1, -1), patches, patches)
        return [head(read[:, i]) for i, head in enumerate(self.heads)]


@torch.no_grad()
def accuracy(reader: AttributeReader, grids: torch.Tensor, labels: torch.Tensor) -> tuple[float, ...]:
    """Share right per attribute, then of clips with every attribute right."""
    reader.eval()
    right = torch.stack([logits.argmax(-1) for logits in reader(grids)], 1) == labels
    reader.train()
    return (*right.float().mean(0).tolist(), right.all(1).float().mean().item())


def measure(config: AudioConfig, args: argparse.Namespace, seed: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Train one reader; mean accuracies (kind, pitch, both) on training pairs and on held-out
    pairs over the later evaluations."""
    seen, unseen = train_pairs(HOLDOUT_FRACTION), sorted(holdout_pairs(HOLDOUT_FRACTION))
    test_seen = clips(config, args.test, seen, seed=-1)
    test_unseen = clips(config, args.test, unseen, seed=-2)
    torch.manual_seed(seed)
    reader = AttributeReader(config)
    optimizer = torch.optim.AdamW(reader.parameters(), lr=args.lr)
    seen_scores: list[tuple[float, ...]] = []
    unseen_scores: list[tuple[float, ...]] = []
    every = max(1, args.steps // args.evaluations)
    for step in range(args.steps):
        grids, labels = clips(config, args.batch, seen, seed=seed * 1_000_003 + step)
        loss = sum(F.cross_entropy(logits, labels[:, i]) for i, logits in enumerate(reader(grids)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last = step == args.steps - 1
        if (step + 1) % every == 0 and (step + 1 >= AVERAGE_FROM * args.steps or last):
            seen_scores.append(accuracy(reader, *test_seen))
            unseen_scores.append(accuracy(reader, *test_unseen))
    return _mean(seen_scores), _mean(unseen_scores)


def _mean(scores: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(statistics.mean(column) for column in zip(*scores, strict=True))


def _median(values: list[tuple[float, ...]], i: int) -> float:
    return statistics.median(v[i] for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, default_threads=2, default_repeats=1)
    parser.add_argument(
        "--variants", nargs="*", default=None,
        help="audio config overrides per variant, KEY=VALUE,... with integer or word values, vit.FIELD "
        "for the ViT (the reference is the preset as is; default: n_mels=64 and vit.stem=conv)",
    )
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--evaluations", type=int, default=7, help="evaluations along the way")
    parser.add_argument("--test", type=int, default=300, help="test clips per split")
    args = parser.parse_args()
    if args.repeats != 1:
        parser.error("--repeats: this script measures learning, not time; use --seeds")
    if args.quick:
        args.seeds, args.steps, args.batch, args.evaluations, args.test = 1, 4, 4, 2, 12
    if args.variants is None:
        args.variants = ["n_mels=64", "vit.stem=conv"]
    try:
        variants = {REFERENCE: {}, **{v: parse_overrides(v) for v in args.variants}}
        configs = {name: variant_config(o) for name, o in variants.items()}
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        parser.error(f"--variants: {exc}")
    threads = set_threads(args.threads)
    start = time.perf_counter()
    results = {name: [measure(config, args, seed) for seed in range(args.seeds)] for name, config in configs.items()}
    reference = _median([unseen for _, unseen in results[REFERENCE]], 2)
    rows = []
    for name, runs in results.items():
        seen = [s for s, _ in runs]
        unseen = [u for _, u in runs]
        grid = "x".join(str(n) for n in configs[name].patch_grid)
        both = _median(unseen, 2)
        per_seed = " / ".join(f"{u[2]:.2f}" for u in unseen)
        rows.append((name, grid, _median(seen, 2), _median(unseen, 0), _median(unseen, 1), both, per_seed,
                     ratio(both, reference)))
    chance = f"chance: kind 1/{len(KINDS)}, pitch 1/{len(PITCHES)}, both 1/{len(KINDS) * len(PITCHES)}"
    print_table(
        "Audio encoder: naming kind and pitch of training pairs and of held-out (kind, pitch) pairs",
        ["variant", "patch grid", "training: both", "held-out: kind", "held-out: pitch", "held-out: both",
         "both per seed", "both vs preset"],
        rows,
        caption=(
            f"{args.steps} steps of {args.batch} clips, lr {args.lr}, {args.seeds} seed(s), median; {chance} | "
            f"{time.perf_counter() - start:.0f} s\n{environment(threads)}"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
