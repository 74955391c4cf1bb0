"""Raw audio values -> spectrogram patch segments for the encoder and codes for the decoder."""

from __future__ import annotations

from typing import Any

import torch

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.spectrogram import spectrogram_grid
from uio.modalities.audio.tokenizer import NOT_FITTED, AudioTokenizer
from uio.modalities.audio.value import load_audio, where
from uio.plugins import ProcessContext, Segment

NAME = "audio"


def patch_positions(rows: int, cols: int) -> torch.Tensor:
    """``[rows * cols, 2]`` (row, column) of each patch, row-major."""
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return torch.stack([r.reshape(-1), c.reshape(-1)], dim=1)


class AudioProcessor:
    """Loads audio values (see :mod:`~uio.modalities.audio.value`) in dataloader workers.

    An input becomes a segment of one token per ViT patch of its normalised log-mel
    spectrogram (:func:`~uio.modalities.audio.spectrogram.spectrogram_grid`: silence
    -1, a full-scale sine +1). Its features are ``{"spectrogram": [1, 1, n_mels,
    frames] float32, "mask": None, "mask_ratio": float}`` (``mask`` is set by the
    masked-denoising objective; ``mask_ratio`` tells it how much to mask, since
    objectives do not see the config). Positions are 2D: row = mel-band patch
    (0: the lowest frequencies), column = time patch.
    """

    def __init__(self, config: AudioConfig, tokenizer: AudioTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer
        self._positions = patch_positions(*config.patch_grid)

    def _clip(self, value: Any, ctx: ProcessContext, role: str) -> torch.Tensor:
        if isinstance(value, list | tuple):
            raise ValueError(
                f"{where(ctx)}: audio {role} is a {type(value).__name__} of {len(value)} values; "
                f"expected one clip (a file path or a {{'waveform', 'sample_rate'}} dict)"
            )
        return torch.from_numpy(load_audio(value, ctx, self.config, role=role))

    def input_segment(self, value: Any, ctx: ProcessContext) -> Segment:
        """``num_patches`` tokens of the clip's spectrogram."""
        grid = spectrogram_grid(self._clip(value, ctx, "input")[None], self.config)
        features = {"spectrogram": grid, "mask": None, "mask_ratio": self.config.mask_ratio}
        return Segment(
            modality=NAME,
            features=features,
            positions=self._positions.clone(),
            num_tokens=self.config.num_patches,
        )

    def target_ids(self, value: Any, ctx: ProcessContext) -> list[int]:
        """The clip's ``output_length`` codes (see :class:`~uio.modalities.audio.tokenizer.AudioTokenizer`)."""
        if not self.tokenizer.is_fitted:
            raise RuntimeError(f"{where(ctx)}: {NOT_FITTED}")
        clip = self._clip(value, ctx, "target")
        return self.tokenizer.encode_waveforms(clip[None])[0].tolist()

    def fit_value(self, value: Any, ctx: ProcessContext) -> dict[str, Any]:
        """The clip as the tokenizer's ``fit`` takes it (and eval scores references):
        ``{"waveform": float32 [segment_samples], "sample_rate": int}``, loaded,
        downmixed, resampled and cropped or padded."""
        clip = self._clip(value, ctx, "target").numpy()
        return {"waveform": clip, "sample_rate": self.config.sample_rate}
