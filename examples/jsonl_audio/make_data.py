"""Write a small "your own audio clips" example for the ``jsonl`` dataset.

Short clips of everyday sounds, as a user's folder would hold them: a whistle
(low, middle or high), a two-note doorbell ("ding-dong", going down or up), a
drum hit and a buzzer, 0.5 to 1.5 s long and saved in mixed formats -- 16-bit
WAV at 16 kHz and 44.1 kHz, FLAC at 22.05 kHz, some in stereo -- which ``uio``
downmixes, resamples to its own rate and crops or pads to one segment.
``train.jsonl`` names them by path relative to itself, with three tasks per clip:

- ``describe``: clip -> ``{"text": "a high whistle"}``
- ``question``: ``"what makes this sound?"`` + clip -> ``{"text": "whistle"}``
- ``make_sound``: ``"play a high whistle"`` -> the clip

Deterministic: ``python examples/jsonl_audio/make_data.py`` rewrites the same
files.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile

#: Whistle pitches (Hz), all below 4 kHz so they survive resampling to 8 kHz.
WHISTLE_HZ = {"low": 900.0, "middle": 1400.0, "high": 2200.0}
#: The doorbell's two notes (Hz): E5 and C5, as the usual "ding-dong".
DING, DONG = 659.3, 523.3
#: Every sound: (caption, answer to "what makes this sound?", seconds range).
SOUNDS = {
    "low whistle": ("whistle", (0.5, 0.9)),
    "middle whistle": ("whistle", (0.5, 0.9)),
    "high whistle": ("whistle", (0.5, 0.9)),
    "ding-dong going down": ("doorbell", (0.9, 1.4)),
    "ding-dong going up": ("doorbell", (0.9, 1.4)),
    "drum hit": ("drum", (0.5, 0.8)),
    "buzzer": ("buzzer", (0.6, 1.3)),
}
#: File formats, cycled over the clips: (suffix, sample rate, channels).
FORMATS = (
    ("flac", 22050, 1),
    ("wav", 16000, 1),
    ("flac", 22050, 2),
    ("flac", 22050, 1),
    ("wav", 44100, 1),
    ("flac", 22050, 2),
    ("wav", 16000, 2),
    ("flac", 22050, 1),
)
QUESTION = "what makes this sound?"


def _envelope(n: int, rate: int, attack: float, release: float) -> np.ndarray:
    """1 in the middle, linear ramps of ``attack`` / ``release`` seconds at the ends."""
    env = np.ones(n)
    a, r = max(1, int(attack * rate)), max(1, int(release * rate))
    env[:a] = np.linspace(0.0, 1.0, a)
    env[-r:] = np.minimum(env[-r:], np.linspace(1.0, 0.0, r))
    return env


def _lowpass(x: np.ndarray, rate: int, cutoff: float) -> np.ndarray:
    """A one-pole low-pass filter (enough to darken noise)."""
    alpha = 1.0 - np.exp(-2 * np.pi * cutoff / rate)
    out = np.empty_like(x)
    y = 0.0
    for i, v in enumerate(x):
        y += alpha * (v - y)
        out[i] = y
    return out


def whistle(t: np.ndarray, rate: int, rng: np.random.Generator, pitch: float) -> np.ndarray:
    """A whistled note: a short glide up to the pitch, vibrato and a little breath."""
    glide = 1.0 - 0.08 * np.exp(-t / 0.04)
    vibrato = 1.0 + 0.012 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
    phase = 2 * np.pi * np.cumsum(pitch * rng.uniform(0.97, 1.03) * glide * vibrato) / rate
    tone = np.sin(phase) + 0.1 * np.sin(2 * phase)
    breath = _lowpass(rng.standard_normal(t.size), rate, 3000.0)
    return (tone + 0.15 * breath) * _envelope(t.size, rate, 0.04, 0.08)


def _bell(t: np.ndarray, pitch: float) -> np.ndarray:
    """One struck bell note: a few partials dying away, the higher ones faster."""
    partials = ((1.0, 1.0, 0.5), (2.0, 0.5, 0.25), (3.0, 0.25, 0.12))
    note = sum(a * np.sin(2 * np.pi * pitch * k * t) * np.exp(-t / tau) for k, a, tau in partials)
    return np.where(t >= 0, note, 0.0)


def doorbell(t: np.ndarray, rate: int, rng: np.random.Generator, down: bool) -> np.ndarray:
    """"Ding-dong": two bell notes, the second ``gap`` seconds after the first."""
    first, second = (DING, DONG) if down else (DONG, DING)
    gap = rng.uniform(0.35, 0.5)
    sound = _bell(t, first) + _bell(t - gap, second)
    return sound * _envelope(t.size, rate, 0.002, 0.05)


def drum(t: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A drum hit: a thump whose pitch drops, and a burst of dark noise, both decaying."""
    start = rng.uniform(140.0, 180.0)
    pitch = 55.0 + (start - 55.0) * np.exp(-t / 0.05)
    thump = np.sin(2 * np.pi * np.cumsum(pitch) / rate) * np.exp(-t / 0.18)
    noise = _lowpass(rng.standard_normal(t.size), rate, 1500.0) * np.exp(-t / 0.05)
    return (thump + 1.5 * noise) * _envelope(t.size, rate, 0.001, 0.05)


