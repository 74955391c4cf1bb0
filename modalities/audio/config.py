"""The audio modality's section of the run config, with size presets.

``preset`` fills every size field the user did not set::

    audio: {preset: uio2}                       # UIO2's sizes
    audio: {preset: uio2, vit: {depth: 2}}      # UIO2's, but a 2-block ViT
    audio: {codec: encodec}                     # the cpu sizes, EnCodec codes as targets

``cpu`` (the default) learns in minutes on two CPU cores; its numbers are
tentative and live in :data:`PRESETS` so they are easy to tune.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uio.modalities.audio.encodec_tokenizer import EncodecSettings
from uio.modalities.audio.features import MelSettings
from uio.plugins.blocks.patch_encoder import PatchVitConfig
from uio.plugins.blocks.presets import fill_preset

#: Sizes per preset. "uio2" follows UIO2 (arXiv 2312.17172, sec. 3.1 and appendix):
#: 16 kHz audio in 4.08 s segments, a log-mel spectrogram (n_fft 1024, hop 256,
#: 128 mel bins, 256 frames) cut into 16x16 patches for a frozen ViT-B/16
#: (width 768, 12 blocks, 12 heads), and a spectrogram VQ tokenizer with 8,192
#: codes, 512 per segment (a 16x32 grid: 3 halvings of 128x256). UIO2's audio
#: tokenizer is a ViT-VQGAN; uio's is the convolutional VQ-GAN block, with the
#: same grid.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "sample_rate": 8000,
        "n_fft": 256,
        "hop_length": 128,
        "n_mels": 32,
        "segment_seconds": 1.024,
        "frames": 64,
        "patch_size": 8,
        "vit": {"width": 128, "depth": 2, "heads": 4, "trainable": True},
        "codebook_size": 256,
        "vq_num_down": 3,
        # 16, not the image preset's 32: the 32x64 grid has twice the cells, and at 32 a
        # step took 1.5 s on one shared CPU thread, at 16 about 0.25 s (1,500 steps: ~6 min)
        "vq_base_channels": 16,
        "vq_latent_dim": 32,
    },
    "uio2": {
        "sample_rate": 16000,
        "n_fft": 1024,
        "hop_length": 256,
        "n_mels": 128,
        "segment_seconds": 4.08,
        "frames": 256,
        "patch_size": 16,
        "vit": {"width": 768, "depth": 12, "heads": 12, "trainable": False},
        "codebook_size": 8192,
        "vq_num_down": 3,
        "vq_base_channels": 128,
        "vq_latent_dim": 256,
    },
}


class AudioVitConfig(PatchVitConfig):
    """The ViT that encodes input spectrograms into patch features (timm ``VisionTransformer``
    over one channel); the fields of the image modality's ``vit`` (see
    :class:`~uio.plugins.blocks.patch_encoder.PatchVitConfig`). UIO2 freezes its
    pretrained audio ViT (``trainable: false``)."""

    where: ClassVar[str] = "audio.vit"


class AudioConfig(BaseModel):
    """Options of the built-in audio modality.

    Attributes:
        preset: ``"cpu"`` or ``"uio2"``; fills every size field not set here (see
            :data:`PRESETS`).
        sample_rate: Hz; every clip is resampled to it.
        n_fft, hop_length, n_mels: the log-mel spectrogram (Hann window, HTK mel scale).
        segment_seconds: clip length; longer clips are cropped (from the start),
            shorter ones zero-padded at the end.
        frames: spectrogram columns kept; the spectrogram of a segment has
            ``1 + segment_samples // hop_length`` (centred frames) and is cropped to
            this many from the start.
        patch_size: side of the square ViT patches; divides ``n_mels`` and ``frames``.
        vit: the input encoder (:class:`AudioVitConfig`).
        codec: the target tokenizer. ``"spectrogram_vq"``: a VQ-GAN over the
            normalised log-mel (as UIO2), decoded to a waveform by Griffin-Lim.
            ``"encodec"``: EnCodec's residual VQ over the waveform (``encodec``).
        encodec: settings of the EnCodec codec (used when ``codec: encodec``).
        codebook_size: spectrogram VQ codes, which is also the modality's id range
            with ``codec: spectrogram_vq``.
        vq_num_down: stride-2 downsamplings of the spectrogram VQ-GAN: the code
            grid is ``n_mels / 2**vq_num_down`` by ``frames / 2**vq_num_down``.
        vq_base_channels: VQ-GAN width at full resolution.
        vq_latent_dim: size of a code vector.
        griffin_lim_iters: Griffin-Lim iterations when decoding a spectrogram
            (torchaudio's default 32).
        tokenizer_weights: a saved tokenizer state (what ``uio fit-tokenizer``
            writes, e.g. ``runs/x/tokenizers/audio.pt``, or ``pkg://...``); the
            tokenizer loads it when built and counts as fitted.
        fit_steps, fit_batch_size, fit_lr: spectrogram VQ-GAN training.
        fit_adversarial_weight: weight of the hinge patch-adversarial term.
        fit_adversarial_start: step at which it starts; ``None``: half of ``fit_steps``.
        fit_device: where the VQ-GAN trains; ``"auto"``: CUDA when available.
        mask_ratio: share of input patches masked by ``audio.masked_denoising``
            (MAE's 0.75, He et al. 2021, arXiv 2111.06377).
    """

    model_config = ConfigDict(extra="forbid")

    preset: Literal["cpu", "uio2"] = "cpu"
    sample_rate: int = Field(8000, ge=1)
    n_fft: int = Field(256, ge=2)
    hop_length: int = Field(128, ge=1)
    n_mels: int = Field(32, ge=1)
    segment_seconds: float = Field(1.024, gt=0)
    frames: int = Field(64, ge=1)
    patch_size: int = Field(8, ge=1)
    vit: AudioVitConfig = Field(default_factory=AudioVitConfig)
    codec: Literal["spectrogram_vq", "encodec"] = "spectrogram_vq"
    encodec: EncodecSettings = Field(default_factory=EncodecSettings)
    codebook_size: int = Field(256, ge=2)
    vq_num_down: int = Field(3, ge=0)
    vq_base_channels: int = Field(16, ge=1)
    vq_latent_dim: int = Field(32, ge=1)
    griffin_lim_iters: int = Field(32, ge=1)
    tokenizer_weights: str | None = None
    fit_steps: int = Field(1500, ge=1)
    fit_batch_size: int = Field(16, ge=1)
    fit_lr: float = Field(2e-3, gt=0)
    fit_adversarial_weight: float = Field(0.1, ge=0)
    fit_adversarial_start: int | None = Field(None, ge=0)
    fit_device: Literal["auto", "cpu", "cuda"] = "auto"
    mask_ratio: float = Field(0.75, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        preset = PRESETS.get(data.get("preset", "cpu"))
        return data if preset is None else fill_preset(data, preset)  # unknown: Literal reports it

    @model_validator(mode="after")
    def _sizes_fit(self) -> AudioConfig:
        problems = []
        available = 1 + self.segment_samples // self.hop_length
        if self.frames > available:
            problems.append(
                f"audio.frames={self.frames} is more than the {available} spectrogram frames of a "
                f"segment (1 + round(audio.segment_seconds * audio.sample_rate) // audio.hop_length)"
            )
        if self.n_mels > self.n_fft // 2 + 1:
            problems.append(
                f"audio.n_mels={self.n_mels} is more than the {self.n_fft // 2 + 1} frequency bins "
                f"of audio.n_fft={self.n_fft}"
            )
        for name in ("n_mels", "frames"):
            size = getattr(self, name)
            if size % self.patch_size:
                problems.append(f"audio.{name}={size} is not a multiple of audio.patch_size={self.patch_size}")
            step = 2**self.vq_num_down
            if size % step:
                problems.append(
                    f"audio.{name}={size} is not divisible by 2**audio.vq_num_down={step} "
                    f"(the VQ-GAN halves each side {self.vq_num_down} times)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def segment_samples(self) -> int:
        """Samples per clip: ``round(segment_seconds * sample_rate)``."""
        return round(self.segment_seconds * self.sample_rate)

    @property
    def mel(self) -> MelSettings:
        """The log-mel settings (:mod:`~uio.modalities.audio.features`)."""
        return MelSettings(self.sample_rate, self.n_fft, self.hop_length, self.n_mels)

    @property
    def code_grid(self) -> tuple[int, int]:
        """``(rows, columns)`` of the spectrogram VQ code grid (mel bands by time)."""
        step = 2**self.vq_num_down
        return self.n_mels // step, self.frames // step

    @property
    def patch_grid(self) -> tuple[int, int]:
        """``(rows, columns)`` of ViT patches: mel-band patches by time patches."""
        return self.n_mels // self.patch_size, self.frames // self.patch_size

    @property
    def num_patches(self) -> int:
        """Input tokens per clip (one per patch, no class token)."""
        rows, cols = self.patch_grid
        return rows * cols

    @property
    def vocab_size(self) -> int:
        """The modality's id range: the spectrogram codebook, or EnCodec's codebooks."""
        if self.codec == "encodec":
            return self.encodec.num_codebooks * self.encodec.codebook_size
        return self.codebook_size

    @property
    def adversarial_start(self) -> int:
        """The step where the adversarial term starts (``fit_adversarial_start`` resolved)."""
        if self.fit_adversarial_start is not None:
            return self.fit_adversarial_start
        return self.fit_steps // 2
