"""Cheap torch degradations that imitate the flaws of generated audio.

A model's generated clip is never a clean synthesis: it comes back from a
spectrogram (or codec) token grid, so its phase is a Griffin-Lim guess, its
spectrogram is smoothed and blocky where tokens are coarse, and wrong tokens
leave speckles. The sound classifier trains on clean clips passed through
these, so that it judges *what* was generated rather than how cleanly. Nothing
here moves energy between pitch classes, changes the level by more than 1.5 dB
or the sounding length by more than a frame or two, so the labels stay true.
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F
from torchaudio.transforms import GriffinLim, InverseMelScale, MelSpectrogram

from uio.modalities.audio.features import LOG_FLOOR, MelSettings


def _uniform(n: int, low: float, high: float, gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(n, *shape, generator=gen) * (high - low) + low


def _chosen(n: int, p: float, gen: torch.Generator, dims: int) -> torch.Tensor:
    """``[n, 1, ...]`` bool: which items of the batch get a degradation."""
    return (torch.rand(n, generator=gen) < p).view(n, *([1] * (dims - 1)))


@functools.lru_cache(maxsize=4)
def _vocoder_parts(settings: MelSettings) -> tuple[MelSpectrogram, InverseMelScale]:
    mel = MelSpectrogram(settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length,
                         n_mels=settings.n_mels, power=2.0)
    inverse = InverseMelScale(settings.n_fft // 2 + 1, settings.n_mels, settings.sample_rate)
    return mel, inverse


def griffin_lim_roundtrip(
    waves: torch.Tensor, settings: MelSettings, n_iter: int = 32, smear: float = 0.0
) -> torch.Tensor:
    """``[n, samples]`` -> the waveforms rebuilt from their mel power alone (phase lost).

    The mel spectrogram is optionally blurred across frequency and time by a
    Gaussian of ``smear`` bins (a spectrogram decoder's smoothing), inverted to
    linear frequency (least squares, :class:`~torchaudio.transforms.InverseMelScale`)
    and given a phase by ``n_iter`` Griffin-Lim iterations (fewer: worse phase).
    Griffin-Lim starts from torch's global random state.
    """
    mel_fn, inverse = _vocoder_parts(settings)
    mel = mel_fn(waves)
    if smear > 0:
        log = torch.log(mel.clamp_min(LOG_FLOOR))
        mel = torch.exp(_gaussian_blur(log.unsqueeze(1), smear).squeeze(1))
    linear = inverse(mel)
    griffin = GriffinLim(settings.n_fft, hop_length=settings.hop_length, power=2.0, n_iter=n_iter,
                         length=waves.shape[-1])
    return griffin(linear)


def wave_gain(x: torch.Tensor, gen: torch.Generator, decibels: float = 1.5) -> torch.Tensor:
    """Scale each waveform by up to ``+-decibels``."""
    return x * 10 ** (_uniform(x.shape[0], -decibels, decibels, gen, 1) / 20)


def wave_noise(x: torch.Tensor, gen: torch.Generator, high: float = 0.006) -> torch.Tensor:
    """White noise with a random standard deviation per clip (at most 14 dB under a quiet sound)."""
    return x + _uniform(x.shape[0], 0.0, high, gen, 1) * torch.randn(x.shape, generator=gen)


def mel_smear(x: torch.Tensor, gen: torch.Generator, low: float = 0.4, high: float = 1.0) -> torch.Tensor:
    """Gaussian blur of ``[n, mels, frames]`` log-mels, one random sigma (in bins) per batch."""
    return _gaussian_blur(x.unsqueeze(1), float(_uniform(1, low, high, gen))).squeeze(1)


def mel_blocky(x: torch.Tensor, gen: torch.Generator, block: int = 2) -> torch.Tensor:
    """Token-grid coarseness: blend each ``block`` x ``block`` patch toward its mean."""
    n, h, w = x.shape
    pooled = F.avg_pool2d(x.unsqueeze(1), block, ceil_mode=True)
    blocks = F.interpolate(pooled, scale_factor=block, mode="nearest")[..., :h, :w].squeeze(1)
    return x + _uniform(n, 0.3, 0.8, gen, 1, 1) * (blocks - x)


def mel_speckle(x: torch.Tensor, gen: torch.Generator, high: float = 0.5) -> torch.Tensor:
    """Gaussian noise on log-mel values, a random standard deviation per clip."""
    return x + _uniform(x.shape[0], 0.0, high, gen, 1, 1) * torch.randn(x.shape, generator=gen)


# (degradation, probability per clip) in the order they are applied.
_WAVE_PIPELINE = ((wave_gain, 0.5), (wave_noise, 0.5))
_MEL_PIPELINE = ((mel_smear, 0.3), (mel_blocky, 0.2), (mel_speckle, 0.3))


def degrade_waves(x: torch.Tensor, gen: torch.Generator, touched: torch.Tensor) -> torch.Tensor:
    """Waveform degradations on ``[n, samples]`` for the clips marked in ``touched`` ``[n]``."""
    for fn, p in _WAVE_PIPELINE:
        x = torch.where(_chosen(x.shape[0], p, gen, 2) & touched.view(-1, 1), fn(x, gen), x)
    return x


def degrade_mels(x: torch.Tensor, gen: torch.Generator, touched: torch.Tensor) -> torch.Tensor:
    """Spectrogram degradations on ``[n, mels, frames]`` log-mels for the clips in ``touched``."""
    for fn, p in _MEL_PIPELINE:
        x = torch.where(_chosen(x.shape[0], p, gen, 3) & touched.view(-1, 1, 1), fn(x, gen), x)
    return x.clamp_min(float(torch.log(torch.tensor(LOG_FLOOR))))


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable 5-tap Gaussian blur of ``[n, 1, h, w]``, edges replicated."""
    taps = torch.arange(-2, 3, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), kernel.view(1, 1, 1, 5))
    return F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), kernel.view(1, 1, 5, 1))
