"""Synthesis of a sound's waveform from its attributes (numpy, deterministic by seed).

Every attribute is audible on a 32-band mel spectrogram at 8 kHz:

- pitch: the fundamental near 200 Hz (low), 450 Hz (mid) or 1000 Hz (high),
  factors of 2.2 apart (4 to 7 mel bands), so a chord or a chirp's sweep of
  half an octave either way is still centred in its own class; for noise
  bursts, the band of the filtered noise (the same centres, +-1.4x). The
  highest component (a high chord's fifth, 1.6 kHz at most) leaves room for
  a buzzy sound's second harmonic below 3.6 kHz, so timbre is audible at every pitch;
- loudness: RMS over the sounding part of 0.03 (quiet) or 0.16 (loud), 14.5 dB apart
  (loud noise at +2 dB still peaks below 1, so nothing clips in practice);
- duration: the sounding part lasts 18-28% (short) or 60-78% (long) of the clip;
- timbre: a pure sine or a buzzy band-limited sawtooth (harmonics below
  0.45 x the sample rate, so nothing aliases).

With ``jitter`` each clip draws its exact frequency (+-1 semitone), onset,
length and level (+-2 dB) from its seed, so a model must generalise; without
it (the ``sound.text_to_audio`` target) every value is nominal and the noise is
seeded by the caption, so the waveform is a function of the text alone.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from uio.modalities.sounds.world import CHORD, FALLING, NOISE, RHYTHM, RISING, Sound, caption

PITCH_HZ: dict[str, float] = {"low": 200.0, "mid": 450.0, "high": 1000.0}
DURATION_SHARE: dict[str, tuple[float, float]] = {"short": (0.18, 0.28), "long": (0.6, 0.78)}
LEVEL_RMS: dict[str, float] = {"quiet": 0.03, "loud": 0.16}
PITCH_JITTER_SEMITONES = 1.0
LEVEL_JITTER_DB = 2.0
#: Silence kept before and after the sound, as a share of the clip.
MARGIN_SHARE = 0.05
#: A chirp sweeps from ``f / CHIRP_SPAN`` to ``f * CHIRP_SPAN`` (or back).
CHIRP_SPAN = math.sqrt(2.0)
CHORD_RATIOS: tuple[float, ...] = (1.0, 5 / 4, 3 / 2)
NOISE_BAND = 1.4
BEEP_SECONDS = 0.05
BEEP_PERIOD_SECONDS = 0.125
RAMP_SECONDS = 0.01
#: Harmonics of buzzy sounds stop below this share of the sample rate.
HARMONIC_LIMIT = 0.45
#: Smallest sample rate at which every component stays well below Nyquist.
MIN_SAMPLE_RATE = 8000


@dataclass(frozen=True)
class Rendering:
    """The continuous values one clip of a sound is drawn with."""

    frequency: float
    """Fundamental (or noise band centre) in Hz."""
    onset: float
    """Start of the sounding part, as a share of the clip."""
    length: float
    """Length of the sounding part, as a share of the clip."""
    rms: float
    """RMS of the sounding part."""
    noise_seed: int


def draw_rendering(sound: Sound, seed: int, jitter: bool = True) -> Rendering:
    """The clip's values: drawn from ``seed`` with ``jitter``, nominal without."""
    low, high = DURATION_SHARE[sound.duration]
    if not jitter:
        length = (low + high) / 2
        # Seeded by the caption: the nominal clip depends on the attributes only.
        noise_seed = zlib.crc32(caption(sound).encode())
        return Rendering(PITCH_HZ[sound.pitch], (1 - length) / 2, length, LEVEL_RMS[sound.loudness], noise_seed)
    rng = np.random.default_rng(seed)
    semitones = rng.uniform(-PITCH_JITTER_SEMITONES, PITCH_JITTER_SEMITONES)
    length = rng.uniform(low, high)
    onset = rng.uniform(MARGIN_SHARE, 1 - MARGIN_SHARE - length)
    decibels = rng.uniform(-LEVEL_JITTER_DB, LEVEL_JITTER_DB)
    return Rendering(
        frequency=PITCH_HZ[sound.pitch] * 2 ** (semitones / 12),
        onset=onset,
        length=length,
        rms=LEVEL_RMS[sound.loudness] * 10 ** (decibels / 20),
        noise_seed=int(rng.integers(2**31)),
    )


