"""FlexAttention over packed rows against SDPA with the dense mask of the same rule."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_vocab

from uio.core.kernels import reference
from uio.core.kernels.flex_attention import (
    flex_attention,
    pick_backend,
    segment_block_mask,
    unavailable_reason,
)
from uio.core.masks import SegmentMask, block_mask
from uio.core.sequence import collate_rows

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _segments(lengths_per_row: list[list[int]], total: int) -> torch.Tensor:
    """``[B, total]`` segment ids: row i holds examples of the given lengths, then padding."""
    rows = []
    for lengths in lengths_per_row:
        ids = [s + 1 for s, n in enumerate(lengths) for _ in range(n)]
        rows.append(ids + [0] * (total - len(ids)))
    return torch.tensor(rows)


# (query segments, key segments, causal): encoder self-attention, decoder causal
# self-attention, cross-attention with other lengths (row 1 has a query segment
# missing from its keys, row 0 a padding query with no padding key).
CASES = {
    "encoder": (_segments([[50, 30, 20], [7, 90]], 130), None, False),
    "decoder": (_segments([[10, 6, 9], [3, 20]], 40), None, True),
    "cross": (_segments([[10, 6, 9], [3, 20, 5]], 40), _segments([[60, 40, 30], [20, 109]], 130), False),
}


def _case(name: str, device: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    q_seg, k_seg, causal = CASES[name]
    q_seg = q_seg.to(device)
    return q_seg, (q_seg if k_seg is None else k_seg.to(device)), causal


@pytest.mark.parametrize("name", list(CASES))
def test_block_mask_follows_the_dense_rule(name):
    q_seg, k_seg, causal = _case(name, "cpu")
    block = segment_block_mask(q_seg, k_seg, causal)
    b, lq, lk = q_seg.shape[0], q_seg.shape[1], k_seg.shape[1]
    bi = torch.arange(b)[:, None, None]
    qi = torch.arange(lq)[None, :, None]
    ki = torch.arange(lk)[None, None, :]
    from_mod = block.mask_mod(bi, torch.zeros_like(bi), qi, ki)
    assert torch.equal(from_mod, block_mask(q_seg, k_seg, causal)[:, 0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", list(CASES))
def test_flex_equals_dense_sdpa_forward(name, dtype, device):
    torch.manual_seed(0)
    q_seg, k_seg, causal = _case(name, device)
    b, lq, lk, heads, dim = q_seg.shape[0], q_seg.shape[1], k_seg.shape[1], 2, 16
    q = torch.randn(b, heads, lq, dim, device=device, dtype=dtype)
    k = torch.randn(b, heads, lk, dim, device=device, dtype=dtype)
    v = torch.randn(b, heads, lk, dim, device=device, dtype=dtype)
    block = segment_block_mask(q_seg, k_seg, causal)
    dense = block_mask(q_seg, k_seg, causal)
    for f32 in (True, False):
        out = flex_attention(q, k, v, block, dim**-0.5, f32)
        ref = reference.attention(q, k, v, dense, dim**-0.5, f32)
        assert out.dtype == dtype
        tol = 1e-5 if dtype == torch.float32 or f32 else 2e-2
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="FlexAttention has no backward on CPU (torch 2.11); the gradient check needs CUDA",
)
@pytest.mark.parametrize("name", list(CASES))
def test_flex_equals_dense_sdpa_backward(name):
    torch.manual_seed(0)
    q_seg, k_seg, causal = _case(name, "cuda")
    b, lq, lk, heads, dim = q_seg.shape[0], q_seg.shape[1], k_seg.shape[1], 2, 16
    inputs = [torch.randn(b, heads, n, dim, device="cuda") for n in (lq, lk, lk)]
    block = segment_block_mask(q_seg, k_seg, causal)
    dense = block_mask(q_seg, k_seg, causal)
    grads = []
    for fn, mask in ((flex_attention, block), (reference.attention, dense)):
        leaves = [t.clone().requires_grad_() for t in inputs]
        out = fn(*leaves, mask, dim**-0.5, True)
        (out * torch.linspace(-1, 1, dim, device="cuda")).sum().backward()
        grads.append([t.grad for t in leaves])
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_flex_refuses_to_train_off_cuda():
    q_seg, k_seg, causal = _case("encoder", "cpu")
    q = torch.randn(2, 1, q_seg.shape[1], 16, requires_grad=True)
    with pytest.raises(RuntimeError, match="model.attention_backend"):
        flex_attention(q, q, q, segment_block_mask(q_seg, k_seg, causal), 0.25)


def test_auto_picks_flex_on_cuda_only_with_fused_kernels():
    assert pick_backend("auto", "auto", "cpu") == "sdpa"
    assert pick_backend("auto", "eager", "cuda") == "sdpa"
    assert pick_backend("auto", "auto", "cuda") == ("flex" if unavailable_reason("cuda") is None else "sdpa")
    assert pick_backend("flex", "eager", "cpu") == "flex"
    assert pick_backend("eager", "auto", "cuda") == "eager"
    with pytest.raises(ValueError, match="attention_backend"):
        pick_backend("dense", "auto", "cpu")


def test_model_with_flex_equals_sdpa_on_packed_rows():
    vocab = tiny_vocab()
    a = example(vocab, [1, 2, 3, 4], [5, 6])
    b = example(vocab, [7, 8, 9], [10, 11, 12])
    batch = collate_rows([[a, b], [b]], 24, 8, {"tokens": 1})
    flex_model = tiny_model(vocab, attention_backend="flex", head_dim=16, n_heads=2).eval()
    sdpa_model = tiny_model(vocab, attention_backend="sdpa", head_dim=16, n_heads=2).eval()
    mask = flex_model.segment_mask(batch.enc_segment_ids, batch.enc_segment_ids, causal=False)
    assert isinstance(mask, SegmentMask) and mask.block is not None and mask.dense is None
    with torch.no_grad():
        flex = flex_model(batch)["ce"]
        sdpa = sdpa_model(batch)["ce"]
    torch.testing.assert_close(flex, sdpa, rtol=1e-5, atol=1e-5)
