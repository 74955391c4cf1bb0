"""Classifier-free guidance and fixed-length outputs in decoding."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from core_fixtures import example, tiny_model, tiny_vocab

from uio.core.generation import (
    DecodeOptions,
    Decoder,
    StepMasks,
    _guide,
    allowed_ids_mask,
    generate,
)
from uio.core.vocab import EOS_ID

INDEX = {"tokens": 1}


def _examples(vocab):
    return [example(vocab, [1, 2, 3], []), example(vocab, [9, 8, 7, 6], [])]


def _empty(ex):
    return replace(ex, inputs=[])


def test_fixed_lengths_give_exactly_that_many_ids_and_never_end_early():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    for strategy in ("greedy", "sample", "beam"):
        out = generate(model, exs, ["tokens"] * 2, vocab, INDEX,
                       DecodeOptions(strategy=strategy, max_new_tokens=3), lengths=[7, None])
        assert len(out[0]) == 7, strategy  # longer than max_new_tokens: the fixed length wins
        assert len(out[1]) <= 3, strategy


def test_step_masks_forbid_the_end_before_the_length_and_force_it_there():
    vocab = tiny_vocab()
    allowed = allowed_ids_mask(vocab, ["tokens", "tokens"], torch.device("cpu"))
    masks = StepMasks(allowed, [2, None], max_new_tokens=5)
    assert masks.blocked(0)[0, EOS_ID] and masks.blocked(1)[0, EOS_ID]
    assert not masks.blocked(2)[0, EOS_ID] and masks.blocked(2)[0].sum() == vocab.size - 1
    assert not masks.blocked(0)[1, EOS_ID]  # a free row may end at any step
    assert masks.steps == 5
    with pytest.raises(ValueError, match="3 output lengths for 2 examples"):
        StepMasks(allowed, [1, 2, 3], 5)


def test_guide_mixes_normalised_log_probs_of_prompt_and_empty_prompt():
    vocab = tiny_vocab()
    allowed = allowed_ids_mask(vocab, ["tokens", "tokens"], torch.device("cpu"))
    blocked = ~allowed
    torch.manual_seed(0)
    logits = torch.randn(3, vocab.size)  # rows 0, 1 conditional; row 2 is row 1's empty twin
    scale = 2.0
    out = _guide(logits, blocked, torch.tensor([1]), scale)
    cond = logits[1].masked_fill(blocked[1], float("-inf")).log_softmax(-1)
    uncond = logits[2].masked_fill(blocked[1], float("-inf")).log_softmax(-1)
    want = (1 + scale) * cond - scale * uncond
    keep = allowed[1]
    assert torch.allclose(out[1][keep], want[keep])
    assert torch.isinf(out[1][~keep]).all() and not torch.isnan(out[1]).any()
    assert torch.equal(out[0], logits[0].masked_fill(blocked[0], float("-inf")))  # unguided row untouched


def test_guidance_zero_equals_unguided_and_a_positive_scale_changes_the_choice():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    twins = [_empty(e) for e in exs]
    plain = generate(model, exs, ["tokens"] * 2, vocab, INDEX, DecodeOptions(max_new_tokens=8))
    zero = generate(model, exs, ["tokens"] * 2, vocab, INDEX, DecodeOptions(max_new_tokens=8), unconditional=twins)
    assert zero == plain
    # Check one guided step by hand against the decoder's own logits.
    options = DecodeOptions(max_new_tokens=1, guidance_scale=3.0)
    guided = generate(model, exs, ["tokens"] * 2, vocab, INDEX, options, unconditional=[twins[0], None])
    dec = Decoder(model, [exs[0], twins[0]], INDEX)
    starts = torch.tensor([[exs[0].start_id], [exs[0].start_id]])
    step = dec.step_logits(starts, None)
    blocked = ~allowed_ids_mask(vocab, ["tokens"], torch.device("cpu"))
    mixed = _guide(step, blocked, torch.tensor([0]), 3.0)
    assert guided[0][:1] == [int(mixed[0].argmax())] or (int(mixed[0].argmax()) == EOS_ID and guided[0] == [])


def test_guidance_refuses_beam_search():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    with pytest.raises(ValueError, match="greedy or sample, not beam"):
        generate(model, exs, ["tokens"] * 2, vocab, INDEX,
                 DecodeOptions(strategy="beam", guidance_scale=1.0), unconditional=[_empty(exs[0]), None])


def test_guidance_changes_what_a_random_model_generates():
    """Guarding the test above: with these seeds guidance does change the tokens, so a
    guided path that silently decoded unguided would fail here."""
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    options = DecodeOptions(max_new_tokens=8)
    plain = generate(model, exs, ["tokens"] * 2, vocab, INDEX, options)
    guided = generate(model, exs, ["tokens"] * 2, vocab, INDEX, replace(options, guidance_scale=5.0),
                      unconditional=[_empty(e) for e in exs])
    assert guided != plain


def test_a_per_modality_weight_overrides_the_common_one():
    vocab = tiny_vocab()
    model = tiny_model(vocab)
    exs = _examples(vocab)
    twins = [_empty(e) for e in exs]
    options = DecodeOptions(max_new_tokens=8)
    common = generate(model, exs, ["tokens"] * 2, vocab, INDEX, replace(options, guidance_scale=5.0),
                      unconditional=twins)
    own = generate(model, exs, ["tokens"] * 2, vocab, INDEX,
                   replace(options, guidance_scales={"tokens": 5.0}), unconditional=twins)
    assert own == common
    plain = generate(model, exs, ["tokens"] * 2, vocab, INDEX, options)
    off = replace(options, guidance_scale=5.0, guidance_scales={"tokens": 0.0})
    assert generate(model, exs, ["tokens"] * 2, vocab, INDEX, off, unconditional=twins) == plain
    assert off.scale_for("tokens") == 0.0 and off.scale_for("other") == 5.0
    assert off.unguided().scale_for("other") == 0.0
    # Beam search is refused only when some row is really guided.
    beam = replace(off, strategy="beam")
    assert len(generate(model, exs, ["tokens"] * 2, vocab, INDEX, beam, unconditional=twins)) == 2


def test_guide_takes_one_weight_per_guided_row():
    vocab = tiny_vocab()
    blocked = ~allowed_ids_mask(vocab, ["tokens", "tokens"], torch.device("cpu"))
    torch.manual_seed(1)
    logits = torch.randn(4, vocab.size)  # rows 0, 1 conditional; rows 2, 3 their empty twins
    both = _guide(logits, blocked, torch.tensor([0, 1]), torch.tensor([[1.0], [4.0]]))
    first = _guide(logits[[0, 1, 2]], blocked, torch.tensor([0]), 1.0)
    second = _guide(logits[[0, 1, 3]], blocked, torch.tensor([1]), 4.0)
    assert torch.equal(both[0], first[0]) and torch.equal(both[1], second[1])
