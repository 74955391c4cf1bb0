"""Training the spectrogram VQ tokenizer (what ``uio fit-tokenizer`` runs for audio).

The VQ-GAN learns the normalised log-mel grids of the clips with the shared loop
of :mod:`uio.plugins.blocks.vqgan_fit`. A tenth of the clips is held out and
judged as sound: each held-out clip goes through encode, decode and Griffin-Lim,
and the waveform is compared with the original by
:func:`~uio.modalities.audio.features.reconstruction_figures` (the figures the
EnCodec codec reports too). Griffin-Lim alone (the clip's own spectrogram,
no codes) is reported beside them as the ceiling the codes cannot beat.
Writes a picture of held-out spectrograms above their reconstructions and a few
of the clips as WAV files, to listen to.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.nn.functional as F

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.features import reconstruction_figures
from uio.modalities.audio.picture import comparison_sheet, spectrogram_picture
from uio.modalities.audio.spectrogram import grid_waveform, spectrogram_grid
from uio.plugins.blocks import vqgan_fit
from uio.plugins.blocks.vqgan import VQGAN
from uio.plugins.blocks.vqgan_fit import VQGANFitOptions, reconstruct

RECONSTRUCTIONS_FILE = "reconstructions.png"
#: Folder of held-out clips and their reconstructions as WAV files.
SOUNDS_DIR = "reconstructions"
#: Held-out clips shown in the picture and written as sounds.
SHOWN = 4
#: Clips turned into spectrograms (or waveforms) at once, to bound memory.
CHUNK = 64


def grids_of(waveforms: torch.Tensor, config: AudioConfig) -> torch.Tensor:
    """``[N, segment_samples]`` -> normalised log-mel grids ``[N, 1, n_mels, frames]``, in chunks."""
    return torch.cat([spectrogram_grid(chunk, config) for chunk in waveforms.split(CHUNK)])


def waveforms_of(grids: torch.Tensor, config: AudioConfig) -> torch.Tensor:
    """Griffin-Lim waveforms ``[N, segment_samples]`` of grids ``[N, 1, n_mels, frames]``, in chunks."""
    return torch.cat([grid_waveform(chunk, config) for chunk in grids.split(CHUNK)])


def sound_figures(model: VQGAN, waveforms: torch.Tensor, config: AudioConfig) -> dict[str, float]:
    """``log_mel_l1`` and ``spectral_snr_db`` of clips ``[N, segment_samples]`` through the
    model's encode and decode and Griffin-Lim (any model: a fresh one gives the baseline)."""
    reconstructions, _ = reconstruct(model.eval(), grids_of(waveforms, config), config.fit_batch_size)
    return reconstruction_figures(waveforms, waveforms_of(reconstructions, config), config.mel)


def _describe(reconstruction: torch.Tensor, batch: torch.Tensor) -> str:
    return f"spectrogram l1 {F.l1_loss(reconstruction, batch).item():.3f}"


def _write_examples(
    out_dir: Path, originals: torch.Tensor, grids: torch.Tensor, recon_grids: torch.Tensor,
    recon_waveforms: torch.Tensor, config: AudioConfig,
) -> None:
    shown = slice(0, SHOWN)
    rows = [[spectrogram_picture(g[0]) for g in grids[shown]], [spectrogram_picture(g[0]) for g in recon_grids[shown]]]
    comparison_sheet(rows).save(out_dir / RECONSTRUCTIONS_FILE)
    sounds = out_dir / SOUNDS_DIR
    sounds.mkdir(exist_ok=True)
    for i, (original, rebuilt) in enumerate(zip(originals[shown], recon_waveforms[shown], strict=True)):
        for name, clip in (("original", original), ("reconstruction", rebuilt)):
            data = np.clip(clip.numpy(), -1.0, 1.0)
            soundfile.write(sounds / f"heldout_{i}_{name}.wav", data, config.sample_rate, subtype="PCM_16")


def train_spectrogram_vq(model: VQGAN, waveforms: torch.Tensor, config: AudioConfig, out_dir: Path) -> dict[str, float]:
    """Train ``model`` on clips ``[N, segment_samples]`` (float32, at ``config.sample_rate``).

    The model ends in eval mode on the CPU; the caller's random state is left as it was.

    Returns:
        On the held-out clips: ``log_mel_l1`` and ``spectral_snr_db`` (through
        encode, decode and Griffin-Lim), ``initial_log_mel_l1`` (the same through
        the untrained model), ``griffin_lim_log_mel_l1`` and
        ``griffin_lim_spectral_snr_db`` (Griffin-Lim of the clips' own
        spectrograms: the ceiling), ``codebook_usage`` (share of the codes used);
        ``steps`` and ``seconds``.
    """
    started = time.perf_counter()
    initial = copy.deepcopy(model)
    grids = grids_of(waveforms, config)
    rows, cols = grids.shape[-2:]
    options = VQGANFitOptions.from_config(config, min(rows, cols), "audio", "clips", _describe)
    result = vqgan_fit.train_vqgan(model, grids, options)
    originals = waveforms[result.heldout_index]
    rebuilt = waveforms_of(result.reconstructions, config)
    figures = reconstruction_figures(originals, rebuilt, config.mel)
    ceiling = reconstruction_figures(originals, waveforms_of(result.heldout, config), config.mel)
    untrained = sound_figures(initial, originals, config)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_examples(out_dir, originals, result.heldout, result.reconstructions, rebuilt, config)
    return {
        "log_mel_l1": figures["log_mel_l1"],
        "spectral_snr_db": figures["spectral_snr_db"],
        "initial_log_mel_l1": untrained["log_mel_l1"],
        "griffin_lim_log_mel_l1": ceiling["log_mel_l1"],
        "griffin_lim_spectral_snr_db": ceiling["spectral_snr_db"],
        "codebook_usage": result.codes.unique().numel() / config.codebook_size,
        "steps": result.steps,
        "seconds": time.perf_counter() - started,
    }
