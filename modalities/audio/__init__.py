"""uio.modalities.audio — the built-in audio modality (UIO2's audio input and output).

A raw value is a WAV or FLAC file path (relative to the example's ``base_dir``)
or a dict ``{"waveform": array [samples] or [samples, channels], "sample_rate":
int}``; every clip is downmixed to mono, resampled to ``sample_rate`` and cropped
(keeping the start) or zero-padded to one segment (see :mod:`.value`).

Inputs: the clip's log-mel spectrogram, normalised by a fixed map (silence -1, a
full-scale sine +1), is cut into patches and encoded by a timm ViT, one token per
patch with 2D (mel band, time) positions. Targets: the clip is tokenized by the
configured codec: a VQ-GAN over the spectrogram (``spectrogram_vq``, UIO2's way;
decoded through Griffin-Lim) or EnCodec over the waveform (``encodec``); the
decoder generates the codes and decodes them back to a clip, scored by log-mel
L1 and spectral SNR, written as WAV and drawn as a spectrogram. The codec is
trained by ``uio fit-tokenizer``. Objectives: [S] generation and [R] masked denoising.
"""

from uio.modalities.audio.config import PRESETS, AudioConfig, AudioVitConfig
from uio.modalities.audio.decoder import AudioOutputDecoder, log_mel_score
from uio.modalities.audio.encoder import AudioInputEncoder, build_audio_vit
from uio.modalities.audio.objectives import DIRECT, MASKED_DENOISING, OBJECTIVES
from uio.modalities.audio.processor import AudioProcessor, patch_positions
from uio.modalities.audio.spectrogram import grid_waveform, spectrogram_grid
from uio.modalities.audio.tokenizer import AudioTokenizer
from uio.modalities.audio.value import load_audio

__all__ = [
    "DIRECT",
    "MASKED_DENOISING",
    "OBJECTIVES",
    "PRESETS",
    "AudioConfig",
    "AudioInputEncoder",
    "AudioOutputDecoder",
    "AudioProcessor",
    "AudioTokenizer",
    "AudioVitConfig",
    "build_audio_vit",
    "grid_waveform",
    "load_audio",
    "log_mel_score",
    "patch_positions",
    "spectrogram_grid",
]
