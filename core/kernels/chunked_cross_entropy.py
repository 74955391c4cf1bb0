"""Linear + cross-entropy + z-loss over row chunks, never holding logits for every row.

The approach of Liger-Kernel's fused linear cross-entropy (Hsu et al., arXiv
2410.10989, sec. 3.2): the rows are processed ``chunk_rows`` at a time; for each
chunk the forward computes the float32 logits, the losses, and right away the
gradient of the hidden chunk and its share of the weight gradient, then drops
the logits. Peak memory is O(chunk_rows x V) instead of O(N x V); the backward
only scales the stored gradients. The matmuls and the loop are PyTorch, so it
runs on every device; where Triton runs (CUDA, or its interpreter) each chunk's
softmax and gradient are one kernel (:mod:`uio.core.kernels.triton_cross_entropy`),
elsewhere a few PyTorch ops (:func:`ce_rows_torch`).

Gradients are stored for ``ce + z`` (what the trunk trains on). The two losses
are still separate outputs: if a backward reaches them with different
gradients (one of them unused, or weighted), the stored gradients do not apply
and the backward recomputes the chunked pass with those weights, so the result
is exact either way. Telling the cases apart reads the two incoming gradients
(one host sync per backward), which ``torch.compile`` cannot trace, so under a
compiled caller this op runs eagerly, behind one graph break.
"""

from __future__ import annotations

import functools

import torch

DEFAULT_CHUNK_BYTES = 32 * 2**20
"""Float32 logits per chunk, in bytes (a few such buffers are alive at once)."""


