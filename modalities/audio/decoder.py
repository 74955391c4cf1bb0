"""Generated audio codes -> a clip; log-mel and spectral scores against a reference; WAV files."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
import torch
from PIL import Image

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.features import log_mel_l1, spectral_snr_db
from uio.modalities.audio.picture import spectrogram_picture
from uio.modalities.audio.spectrogram import spectrogram_grid
from uio.modalities.audio.tokenizer import AudioTokenizer
from uio.modalities.audio.value import load_audio
from uio.plugins import ProcessContext

#: Spectral SNR reported for identical clips (their difference is 0, the SNR infinite),
#: so that averages over many examples stay finite; scores are clipped to +-this.
MAX_SNR_DB = 100.0


def log_mel_score(l1: float) -> float:
    """``exp(-l1)``: a log-mel L1 (natural-log units) as a score in ``(0, 1]``, 1 for identical.

    L1 0.1 -> 0.90, 0.5 -> 0.61, 1 -> 0.37, 3 -> 0.05; since ``exp(-l1)`` is the
    geometric mean over cells of the smaller-over-larger mel power ratio, it reads as
    "how much of the power matches" (without the floor at silence).
    """
    return math.exp(-l1)


class AudioOutputDecoder:
    """Decodes generated codes to a clip; scores, renders, draws and writes clips.

    A clip is ``{"waveform": float32 [segment_samples], "sample_rate": int}``.
    ``output_length`` tells the core to generate exactly one clip's codes.
    """

    file_suffix = ".wav"
    #: The gallery plays written clips in an HTML ``<audio>`` element.
    html_media = "audio"

    def __init__(self, config: AudioConfig, tokenizer: AudioTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self.output_length: int = tokenizer.output_length

    def decode(self, ids: Sequence[int]) -> dict[str, Any]:
        """The clip of generated local ids (see :meth:`AudioTokenizer.decode` for a wrong
        number of ids)."""
        return self.tokenizer.decode(ids)

    def _clip(self, value: Any, role: str) -> np.ndarray:
        return load_audio(value, ProcessContext(), self.config, role=role)

    def score(self, prediction: Any, reference: Any) -> dict[str, float]:
        """``log_mel_score`` (:func:`log_mel_score` of the log-mel L1, in ``(0, 1]``) and
        ``spectral_snr_db`` (dB, higher is better, at most :data:`MAX_SNR_DB`) of the
        prediction against the reference, both loaded as one segment at the configured
        rate; the log-mel is the modality's own (``audio.n_fft``, ``hop_length``, ``n_mels``).

        A reference that cannot be loaded gives ``{}`` (no score rather than a wrong one).
        """
        try:
            expected = torch.from_numpy(self._clip(reference, "reference"))
        except (TypeError, ValueError, OSError):
            return {}
        got = torch.from_numpy(self._clip(prediction, "prediction"))
        if torch.equal(got, expected):
            return {"log_mel_score": 1.0, "spectral_snr_db": MAX_SNR_DB}
        snr = spectral_snr_db(expected, got, self.config.mel)
        return {
            "log_mel_score": log_mel_score(log_mel_l1(expected, got, self.config.mel)),
            "spectral_snr_db": max(-MAX_SNR_DB, min(MAX_SNR_DB, snr)),
        }

    def render(self, value: Any) -> str:
        """``"<audio 1.02 s at 8000 Hz>"`` (a file: ``"<audio clip.wav>"``)."""
        if isinstance(value, dict) and "waveform" in value and "sample_rate" in value:
            samples = int(np.shape(value["waveform"])[0]) if np.ndim(value["waveform"]) else 0
            rate = value["sample_rate"]
            seconds = samples / rate if isinstance(rate, int | float) and rate > 0 else float("nan")
            return f"<audio {seconds:.2f} s at {rate} Hz>"
        if isinstance(value, str | os.PathLike):
            return f"<audio {Path(value).name}>"
        return f"<audio {type(value).__name__}>"

    def picture(self, value: Any) -> Image.Image:
        """The clip's normalised log-mel spectrogram in colour (quiet dark, loud light), time
        left to right, low frequencies at the bottom, enlarged to at least 128 pixels tall."""
        grid = spectrogram_grid(torch.from_numpy(self._clip(value, "value"))[None], self.config)
        return spectrogram_picture(grid[0, 0])

    def write(self, value: Any, path: Path) -> Path:
        """Write the clip as a 16-bit PCM WAV file to ``path`` (``.wav`` appended unless it
        ends so), at the configured rate; parent folders are created. Returns the path written."""
        path = Path(path)
        if path.suffix.lower() != self.file_suffix:
            path = path.with_name(path.name + self.file_suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        clip = self._clip(value, "value")
        soundfile.write(str(path), clip, self.config.sample_rate, subtype="PCM_16", format="WAV")
        return path
