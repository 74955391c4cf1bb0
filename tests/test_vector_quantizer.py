"""The EMA vector quantizer block: nearest codes, straight-through, EMA, restarts."""

from __future__ import annotations

import pytest
import torch

from uio.plugins.blocks.vector_quantizer import VectorQuantizer


def test_indices_are_the_nearest_codes_and_lookup_inverts_them():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4).eval()
    z = torch.randn(2, 5, 4)
    out = vq(z)
    brute = torch.cdist(z.reshape(-1, 4), vq.codebook).argmin(1).view(2, 5)
    assert torch.equal(out.indices, brute)
    torch.testing.assert_close(out.quantized, vq.lookup(out.indices))


def test_straight_through_gradient_and_commitment_loss():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 3, beta=0.25).eval()
    z = torch.randn(10, 3, requires_grad=True)
    out = vq(z)
    out.quantized.sum().backward()
    torch.testing.assert_close(z.grad, torch.ones_like(z))  # identity past the quantiser
    expected = 0.25 * ((z.detach() - vq.lookup(out.indices)) ** 2).mean()
    torch.testing.assert_close(out.commitment_loss, expected)


def test_ema_moves_codes_to_the_mean_of_their_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 2, decay=0.5, dead_code_threshold=0.0)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    vq.code_sum.copy_(vq.codebook)
    cluster_a = torch.tensor([[1.0, 1.0], [1.0, 3.0]])  # mean (1, 2), nearest to code 0
    cluster_b = torch.tensor([[9.0, 9.0]])  # nearest to code 1
    for _ in range(30):
        vq(torch.cat([cluster_a, cluster_b]))
    torch.testing.assert_close(vq.codebook[0], torch.tensor([1.0, 2.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(vq.codebook[1], torch.tensor([9.0, 9.0]), atol=1e-3, rtol=0)


def test_dead_codes_restart_on_batch_vectors_and_usage_recovers():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, decay=0.9, dead_code_threshold=1.0)
    vq.codebook.copy_(torch.full((8, 2), 100.0))  # every code far from the data...
    vq.codebook[0] = torch.zeros(2)  # ...but one, which takes every vector at first
    vq.code_sum.copy_(vq.codebook)
    data = torch.randn(256, 2)
    first = vq(data)
    assert first.usage.item() == pytest.approx(1 / 8)
    restarted = [i for i in range(1, 8) if vq.codebook[i].abs().max() < 50]
    assert restarted == list(range(1, 8))  # each restarted onto a batch vector
    for _ in range(20):
        last = vq(data)
    assert last.usage.item() == 1.0
    assert last.perplexity.item() > 4.0


def test_eval_mode_leaves_the_codebook_alone():
    vq = VectorQuantizer(4, 3).eval()
    before = vq.codebook.clone()
    vq(torch.randn(50, 3))
    assert torch.equal(vq.codebook, before)


def test_normalized_codes_are_unit_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 4, normalize=True)
    out = vq(torch.randn(64, 4) * 5)
    torch.testing.assert_close(vq.codebook.norm(dim=1), torch.ones(8))
    torch.testing.assert_close(out.quantized.norm(dim=-1), torch.ones(64))


def test_bad_input_is_named():
    vq = VectorQuantizer(4, 3)
    with pytest.raises(ValueError, match="vectors of size 3"):
        vq(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"code indices must be in \[0, 4\)"):
        vq.lookup(torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="codebook_size"):
        VectorQuantizer(1, 3)