def chunk_rows_for(vocab_size: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Rows per chunk so that one chunk's float32 logits take about ``chunk_bytes``."""
    return max(1, chunk_bytes // (4 * vocab_size))


@torch.compiler.disable  # see the module docstring
def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    logit_scale: float = 1.0,
    z_loss: float = 0.0,
    ignore_index: int = -100,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and mean z-loss of ``(hidden @ weight.T) * logit_scale``, chunked.

    Same values and gradients as :func:`uio.core.kernels.reference.linear_cross_entropy`
    (up to float rounding). ``hidden [N, d]``, ``weight [V, d]``, ``labels [N]``;
    ``chunk_rows`` defaults to :func:`chunk_rows_for` of the vocabulary size.
    Returns ``(ce, z)`` in float32, both averaged over non-ignored rows (zero,
    with zero gradients, when every row is ignored).
    """
    if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(
            f"hidden must be [N, d] and weight [V, d]; got hidden {tuple(hidden.shape)}, "
            f"weight {tuple(weight.shape)}"
        )
    if labels.shape != hidden.shape[:1]:
        raise ValueError(f"labels must be [N] = [{hidden.shape[0]}]; got {tuple(labels.shape)}")
    if chunk_rows is None:
        chunk_rows = chunk_rows_for(weight.shape[0])
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive; got {chunk_rows}")
    return _ChunkedLinearCrossEntropy.apply(
        hidden, weight, labels, float(logit_scale), float(z_loss), int(ignore_index), int(chunk_rows)
    )


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, labels, logit_scale, z_loss, ignore_index, chunk_rows):
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        ce, z, grad_h, grad_w = _chunked_pass(
            hidden, weight, labels, logit_scale, z_loss, ignore_index, chunk_rows,
            ce_weight=1.0, z_weight=1.0, needs=needs,
        )
        ctx.save_for_backward(hidden, weight, labels, grad_h, grad_w)
        ctx.options = (logit_scale, z_loss, ignore_index, chunk_rows)
        return ce, z

    @staticmethod
    def backward(ctx, grad_ce, grad_z):
        hidden, weight, labels, grad_h, grad_w = ctx.saved_tensors
        if torch.equal(grad_ce, grad_z):
            # The usual case, loss = ce + z: what the forward stored, scaled unless the
            # scale is 1 (not in place: a retained graph may run this backward again).
            if not torch.equal(grad_ce, torch.ones_like(grad_ce)):
                grad_h = grad_h * grad_ce.to(grad_h.dtype) if grad_h is not None else None
                grad_w = grad_w * grad_ce.to(grad_w.dtype) if grad_w is not None else None
        else:
            _, _, grad_h, grad_w = _chunked_pass(
                hidden, weight, labels, *ctx.options,
                ce_weight=grad_ce, z_weight=grad_z, needs=ctx.needs_input_grad[:2],
            )
        return grad_h, grad_w, None, None, None, None, None


def _chunked_pass(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: float,
    z_loss: float,
    ignore_index: int,
    chunk_rows: int,
    *,
    ce_weight: float | torch.Tensor,
    z_weight: float | torch.Tensor,
    needs: tuple[bool, bool],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Both losses, and the gradients of ``ce_weight * ce + z_weight * z`` that ``needs`` asks for."""
    device = hidden.device
    dtype = _compute_dtype(hidden)
    n, vocab = hidden.shape[0], weight.shape[0]
    keep = labels != ignore_index
    # Clamped so that an all-ignored batch gives 0 / 1 = 0, with zero gradients.
    count = keep.sum().clamp(min=1).to(torch.float32)
    weights = torch.stack([torch.as_tensor(w, dtype=torch.float32, device=device) for w in (ce_weight, z_weight)])
    write_grad = needs[0] or needs[1]
    rows = _row_function(device.type)
    ce_sum = torch.zeros((), device=device, dtype=torch.float32)
    lse_sq_sum = torch.zeros((), device=device, dtype=torch.float32)
    grad_h = torch.empty_like(hidden) if needs[0] else None
    grad_w = torch.zeros(vocab, weight.shape[1], device=device, dtype=torch.float32) if needs[1] else None
    with torch.autocast(device.type, enabled=False):
        w = weight.to(dtype)
        for start in range(0, n, chunk_rows):
            end = min(start + chunk_rows, n)
            h = hidden[start:end].to(dtype)
            logits = (h @ w.t()).float()
            ce_rows, lse = rows(
                logits, labels[start:end], count, weights, logit_scale=logit_scale, z_loss=z_loss,
                ignore_index=ignore_index, write_grad=write_grad,
            )
            ce_sum = ce_sum + ce_rows.sum()
            lse_sq_sum = lse_sq_sum + (lse.square() * (labels[start:end] != ignore_index)).sum()
            if not write_grad:
                continue
            grad = logits.to(dtype)  # the logits buffer now holds their gradient
            if grad_h is not None:
                grad_h[start:end] = grad @ w
            if grad_w is not None:
                if dtype == torch.float32:
                    grad_w.addmm_(grad.t(), h)
                else:
                    grad_w.add_(grad.t() @ h)
    ce = ce_sum / count
    z = lse_sq_sum / count * z_loss
    if grad_w is not None:
        grad_w = grad_w.to(weight.dtype)
    return ce, z, grad_h, grad_w


def ce_rows_torch(
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
    logits are overwritten by their gradient. The contract of
    :func:`uio.core.kernels.triton_cross_entropy.ce_rows`, in PyTorch ops.
    """
    keep = labels != ignore_index
    safe = torch.where(keep, labels, torch.zeros_like(labels)).unsqueeze(1)
    kept = keep.to(torch.float32)
    logits.mul_(logit_scale)
    lse = torch.logsumexp(logits, dim=-1)
    ce = (lse - logits.gather(1, safe).squeeze(1)) * kept
    if write_grad:
        # d/dlogits of (ce_w * CE + z_w * z_loss * lse^2) / count, per row:
        # (ce_w + 2 z_w z_loss lse) softmax - ce_w onehot (PaLM's z-loss, arXiv
        # 2204.02311); logit_scale folds in for the matmuls that follow.
        ce_w, z_w = weights[0], weights[1]
        per_row = kept * logit_scale / count
        soft = (ce_w + 2.0 * z_w * z_loss * lse) * per_row
        logits.sub_(lse.unsqueeze(1)).exp_().mul_(soft.unsqueeze(1))
        logits.scatter_add_(1, safe, (-ce_w * per_row).unsqueeze(1))
    return ce, lse


def _row_function(device_type: str):
    """The Triton row kernel where it runs (CUDA, or its interpreter), else PyTorch ops."""
    triton_rows = _triton_rows()
    if triton_rows is not None and triton_rows[0](device_type):
        return triton_rows[1]
    return ce_rows_torch


@functools.cache
def _triton_rows():
    try:
        from uio.core.kernels import _triton, triton_cross_entropy
    except Exception:  # no triton, or a broken one: the PyTorch rows still run
        return None
    return _triton.available, triton_cross_entropy.ce_rows


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    """The matmul dtype: autocast's when it is on (as the reference's matmul would get)."""
    kind = hidden.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return hidden.dtype
