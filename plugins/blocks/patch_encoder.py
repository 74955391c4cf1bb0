"""A ViT patch encoder over grids ``[frames, C, H, W]`` (pictures, spectrograms), with masking.

The encoder is timm's ``VisionTransformer`` without class token, pooling or head
(UIO2 encodes images and audio spectrograms this way, arXiv 2312.17172 sec. 3.1),
followed by a linear projection to the model width and a learned mask
embedding for masked patches (MAE-style masked denoising, He et al. 2021,
arXiv 2111.06377). A modality subclasses :class:`PatchEncoder`, builds the ViT
with :func:`build_patch_vit` and names the payload entry that holds its grids.

State-dict keys: ``vit.*`` (the timm ViT), ``proj.*`` and ``mask_embedding``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from uio.plugins.blocks.weights import load_state_file, resolve_weights, state_mismatch


class PatchVitConfig(BaseModel):
    """The fields of a patch encoder's ViT; a modality subclasses it and sets ``where``.

    Attributes:
        width: embedding width of the ViT.
        depth: transformer blocks.
        heads: attention heads; must divide ``width``.
        trainable: train the ViT with the model; a frozen ViT stays in eval mode.
        weights: a timm ViT state dict to start from (see :func:`load_vit_weights`).
        stem: ``"patch"`` (timm's strided patch projection) or ``"conv"`` (:func:`conv_stem`).
        stem_channels: channels of the first ``"conv"`` stem layer.
    """

    model_config = ConfigDict(extra="forbid")

    #: The key path of this section in a run config, named in errors.
    where: ClassVar[str] = "vit"

    width: int = Field(128, ge=1)
    depth: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    trainable: bool = True
    weights: str | None = None
    stem: Literal["patch", "conv"] = "patch"
    stem_channels: int = Field(32, ge=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> PatchVitConfig:
        if self.width % self.heads:
            raise ValueError(
                f"{self.where}.width={self.width} is not divisible by {self.where}.heads={self.heads}; "
                f"each head gets width / heads channels"
            )
        return self


def conv_stem(patch_size: int, width: int, channels: int, in_channels: int = 3) -> nn.Sequential:
    """Grids ``[B, in_channels, H, W]`` -> ``[B, width, H / patch_size, W / patch_size]`` through convolutions.

    Stride-2 3x3 convolutions (each doubling the channels from ``channels``) while
    a factor of at least 4 of ``patch_size`` remains to cover, then one
    convolution with kernel and stride equal to what is left (Xiao et al. 2021,
    arXiv 2106.14881). A patch size that is not a power of two keeps the rest in
    that last convolution (patch 12: two stride-2 layers, then a stride-3 one).
    """
    layers: list[nn.Module] = []
    remaining, c_in, c_out = patch_size, in_channels, channels
    while remaining % 2 == 0 and remaining >= 4:
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU()]
        remaining //= 2
        c_in, c_out = c_out, c_out * 2
    layers.append(nn.Conv2d(c_in, width, remaining, stride=remaining))
    return nn.Sequential(*layers)


def build_patch_vit(
    vit: PatchVitConfig, *, grid_size: tuple[int, int], patch_size: int, in_channels: int
) -> VisionTransformer:
    """timm's ViT over ``[B, in_channels, *grid_size]`` without class token, pooling or head.

    ``grid_size`` is ``(height, width)`` and may be rectangular (a spectrogram is
    mel bands by frames). With ``stem: conv`` the patch projection is
    :func:`conv_stem`; timm's ``PatchEmbed`` flattens whatever its ``proj``
    returns, so the rest is unchanged.
    """
    model = VisionTransformer(
        img_size=grid_size,
        patch_size=patch_size,
        in_chans=in_channels,
        num_classes=0,
        global_pool="",
        class_token=False,
        embed_dim=vit.width,
        depth=vit.depth,
        num_heads=vit.heads,
    )
    if vit.stem == "conv":
        model.patch_embed.proj = conv_stem(patch_size, vit.width, vit.stem_channels, in_channels)
    return model


def _adapt(state: dict[str, Any], vit: VisionTransformer) -> dict[str, Any]:
    """A timm ViT state dict made to fit this headless, class-token-free ViT.

    A classifier head (``head.*``) is dropped: this ViT has none. A class token is
    dropped with its row of the position table, so a state saved from an
    ImageNet ViT (``timm.create_model("vit_base_patch16_384").state_dict()``) loads;
    everything else must match exactly.
    """
    for nested in ("state_dict", "model"):  # a training checkpoint around the weights
        if nested in state and isinstance(state[nested], dict):
            state = state[nested]
    out = {k: v for k, v in state.items() if not k.startswith("head.")}
    own_positions = vit.pos_embed.shape[1]
    if "cls_token" in out and vit.cls_token is None:
        del out["cls_token"]
        pos = out.get("pos_embed")
        if isinstance(pos, torch.Tensor) and pos.dim() == 3 and pos.shape[1] == own_positions + 1:
            out["pos_embed"] = pos[:, 1:]
    return out


def load_vit_weights(vit: VisionTransformer, spec: str, *, field: str = "vit.weights") -> None:
    """Load a timm ViT state dict from a file (see :func:`~uio.plugins.blocks.weights.resolve_weights`).

    Args:
        vit: the ViT to load into (from :func:`build_patch_vit`).
        spec: a path or ``pkg://<package>/<file>``.
        field: the config key that named the file, for errors (``"image.vit.weights"``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file does not fit the ViT; the message lists a few missing,
            unexpected and mis-shaped keys and names the file.
    """
    path = resolve_weights(spec)
    state = _adapt(load_state_file(path), vit)
    mismatch = state_mismatch(vit.state_dict(), state, "ViT")
    if mismatch:
        raise ValueError(
            f"{field}={spec!r} ({path}) does not fit the configured ViT "
            f"(width {vit.embed_dim}, depth {len(vit.blocks)}, patch grid {vit.patch_embed.grid_size}): {mismatch}"
        )
    vit.load_state_dict(state, strict=True)


class PatchEncoder(nn.Module):
    """Grid payloads -> one ``d_model`` embedding per patch.

    Each payload is a dict: ``payload[key]`` holds the grids, ``[frames, C, H, W]``
    (or ``[C, H, W]`` for one frame); ``payload.get("mask")`` is ``None`` or a bool
    tensor ``[frames * patches]`` (True: masked) set by masked denoising. A masked
    patch's values are zeroed before the ViT and a learned mask embedding is added
    to its output, so the model can tell a hidden patch from one that is zero.
    Patches come out frame by frame, row-major. The core adds rotary positions;
    the ViT keeps its own learned ones.

    A frozen ViT (``trainable=False``, as UIO2 freezes its pretrained ViTs) gets
    no gradients and stays in eval mode; the projection and the mask embedding
    always train.
    """

    def __init__(
        self,
        vit: VisionTransformer,
        d_model: int,
        *,
        trainable: bool,
        key: str,
        name: str,
        hint: str = "",
    ) -> None:
        """
        Args:
            vit: from :func:`build_patch_vit`.
            d_model: the model width to project to.
            trainable: train the ViT (else frozen, in eval mode).
            key: the payload entry holding the grids (``"pixels"``).
            name: the modality, named in errors.
            hint: the config fields that set the grid size, named in errors.
        """
        super().__init__()
        self.key, self.name, self.hint = key, name, hint
        self.trainable = trainable
        first_conv = next(m for m in vit.patch_embed.modules() if isinstance(m, nn.Conv2d))
        self.in_channels = int(first_conv.in_channels)
        self.grid_size = tuple(int(s) for s in vit.patch_embed.img_size)
        self.patch_grid = tuple(int(s) for s in vit.patch_embed.grid_size)
        self.patch_size = tuple(int(s) for s in vit.patch_embed.patch_size)
        self.num_patches = self.patch_grid[0] * self.patch_grid[1]
        self.vit = vit
        self.proj = nn.Linear(vit.embed_dim, d_model)
        self.mask_embedding = nn.Parameter(torch.randn(d_model) * 0.02)
        if not trainable:
            self.vit.requires_grad_(False)
            self.vit.eval()

    def train(self, mode: bool = True) -> PatchEncoder:
        """Set training mode; a frozen ViT stays in eval mode (no dropout, fixed statistics)."""
        super().train(mode)
        if not self.trainable:
            self.vit.eval()
        return self

    def _unpack(self, payloads: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = self.proj.weight.device
        expected = (self.in_channels, *self.grid_size)
        grids, masks, any_mask = [], [], False
        for i, payload in enumerate(payloads):
            g = payload[self.key]
            if g.dim() == 3:
                g = g.unsqueeze(0)
            if g.dim() != 4 or tuple(g.shape[1:]) != expected:
                shown = ", ".join(str(n) for n in expected)
                hint = f" ({self.hint})" if self.hint else ""
                raise ValueError(
                    f"{self.name} payload {i}: {self.key} of shape {list(g.shape)}; expected "
                    f"[frames, {shown}]{hint}"
                )
            mask = payload.get("mask")
            tokens = g.shape[0] * self.num_patches
            if mask is None:
                mask = torch.zeros(tokens, dtype=torch.bool)
            else:
                any_mask = True
                if mask.numel() != tokens:
                    raise ValueError(
                        f"{self.name} payload {i}: a mask of {mask.numel()} entries for {tokens} patches"
                    )
            grids.append(g.to(device, non_blocking=True))
            masks.append(mask.reshape(-1).to(device, dtype=torch.bool, non_blocking=True))
        return torch.cat(grids), torch.cat(masks) if any_mask else None

    def forward(self, payloads: list[dict[str, Any]]) -> torch.Tensor:
        """``[sum of frames * patches, d_model]``: every payload's patch embeddings, in order."""
        if not payloads:
            raise ValueError(f"{type(self).__name__} got no segments to embed")
        grids, mask = self._unpack(payloads)
        grids = grids.to(self.vit.pos_embed.dtype)
        if mask is not None:
            grids = grids * ~self._value_mask(mask, grids.shape[0])
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trainable):
            features = self.vit.forward_features(grids)  # [frames, patches, width]
        out = self.proj(features.reshape(-1, features.shape[-1]))
        if mask is not None:
            out = out + mask.unsqueeze(-1).to(out.dtype) * self.mask_embedding.to(out.dtype)
        return out

    def _value_mask(self, mask: torch.Tensor, frames: int) -> torch.Tensor:
        """``[frames, 1, H, W]`` bool: the patch mask spread over each patch's values."""
        grid = mask.view(frames, 1, *self.patch_grid)
        return grid.repeat_interleave(self.patch_size[0], dim=2).repeat_interleave(self.patch_size[1], dim=3)
