"""The growing key/value buffer of step-by-step decoding holds exactly what was appended."""

from __future__ import annotations

import torch

from uio.core.kv_cache import KVBuffer


def test_appends_across_growth_equal_concatenation_and_reorder_keeps_rows():
    torch.manual_seed(0)
    buffer = KVBuffer()
    keys, values = [], []
    for n in [5] + [1] * 150:  # a prompt, then one token per step: grows 64 -> 132 -> 264
        k, v = torch.randn(3, 2, n, 4), torch.randn(3, 2, n, 4)
        keys.append(k), values.append(v)
        got_k, got_v = buffer.append(k, v)
        torch.testing.assert_close(got_k, torch.cat(keys, dim=2), rtol=0, atol=0)
        torch.testing.assert_close(got_v, torch.cat(values, dim=2), rtol=0, atol=0)
    assert buffer.keys is not None and buffer.keys.shape[2] > 155
    rows = torch.tensor([2, 2, 0])
    buffer.reorder(rows)
    got_k, got_v = buffer.append(torch.zeros(3, 2, 1, 4), torch.zeros(3, 2, 1, 4))
    torch.testing.assert_close(got_k[:, :, :-1], torch.cat(keys, dim=2)[rows], rtol=0, atol=0)
    torch.testing.assert_close(got_v[:, :, :-1], torch.cat(values, dim=2)[rows], rtol=0, atol=0)
    assert got_k.shape[2] == 156
