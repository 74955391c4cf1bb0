"""Block-diagonal attention over packed rows through FlexAttention.

FlexAttention (``torch.nn.attention.flex_attention``, Dong et al., arXiv
2412.05496) takes a ``BlockMask``: which (query block, key block) tiles hold any
visible pair. Packed rows are block-diagonal, so most tiles are empty and are
skipped, where SDPA with a dense boolean mask computes every one of them. The
mask is built once per batch from segment ids (:func:`segment_block_mask`) and
reused by every layer.

Where it runs (torch 2.11): on CUDA compiled (the fused Triton kernel). On CPU
it has no backward, so it cannot train there, and ``attention_backend: auto``
picks it on CUDA only. Forced (``flex``) on CPU it runs eagerly (unfused, about
10x slower than SDPA) and serves to check it against SDPA; compiled, its CPU
forward beat dense SDPA only from about 2k packed tokens a row
(``benchmarks/attention.py``).
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import torch

try:
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask
    from torch.nn.attention.flex_attention import flex_attention as _flex_attention
except ImportError:  # torch < 2.5
    BlockMask = None
    _IMPORT_ERROR = "torch.nn.attention.flex_attention is missing (torch >= 2.5 has it)"
else:
    _IMPORT_ERROR = None

Backend = Literal["flex", "sdpa", "eager"]


def unavailable_reason(device_type: str) -> str | None:
    """Why ``attention_backend: auto`` does not pick FlexAttention on ``device_type``, or None."""
    if _IMPORT_ERROR is not None:
        return _IMPORT_ERROR
    if device_type != "cuda":
        return f"FlexAttention has no backward on {device_type!r} (torch {torch.__version__})"
    return None


def pick_backend(requested: str, kernels: str, device_type: str) -> Backend:
    """The attention backend for a ``model.attention_backend`` value on a device.

    ``auto`` is FlexAttention where it runs fused (CUDA) unless ``model.kernels``
    is ``eager``, else SDPA with a dense mask.
    """
    if requested == "auto":
        fused = kernels != "eager" and unavailable_reason(device_type) is None
        return "flex" if fused else "sdpa"
    if requested not in ("flex", "sdpa", "eager"):
        raise ValueError(f"attention_backend must be auto, flex, sdpa or eager; got {requested!r}")
    if requested == "flex" and _IMPORT_ERROR is not None:
        raise RuntimeError(f"attention_backend is flex but {_IMPORT_ERROR}")
    return requested


@torch.compiler.disable
def segment_block_mask(q_segments: torch.Tensor, k_segments: torch.Tensor, causal: bool) -> BlockMask:
    """The ``BlockMask`` of :func:`uio.core.masks.block_mask` for ``[B, Lq]`` / ``[B, Lk]`` ids.

    Same rule as the dense mask: a query sees keys of its own segment (and only
    earlier positions if ``causal``); a query that would see nothing sees every
    key. Built eagerly (outside any compiled graph), once per batch.
    """
    b, lq = q_segments.shape
    lk = k_segments.shape[1]
    q_seg, k_seg = q_segments.long(), k_segments.long()
    blind = _sees_nothing(q_seg, k_seg, causal)

    def mask_mod(bi, hi, qi, ki):
        visible = q_seg[bi, qi] == k_seg[bi, ki]
        if causal:
            visible = visible & (ki <= qi)
        return visible | blind[bi, qi]

    return create_block_mask(mask_mod, b, None, lq, lk, device=q_segments.device)


def _sees_nothing(q_seg: torch.Tensor, k_seg: torch.Tensor, causal: bool) -> torch.Tensor:
    """``[B, Lq]``: queries with no visible key, found from each segment's first key position."""
    b, lq = q_seg.shape
    lk = k_seg.shape[1]
    segments = int(torch.maximum(q_seg.max(), k_seg.max())) + 1
    positions = torch.arange(lk, device=k_seg.device).expand(b, lk)
    first = torch.full((b, segments), lk, dtype=torch.long, device=k_seg.device)
    first.scatter_reduce_(1, k_seg, positions, reduce="amin")
    first_key = first.gather(1, q_seg)
    if causal:
        return first_key > torch.arange(lq, device=q_seg.device)
    return first_key >= lk


def flex_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block: BlockMask,
    scale: float,
    float32_logits: bool = True,
) -> torch.Tensor:
    """Attention of ``[B, H, L, Dh]`` tensors under a ``BlockMask``; logits in float32 if asked.

    Float32 logits upcast q, k and v (as the SDPA reference does), so the whole
    kernel runs in float32.
    """
    dtype = v.dtype
    if float32_logits:
        q, k, v = q.float(), k.float(), v.float()
    if q.device.type == "cuda":
        # Inside a compiled graph (train.compile) the bare op is traced and fused there.
        fn = _flex_attention if torch.compiler.is_compiling() else _compiled()
        out = fn(q, k, v, block_mask=block, scale=scale)
    else:
        if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
            raise RuntimeError(
                f"FlexAttention has no backward on {q.device.type!r} (torch {torch.__version__}); "
                "set model.attention_backend to sdpa (or auto) to train there"
            )
        # torch refuses inputs that require grad there even under no_grad.
        q, k, v = q.detach(), k.detach(), v.detach()
        with warnings.catch_warnings():
            # Unfused on purpose: off CUDA this path checks results, it is not a fast path.
            warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
            out = _flex_attention(q, k, v, block_mask=block, scale=scale)
    return out.to(dtype)


@functools.cache
def _compiled():
    return torch.compile(_flex_attention, dynamic=False)