def synthesize(
    sound: Sound, sample_rate: int = 8000, samples: int = 8192, seed: int = 0, jitter: bool = True
) -> np.ndarray:
    """The clip of ``sound``: mono float32 ``[samples]`` in ``[-1, 1]``, silent around the sound.

    Deterministic in its arguments.

    Raises:
        ValueError: if the sample rate is below :data:`MIN_SAMPLE_RATE` or the
            clip is too short to hold the sound.
    """
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate is {sample_rate}; expected at least {MIN_SAMPLE_RATE} so every "
            f"component stays well below the Nyquist frequency"
        )
    if samples < sample_rate // 8:
        raise ValueError(f"samples is {samples}; expected at least {sample_rate // 8} (1/8 s)")
    r = draw_rendering(sound, seed, jitter)
    start = round(r.onset * samples)
    active = round(r.length * samples)
    t = np.arange(active) / sample_rate
    if sound.kind == NOISE:
        signal = _band_noise(active, sample_rate, r.frequency, r.noise_seed)
        envelope = _ramp_envelope(active, sample_rate, RAMP_SECONDS)
    elif sound.kind == RHYTHM:
        signal = _oscillator(np.full(active, r.frequency), sample_rate, sound.timbre)
        envelope = _beat_envelope(active, sample_rate)
    else:
        signal = _pitched(sound, r.frequency, t, sample_rate)
        envelope = _ramp_envelope(active, sample_rate, RAMP_SECONDS)
    shaped = signal * envelope
    sounding = envelope > 0.5
    rms = float(np.sqrt(np.mean(shaped[sounding] ** 2))) if sounding.any() else 0.0
    clip = np.zeros(samples, dtype=np.float64)
    clip[start : start + active] = shaped * (r.rms / max(rms, 1e-12))
    return np.clip(clip, -1.0, 1.0).astype(np.float32)


def _pitched(sound: Sound, frequency: float, t: np.ndarray, sample_rate: int) -> np.ndarray:
    """A tone, chord or chirp at ``frequency`` over times ``t`` (seconds)."""
    if sound.kind in (RISING, FALLING):
        # Exponential sweep: equal time per octave, a straight line on a mel scale.
        progress = t / max(t[-1], 1e-9) if len(t) else t
        exponent = 2 * progress - 1 if sound.kind == RISING else 1 - 2 * progress
        return _oscillator(frequency * CHIRP_SPAN**exponent, sample_rate, sound.timbre)
    ratios = CHORD_RATIOS if sound.kind == CHORD else (1.0,)
    return sum(_oscillator(np.full(len(t), frequency * q), sample_rate, sound.timbre) for q in ratios)


def _oscillator(frequency: np.ndarray, sample_rate: int, timbre: str | None) -> np.ndarray:
    """A sine (``pure``) or band-limited sawtooth (``buzzy``) following ``frequency`` per sample."""
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    if timbre != "buzzy":
        return np.sin(phase)
    top = float(frequency.max()) if len(frequency) else 1.0
    harmonics = max(1, int(HARMONIC_LIMIT * sample_rate / top))
    return sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))


def _band_noise(n: int, sample_rate: int, centre: float, seed: int) -> np.ndarray:
    """White noise filtered to ``centre / NOISE_BAND .. centre * NOISE_BAND`` Hz (cosine edges)."""
    noise = np.random.default_rng(seed).standard_normal(n)
    spectrum = np.fft.rfft(noise)
    octaves = np.log2(np.maximum(np.fft.rfftfreq(n, 1 / sample_rate), 1.0) / centre)
    half = math.log2(NOISE_BAND)
    # Flat inside the band, a raised-cosine fall over a fifth of its width outside.
    edge = 0.2 * 2 * half
    outside = np.clip((np.abs(octaves) - half) / edge, 0.0, 1.0)
    return np.fft.irfft(spectrum * 0.5 * (1 + np.cos(np.pi * outside)), n)


def _ramp_envelope(n: int, sample_rate: int, ramp_seconds: float) -> np.ndarray:
    """1 over ``n`` samples, with raised-cosine fades so the sound does not click."""
    ramp = min(max(1, round(ramp_seconds * sample_rate)), n // 2)
    envelope = np.ones(n)
    if ramp:
        fade = 0.5 * (1 - np.cos(np.pi * np.arange(ramp) / ramp))
        envelope[:ramp] = fade
        envelope[n - ramp :] = fade[::-1]
    return envelope


def _beat_envelope(n: int, sample_rate: int) -> np.ndarray:
    """Beeps of :data:`BEEP_SECONDS` filling ``n`` samples, first at 0 and last ending at ``n``.

    About one every :data:`BEEP_PERIOD_SECONDS` (at least two), spaced evenly,
    so the rhythm's duration is its length like any other sound's.
    """
    beep = min(round(BEEP_SECONDS * sample_rate), n // 3)
    count = max(2, round((n - beep) / (BEEP_PERIOD_SECONDS * sample_rate)) + 1)
    starts = np.linspace(0, n - beep, count).round().astype(int)
    envelope = np.zeros(n)
    shape = _ramp_envelope(beep, sample_rate, RAMP_SECONDS / 2)
    for s in starts:
        envelope[s : s + beep] = np.maximum(envelope[s : s + beep], shape)
    return envelope
