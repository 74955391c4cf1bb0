"""Decoding: the KV cache changes nothing but speed; constraints; strategies."""

from __future__ import annotations

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_vocab

from uio.core.generation import DecodeOptions, Decoder, generate
from uio.core.vocab import EOS_ID

INDEX = {"tokens": 1}


def _examples(vocab):
    return [example(vocab, [1, 2, 3, 4, 5], []), example(vocab, [9, 8], []), example(vocab, [7] * 11, [])]


def test_greedy_with_cache_equals_without_token_for_token():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    targets = ["tokens"] * len(exs)
    cached = generate(model, exs, targets, vocab, INDEX, DecodeOptions(max_new_tokens=24, use_cache=True))
    plain = generate(model, exs, targets, vocab, INDEX, DecodeOptions(max_new_tokens=24, use_cache=False))
    assert cached == plain
    assert any(len(c) > 3 for c in cached)  # a random model rarely stops at once: the check bites


def test_outputs_stay_in_target_range():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    r = vocab.range("tokens")
    for strategy in ("greedy", "sample", "beam"):
        out = generate(model, _examples(vocab), ["tokens"] * 3, vocab, INDEX,
                       DecodeOptions(strategy=strategy, max_new_tokens=12, top_k=5, top_p=0.9))
        for ids in out:
            assert all(r.start <= i < r.end for i in ids), (strategy, ids)


def _train_copy(vocab):
    """Teach the tiny model to copy its input so decoding has a known answer."""
    model = tiny_model(vocab)
    from uio.core.sequence import collate_rows

    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(250):
        rows = []
        for _ in range(16):
            seq = torch.randint(0, 10, (4,), generator=gen).tolist()
            rows.append([example(vocab, seq, seq)])
        loss = model(collate_rows(rows, 8, 8, INDEX))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_beam_of_one_is_greedy_and_beam_cache_is_exact():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    targets = ["tokens"] * len(exs)
    greedy = generate(model, exs, targets, vocab, INDEX, DecodeOptions(max_new_tokens=10))
    beam1 = generate(model, exs, targets, vocab, INDEX, DecodeOptions(strategy="beam", num_beams=1, max_new_tokens=10))
    assert beam1 == greedy
    cached = generate(model, exs, targets, vocab, INDEX, DecodeOptions(strategy="beam", num_beams=3, max_new_tokens=10))
    plain = generate(model, exs, targets, vocab, INDEX,
                     DecodeOptions(strategy="beam", num_beams=3, max_new_tokens=10, use_cache=False))
    assert cached == plain


@pytest.mark.slow
def test_beam_and_greedy_agree_on_a_learned_copy_task():
    vocab = tiny_vocab()
    model = _train_copy(vocab)
    r = vocab.range("tokens")
    exs = [example(vocab, [3, 1, 4, 1], []), example(vocab, [2, 7, 1, 8], [])]
    greedy = generate(model, exs, ["tokens"] * 2, vocab, INDEX, DecodeOptions(max_new_tokens=8))
    beam = generate(model, exs, ["tokens"] * 2, vocab, INDEX,
                    DecodeOptions(strategy="beam", num_beams=3, max_new_tokens=8))
    beam_plain = generate(model, exs, ["tokens"] * 2, vocab, INDEX,
                          DecodeOptions(strategy="beam", num_beams=3, max_new_tokens=8, use_cache=False))
    want = [[r.start + i for i in (3, 1, 4, 1)], [r.start + i for i in (2, 7, 1, 8)]]
    assert greedy == want
    assert beam == want
    assert beam_plain == beam


def test_sampling_is_seeded():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    opts = DecodeOptions(strategy="sample", max_new_tokens=10, temperature=1.5, seed=3)
    a = generate(model, _examples(vocab), ["tokens"] * 3, vocab, INDEX, opts)
    b = generate(model, _examples(vocab), ["tokens"] * 3, vocab, INDEX, opts)
    assert a == b
    assert EOS_ID not in sum(a, [])


def test_step_rotary_table_matches_per_step_tables_past_its_growth():
    """Cached steps slice one growing table; past its first 64 rows it must still
    equal the tables decode() would compute for that position."""
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    dec = Decoder(model, _examples(vocab), INDEX)
    for position in (0, 63, 64, 200, 5):
        cos, sin = dec._step_rotary(position)
        ref_cos, ref_sin = model.rotary(torch.full((1, 1, 2), position))
        torch.testing.assert_close(cos, ref_cos, rtol=0, atol=0)
        torch.testing.assert_close(sin, ref_sin, rtol=0, atol=0)
    assert dec._tables[0].shape[1] > 200
