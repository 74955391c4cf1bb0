"""RMSNorm and residual-add + RMSNorm as Triton kernels, forward and backward.

One program normalises one row in float32 and writes it in the input dtype, as
:func:`uio.core.kernels.reference.rms_norm` does. The backward uses the usual
RMSNorm gradient (as in Liger-Kernel's ``rms_norm.py``, "llama" casting mode):
with ``x_hat = x * rstd`` and ``g = dy * w``,
``dx = rstd * (g - x_hat * mean(g * x_hat))`` and ``dw = sum_rows(dy * x_hat)``;
the weight gradient is summed per program over a persistent grid and the
partials are added on the host.

The residual variant returns ``(x + residual, rms_norm(x + residual))`` from
one read of each input: the sum is rounded to the input dtype before it is
normalised, as the eager add would round it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from uio.core.kernels._triton import block_size, num_warps, persistent_grid, rows_2d


@triton.jit
def _rms_norm_fwd(
    X, R, S, Y, W, RSTD,
    stride_x, stride_r, stride_s, stride_y,
    n_cols, eps,
    HAS_RESIDUAL: tl.constexpr, BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        r = tl.load(R + row * stride_r + cols, mask=mask, other=0.0).to(tl.float32)
        s = (x + r).to(S.dtype.element_ty)
        tl.store(S + row * stride_s + cols, s, mask=mask)
        x = s.to(tl.float32)
    w = tl.load(W + cols, mask=mask, other=0.0).to(tl.float32)
    rstd = tl.rsqrt(tl.sum(x * x, axis=0) / n_cols + eps)
    tl.store(RSTD + row, rstd)
    tl.store(Y + row * stride_y + cols, (x * rstd * w).to(Y.dtype.element_ty), mask=mask)


@triton.jit
def _rms_norm_bwd(
    DY, DS, DX, X, W, RSTD, DW,
    stride_dy, stride_ds, stride_dx, stride_x,
    n_rows, n_cols,
    ROWS_PER_PROGRAM: tl.constexpr, HAS_DS: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    col_ok = cols < n_cols
    w = tl.load(W + cols, mask=col_ok, other=0.0).to(tl.float32)
    dw = tl.zeros((BLOCK,), dtype=tl.float32)
    for i in range(ROWS_PER_PROGRAM):
        row = (pid * ROWS_PER_PROGRAM + i).to(tl.int64)
        row_ok = row < n_rows
        mask = col_ok & row_ok
        dy = tl.load(DY + row * stride_dy + cols, mask=mask, other=0.0).to(tl.float32)
        x = tl.load(X + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(RSTD + row, mask=row_ok, other=0.0)
        x_hat = x * rstd
        g = dy * w
        dx = rstd * (g - x_hat * (tl.sum(g * x_hat, axis=0) / n_cols))
        if HAS_DS:
            dx += tl.load(DS + row * stride_ds + cols, mask=mask, other=0.0).to(tl.float32)
        dw += dy * x_hat
        tl.store(DX + row * stride_dx + cols, dx.to(DX.dtype.element_ty), mask=mask)
    tl.store(DW + pid * n_cols + cols, dw, mask=col_ok)


def _check_weight(x: torch.Tensor, weight: torch.Tensor) -> None:
    if weight.dim() != 1 or weight.shape[0] != x.shape[-1]:
        raise ValueError(
            f"weight must be [{x.shape[-1]}] (the last dim of x); got {tuple(weight.shape)}"
        )


def _forward(
    x: torch.Tensor, residual: torch.Tensor | None, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(sum or None, normed, rstd)`` of 2D inputs."""
    n_rows, n_cols = x.shape
    block = block_size(n_cols, "the normalised dim")
    y = torch.empty_like(x)
    rstd = torch.empty(n_rows, dtype=torch.float32, device=x.device)
    s = torch.empty_like(x) if residual is not None else None
    r = residual if residual is not None else x
    if n_rows:
        _rms_norm_fwd[(n_rows,)](
            x, r, s if s is not None else x, y, weight, rstd,
            x.stride(0), r.stride(0), s.stride(0) if s is not None else 0, y.stride(0),
            n_cols, eps,
            HAS_RESIDUAL=residual is not None, BLOCK=block, num_warps=num_warps(block),
        )
    return s, y, rstd


def _backward(
    dy: torch.Tensor, ds: torch.Tensor | None, x: torch.Tensor, weight: torch.Tensor,
    rstd: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dx, dweight)`` of 2D tensors; ``x`` was normalised, ``ds`` is added to dx."""
    n_rows, n_cols = x.shape
    block = block_size(n_cols, "the normalised dim")
    dx = torch.empty_like(x)
    programs, per_program = persistent_grid(n_rows, x.device)
    dw = torch.zeros(programs, n_cols, dtype=torch.float32, device=x.device)
    if n_rows:
        _rms_norm_bwd[(programs,)](
            dy, ds if ds is not None else dy, dx, x, weight, rstd, dw,
            dy.stride(0), ds.stride(0) if ds is not None else 0, dx.stride(0), x.stride(0),
            n_rows, n_cols,
            ROWS_PER_PROGRAM=per_program, HAS_DS=ds is not None, BLOCK=block,
            num_warps=num_warps(block),
        )
    return dx, dw.sum(0).to(weight.dtype)


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        x2 = rows_2d(x)
        _, y, rstd = _forward(x2, None, weight, eps)
        ctx.save_for_backward(x2, weight, rstd)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x2, weight, rstd = ctx.saved_tensors
        dx, dw = _backward(rows_2d(dy), None, x2, weight, rstd)
        return dx.view(dy.shape), dw, None


class _AddRMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float):
        ctx.set_materialize_grads(False)
        s, y, rstd = _forward(rows_2d(x), rows_2d(residual), weight, eps)
        ctx.save_for_backward(s, weight, rstd)
        return s.view(x.shape), y.view(x.shape)

    @staticmethod
    def backward(ctx, ds: torch.Tensor | None, dy: torch.Tensor | None):
        s, weight, rstd = ctx.saved_tensors
        shape = (ds if ds is not None else dy).shape
        if dy is None:  # only the sum was used: it passes its gradient through
            return ds, ds, None, None
        dx, dw = _backward(rows_2d(dy), rows_2d(ds) if ds is not None else None, s, weight, rstd)
        dx = dx.view(shape)
        return dx, dx, dw, None


@torch.compiler.disable
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Fused :func:`uio.core.kernels.reference.rms_norm` (``x [..., D]``, ``weight [D]``)."""
    _check_weight(x, weight)
    return _RMSNorm.apply(x, weight, eps)


@torch.compiler.disable
def add_rms_norm(
    x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused :func:`uio.core.kernels.reference.add_rms_norm`.

    Returns ``(x + residual, rms_norm(x + residual))``; inputs of different
    dtypes are promoted first, as ``x + residual`` would.
    """
    if x.shape != residual.shape:
        raise ValueError(
            f"residual must have the shape of x {tuple(x.shape)}; got {tuple(residual.shape)}"
        )
    _check_weight(x, weight)
    dtype = torch.promote_types(x.dtype, residual.dtype)
    return _AddRMSNorm.apply(x.to(dtype), residual.to(dtype), weight, eps)
