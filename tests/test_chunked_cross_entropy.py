"""The chunked linear + cross-entropy + z-loss against the reference that holds all logits."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_vocab
from triton_child import run_kernel_cases

from uio.core.kernels import get_op, reference
from uio.core.kernels.chunked_cross_entropy import chunk_rows_for, linear_cross_entropy
from uio.core.sequence import collate_rows

# Both sides compute the logits in float32, whatever the input dtype.
TOLERANCE = {torch.float32: 2e-5, torch.float64: 2e-5, torch.bfloat16: 2e-2}


def _inputs(n, d, vocab, dtype, ignored=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g).to(dtype)
    weight = (torch.randn(vocab, d, generator=g) * 0.5).to(dtype)
    labels = torch.randint(0, vocab, (n,), generator=g)
    labels[torch.rand(n, generator=g) < ignored] = -100
    return hidden, weight, labels


def _run(fn, hidden, weight, labels, ce_weight=1.0, z_weight=1.0, **kw):
    h = hidden.clone().requires_grad_()
    w = weight.clone().requires_grad_()
    ce, z = fn(h, w, labels, logit_scale=kw.pop("logit_scale", 0.3), z_loss=kw.pop("z_loss", 0.05), **kw)
    (ce * ce_weight + z * z_weight).backward()
    return ce.detach(), z.detach(), h.grad, w.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    "n,d,vocab,chunk",
    [(1, 8, 5, None), (37, 16, 50, 5), (64, 32, 300, 64), (100, 24, 129, 7), (33, 8, 1000, 1000)],
)
def test_forward_and_backward_match_the_reference(n, d, vocab, chunk, dtype):
    hidden, weight, labels = _inputs(n, d, vocab, dtype, ignored=0.2)
    want = _run(reference.linear_cross_entropy, hidden, weight, labels)
    got = _run(linear_cross_entropy, hidden, weight, labels, chunk_rows=chunk)
    tol = TOLERANCE[dtype]
    for name, g, w in zip(("ce", "z", "grad hidden", "grad weight"), got, want, strict=True):
        assert g.dtype == w.dtype, name
        torch.testing.assert_close(g, w, rtol=tol, atol=tol, msg=name)


@pytest.mark.parametrize("ce_weight,z_weight", [(1.0, 0.0), (0.0, 1.0), (0.3, -2.0), (2.5, 2.5)])
def test_each_output_carries_its_own_gradient(ce_weight, z_weight):
    """The stored gradients are for ce + z; other weightings take the recomputing path."""
    hidden, weight, labels = _inputs(29, 16, 70, torch.float32, ignored=0.3)
    want = _run(reference.linear_cross_entropy, hidden, weight, labels, ce_weight, z_weight, z_loss=0.5)
    got = _run(linear_cross_entropy, hidden, weight, labels, ce_weight, z_weight, z_loss=0.5, chunk_rows=4)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=2e-5, atol=2e-5)


def test_retained_graph_runs_backward_twice():
    hidden, weight, labels = _inputs(12, 8, 20, torch.float32)
    h = hidden.clone().requires_grad_()
    ce, z = linear_cross_entropy(h, weight, labels, z_loss=0.1, chunk_rows=5)
    loss = (ce + z) * 3.0
    loss.backward(retain_graph=True)
    first = h.grad.clone()
    loss.backward()
    torch.testing.assert_close(h.grad, 2 * first)


def test_only_one_output_used():
    hidden, weight, labels = _inputs(10, 8, 20, torch.float64)
    h = hidden.clone().requires_grad_()
    ce, _ = linear_cross_entropy(h, weight, labels, z_loss=0.1, chunk_rows=3)
    ce.backward()
    h_ref = hidden.clone().requires_grad_()
    reference.linear_cross_entropy(h_ref, weight, labels, z_loss=0.1)[0].backward()
    torch.testing.assert_close(h.grad, h_ref.grad)


def test_every_row_ignored_gives_zero_and_zero_gradients():
    hidden, weight, _ = _inputs(6, 8, 11, torch.float32)
    labels = torch.full((6,), -100)
    ce, z, grad_h, grad_w = _run(linear_cross_entropy, hidden, weight, labels, chunk_rows=4)
    ref_ce, ref_z, ref_grad_h, _ = _run(reference.linear_cross_entropy, hidden, weight, labels)
    assert ce.item() == ref_ce.item() == 0.0 and z.item() == ref_z.item() == 0.0
    assert torch.equal(grad_h, ref_grad_h) and not grad_w.any()


def test_custom_ignore_index():
    hidden, weight, labels = _inputs(20, 8, 30, torch.float64)
    labels[::2] = 7
    want = _run(reference.linear_cross_entropy, hidden, weight, labels, ignore_index=7)
    got = _run(linear_cross_entropy, hidden, weight, labels, ignore_index=7, chunk_rows=6)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w)


def test_autocast_matches_the_reference_under_autocast():
    hidden, weight, labels = _inputs(40, 16, 90, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        want = _run(reference.linear_cross_entropy, hidden, weight, labels)
        got = _run(linear_cross_entropy, hidden, weight, labels, chunk_rows=16)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        torch.testing.assert_close(g, w, rtol=2e-2, atol=2e-2)


def test_bad_shapes_name_the_argument():
    hidden, weight, labels = _inputs(5, 8, 10, torch.float32)
    with pytest.raises(ValueError, match="labels"):
        linear_cross_entropy(hidden, weight, labels[:3])
    with pytest.raises(ValueError, match="weight"):
        linear_cross_entropy(hidden, weight[:, :4], labels)
    with pytest.raises(ValueError, match="chunk_rows"):
        linear_cross_entropy(hidden, weight, labels, chunk_rows=0)


def test_default_chunk_holds_a_fixed_budget_of_logits():
    assert chunk_rows_for(65536) == 128  # 32 MiB of float32 logits
    assert chunk_rows_for(10**9) == 1


def test_dispatch_and_model_loss():
    assert get_op("linear_cross_entropy", "auto", "cpu") is linear_cross_entropy
    assert get_op("linear_cross_entropy", "eager", "cpu") is reference.linear_cross_entropy
    vocab = tiny_vocab()
    batch = collate_rows([[example(vocab, [1, 2, 3], [4, 5]), example(vocab, [6], [7])]], 12, 8, {"tokens": 1})
    losses, grads = [], []
    for kernels in ("auto", "eager"):
        model = tiny_model(vocab, kernels=kernels, z_loss=0.01)
        out = model(batch)
        out["loss"].backward()
        losses.append(out["loss"].detach())
        grads.append(model.token_embedding.weight.grad)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


try:
    import triton

    from uio.core.kernels import _triton, triton_cross_entropy
except ImportError:  # the PyTorch rows must work without triton
    triton = None
needs_triton = pytest.mark.skipif(triton is None, reason="triton is not installed")


@needs_triton
@pytest.mark.parametrize("where", ["interpreter", "cuda"])
def test_triton_row_kernel_cases(where):
    """Runs ``triton_cross_entropy_cases.py`` in a child process (see its docstring)."""
    run_kernel_cases("triton_cross_entropy_cases.py", where)


@needs_triton
@pytest.mark.parametrize("write_grad", [True, False])
def test_triton_row_kernel_compiles_for_a_cuda_gpu(write_grad):
    """The compiled path, which the interpreter does not exercise, lowers to PTX (no GPU needed)."""
    if _triton.INTERPRETED:
        pytest.skip("triton was imported for the interpreter")
    if "nvidia" not in getattr(triton.backends, "backends", {}):
        pytest.skip("triton's nvidia backend is not installed")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kernel = triton_cross_entropy._ce_rows
    types = {"LABELS": "*i64", "stride": "i32", "n_cols": "i32", "ignore_index": "i32",
             "logit_scale": "fp32", "z_loss": "fp32"}
    constexprs = {"WRITE_GRAD": write_grad, "BLOCK": 4096, "N_BLOCKS": 16}
    signature = {
        p.name: "constexpr" if p.is_constexpr else types.get(p.name, "*fp32") for p in kernel.params
    }
    src = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 8})
    assert ".entry _ce_rows" in compiled.asm["ptx"]