def buzzer(t: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A buzzer: a harsh band-limited square wave, pulsing on and off."""
    pitch = rng.uniform(110.0, 140.0)
    harmonics = range(1, int(0.45 * rate / pitch) + 1, 2)
    square = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in harmonics)
    pulses = (np.sin(2 * np.pi * rng.uniform(5.0, 7.0) * t) > -0.3).astype(float)
    pulses = np.convolve(pulses, np.ones(64) / 64, mode="same")  # no clicks
    return square * pulses * _envelope(t.size, rate, 0.005, 0.03)


SYNTHS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    **{f"{p} whistle": (lambda t, r, g, hz=hz: whistle(t, r, g, hz)) for p, hz in WHISTLE_HZ.items()},
    "ding-dong going down": lambda t, r, g: doorbell(t, r, g, down=True),
    "ding-dong going up": lambda t, r, g: doorbell(t, r, g, down=False),
    "drum hit": drum,
    "buzzer": buzzer,
}


def make_clip(name: str, seconds: float, rate: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """The sound ``name`` as int16 samples ``[samples, channels]``, peaking below full scale."""
    t = np.arange(round(seconds * rate)) / rate
    sound = SYNTHS[name](t, rate, rng)
    sound = sound / np.abs(sound).max() * rng.uniform(0.3, 0.8)
    if channels == 2:  # panned a little to one side: one channel quieter
        pan = rng.uniform(-0.6, 0.6)
        sound = np.stack([sound * min(1.0, 1.0 - pan), sound * min(1.0, 1.0 + pan)], axis=1)
    samples = np.clip(np.round(sound * 32767), -32767, 32767).astype(np.int16)
    return samples.reshape(samples.shape[0], channels)


def write_example(out: Path, per_sound: int, seed: int) -> int:
    """Write ``per_sound`` clips of each sound and ``train.jsonl`` under ``out``; returns lines."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    names = [name for name in SOUNDS for _ in range(per_sound)]
    rng.shuffle(names)
    lines = []
    for i, name in enumerate(names):
        suffix, rate, channels = FORMATS[i % len(FORMATS)]
        answer, (shortest, longest) = SOUNDS[name]
        seconds = round(rng.uniform(shortest, longest), 2)
        clip = f"clips/{i:03d}.{suffix}"
        samples = make_clip(name, seconds, rate, channels, noise)
        soundfile.write(out / clip, samples, rate, subtype="PCM_16", format=suffix.upper())
        lines += [
            {"task": "describe", "input": {"audio": clip}, "target": {"text": f"a {name}"}},
            {"task": "question", "input": [["text", QUESTION], ["audio", clip]], "target": {"text": answer}},
            {"task": "make_sound", "input": {"text": f"play a {name}"}, "target": {"audio": clip}},
        ]
    rng.shuffle(lines)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (out / "train.jsonl").write_text(text, encoding="utf-8")
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--per-sound", type=int, default=6, help=f"clips of each of the {len(SOUNDS)} sounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = write_example(args.out, args.per_sound, args.seed)
    print(f"wrote {n} lines and {args.per_sound * len(SOUNDS)} clips under {args.out}")


if __name__ == "__main__":
    main()
