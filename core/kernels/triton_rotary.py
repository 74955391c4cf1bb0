"""QK-norm + rotary (and rotary alone) as Triton kernels, forward and backward.

One program handles one token: it reads the token's cos/sin row once and
applies it to every head, as Liger-Kernel's ``rope.py`` does. With a norm
weight, each head is first RMS-normalised over its head dim (UIO2's QK-norm),
so queries and keys take one read and one write instead of four of each.

Rotate-half layout: ``y1 = x1 cos - x2 sin``, ``y2 = x1 sin + x2 cos`` for the
two halves of a head; the backward applies the transposed rotation, then the
RMSNorm gradient (see :mod:`uio.core.kernels.triton_rms_norm`). The normalised
value is rounded to the input dtype before it is rotated, and its gradient
before it is normalised back, where the eager ``apply_rotary(rms_norm(x))``
rounds them. Cos/sin are tables, not trained: they get no gradient.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from uio.core.kernels._triton import block_size, num_warps, persistent_grid


@triton.jit
def _rotary_fwd(
    X, Y, W, COS, SIN,
    sx_b, sx_h, sx_l, sy_b, sy_h, sy_l, sc_b, sc_l,
    seq_len, n_heads, half, eps,
    HAS_NORM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr,
):
    token = tl.program_id(0).to(tl.int64)
    b = token // seq_len
    pos = token % seq_len
    heads = tl.arange(0, BLOCK_H).to(tl.int64)[:, None]
    cols = tl.arange(0, BLOCK_D)[None, :]
    col_ok = cols < half
    mask = (heads < n_heads) & col_ok
    c = tl.load(COS + b * sc_b + pos * sc_l + cols, mask=col_ok, other=0.0).to(tl.float32)
    s = tl.load(SIN + b * sc_b + pos * sc_l + cols, mask=col_ok, other=0.0).to(tl.float32)
    x_ptr = X + b * sx_b + pos * sx_l + heads * sx_h + cols
    x1 = tl.load(x_ptr, mask=mask, other=0.0).to(tl.float32)
    x2 = tl.load(x_ptr + half, mask=mask, other=0.0).to(tl.float32)
    if HAS_NORM:
        w1 = tl.load(W + cols, mask=col_ok, other=0.0).to(tl.float32)
        w2 = tl.load(W + half + cols, mask=col_ok, other=0.0).to(tl.float32)
        sq = tl.sum(x1 * x1, axis=1) + tl.sum(x2 * x2, axis=1)
        rstd = tl.rsqrt(sq / (2 * half) + eps)[:, None]
        x1 = (x1 * rstd * w1).to(Y.dtype.element_ty).to(tl.float32)
        x2 = (x2 * rstd * w2).to(Y.dtype.element_ty).to(tl.float32)
    y_ptr = Y + b * sy_b + pos * sy_l + heads * sy_h + cols
    tl.store(y_ptr, (x1 * c - x2 * s).to(Y.dtype.element_ty), mask=mask)
    tl.store(y_ptr + half, (x1 * s + x2 * c).to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _rotary_bwd(
    DY, DX, X, W, COS, SIN, DW,
    sdy_b, sdy_h, sdy_l, sdx_b, sdx_h, sdx_l, sx_b, sx_h, sx_l, sc_b, sc_l,
    n_tokens, seq_len, n_heads, half, eps,
    TOKENS_PER_PROGRAM: tl.constexpr, HAS_NORM: tl.constexpr,
    BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    heads = tl.arange(0, BLOCK_H).to(tl.int64)[:, None]
    cols = tl.arange(0, BLOCK_D)[None, :]
    col_ok = cols < half
    head_ok = (heads < n_heads) & col_ok
    if HAS_NORM:
        w1 = tl.load(W + cols, mask=col_ok, other=0.0).to(tl.float32)
        w2 = tl.load(W + half + cols, mask=col_ok, other=0.0).to(tl.float32)
    dw1 = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dw2 = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for i in range(TOKENS_PER_PROGRAM):
        token = (pid * TOKENS_PER_PROGRAM + i).to(tl.int64)
        ok = token < n_tokens
        b = token // seq_len
        pos = token % seq_len
        mask = head_ok & ok
        c = tl.load(COS + b * sc_b + pos * sc_l + cols, mask=col_ok & ok, other=0.0).to(tl.float32)
        s = tl.load(SIN + b * sc_b + pos * sc_l + cols, mask=col_ok & ok, other=0.0).to(tl.float32)
        dy_ptr = DY + b * sdy_b + pos * sdy_l + heads * sdy_h + cols
        dy1 = tl.load(dy_ptr, mask=mask, other=0.0).to(tl.float32)
        dy2 = tl.load(dy_ptr + half, mask=mask, other=0.0).to(tl.float32)
        g1 = dy1 * c + dy2 * s  # the transposed rotation
        g2 = dy2 * c - dy1 * s
        if HAS_NORM:
            g1 = g1.to(DX.dtype.element_ty).to(tl.float32)
            g2 = g2.to(DX.dtype.element_ty).to(tl.float32)
            x_ptr = X + b * sx_b + pos * sx_l + heads * sx_h + cols
            x1 = tl.load(x_ptr, mask=mask, other=0.0).to(tl.float32)
            x2 = tl.load(x_ptr + half, mask=mask, other=0.0).to(tl.float32)
            sq = tl.sum(x1 * x1, axis=1) + tl.sum(x2 * x2, axis=1)
            rstd = tl.rsqrt(sq / (2 * half) + eps)[:, None]
            xh1 = x1 * rstd
            xh2 = x2 * rstd
            dw1 += tl.sum(g1 * xh1, axis=0)
            dw2 += tl.sum(g2 * xh2, axis=0)
            gw1 = g1 * w1
            gw2 = g2 * w2
            dot = (tl.sum(gw1 * xh1, axis=1) + tl.sum(gw2 * xh2, axis=1)) / (2 * half)
            g1 = rstd * (gw1 - xh1 * dot[:, None])
            g2 = rstd * (gw2 - xh2 * dot[:, None])
        dx_ptr = DX + b * sdx_b + pos * sdx_l + heads * sdx_h + cols
        tl.store(dx_ptr, g1.to(DX.dtype.element_ty), mask=mask)
        tl.store(dx_ptr + half, g2.to(DX.dtype.element_ty), mask=mask)
    if HAS_NORM:
        dcols = tl.arange(0, BLOCK_D)
        tl.store(DW + pid * 2 * half + dcols, dw1, mask=dcols < half)
        tl.store(DW + pid * 2 * half + half + dcols, dw2, mask=dcols < half)


def _check(
    x: torch.Tensor, weight: torch.Tensor | None, cos: torch.Tensor, sin: torch.Tensor
) -> None:
    if x.dim() != 4 or x.shape[-1] % 2:
        raise ValueError(f"x must be [B, H, L, Dh] with an even Dh; got {tuple(x.shape)}")
    b, _, length, head_dim = x.shape
    for name, table in (("cos", cos), ("sin", sin)):
        fits = table.dim() == 3 and table.shape[0] in (1, b)
        if not fits or table.shape[1:] != (length, head_dim // 2):
            raise ValueError(
                f"{name} must be [{b} or 1, {length}, {head_dim // 2}] for x {tuple(x.shape)}; "
                f"got {tuple(table.shape)}"
            )
    if weight is not None and (weight.dim() != 1 or weight.shape[0] != head_dim):
        raise ValueError(f"weight must be [{head_dim}] (the head dim); got {tuple(weight.shape)}")


def _unit_last(t: torch.Tensor) -> torch.Tensor:
    return t if t.stride(-1) == 1 else t.contiguous()


class _Rotary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps, cos, sin):
        x = _unit_last(x)
        b, heads, length, head_dim = x.shape
        cos, sin = cos.contiguous(), sin.contiguous()
        # Batch stride 0: one table serves every row of the batch.
        sc_b, sc_l = (cos.stride(0) if cos.shape[0] > 1 else 0), cos.stride(1)
        y = torch.empty_like(x)
        block_h = block_size(heads, "the head count")
        block_d = block_size(head_dim // 2, "half the head dim")
        if x.numel():
            _rotary_fwd[(b * length,)](
                x, y, weight if weight is not None else x, cos, sin,
                x.stride(0), x.stride(1), x.stride(2), y.stride(0), y.stride(1), y.stride(2),
                sc_b, sc_l, length, heads, head_dim // 2, eps,
                HAS_NORM=weight is not None, BLOCK_H=block_h, BLOCK_D=block_d,
                num_warps=num_warps(block_h * block_d),
            )
        ctx.has_norm = weight is not None
        ctx.eps = eps
        ctx.table_strides = (sc_b, sc_l)
        ctx.save_for_backward(x, weight, cos, sin)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, cos, sin = ctx.saved_tensors
        dy = _unit_last(dy)
        b, heads, length, head_dim = x.shape
        half = head_dim // 2
        dx = torch.empty_like(x)
        programs, per_program = persistent_grid(b * length, x.device)
        dw = torch.zeros(programs, head_dim, dtype=torch.float32, device=x.device)
        block_h = block_size(heads, "the head count")
        block_d = block_size(half, "half the head dim")
        if x.numel():
            _rotary_bwd[(programs,)](
                dy, dx, x, weight if weight is not None else x, cos, sin, dw,
                dy.stride(0), dy.stride(1), dy.stride(2), dx.stride(0), dx.stride(1), dx.stride(2),
                x.stride(0), x.stride(1), x.stride(2), *ctx.table_strides,
                b * length, length, heads, half, ctx.eps,
                TOKENS_PER_PROGRAM=per_program, HAS_NORM=ctx.has_norm,
                BLOCK_H=block_h, BLOCK_D=block_d, num_warps=num_warps(block_h * block_d),
            )
        dweight = dw.sum(0).to(weight.dtype) if ctx.has_norm else None
        return dx, dweight, None, None, None


@torch.compiler.disable
def qk_norm_rotary(
    x: torch.Tensor, weight: torch.Tensor, eps: float, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """Fused :func:`uio.core.kernels.reference.qk_norm_rotary`: RMSNorm over Dh, then rotary.

    ``x [B, H, L, Dh]`` (any strides with a unit last one), ``weight [Dh]``,
    ``cos``/``sin`` ``[B or 1, L, Dh/2]``. Returns ``[B, H, L, Dh]`` in x's dtype.
    """
    _check(x, weight, cos, sin)
    return _Rotary.apply(x, weight, eps, cos, sin)


@torch.compiler.disable
def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Fused :func:`uio.core.kernels.reference.apply_rotary` (no norm)."""
    _check(x, None, cos, sin)
    return _Rotary.apply(x, None, 0.0, cos, sin)
