"""The raw value of the audio modality: loading, checking and fitting it to one segment.

An audio value is one of:

- a path (``str`` or ``os.PathLike``) to a WAV or FLAC file (any sample rate,
  any number of channels, read with ``soundfile``); relative paths are resolved
  against the example's ``base_dir`` (``ProcessContext.base_dir``), or the
  working directory without one;
- a dict ``{"waveform": array, "sample_rate": int}``: the waveform is a numpy
  array or torch tensor ``[samples]`` (mono) or ``[samples, channels]``, floats
  in ``[-1, 1]`` (int16 / int32 PCM arrays are scaled by ``2**-15`` / ``2**-31``,
  as ``soundfile`` reads them).

Every clip comes out as a float32 mono array of exactly ``segment_samples``
samples at the configured rate, in this order:

1. **downmix**: several channels are averaged into one;
2. **resample** (``torchaudio.functional.resample``, windowed sinc) when the
   clip's rate is not the configured one;
3. **crop or pad**: a longer clip keeps its first ``segment_samples`` (the
   start, not the middle: the dataset decides what a clip is; UIO2 cuts long
   audio into consecutive segments too), a shorter one is zero-padded at the end.

Refused with a ``ValueError`` naming the example, the role and what was expected:
a missing or unreadable file, a dict without ``waveform`` / ``sample_rate``, a
waveform of another rank or one that looks like ``[channels, samples]``, an
empty clip, NaN or infinite samples, samples beyond full scale (``|x| > 1``:
usually int16 values passed as floats; divide by 32768), and a sample rate that
is not a positive integer.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
import torchaudio

from uio.modalities.audio.config import AudioConfig
from uio.plugins import ProcessContext

#: Largest accepted sample magnitude (full scale), with room for float rounding.
FULL_SCALE = 1.0 + 1e-4
#: Extra source samples kept past the segment before resampling, so cropping
#: first gives the same samples as resampling the whole clip (the sinc filter
#: reaches a few dozen source samples to each side).
RESAMPLE_MARGIN = 1024
#: Integer PCM arrays and how soundfile scales them to floats.
_PCM_SCALES = {np.dtype(np.int16): 2.0**-15, np.dtype(np.int32): 2.0**-31}

VALUE_FORMS = (
    "a WAV or FLAC file path, or a dict {'waveform': array [samples] or [samples, channels], "
    "'sample_rate': int}"
)


def where(ctx: ProcessContext) -> str:
    """``"example 'id'"`` for error messages (``"an example"`` without an id)."""
    return f"example {ctx.example_id!r}" if ctx.example_id else "an example"


def resolve_path(value: str | os.PathLike, ctx: ProcessContext) -> Path:
    """An audio path resolved against the example's ``base_dir`` (or the working directory)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return (ctx.base_dir or Path.cwd()) / path


def _sample_rate(rate: Any, prefix: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int | np.integer | float | np.floating):
        raise ValueError(f"{prefix} has sample_rate {rate!r}; expected a positive integer (Hz)")
    if not float(rate).is_integer() or rate <= 0:
        raise ValueError(f"{prefix} has sample_rate {rate!r}; expected a positive integer (Hz)")
    return int(rate)


def _as_array(waveform: Any, prefix: str) -> np.ndarray:
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu()
        waveform = (waveform.float() if waveform.dtype in (torch.bfloat16, torch.float16) else waveform).numpy()
    if not isinstance(waveform, np.ndarray):
        raise ValueError(
            f"{prefix} has a waveform of type {type(waveform).__name__}; expected a numpy array or "
            f"torch tensor [samples] or [samples, channels]"
        )
    if waveform.dtype in _PCM_SCALES:
        return waveform.astype(np.float32) * np.float32(_PCM_SCALES[waveform.dtype])
    if not np.issubdtype(waveform.dtype, np.floating):
        raise ValueError(
            f"{prefix} has a waveform of dtype {waveform.dtype}; expected floats in [-1, 1] "
            f"(or int16 / int32 PCM)"
        )
    return waveform


