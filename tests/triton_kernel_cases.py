"""The Triton kernels against their eager references, forward and backward.

Not collected by the default run: ``test_kernels_triton.py`` runs this file in a
child process, under Triton's interpreter on CPU (``TRITON_INTERPRET=1`` must be
set before triton is imported) or compiled on CUDA. To see each case::

    TRITON_INTERPRET=1 pytest tests/triton_kernel_cases.py

Inputs are small: the interpreter runs every program in Python. Tolerances are
per dtype; the interpreter truncates float32 -> bfloat16 where compiled Triton
and torch round to nearest, so bfloat16 cannot match bit for bit there.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_vocab

from uio.core.kernels import get_op, reference
from uio.core.kernels._triton import available
from uio.core.kernels.triton_rms_norm import add_rms_norm, rms_norm
from uio.core.kernels.triton_rotary import apply_rotary, qk_norm_rotary
from uio.core.kernels.triton_swiglu import swiglu
from uio.core.sequence import collate_rows

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.skipif(
    not available(DEVICE),
    reason=f"Triton kernels cannot run on {DEVICE} here (set TRITON_INTERPRET=1 before starting)",
)

TOLERANCE = {  # (values, gradients)
    torch.float32: (dict(rtol=1e-5, atol=1e-5), dict(rtol=1e-4, atol=1e-4)),
    torch.float16: (dict(rtol=2e-3, atol=2e-3), dict(rtol=5e-3, atol=5e-3)),
    torch.bfloat16: (dict(rtol=2e-2, atol=2e-2), dict(rtol=3e-2, atol=3e-2)),
}
DTYPES = pytest.mark.parametrize("dtype", list(TOLERANCE), ids=lambda d: str(d).split(".")[-1])


def _leaf(*shape: int, dtype: torch.dtype, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return (torch.randn(*shape, device=DEVICE) * scale + shift).to(dtype).requires_grad_()


def _run(fn, inputs: list[torch.Tensor], grads_out: list[torch.Tensor]):
    """Outputs of ``fn(*inputs)`` and the gradients of every input for upstream ``grads_out``."""
    for t in inputs:
        t.grad = None
    outs = fn(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    torch.autograd.backward(list(outs), grads_out[: len(outs)])
    grads = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    return [o.detach() for o in outs], grads


def _compare(fused, eager, inputs, dtype, grads_out=None):
    torch.manual_seed(1)
    with torch.no_grad():
        probe = eager(*inputs)
    probe = probe if isinstance(probe, tuple) else (probe,)
    grads_out = grads_out or [torch.randn_like(p) for p in probe]
    outs_f, grads_f = _run(fused, inputs, grads_out)
    outs_e, grads_e = _run(eager, inputs, grads_out)
    values, gradients = TOLERANCE[dtype]
    for a, b in zip(outs_f, outs_e, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, **values)
    for i, (a, b) in enumerate(zip(grads_f, grads_e, strict=True)):
        assert (a is None) == (b is None), f"input {i}"
        if a is not None:
            scale = max(1.0, b.abs().max().item())  # weight gradients are sums over rows
            torch.testing.assert_close(
                a, b, rtol=gradients["rtol"], atol=gradients["atol"] * scale, msg=f"input {i}"
            )


@DTYPES
@pytest.mark.parametrize("shape", [(3, 5, 37), (7, 64), (1, 1, 200), (2, 9, 1000)])
def test_rms_norm_matches_reference(shape, dtype):
    torch.manual_seed(0)
    x = _leaf(*shape, dtype=dtype, scale=2.0)
    w = _leaf(shape[-1], dtype=dtype, scale=0.1, shift=1.0)
    _compare(
        lambda a, b: rms_norm(a, b, 1e-6),
        lambda a, b: reference.rms_norm(a, b, 1e-6),
        [x, w],
        dtype,
    )


@DTYPES
@pytest.mark.parametrize("shape", [(3, 5, 37), (7, 64), (2, 9, 1000)])
def test_add_rms_norm_matches_reference(shape, dtype):
    torch.manual_seed(0)
    x = _leaf(*shape, dtype=dtype)
    r = _leaf(*shape, dtype=dtype, scale=3.0)
    w = _leaf(shape[-1], dtype=dtype, scale=0.1, shift=1.0)
    _compare(
        lambda *a: add_rms_norm(*a, 1e-5),
        lambda *a: reference.add_rms_norm(*a, 1e-5),
        [x, r, w],
        dtype,
    )


def test_add_rms_norm_with_one_output_used_and_mixed_dtypes():
    torch.manual_seed(0)
    x, r = _leaf(4, 24, dtype=torch.float32), _leaf(4, 24, dtype=torch.float32)
    w = _leaf(24, dtype=torch.float32, shift=1.0)
    for pick in (0, 1):  # only the sum, then only the normed output, reaches the loss

        def fused(*a, pick=pick):
            return add_rms_norm(*a)[pick]

        def eager(*a, pick=pick):
            return reference.add_rms_norm(*a)[pick]

        _compare(fused, eager, [x, r, w], torch.float32)
    half = _leaf(4, 24, dtype=torch.float16)
    s, y = add_rms_norm(half, r, w)
    s_ref, y_ref = reference.add_rms_norm(half, r, w)
    assert s.dtype == s_ref.dtype == torch.float32
    torch.testing.assert_close(y, y_ref)


def test_rms_norm_of_no_rows():
    x = torch.randn(0, 16, device=DEVICE, requires_grad=True)
    w = torch.ones(16, device=DEVICE, requires_grad=True)
    rms_norm(x, w).sum().backward()
    assert x.grad.shape == (0, 16) and torch.equal(w.grad, torch.zeros(16, device=DEVICE))


def _tables(batch: int, length: int, head_dim: int):
    positions = torch.randint(0, 50, (batch, length, 2), device=DEVICE)
    return reference.rotary_tables(positions, head_dim, 10000.0)


ROTARY_SHAPES = pytest.mark.parametrize(
    "b,h,length,head_dim,table_batch,heads_last",
    [
        (2, 3, 5, 16, 2, False),
        (1, 4, 7, 10, 1, True),  # odd number of rotating pairs, [B, L, H, Dh] strides
        (3, 1, 1, 6, 1, False),  # one table for all rows
        (2, 5, 9, 32, 2, True),
    ],
)


def _heads_input(b, h, length, head_dim, dtype, heads_last):
    if heads_last:  # as Attention._heads makes it: a transposed view
        x = torch.randn(b, length, h, head_dim, device=DEVICE).to(dtype).transpose(1, 2)
        return x.requires_grad_()
    return _leaf(b, h, length, head_dim, dtype=dtype)


@DTYPES
@ROTARY_SHAPES
def test_qk_norm_rotary_matches_reference(b, h, length, head_dim, table_batch, heads_last, dtype):
    torch.manual_seed(0)
    x = _heads_input(b, h, length, head_dim, dtype, heads_last)
    w = _leaf(head_dim, dtype=dtype, scale=0.1, shift=1.0)
    cos, sin = _tables(table_batch, length, head_dim)
    _compare(
        lambda a, c: qk_norm_rotary(a, c, 1e-6, cos, sin),
        lambda a, c: reference.qk_norm_rotary(a, c, 1e-6, cos, sin),
        [x, w],
        dtype,
    )


@DTYPES
@ROTARY_SHAPES
def test_rotary_matches_reference(b, h, length, head_dim, table_batch, heads_last, dtype):
    torch.manual_seed(0)
    x = _heads_input(b, h, length, head_dim, dtype, heads_last)
    cos, sin = _tables(table_batch, length, head_dim)
    _compare(
        lambda a: apply_rotary(a, cos, sin),
        lambda a: reference.apply_rotary(a, cos, sin),
        [x],
        dtype,
    )


@DTYPES
@pytest.mark.parametrize("shape", [(3, 7, 33), (2100,), (1, 5, 1024)])
def test_swiglu_matches_reference(shape, dtype):
    torch.manual_seed(0)
    gate, up = _leaf(*shape, dtype=dtype, scale=3.0), _leaf(*shape, dtype=dtype)
    _compare(swiglu, reference.swiglu, [gate, up], dtype)


def _on_device(value):
    if isinstance(value, torch.Tensor):
        return value.to(DEVICE)
    if isinstance(value, dict):
        return {k: _on_device(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_on_device(v) for v in value]
    return value


@pytest.mark.parametrize("attention", ["qk_norm", "scaled_cosine"])
def test_tiny_model_with_fused_kernels_matches_eager(attention):
    """Loss and every parameter gradient of a UIOTransformer step, fused vs eager."""
    vocab = tiny_vocab()
    rows = [
        [example(vocab, [1, 2, 3, 4], [5, 6]), example(vocab, [7, 8], [9])],
        [example(vocab, [3], [2, 1])],
    ]
    batch = collate_rows(rows, 12, 6, {"tokens": 1})
    batch = dataclasses.replace(
        batch, **{f.name: _on_device(getattr(batch, f.name)) for f in dataclasses.fields(batch)}
    )
    results = {}
    for kernels in ("eager", "triton"):
        model = tiny_model(vocab, attention=attention, kernels=kernels).to(DEVICE)
        out = model(batch)
        out["loss"].backward()
        results[kernels] = out["loss"].detach(), {n: p.grad for n, p in model.named_parameters()}
    assert get_op("qk_norm_rotary", "triton", DEVICE) is qk_norm_rotary
    torch.testing.assert_close(results["triton"][0], results["eager"][0], rtol=1e-5, atol=1e-5)
    for name, grad in results["eager"][1].items():
        fused = results["triton"][1][name]
        assert (fused is None) == (grad is None), name
        if grad is not None:
            torch.testing.assert_close(fused, grad, rtol=1e-4, atol=1e-5, msg=name)
