"""The per-chunk part of the chunked linear cross-entropy as one Triton kernel.

:mod:`uio.core.kernels.chunked_cross_entropy` computes a chunk of float32 logits
with a matmul; this kernel then does, one row per program, what takes six
passes over the chunk in PyTorch (scale, logsumexp, gather, subtract, exp,
scale, scatter): an online-softmax pass for ``logsumexp`` (Milakov & Gimelshein,
arXiv 1805.02867) and one pass that overwrites the logits with their gradient,
as Liger-Kernel's ``cross_entropy.py`` does (arXiv 2410.10989).

Per row with label ``y`` (ignored rows get zero): ``ce = lse - x_y`` and the
gradient of ``(ce_w * ce + z_w * z_loss * lse^2) / count`` with respect to the
unscaled logits, ``scale * ((ce_w + 2 z_w z_loss lse) softmax - ce_w onehot(y)) / count``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from uio.core.kernels._triton import num_warps

BLOCK = 4096
"""Columns per loop step (at most); rows of any width are walked in steps of this many."""


@triton.jit
def _ce_rows(
    LOGITS, LABELS, COUNT, WEIGHTS, CE, LSE,
    stride, n_cols, ignore_index, logit_scale, z_loss,
    WRITE_GRAD: tl.constexpr, BLOCK: tl.constexpr, N_BLOCKS: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    base = LOGITS + row * stride
    label = tl.load(LABELS + row)
    keep = label != ignore_index
    safe = tl.where(keep, label, 0)
    m = -float("inf")
    s = 0.0
    for i in range(N_BLOCKS):
        cols = i * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=-float("inf")).to(tl.float32) * logit_scale
        m_new = tl.maximum(m, tl.max(x, axis=0))
        s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    lse = m + tl.log(s)
    target = tl.load(base + safe).to(tl.float32) * logit_scale
    kept = keep.to(tl.float32)
    tl.store(CE + row, (lse - target) * kept)
    tl.store(LSE + row, lse)
    if WRITE_GRAD:
        ce_w = tl.load(WEIGHTS)
        z_w = tl.load(WEIGHTS + 1)
        per_row = kept * logit_scale / tl.load(COUNT)
        soft = (ce_w + 2.0 * z_w * z_loss * lse) * per_row
        for i in range(N_BLOCKS):
            cols = i * BLOCK + tl.arange(0, BLOCK)
            mask = cols < n_cols
            x = tl.load(base + cols, mask=mask, other=0.0).to(tl.float32) * logit_scale
            g = tl.exp(x - lse) * soft
            g = tl.where(cols == safe, g - ce_w * per_row, g)
            tl.store(base + cols, g, mask=mask)


def ce_rows(
    logits: torch.Tensor,
    labels: torch.Tensor,
    count: torch.Tensor,
    weights: torch.Tensor,
    *,
    logit_scale: float,
    z_loss: float,
    ignore_index: int,
    write_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row ``(ce, lse)`` of unscaled float32 ``logits [c, V]``; with ``write_grad`` the
    logits are overwritten by their gradient (see the module docstring).

    ``count`` is the number of kept rows (a float32 scalar tensor) and ``weights`` the
    float32 pair ``(ce_w, z_w)``, both on the device, so nothing waits for the host.
    """
    if logits.dtype != torch.float32 or logits.dim() != 2 or logits.stride(1) != 1:
        raise ValueError(
            f"logits must be float32 [rows, vocab] with unit column stride; got "
            f"{logits.dtype} {tuple(logits.shape)} strides {logits.stride()}"
        )
    rows, vocab = logits.shape
    if labels.shape != (rows,):
        raise ValueError(f"labels must be [{rows}]; got {tuple(labels.shape)}")
    ce = torch.empty(rows, device=logits.device, dtype=torch.float32)
    lse = torch.empty_like(ce)
    if rows:
        block = min(BLOCK, triton.next_power_of_2(vocab))
        # The block count is a compile-time constant (one specialisation per vocabulary
        # size): Triton 3.6's interpreter cannot loop to a bound known only at run time.
        _ce_rows[(rows,)](
            logits, labels.contiguous(), count, weights, ce, lse,
            logits.stride(0), vocab, ignore_index, logit_scale, z_loss,
            WRITE_GRAD=write_grad, BLOCK=block, N_BLOCKS=triton.cdiv(vocab, block),
            num_warps=num_warps(block),
        )
    return ce, lse