def _channels_last(array: np.ndarray, prefix: str) -> np.ndarray:
    """``[samples, channels]`` from a ``[samples]`` or ``[samples, channels]`` array."""
    shape = " x ".join(str(n) for n in array.shape) or "()"
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim != 2:
        raise ValueError(
            f"{prefix} has a waveform of shape {shape} ({array.ndim} dimensions); expected "
            f"[samples] or [samples, channels]"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{prefix} is empty (waveform of shape {shape}); expected at least one sample")
    if array.shape[1] > array.shape[0]:
        raise ValueError(
            f"{prefix} has a waveform of shape {shape}, more channels than samples: it looks like "
            f"[channels, samples]; expected [samples, channels] (transpose it: waveform.T)"
        )
    return array


def _read_file(path: Path, ctx: ProcessContext, role: str, keep_seconds: float) -> tuple[np.ndarray, int]:
    """``([samples, channels] float32, sample rate)`` of the start of a sound file."""
    prefix = f"{where(ctx)}: audio {role} file {path}"
    if not path.is_file():
        base = " (relative paths are resolved against the example's base_dir)" if ctx.base_dir else ""
        raise ValueError(f"{prefix} does not exist{base}")
    try:
        info = soundfile.info(str(path))
        keep = math.ceil(keep_seconds * info.samplerate) + RESAMPLE_MARGIN
        data, rate = soundfile.read(str(path), frames=keep, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(
            f"{prefix} cannot be read as audio (expected WAV or FLAC; {type(exc).__name__}: {exc})"
        ) from exc
    if data.shape[0] == 0:
        raise ValueError(f"{prefix} is empty (0 samples); expected at least one sample")
    return data, int(rate)


def _source(value: Any, ctx: ProcessContext, role: str, keep_seconds: float) -> tuple[np.ndarray, int, str]:
    """``([samples, channels] array, sample rate, how to name it in errors)`` of one value."""
    if isinstance(value, str | os.PathLike):
        path = resolve_path(value, ctx)
        data, rate = _read_file(path, ctx, role, keep_seconds)
        return data, rate, f"{where(ctx)}: audio {role} file {path}"
    if isinstance(value, dict):
        prefix = f"{where(ctx)}: audio {role}"
        missing = [k for k in ("waveform", "sample_rate") if k not in value]
        if missing:
            raise ValueError(
                f"{prefix} is a dict without {' and '.join(repr(k) for k in missing)} "
                f"(keys: {sorted(map(str, value))}); expected {VALUE_FORMS}"
            )
        rate = _sample_rate(value["sample_rate"], prefix)
        array = _channels_last(_as_array(value["waveform"], prefix), prefix)
        keep = math.ceil(keep_seconds * rate) + RESAMPLE_MARGIN
        return array[:keep], rate, prefix
    raise ValueError(f"{where(ctx)}: audio {role} is a {type(value).__name__}; expected {VALUE_FORMS}")


def fit_to_segment(mono: np.ndarray, rate: int, sample_rate: int, segment_samples: int) -> np.ndarray:
    """A float32 mono clip resampled from ``rate`` to ``sample_rate``, then cropped (keeping
    the start) or zero-padded (at the end) to exactly ``segment_samples``."""
    clip = torch.from_numpy(np.ascontiguousarray(mono, dtype=np.float32))
    if rate != sample_rate:
        clip = torchaudio.functional.resample(clip, rate, sample_rate)
    out = np.zeros(segment_samples, dtype=np.float32)
    kept = clip[:segment_samples].numpy()
    out[: kept.shape[0]] = kept
    return out


def load_audio(value: Any, ctx: ProcessContext, config: AudioConfig, role: str = "value") -> np.ndarray:
    """One audio value as float32 mono ``[config.segment_samples]`` at ``config.sample_rate``.

    Only the part of a clip that is kept (its first ``segment_seconds``, plus a
    margin for the resampler) is read and checked.

    Args:
        value: a file path or a ``{"waveform", "sample_rate"}`` dict (see the module docstring).
        ctx: names the example in errors and resolves relative paths.
        config: gives the sample rate and the segment length.
        role: ``"input"``, ``"target"`` or ``"value"``, named in errors.

    Raises:
        ValueError: a missing or unreadable file, a malformed dict, a waveform of the
            wrong rank, layout or dtype, an empty clip, NaN/inf samples, samples beyond
            full scale, or a sample rate that is not a positive integer.
    """
    sample_rate, segment_samples = config.sample_rate, config.segment_samples
    data, rate, prefix = _source(value, ctx, role, segment_samples / sample_rate)
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise ValueError(f"{prefix} holds {bad} NaN or infinite samples; expected finite floats in [-1, 1]")
    peak = float(np.abs(data).max())
    if peak > FULL_SCALE:
        raise ValueError(
            f"{prefix} peaks at {peak:g}, beyond full scale; expected floats in [-1, 1] "
            f"(int16 samples passed as floats? divide them by 32768)"
        )
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return fit_to_segment(mono, rate, sample_rate, segment_samples)
