"""Reading the fields of a raw ``sounds`` example, and its audio, with errors that name the example."""

from __future__ import annotations

from typing import Any

import numpy as np

from uio.modalities.sounds.synth import MIN_SAMPLE_RATE, synthesize
from uio.modalities.sounds.world import Sound

#: Clip settings used when a hand-written example leaves them out.
DEFAULT_SAMPLE_RATE = 8000
DEFAULT_SECONDS = 1.024


def where(raw: dict[str, Any]) -> str:
    """``"example 'train-3' of task sound.caption"``, the start of every error message."""
    return f"example {raw.get('id', '?')!r} of task {raw.get('task', '?')}"


def sound_of(raw: dict[str, Any]) -> Sound:
    """The example's ``sound`` attributes as a :class:`Sound`."""
    try:
        return Sound.from_dict(raw.get("sound"))
    except ValueError as exc:
        raise ValueError(f"{where(raw)}: field 'sound': {exc}") from exc


def int_field(raw: dict[str, Any], key: str, default: int, low: int = 0) -> int:
    """An int field ``>= low`` (``default`` when missing)."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{where(raw)}: field {key!r} must be an int >= {low} (got {value!r})")
    return value


def clip_shape(raw: dict[str, Any]) -> tuple[int, int]:
    """``(sample_rate, samples)`` of the example's clips (``_sample_rate``, ``_seconds``)."""
    rate = int_field(raw, "_sample_rate", DEFAULT_SAMPLE_RATE, MIN_SAMPLE_RATE)
    seconds = raw.get("_seconds", DEFAULT_SECONDS)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"{where(raw)}: field '_seconds' must be a positive number (got {seconds!r})")
    return rate, round(seconds * rate)


def audio_value(raw: dict[str, Any], jitter: bool = True) -> dict[str, Any]:
    """The example's clip as the audio modality takes it: ``{"waveform", "sample_rate"}``.

    With ``jitter`` (inputs) the clip is drawn from the example's ``_seed``;
    without (the ``sound.text_to_audio`` target) it is the nominal clip of its
    attributes.
    """
    sound = sound_of(raw)
    rate, samples = clip_shape(raw)
    seed = int_field(raw, "_seed", 0)
    try:
        waveform = synthesize(sound, rate, samples, seed, jitter)
    except ValueError as exc:
        raise ValueError(f"{where(raw)}: {exc}") from exc
    return {"waveform": waveform, "sample_rate": rate}


def waveform_of(value: Any, default_rate: int, what: str = "prediction") -> tuple[np.ndarray, int]:
    """``(mono float32 waveform, sample rate)`` of an audio value.

    Accepts the audio modality's dict ``{"waveform", "sample_rate"}`` (waveform
    a numpy array, torch tensor or list) or a bare waveform, taken to be at
    ``default_rate``; two-axis (multi-channel) waveforms are averaged to mono.

    Raises:
        TypeError: for anything else, naming ``what``.
    """
    rate = default_rate
    if isinstance(value, dict):
        if "waveform" not in value:
            raise TypeError(f"the {what} is a dict without 'waveform' (keys {sorted(value)}); expected {{'waveform', 'sample_rate'}}")
        rate = int(value.get("sample_rate", default_rate))
        value = value["waveform"]
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()
    if isinstance(value, list | tuple):
        value = np.asarray(value, dtype=np.float32)
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
        raise TypeError(
            f"the {what} is {type(value).__name__}; expected an audio value "
            f"{{'waveform': float array [samples], 'sample_rate': int}} or a waveform array"
        )
    if value.size == 0 or value.ndim > 2:
        raise TypeError(f"the {what} is a waveform of shape {value.shape}; expected [samples] (or two axes), not empty")
    wave = value.astype(np.float32, copy=False)
    if wave.ndim == 2:
        # [samples, channels] or [channels, samples]: the longer axis is time.
        wave = wave.mean(axis=int(np.argmin(wave.shape)))
    return wave, rate
