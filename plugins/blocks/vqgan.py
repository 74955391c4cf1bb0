"""A small VQ-GAN: convolutional encoder, EMA vector quantizer, decoder, and a
patch discriminator, sized for CPU training and configurable upwards.

The layout follows taming-transformers' VQGAN (Esser et al. 2021, arXiv
2012.09841): residual conv blocks with GroupNorm and SiLU, stride-2
downsampling to a grid of latent vectors, nearest-neighbour upsampling back,
and a PatchGAN discriminator (Isola et al. 2017, arXiv 1611.07004) trained with
the hinge loss. The perceptual (LPIPS) term of the original needs a pretrained
VGG, which uio cannot download; :class:`VQGANLoss` uses L1 plus the patch
adversarial term instead.

Images are ``[B, C, H, W]`` floats in ``[-1, 1]``; the code grid is ``H / 2**num_down``
by ``W / 2**num_down``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio

from uio.plugins.blocks.vector_quantizer import Quantized, VectorQuantizer


def _group_norm(channels: int) -> nn.GroupNorm:
    # About 8 channels per group, at most 32 groups (taming's choice at its widths): one
    # channel per group would be instance norm, which erases flat colours.
    return nn.GroupNorm(math.gcd(channels, max(1, min(32, channels // 8))), channels, eps=1e-6)


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with a 1x1 projection when the width changes."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1),
            _group_norm(out_channels), nn.SiLU(), nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


def _widths(base: int, num_down: int) -> list[int]:
    return [base * min(2**i, 4) for i in range(num_down + 1)]


class ConvEncoder(nn.Module):
    """Pixels ``[B, C, H, W]`` -> latent grid ``[B, latent_dim, H / 2**num_down, W / 2**num_down]``."""

    def __init__(self, in_channels: int, base_channels: int, num_down: int, latent_dim: int) -> None:
        super().__init__()
        widths = _widths(base_channels, num_down)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
        for i in range(num_down):
            layers += [ResidualBlock(widths[i], widths[i + 1]), nn.Conv2d(widths[i + 1], widths[i + 1], 4, 2, 1)]
        layers += [ResidualBlock(widths[-1], widths[-1]), _group_norm(widths[-1]), nn.SiLU()]
        layers.append(nn.Conv2d(widths[-1], latent_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Latent grid -> pixels, mirroring :class:`ConvEncoder` with nearest upsampling."""

    def __init__(self, out_channels: int, base_channels: int, num_down: int, latent_dim: int) -> None:
        super().__init__()
        widths = _widths(base_channels, num_down)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(latent_dim, widths[0], 3, padding=1), ResidualBlock(widths[0], widths[0])]
        for i in range(num_down):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(widths[i], widths[i], 3, padding=1),
                ResidualBlock(widths[i], widths[i + 1]),
            ]
        layers += [_group_norm(widths[-1]), nn.SiLU(), nn.Conv2d(widths[-1], out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass
class VQGANOutput:
    """Reconstruction and the quantizer's report for one batch."""

    reconstruction: torch.Tensor
    quantized: Quantized


class VQGAN(nn.Module):
    """Image <-> grid of code indices."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        base_channels: int = 32,
        num_down: int = 2,
        latent_dim: int = 32,
        codebook_size: int = 512,
        normalize_codes: bool = True,
        ema_decay: float = 0.99,
    ) -> None:
        super().__init__()
        self.num_down = num_down
        self.encoder = ConvEncoder(in_channels, base_channels, num_down, latent_dim)
        self.quantizer = VectorQuantizer(codebook_size, latent_dim, decay=ema_decay, normalize=normalize_codes)
        self.decoder = ConvDecoder(in_channels, base_channels, num_down, latent_dim)

    @property
    def downsample(self) -> int:
        """Pixels per code along each side."""
        return 2**self.num_down

    def _check(self, images: torch.Tensor) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must be [batch, channels, height, width], got shape {tuple(images.shape)}")
        h, w = images.shape[-2:]
        if h % self.downsample or w % self.downsample:
            raise ValueError(f"image height and width must be multiples of {self.downsample}, got {h}x{w}")

    def forward(self, images: torch.Tensor) -> VQGANOutput:
        self._check(images)
        z = self.encoder(images).permute(0, 2, 3, 1)  # channels last for the quantizer
        q = self.quantizer(z)
        reconstruction = self.decoder(q.quantized.permute(0, 3, 1, 2))
        return VQGANOutput(reconstruction, q)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Code indices ``[B, H / downsample, W / downsample]``."""
        self._check(images)
        z = self.encoder(images).permute(0, 2, 3, 1)
        return self.quantizer.nearest(z.reshape(-1, z.shape[-1])).view(z.shape[:-1])

    @torch.no_grad()
    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Images ``[B, C, H, W]`` in about ``[-1, 1]`` from code indices ``[B, h, w]``."""
        if indices.dim() != 3:
            raise ValueError(f"code indices must be [batch, rows, columns], got shape {tuple(indices.shape)}")
        return self.decoder(self.quantizer.lookup(indices).permute(0, 3, 1, 2))


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake logit per overlapping patch."""

    def __init__(self, in_channels: int = 3, base_channels: int = 32, num_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = base_channels
        for _ in range(1, num_layers):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1), _group_norm(width * 2), nn.LeakyReLU(0.2)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class VQGANLoss(nn.Module):
    """L1 reconstruction + commitment + hinge patch-adversarial loss.

    The adversarial term starts after ``adversarial_start`` steps, as
    taming-transformers' ``disc_start``: a discriminator that wins from step
    one gives the autoencoder no useful signal.
    """

    def __init__(self, discriminator: PatchDiscriminator, adversarial_weight: float = 0.1, adversarial_start: int = 0):
        super().__init__()
        self.discriminator = discriminator
        self.adversarial_weight = adversarial_weight
        self.adversarial_start = adversarial_start

    def generator_loss(
        self, images: torch.Tensor, out: VQGANOutput, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The autoencoder's loss and its parts (detached, for logging without a host sync)."""
        l1 = F.l1_loss(out.reconstruction, images)
        loss = l1 + out.quantized.commitment_loss
        parts = {"l1": l1.detach(), "commitment": out.quantized.commitment_loss.detach()}
        if self.adversarial_weight > 0 and step >= self.adversarial_start:
            adversarial = -self.discriminator(out.reconstruction).mean()
            loss = loss + self.adversarial_weight * adversarial
            parts["adversarial"] = adversarial.detach()
        return loss, parts

    def discriminator_loss(self, images: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """Hinge loss on real images and detached reconstructions."""
        real = self.discriminator(images)
        fake = self.discriminator(reconstruction.detach())
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def psnr(reconstruction: torch.Tensor, images: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of images in ``[-1, 1]`` (torchmetrics' PSNR)."""
    return float(peak_signal_noise_ratio(reconstruction.detach().clamp(-1, 1), images, data_range=(-1.0, 1.0)))
