"""Waveforms <-> normalised log-mel grids, the picture the ViT and the spectrogram VQ see.

Normalisation is a fixed affine map of the natural-log mel power (no statistics
of a dataset, so it never needs fitting): the log floor of
:data:`~uio.modalities.audio.features.LOG_FLOOR` (digital silence, about -11.5)
goes to -1 and ``2 ln(n_fft / 4)`` goes to +1. The latter is the log mel power of
a full-scale sine (a Hann window's sum is ``n_fft / 2``, so a unit sine's bin
magnitude is ``n_fft / 4``): 8.3 at ``n_fft`` 256, 11.1 at 1024. Louder bins
(a full-scale square wave's fundamental) go a little past +1.

Back to sound: the grid is mapped back to log-mel power, then mel power to a
linear power spectrogram by non-negative least squares (:func:`mel_to_linear_power`),
then to a waveform by Griffin-Lim (``torchaudio.transforms.GriffinLim``, Griffin & Lim
1984) with a fixed number of iterations and a seeded initial phase, so decoding
the same codes always gives the same samples.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torchaudio

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.features import LOG_FLOOR, MelSettings, log_mel

#: Seed of Griffin-Lim's initial phase.
GRIFFIN_LIM_SEED = 0
#: Multiplicative updates of the mel inversion (see :func:`mel_to_linear_power`).
MEL_INVERSE_ITERS = 200
#: How far past the full-scale sine (in natural-log units) a decoded log-mel may go
#: before it is clipped (a VQ decoder's output is not bounded).
HEADROOM = 1.0


def log_mel_range(settings: MelSettings) -> tuple[float, float]:
    """``(silence, full-scale sine)`` natural-log mel power: what maps to -1 and +1."""
    return math.log(LOG_FLOOR), 2.0 * math.log(settings.n_fft / 4)


def normalise(log_mel_power: torch.Tensor, settings: MelSettings) -> torch.Tensor:
    """Natural-log mel power -> the normalised scale (silence -1, a full-scale sine +1)."""
    low, high = log_mel_range(settings)
    return (log_mel_power - (high + low) / 2) / ((high - low) / 2)


def denormalise(grid: torch.Tensor, settings: MelSettings) -> torch.Tensor:
    """The inverse of :func:`normalise`, clipped to ``[silence, full-scale sine + HEADROOM]``."""
    low, high = log_mel_range(settings)
    return (grid * ((high - low) / 2) + (high + low) / 2).clamp(low, high + HEADROOM)


def spectrogram_grid(waveforms: torch.Tensor, config: AudioConfig) -> torch.Tensor:
    """``[B, segment_samples]`` waveforms -> ``[B, 1, n_mels, frames]`` normalised log-mel.

    Row 0 is the lowest mel band; the spectrogram's centred frames are cropped to
    the first ``config.frames``.
    """
    mel = log_mel(waveforms, config.mel)[..., : config.frames]
    return normalise(mel, config.mel).unsqueeze(1)


@lru_cache(maxsize=4)
def _filterbank(settings: MelSettings) -> torch.Tensor:
    """``[n_mels, n_fft // 2 + 1]`` float64: the mel filterbank of torchaudio's
    ``MelSpectrogram`` defaults (HTK scale, no norm, 0 Hz to ``sample_rate // 2``)."""
    fb = torchaudio.functional.melscale_fbanks(
        settings.n_fft // 2 + 1, 0.0, float(settings.sample_rate // 2), settings.n_mels, settings.sample_rate
    )
    return fb.T.double()


def mel_to_linear_power(mel_power: torch.Tensor, settings: MelSettings) -> torch.Tensor:
    """``[..., n_mels, frames]`` mel power -> ``[..., n_fft // 2 + 1, frames]`` linear power (>= 0).

    Non-negative least squares by :data:`MEL_INVERSE_ITERS` multiplicative updates
    (Lee & Seung 2001), started from each bin's filter-weighted mean of its bands.
    torchaudio's ``InverseMelScale`` (least-norm least squares, negatives set to 0)
    leaks energy across the spectrum's 80 dB of range: on a 440 Hz tone at the cpu
    preset it left a log-mel L1 of 4.7 after Griffin-Lim, these updates 1.2.
    """
    fb = _filterbank(settings).to(mel_power.device)  # [M, F]
    target = mel_power.double()
    numerator = fb.T @ target
    power = numerator / (fb.T @ torch.ones_like(target)).clamp_min(1e-12)
    for _ in range(MEL_INVERSE_ITERS):
        power = power * numerator / (fb.T @ (fb @ power)).clamp_min(1e-30)
    return power.to(mel_power.dtype)


def griffin_lim(power: torch.Tensor, settings: MelSettings, length: int, iterations: int) -> torch.Tensor:
    """``[..., freq, frames]`` linear power -> ``[..., length]`` waveforms (seeded, deterministic)."""
    transform = torchaudio.transforms.GriffinLim(
        n_fft=settings.n_fft, hop_length=settings.hop_length, n_iter=iterations, power=2.0, length=length
    ).to(power.device)
    devices = [power.device.index or 0] if power.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(GRIFFIN_LIM_SEED)
        return transform(power.float())


def grid_waveform(grid: torch.Tensor, config: AudioConfig) -> torch.Tensor:
    """``[B, 1, n_mels, frames]`` normalised log-mel -> ``[B, segment_samples]`` waveforms.

    The frames cropped away by :func:`spectrogram_grid` are filled by repeating
    the last kept frame, so Griffin-Lim covers the whole segment. Samples beyond
    full scale are clipped to ``[-1, 1]``, as writing them to a WAV file would.
    """
    settings = config.mel
    mel = denormalise(grid.float().squeeze(1), settings)
    missing = 1 + config.segment_samples // config.hop_length - mel.shape[-1]
    if missing > 0:
        mel = torch.cat([mel, mel[..., -1:].expand(*mel.shape[:-1], missing)], dim=-1)
    power = mel_to_linear_power(mel.exp(), settings)
    waveform = griffin_lim(power, settings, config.segment_samples, config.griffin_lim_iters)
    return waveform.clamp(-1.0, 1.0)
