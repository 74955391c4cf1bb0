"""The image modality's section of the run config, with size presets.

``preset`` fills every size field the user did not set::

    image: {preset: uio2}                     # UIO2's sizes
    image: {preset: uio2, target_size: 128}   # UIO2's, but a 16x16 code grid

``cpu`` (the default) is small enough to train on a laptop; its numbers are
tentative and live in :data:`PRESETS` so they are easy to tune.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from uio.plugins.blocks.patch_encoder import PatchVitConfig
from uio.plugins.blocks.presets import fill_preset

#: Sizes per preset. "uio2" follows UIO2 (arXiv 2312.17172): 384 px inputs to a
#: frozen pretrained ViT-B/16 (width 768, 12 blocks, 12 heads), and a VQ-GAN target
#: tokenizer mapping a 256 px image to a 32x32 grid over 16,384 codes.
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "input_size": 64,
        "patch_size": 8,
        "vit": {"width": 128, "depth": 2, "heads": 4, "trainable": True},
        "target_size": 32,
        "codebook_size": 512,
        "vq_num_down": 2,
        "vq_base_channels": 32,
        "vq_latent_dim": 32,
    },
    "uio2": {
        "input_size": 384,
        "patch_size": 16,
        "vit": {"width": 768, "depth": 12, "heads": 12, "trainable": False},
        "target_size": 256,
        "codebook_size": 16384,
        "vq_num_down": 3,
        "vq_base_channels": 128,
        "vq_latent_dim": 256,
    },
}


class VitConfig(PatchVitConfig):
    """The ViT that encodes input images into patch features (timm ``VisionTransformer``).

    Attributes:
        width: embedding width of the ViT.
        depth: transformer blocks.
        heads: attention heads; must divide ``width``.
        trainable: train the ViT with the model. UIO2 keeps its pretrained ViT
            frozen and trains only what follows it; a frozen ViT stays in eval mode.
        weights: a timm ViT state dict to start from (``.safetensors``, ``.pt`` or
            ``.pth``; a path relative to the working directory, or
            ``pkg://<package>/<file>``). ``None``: random initialisation.
        stem: how pixels become patch embeddings. ``"patch"``: timm's linear
            patch projection (one strided convolution), as in ViT and UIO2.
            ``"conv"``: a few stride-2 3x3 convolutions, then one convolution to
            the patch grid (Xiao et al. 2021, "Early convolutions help
            transformers see better", arXiv 2106.14881). Not a win everywhere:
            in the default experiment it cost 16% of the steps and the run did
            not learn to locate objects in its 14.5 minutes (README, "Images").
            Pretrained timm weights fit the ``"patch"`` stem only.
        stem_channels: channels of the first ``"conv"`` stem layer (doubling at
            each further stride-2 layer).
    """

    where: ClassVar[str] = "image.vit"


class ImageConfig(BaseModel):
    """Options of the built-in image modality.

    Attributes:
        preset: ``"cpu"`` or ``"uio2"``; fills every size field not set here (see
            :data:`PRESETS`).
        input_size: side in pixels of an input image (the ViT's input); images are
            resized to this square.
        patch_size: ViT patch side; ``input_size`` must be a multiple of it.
        vit: the input encoder (:class:`VitConfig`).
        target_size: side in pixels of a target image, the VQ-GAN's input.
        codebook_size: VQ codes, which is also the modality's id range.
        vq_num_down: stride-2 downsamplings of the VQ-GAN: the code grid is
            ``target_size / 2**vq_num_down`` on each side.
        vq_base_channels: VQ-GAN width at full resolution.
        vq_latent_dim: size of a code vector.
        tokenizer_weights: a saved tokenizer state (what ``uio fit-tokenizer``
            writes, e.g. ``runs/x/tokenizers/image.pt``, or ``pkg://...``); the
            tokenizer loads it when built and counts as fitted.
        fit_steps, fit_batch_size, fit_lr: VQ-GAN training by ``uio fit-tokenizer``.
        fit_adversarial_weight: weight of the hinge patch-adversarial term.
        fit_adversarial_start: step at which the adversarial term starts;
            ``None``: half of ``fit_steps`` (see :attr:`adversarial_start`).
        fit_device: where the VQ-GAN trains; ``"auto"``: CUDA when available.
        mask_ratio: share of input patches masked by the [R] masked-denoising
            objective (MAE's 0.75, He et al. 2021, arXiv 2111.06377; UIO2 masks
            input image patches for [R] too).
        strict: ``False``: any mode Pillow opens is converted to RGB and any size
            is resized (stretched) to the square side. ``True``: an image that is
            not RGB, or not square with side ``input_size`` or ``target_size``,
            is an error (resizing between those two sides is part of the model).
    """

    model_config = ConfigDict(extra="forbid")

    preset: Literal["cpu", "uio2"] = "cpu"
    input_size: int = Field(64, ge=1)
    patch_size: int = Field(8, ge=1)
    vit: VitConfig = Field(default_factory=VitConfig)
    target_size: int = Field(32, ge=1)
    codebook_size: int = Field(512, ge=2)
    vq_num_down: int = Field(2, ge=0)
    vq_base_channels: int = Field(32, ge=1)
    vq_latent_dim: int = Field(32, ge=1)
    tokenizer_weights: str | None = None
    fit_steps: int = Field(2000, ge=1)
    fit_batch_size: int = Field(32, ge=1)
    fit_lr: float = Field(2e-3, gt=0)
    fit_adversarial_weight: float = Field(0.1, ge=0)
    fit_adversarial_start: int | None = Field(None, ge=0)
    fit_device: Literal["auto", "cpu", "cuda"] = "auto"
    mask_ratio: float = Field(0.75, gt=0, lt=1)
    strict: bool = False

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        preset = PRESETS.get(data.get("preset", "cpu"))
        return data if preset is None else fill_preset(data, preset)  # unknown: Literal reports it

    @model_validator(mode="after")
    def _sizes_fit(self) -> ImageConfig:
        problems = []
        if self.input_size % self.patch_size:
            problems.append(
                f"image.input_size={self.input_size} is not a multiple of "
                f"image.patch_size={self.patch_size}"
            )
        step = 2**self.vq_num_down
        if self.target_size % step:
            problems.append(
                f"image.target_size={self.target_size} is not divisible by "
                f"2**image.vq_num_down={step} (the VQ-GAN halves the side {self.vq_num_down} times)"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def grid(self) -> int:
        """Codes per side of a target image."""
        return self.target_size // 2**self.vq_num_down

    @property
    def num_codes(self) -> int:
        """Codes (ids) per target image: ``grid * grid``."""
        return self.grid * self.grid

    @property
    def patches_per_side(self) -> int:
        """ViT patches per side of an input image."""
        return self.input_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Input tokens per image (one per patch, no class token)."""
        return self.patches_per_side**2

    @property
    def adversarial_start(self) -> int:
        """The step where the adversarial term starts (``fit_adversarial_start`` resolved)."""
        if self.fit_adversarial_start is not None:
            return self.fit_adversarial_start
        return self.fit_steps // 2
