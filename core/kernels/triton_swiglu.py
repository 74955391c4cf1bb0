"""SwiGLU, ``silu(gate) * up``, as Triton kernels, forward and backward.

Elementwise over the flattened inputs, one block per program. Like the eager
``F.silu(gate) * up`` (and Liger-Kernel's ``swiglu.py``), ``silu`` is computed
in float32 and rounded to the input dtype before the product; the backward
recomputes ``silu`` instead of saving it (one activation less kept for
backward). With ``s = sigmoid(gate)``:
``d gate = d out * up * s * (1 + gate * (1 - s))`` and ``d up = d out * silu(gate)``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024
"""Elements per program."""


@triton.jit
def _swiglu_fwd(A, B, C, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(A + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(B + offs, mask=mask, other=0.0).to(tl.float32)
    silu = (a * tl.sigmoid(a)).to(C.dtype.element_ty).to(tl.float32)
    tl.store(C + offs, (silu * b).to(C.dtype.element_ty), mask=mask)


@triton.jit
def _swiglu_bwd(DC, A, B, DA, DB, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    dc = tl.load(DC + offs, mask=mask, other=0.0).to(tl.float32)
    a = tl.load(A + offs, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(B + offs, mask=mask, other=0.0).to(tl.float32)
    sig = tl.sigmoid(a)
    silu = (a * sig).to(DB.dtype.element_ty).to(tl.float32)
    # The eager product rounds d silu to the input dtype before silu's backward.
    dsilu = (dc * b).to(DA.dtype.element_ty).to(tl.float32)
    da = dsilu * sig * (1.0 + a * (1.0 - sig))
    tl.store(DA + offs, da.to(DA.dtype.element_ty), mask=mask)
    tl.store(DB + offs, (dc * silu).to(DB.dtype.element_ty), mask=mask)


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1) if t.is_contiguous() else t.contiguous().view(-1)


class _SwiGLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        a, b = _flat(gate), _flat(up)
        c = torch.empty_like(a)
        if a.numel():
            _swiglu_fwd[(triton.cdiv(a.numel(), BLOCK),)](a, b, c, a.numel(), BLOCK=BLOCK)
        ctx.save_for_backward(a, b)
        return c.view(gate.shape)

    @staticmethod
    def backward(ctx, dc: torch.Tensor):
        a, b = ctx.saved_tensors
        dc_flat = _flat(dc)
        da, db = torch.empty_like(a), torch.empty_like(b)
        if a.numel():
            _swiglu_bwd[(triton.cdiv(a.numel(), BLOCK),)](
                dc_flat, a, b, da, db, a.numel(), BLOCK=BLOCK
            )
        return da.view(dc.shape), db.view(dc.shape)


@torch.compiler.disable
def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Fused :func:`uio.core.kernels.reference.swiglu` (``gate`` and ``up`` of one shape).

    Inputs of different dtypes are promoted first.
    """
    if gate.shape != up.shape:
        raise ValueError(
            f"up must have the shape of gate {tuple(gate.shape)}; got {tuple(up.shape)}"
        )
    if gate.dtype != up.dtype:
        dtype = torch.promote_types(gate.dtype, up.dtype)
        gate, up = gate.to(dtype), up.to(dtype)
    return _SwiGLU.apply(gate, up)
