"""The sound classifier network, its labels and its input: a log-mel spectrogram at 8 kHz."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchaudio.functional import resample

from uio.modalities.audio.features import MelSettings, log_mel
from uio.modalities.sounds.world import VALUES, Sound, applicable

#: What the classifier hears: the audio modality's ``cpu`` preset (8 kHz, 32 mels).
MEL = MelSettings(sample_rate=8000, n_fft=256, hop_length=128, n_mels=32)
SAMPLES = 8192
#: Spectrogram frames of a clip of :data:`SAMPLES` (centred STFT frames).
FRAMES = SAMPLES // MEL.hop_length + 1
#: One output head per attribute, in this order.
HEADS: tuple[str, ...] = ("kind", "pitch", "loudness", "duration", "timbre")
#: The label of an attribute a sound does not have (timbre of noise): ignored by the loss.
IGNORE = -100
# Log-mel values run from log(1e-5) = -11.5 (silence) to about +2 (loud); the
# network sees them shifted and scaled to roughly unit range. No per-clip
# normalisation: the absolute level is what tells loud from quiet.
_MEL_CENTRE, _MEL_SCALE = -6.0, 4.0


def sound_labels(sound: Sound) -> list[int]:
    """The class index per head (:data:`IGNORE` for an attribute the sound lacks)."""
    attributes = sound.attributes()
    return [VALUES[h].index(attributes[h]) if h in attributes else IGNORE for h in HEADS]


def spectrograms(waves: Sequence[tuple[np.ndarray, int]]) -> torch.Tensor:
    """``[n, n_mels, FRAMES]`` log-mel spectrograms of ``(mono waveform, sample rate)`` pairs.

    Waveforms at another rate are resampled to 8 kHz; a spectrogram of another
    length is stretched to :data:`FRAMES` along time (linear), so durations read
    as shares of the clip (as the ``sounds`` dataset defines them).
    """
    mels = []
    for wave, rate in waves:
        x = torch.as_tensor(np.ascontiguousarray(wave), dtype=torch.float32)
        if rate != MEL.sample_rate:
            x = resample(x, int(rate), MEL.sample_rate)
        if x.numel() < MEL.n_fft:
            x = F.pad(x, (0, MEL.n_fft - x.numel()))  # the centred STFT needs a frame's worth
        mel = log_mel(x, MEL)
        if mel.shape[-1] != FRAMES:
            mel = F.interpolate(mel[None], size=FRAMES, mode="linear", align_corners=False)[0]
        mels.append(mel)
    return torch.stack(mels) if mels else torch.empty(0, MEL.n_mels, FRAMES)


class SoundClassifier(nn.Module):
    """Reads a log-mel spectrogram ``[n, 32, FRAMES]`` and names each attribute of the sound.

    Five conv layers with two poolings keep a coarse map of frequency by time
    (8 x 4 cells) rather than a global average, because where the energy lies
    (pitch), how long it lasts (duration) and how it moves (chirps, beats) are
    the attributes.

    Args:
        width: channels of the deeper conv layers (the first two have half).
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width
        half = width // 2
        self.features = nn.Sequential(
            nn.Conv2d(1, half, 3, padding=1), nn.ReLU(),
            nn.Conv2d(half, half, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(half, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d((8, 4)),
        )
        self.sizes = [len(VALUES[h]) for h in HEADS]
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * width, 64), nn.ReLU(), nn.Linear(64, sum(self.sizes))
        )

    def forward(self, mels: torch.Tensor) -> list[torch.Tensor]:
        """``[n, n_mels, frames]`` log-mel -> one ``[n, classes]`` logit tensor per head."""
        if mels.dim() != 3 or mels.shape[1] != MEL.n_mels:
            raise ValueError(
                f"mels have shape {tuple(mels.shape)}; expected [n, {MEL.n_mels}, frames] "
                f"(use spectrograms() to make them)"
            )
        x = (mels.unsqueeze(1) - _MEL_CENTRE) / _MEL_SCALE
        return list(self.head(self.features(x)).split(self.sizes, dim=-1))

    def predict(self, mels: torch.Tensor) -> torch.Tensor:
        """``[n, len(HEADS)]`` predicted class per head."""
        return torch.stack([logits.argmax(-1) for logits in self(mels)], dim=-1)


def loss_fn(logits: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy (timbre of noise ignored)."""
    return sum(F.cross_entropy(head, labels[:, i], ignore_index=IGNORE) for i, head in enumerate(logits))


def read_sound(classes: Sequence[int]) -> dict[str, str]:
    """The attributes a row of :meth:`SoundClassifier.predict` names (no timbre for noise)."""
    values = {h: VALUES[h][int(c)] for h, c in zip(HEADS, classes, strict=True)}
    return {h: v for h, v in values.items() if applicable(h, values["kind"])}
