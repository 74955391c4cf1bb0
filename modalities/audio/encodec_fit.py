"""Training of the EnCodec codec: its loss, its batches and its loop (used by
:meth:`~uio.modalities.audio.encodec_tokenizer.EncodecTokenizer.fit`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torchaudio
from encodec.model import EncodecModel

from uio.modalities.audio.features import LOG_FLOOR, MelSettings
from uio.plugins.blocks.progress import progress_bar

if TYPE_CHECKING:
    from uio.modalities.audio.encodec_tokenizer import EncodecSettings

#: Adam betas of EnCodec's training (arXiv 2210.13438, experiments section).
ADAM_BETAS = (0.5, 0.9)
#: Loss weights: EnCodec's lambda_t = 0.1 (waveform L1) and lambda_f = 1 (multi-scale mel),
#: from the same section; the commitment loss enters with weight 1 (encodec's
#: ``commitment_weight``). A weight of 1.0 on the waveform measured the same here.
TIME_WEIGHT = 0.1
#: Mel-loss windows: EnCodec uses 2^5 .. 2^11 samples at 24 kHz (sec. 3.4); at 8 kHz
#: 2^6 .. 2^10 (8 to 128 ms), shifted by an octave per doubling of the rate. Hop is a
#: quarter window as in the paper; mel bins are window / 8 (no empty filters at 8 kHz).
LOSS_WINDOW_EXPONENTS = range(6, 11)


def octaves_above_8k(sample_rate: int) -> int:
    """Octaves from 8 kHz to ``sample_rate``, rounded (at least -2): how far 8 kHz windows scale."""
    return max(-2, round(math.log2(sample_rate / 8000)))


def train_encodec(
    model: EncodecModel,
    train: torch.Tensor,
    s: EncodecSettings,
    sample_rate: int,
    crop_samples: int,
    generator: torch.Generator,
    device: torch.device,
) -> None:
    """Train ``model`` in place on ``fit_steps`` batches of random crops of the clips ``train``
    ``[N, samples]``, with a progress bar; the loss is :meth:`EncodecTokenizer.fit`'s."""
    mel_loss = MultiScaleMelLoss(loss_mel_settings(sample_rate, crop_samples)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, betas=ADAM_BETAS)
    model.train()
    report_every = max(1, s.fit_steps // 100)
    with progress_bar("audio tokenizer (EnCodec)") as progress:
        task = progress.add_task("", total=s.fit_steps)
        for step in range(s.fit_steps):
            batch = random_crops(train, s.fit_batch, crop_samples, generator).to(device)
            emb = model.encoder(batch)
            quantized = model.quantizer(emb, model.frame_rate, model.bandwidth)
            out = model.decoder(quantized.quantized)[..., : batch.shape[-1]]
            mel = mel_loss(out, batch)
            loss = TIME_WEIGHT * (out - batch).abs().mean() + mel + quantized.penalty
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step % report_every == 0 or step == s.fit_steps - 1:
                progress.update(task, description=f"loss {loss.item():.3f}  log-mel L1 {mel.item():.3f}")
            progress.advance(task)
    model.eval()


def random_crops(clips: torch.Tensor, count: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``[count, 1, length]`` crops of random clips at random offsets."""
    picks = torch.randint(clips.shape[0], (count,), generator=generator)
    offsets = torch.randint(clips.shape[1] - length + 1, (count,), generator=generator)
    return torch.stack([clips[i, o : o + length] for i, o in zip(picks.tolist(), offsets.tolist(), strict=True)]).unsqueeze(1)


class MultiScaleMelLoss(torch.nn.Module):
    """Mean over scales of the L1 distance between ``log(mel power + LOG_FLOOR)`` spectrograms.

    The floor is added, as in audiocraft's ``MelSpectrogramWrapper``, not clamped as in
    :func:`~uio.modalities.audio.features.log_mel`: below a clamp the gradient is zero, and
    a decoder that has gone quiet in a bin never learns to fill it again (on pure tones,
    where most bins of the reference sit at the floor, training then stalls near silence).
    """

    def __init__(self, scales: Sequence[MelSettings]) -> None:
        super().__init__()
        self.mels = torch.nn.ModuleList(
            torchaudio.transforms.MelSpectrogram(
                sample_rate=m.sample_rate, n_fft=m.n_fft, hop_length=m.hop_length, n_mels=m.n_mels, power=2.0
            )
            for m in scales
        )

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The loss of ``estimate`` against ``reference`` (waveforms of the same shape)."""
        return torch.stack([
            (torch.log(mel(estimate) + LOG_FLOOR) - torch.log(mel(reference) + LOG_FLOOR)).abs().mean()
            for mel in self.mels
        ]).mean()


def loss_mel_settings(sample_rate: int, crop_samples: int) -> list[MelSettings]:
    """The multi-scale mel spectrograms of the training loss (see ``LOSS_WINDOW_EXPONENTS``)."""
    shift = octaves_above_8k(sample_rate)
    windows = [2 ** (i + shift) for i in LOSS_WINDOW_EXPONENTS]
    # torch.stft reflect-pads half a window each side, which needs a longer crop.
    kept = [w for w in windows if w // 2 < crop_samples]
    if not kept:
        raise ValueError(
            f"EnCodec training crops of {crop_samples} samples are too short for the mel loss "
            f"(windows from {windows[0]}); raise audio.encodec.fit_crop or the segment length"
        )
    return [MelSettings(sample_rate, w, w // 4, max(4, w // 8)) for w in kept]
