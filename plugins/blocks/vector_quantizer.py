"""A vector quantizer with EMA codebook updates and dead-code restarts.

The codebook is learned as exponential moving averages of the vectors assigned
to each code (VQ-VAE-2, Razavi et al. 2019, arXiv 1906.00446, app. A; decay
0.99), not by gradients; only the commitment loss ``beta * ||z - sg(q)||^2``
(VQ-VAE, van den Oord et al. 2017, arXiv 1711.00937; beta 0.25) reaches the
encoder, and the straight-through estimator carries the decoder's gradient past
the quantisation. Codes whose usage falls below ``dead_code_threshold`` are
restarted on vectors of the current batch, as Jukebox (Dhariwal et al. 2020,
arXiv 2005.00341, sec. 3.2) and SoundStream do, so that the codebook stays in
use. ``normalize=True`` compares l2-normalised vectors (ViT-VQGAN, Yu et al.
2021, arXiv 2110.04627, sec. 3.2), which also helps codebook usage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Quantized:
    """What :meth:`VectorQuantizer.forward` returns.

    Attributes:
        quantized: codes in the input's shape, with straight-through gradients.
        indices: code index per vector, the input's shape without the last dim.
        commitment_loss: ``beta * mean ||z - sg(q)||^2``, a scalar.
        perplexity: ``exp`` of the entropy of this batch's code histogram.
        usage: share of the codebook used in this batch.
    """

    quantized: torch.Tensor
    indices: torch.Tensor
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor


class VectorQuantizer(nn.Module):
    """Nearest-code quantisation of ``[..., dim]`` vectors into ``codebook_size`` codes.

    ``dead_code_threshold`` is in vectors per batch: a code whose moving average
    of assignments falls below it is restarted (Jukebox restarts below 1.0). A
    restart happens in training mode only and draws from the global torch RNG.
    """

    def __init__(
        self,
        codebook_size: int,
        dim: int,
        *,
        decay: float = 0.99,
        beta: float = 0.25,
        dead_code_threshold: float = 1.0,
        normalize: bool = False,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if codebook_size < 2:
            raise ValueError(f"codebook_size must be at least 2, got {codebook_size}")
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.codebook_size = codebook_size
        self.dim = dim
        self.decay = decay
        self.beta = beta
        self.dead_code_threshold = dead_code_threshold
        self.normalize = normalize
        self.eps = eps
        codes = torch.randn(codebook_size, dim)
        self.register_buffer("codebook", self._norm(codes))
        # EMA state: how often each code was chosen, and the sum of its vectors.
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("code_sum", self.codebook.clone())

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) if self.normalize else x

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``flat`` ``[n, dim]``."""
        return self._nearest_normed(self._norm(flat))

    def _nearest_normed(self, flat: torch.Tensor) -> torch.Tensor:
        distances = (
            flat.pow(2).sum(1, keepdim=True)
            - 2 * flat @ self.codebook.t()
            + self.codebook.pow(2).sum(1)[None]
        )
        return distances.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codes for indices of any shape: ``[..., dim]``."""
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.codebook_size):
            raise ValueError(
                f"code indices must be in [0, {self.codebook_size}), "
                f"got {int(indices.min())}..{int(indices.max())}"
            )
        return F.embedding(indices, self.codebook)

    def forward(self, z: torch.Tensor) -> Quantized:
        if z.shape[-1] != self.dim:
            raise ValueError(f"expected vectors of size {self.dim} in the last dim, got {tuple(z.shape)}")
        flat = self._norm(z.reshape(-1, self.dim).detach().float())
        indices = self._nearest_normed(flat)
        counts = torch.bincount(indices, minlength=self.codebook_size).float()
        if self.training:
            self._ema_update(flat, indices, counts)
        target = self._norm(z)
        # In range by construction: no validating lookup (and its host sync) per step.
        codes = F.embedding(indices, self.codebook).view(target.shape).to(z.dtype)
        commitment = self.beta * F.mse_loss(target, codes.detach())
        quantized = target + (codes - target).detach()  # straight-through estimator
        probs = counts / counts.sum().clamp(min=1)
        entropy = -(probs * torch.log(probs.clamp(min=1e-10))).sum()
        return Quantized(
            quantized=quantized,
            indices=indices.view(z.shape[:-1]),
            commitment_loss=commitment,
            perplexity=entropy.exp(),
            usage=(counts > 0).float().mean(),
        )

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, indices: torch.Tensor, counts: torch.Tensor) -> None:
        sums = torch.zeros_like(self.code_sum).index_add_(0, indices, flat)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.code_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        # Laplace smoothing keeps rarely used codes from dividing by ~0 (VQ-VAE-2's EMA).
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (total + self.codebook_size * self.eps) * total
        self.codebook.copy_(self._norm(self.code_sum / smoothed[:, None]))
        self._restart_dead_codes(flat)

    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        dead = self.cluster_size < self.dead_code_threshold
        n_dead = int(dead.sum())
        if n_dead == 0 or flat.shape[0] == 0:
            return
        picks = torch.randint(flat.shape[0], (n_dead,), device=flat.device)
        fresh = flat[picks]
        self.codebook[dead] = self._norm(fresh)
        self.code_sum[dead] = fresh
        self.cluster_size[dead] = 1.0
