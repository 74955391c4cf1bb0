"""Eager PyTorch references of every op that has (or will have) a fused kernel.

These are the ground truth the fused kernels are tested against, and the path
that runs on CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm computed in float32, returned in the input dtype.

    ``x * rsqrt(mean(x^2) + eps) * weight``; torch's own op computes exactly that
    with fewer dispatches, which matters for one-token decoding steps.
    """
    return F.rms_norm(x.float(), (x.shape[-1],), weight.float(), eps).to(x.dtype)


def add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x + residual, rms_norm(x + residual))``: a residual add and the next pre-norm."""
    total = x + residual
    return total, rms_norm(total, weight, eps)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """SiLU(gate) * up (Shazeer, arXiv 2002.05202)."""
    return F.silu(gate) * up


def rotary_tables(
    positions: torch.Tensor, head_dim: int, base: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables ``[..., L, head_dim/2]`` for 2D rotary positions ``[..., L, 2]``.

    Half of each head's rotating pairs follow the row, half the column (UIO2's 2D
    rotary); a 1D position ``i`` is given as ``(i, i)``.
    """
    pairs = head_dim // 2
    per_axis = pairs // 2
    inv_freq = 1.0 / (
        base ** (torch.arange(0, per_axis, device=positions.device, dtype=torch.float32) / per_axis)
    )
    rows = positions[..., 0:1].float() * inv_freq
    cols = positions[..., 1:2].float() * inv_freq
    angles = torch.cat([rows, cols], dim=-1)
    if angles.shape[-1] < pairs:  # odd number of pairs: last pair does not rotate
        pad = torch.zeros(*angles.shape[:-1], pairs - angles.shape[-1], device=angles.device)
        angles = torch.cat([angles, pad], dim=-1)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [B, H, L, Dh]`` by tables ``[B, L, Dh/2]`` (rotate-half layout)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()
    c, s = cos.unsqueeze(1), sin.unsqueeze(1)
    # addcmul: one op fewer per half than mul-then-add (small decoding steps are op-bound).
    out = torch.cat([torch.addcmul(x1 * c, x2, s, value=-1), torch.addcmul(x2 * c, x1, s)], dim=-1)
    return out.to(x.dtype)


def qk_norm_rotary(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """QK-norm then rotary: RMSNorm of ``x [B, H, L, Dh]`` over Dh, rotated by ``cos``/``sin``."""
    return apply_rotary(rms_norm(x, weight, eps), cos, sin)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    float32_logits: bool = True,
) -> torch.Tensor:
    """SDPA with a boolean mask (True = may attend); logits in float32 if asked (UIO2)."""
    dtype = v.dtype
    if float32_logits:
        q, k, v = q.float(), k.float(), v.float()
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    return out.to(dtype)


def attention_math(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    float32_logits: bool = True,
) -> torch.Tensor:
    """Attention written out (matmul, mask, softmax): the reference SDPA is checked against."""
    dtype = v.dtype
    if float32_logits:
        q, k, v = q.float(), k.float(), v.float()
    logits = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    return (logits.softmax(-1) @ v).to(dtype)


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    logit_scale: float = 1.0,
    z_loss: float = 0.0,
    ignore_index: int = -100,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and mean z-loss of ``(hidden @ weight.T) * logit_scale``.

    z-loss is ``log(Z)^2`` of the output softmax (PaLM, arXiv 2204.02311; UIO2 uses
    1e-4). Materialises the full logits: the fused kernel exists to avoid that.
    Returns ``(ce, z)``, both already averaged over non-ignored tokens.
    """
    keep = labels != ignore_index
    h = hidden[keep]
    y = labels[keep]
    if y.numel() == 0:
        zero = hidden.sum() * 0.0
        return zero, zero
    logits = (h @ weight.t()).float() * logit_scale
    ce = F.cross_entropy(logits, y)
    z = torch.logsumexp(logits, dim=-1).pow(2).mean() * z_loss
    return ce, z
