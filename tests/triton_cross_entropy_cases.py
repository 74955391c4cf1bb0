"""The Triton row kernel of the chunked linear cross-entropy against its PyTorch twin.

Not collected by the default run: ``test_chunked_cross_entropy.py`` runs this
file in a child process, under Triton's interpreter on CPU (``TRITON_INTERPRET=1``
must be set before triton is imported) or compiled on CUDA. By hand::

    TRITON_INTERPRET=1 pytest tests/triton_cross_entropy_cases.py
"""

from __future__ import annotations

import pytest
import torch

from uio.core.kernels import reference
from uio.core.kernels._triton import available
from uio.core.kernels.chunked_cross_entropy import (
    _row_function,
    ce_rows_torch,
    linear_cross_entropy,
)
from uio.core.kernels.triton_cross_entropy import BLOCK, ce_rows

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
pytestmark = pytest.mark.skipif(
    not available(DEVICE),
    reason=f"Triton kernels cannot run on {DEVICE} here (set TRITON_INTERPRET=1 before starting)",
)


def test_the_chunked_op_uses_the_kernel_here():
    assert _row_function(DEVICE) is ce_rows


@pytest.mark.parametrize("write_grad", [True, False])
@pytest.mark.parametrize("rows,vocab", [(5, 37), (3, 256), (4, BLOCK + 123)])
def test_rows_match_pytorch(rows, vocab, write_grad):
    torch.manual_seed(0)
    logits = torch.randn(rows, vocab, device=DEVICE) * 3
    labels = torch.randint(0, vocab, (rows,), device=DEVICE)
    labels[1] = -100
    count = torch.tensor(7.0, device=DEVICE)
    weights = torch.tensor([0.7, -1.5], device=DEVICE)
    options = dict(logit_scale=0.5, z_loss=0.1, ignore_index=-100, write_grad=write_grad)
    ours, theirs = logits.clone(), logits.clone()
    ce, lse = ce_rows(ours, labels, count, weights, **options)
    ce_ref, lse_ref = ce_rows_torch(theirs, labels, count, weights, **options)
    torch.testing.assert_close(ce, ce_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(lse, lse_ref, rtol=1e-5, atol=1e-5)
    if write_grad:
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert ce[1] == 0


def test_bad_logits_are_refused():
    with pytest.raises(ValueError, match="logits must be float32"):
        ce_rows(torch.zeros(2, 3, dtype=torch.float64, device=DEVICE), torch.zeros(2, dtype=torch.long),
                torch.tensor(1.0), torch.ones(2), logit_scale=1.0, z_loss=0.0, ignore_index=-100,
                write_grad=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("n,d,vocab,chunk", [(19, 16, 70, 6), (8, 32, 300, 8)])
def test_op_with_the_kernel_matches_the_reference(n, d, vocab, chunk, dtype):
    torch.manual_seed(0)
    hidden = torch.randn(n, d, device=DEVICE).to(dtype)
    weight = (torch.randn(vocab, d, device=DEVICE) * 0.5).to(dtype)
    labels = torch.randint(0, vocab, (n,), device=DEVICE)
    labels[::4] = -100
    results = []
    for fn, extra in ((linear_cross_entropy, {"chunk_rows": chunk}), (reference.linear_cross_entropy, {})):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        ce, z = fn(h, w, labels, logit_scale=0.3, z_loss=0.05, **extra)
        (ce + z).backward()
        results.append((ce.detach(), z.detach(), h.grad, w.grad))
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    for got, want in zip(*results, strict=True):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol)
