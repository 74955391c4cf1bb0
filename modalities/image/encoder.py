"""Image input encoder: a timm ViT over the patches, projected to the model width."""

from __future__ import annotations

from typing import Any

import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from uio.modalities.image.config import ImageConfig
from uio.plugins import EncoderContext
from uio.plugins.blocks.weights import load_state_file, resolve_weights

#: Keys shown when a weights file does not fit the ViT.
_SHOWN_KEYS = 5


def conv_stem(patch_size: int, width: int, channels: int) -> nn.Sequential:
    """Pixels ``[B, 3, H, W]`` -> ``[B, width, H / patch_size, W / patch_size]`` through convolutions.

    Stride-2 3x3 convolutions (each doubling the channels from ``channels``) while
    a factor of at least 4 of ``patch_size`` remains to cover, then one
    convolution with kernel and stride equal to what is left (Xiao et al. 2021,
    arXiv 2106.14881). A patch size that is not a power of two keeps the rest in
    that last convolution (patch 12: two stride-2 layers, then a stride-3 one).
    """
    layers: list[nn.Module] = []
    remaining, c_in, c_out = patch_size, 3, channels
    while remaining % 2 == 0 and remaining >= 4:
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU()]
        remaining //= 2
        c_in, c_out = c_out, c_out * 2
    layers.append(nn.Conv2d(c_in, width, remaining, stride=remaining))
    return nn.Sequential(*layers)


def build_vit(config: ImageConfig) -> VisionTransformer:
    """The patch encoder: timm's ViT without class token, pooling or head.

    With ``vit.stem: conv`` the patch projection is :func:`conv_stem`; timm's
    ``PatchEmbed`` flattens whatever its ``proj`` returns, so the rest is unchanged.
    """
    v = config.vit
    vit = VisionTransformer(
        img_size=config.input_size,
        patch_size=config.patch_size,
        in_chans=3,
        num_classes=0,
        global_pool="",
        class_token=False,
        embed_dim=v.width,
        depth=v.depth,
        num_heads=v.heads,
    )
    if v.stem == "conv":
        vit.patch_embed.proj = conv_stem(config.patch_size, v.width, v.stem_channels)
    return vit


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


def load_vit_weights(vit: VisionTransformer, spec: str) -> None:
    """Load a timm ViT state dict from a file (see :func:`resolve_weights`) into ``vit``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file does not fit the ViT; the message lists a few missing,
            unexpected and mis-shaped keys and names the file.
    """
    path = resolve_weights(spec)
    state = _adapt(load_state_file(path), vit)
    own = vit.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        f"{k} {list(state[k].shape)} (ViT: {list(own[k].shape)})"
        for k in set(own) & set(state)
        if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape
    )
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", wrong)):
            if keys:
                more = f" and {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
                parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN_KEYS])}{more}")
        raise ValueError(
            f"image.vit.weights={spec!r} ({path}) does not fit the configured ViT "
            f"(width {vit.embed_dim}, depth {len(vit.blocks)}, patch grid {vit.patch_embed.grid_size}): "
            + "; ".join(parts)
        )
    vit.load_state_dict(state, strict=True)


class ImageInputEncoder(nn.Module):
    """Pixel payloads -> one ``d_model`` embedding per patch.

    Each payload is an image segment's features (see
    :class:`~uio.modalities.image.processor.ImageProcessor`). For masked denoising
    a payload's ``"mask"`` is a bool tensor ``[F * N]`` (True: masked): those
    patches' pixels are zeroed before the ViT and a learned mask embedding is added
    to their outputs, so the model can tell a hidden patch from a grey one. The
    core adds the 2D rotary positions; the ViT keeps its own learned ones.

    With ``vit.trainable: false`` the ViT's parameters are frozen and it stays in
    eval mode (as UIO2 freezes its pretrained ViT); the projection and the mask
    embedding always train.
    """

    def __init__(self, config: ImageConfig, ctx: EncoderContext) -> None:
        super().__init__()
        self.input_size = config.input_size
        self.patch_size = config.patch_size
        self.per_side = config.patches_per_side
        self.num_patches = config.num_patches
        self.trainable = config.vit.trainable
        self.vit = build_vit(config)
        if config.vit.weights is not None:
            load_vit_weights(self.vit, config.vit.weights)
        self.proj = nn.Linear(config.vit.width, ctx.d_model)
        self.mask_embedding = nn.Parameter(torch.randn(ctx.d_model) * 0.02)
        if not self.trainable:
            self.vit.requires_grad_(False)
            self.vit.eval()

    def train(self, mode: bool = True) -> ImageInputEncoder:
        """Set training mode; a frozen ViT stays in eval mode (no dropout, fixed statistics)."""
        super().train(mode)
        if not self.trainable:
            self.vit.eval()
        return self

    def _unpack(self, payloads: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor | None]:
        device = self.proj.weight.device
        pixels, masks, any_mask = [], [], False
        for i, payload in enumerate(payloads):
            p = payload["pixels"]
            if p.dim() == 3:
                p = p.unsqueeze(0)
            if p.dim() != 4 or tuple(p.shape[1:]) != (3, self.input_size, self.input_size):
                raise ValueError(
                    f"image payload {i}: pixels of shape {list(p.shape)}; expected "
                    f"[frames, 3, {self.input_size}, {self.input_size}] (image.input_size)"
                )
            mask = payload.get("mask")
            tokens = p.shape[0] * self.num_patches
            if mask is None:
                mask = torch.zeros(tokens, dtype=torch.bool)
            else:
                any_mask = True
                if mask.numel() != tokens:
                    raise ValueError(
                        f"image payload {i}: a mask of {mask.numel()} entries for {tokens} patches"
                    )
            pixels.append(p.to(device, non_blocking=True))
            masks.append(mask.reshape(-1).to(device, dtype=torch.bool, non_blocking=True))
        return torch.cat(pixels), torch.cat(masks) if any_mask else None

    def forward(self, payloads: list[dict[str, Any]]) -> torch.Tensor:
        """``[sum of F * N, d_model]``: every payload's patch embeddings, in order."""
        if not payloads:
            raise ValueError("ImageInputEncoder got no segments to embed")
        pixels, mask = self._unpack(payloads)
        pixels = pixels.to(self.vit.pos_embed.dtype)
        if mask is not None:
            pixels = pixels * ~self._pixel_mask(mask, pixels.shape[0])
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trainable):
            features = self.vit.forward_features(pixels)  # [frames, N, width]
        out = self.proj(features.reshape(-1, features.shape[-1]))
        if mask is not None:
            out = out + mask.unsqueeze(-1).to(out.dtype) * self.mask_embedding.to(out.dtype)
        return out

    def _pixel_mask(self, mask: torch.Tensor, frames: int) -> torch.Tensor:
        """``[frames, 1, S, S]`` bool: the patch mask spread over each patch's pixels."""
        grid = mask.view(frames, 1, self.per_side, self.per_side)
        return grid.repeat_interleave(self.patch_size, dim=2).repeat_interleave(self.patch_size, dim=3)
