"""Packing: examples laid end to end with segment ids; nothing lost or duplicated."""

from __future__ import annotations

import random

import pytest
from core_fixtures import example, tiny_vocab

from uio.core.sequence import (
    IGNORE_INDEX,
    PackingError,
    check_fits,
    collate_rows,
    pack_rows,
    packed_batches,
)


def _stream(vocab, n, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        yield example(vocab, [rng.randrange(40) for _ in range(rng.randint(3, 30))],
                      [rng.randrange(40) for _ in range(rng.randint(1, 5))], task=f"t{i}")


def test_every_example_packed_once_and_rows_dense():
    vocab = tiny_vocab()
    batches = [b for b, _ in packed_batches(_stream(vocab, 300), rows=4, encoder_length=64,
                                            decoder_length=16, modality_index={"tokens": 1}, window=32)]
    tasks = [t for b in batches for row in b.tasks for t in row]
    assert sorted(tasks) == sorted(f"t{i}" for i in range(300))
    fractions = [b.non_pad_fraction() for b in batches[:-2]]
    assert min(fractions) > 0.8
    b = batches[0]
    # labels are targets + eos exactly where the decoder has tokens
    assert ((b.dec_labels != IGNORE_INDEX) == (b.dec_segment_ids > 0)).all()


def test_collate_layout():
    vocab = tiny_vocab()
    a = example(vocab, [1, 2, 3], [4, 5])
    b = example(vocab, [6], [7])
    batch = collate_rows([[a, b]], 10, 6, {"tokens": 1})
    assert batch.enc_segment_ids[0].tolist() == [1, 1, 1, 1, 2, 2, 0, 0, 0, 0]
    assert batch.enc_modality[0].tolist() == [0, 1, 1, 1, 0, 1, 0, 0, 0, 0]
    assert batch.enc_positions[0, :6, 0].tolist() == [0, 1, 2, 3, 0, 1]  # restart per example
    assert batch.dec_input_ids[0, :5].tolist() == [a.start_id, *a.target_ids, b.start_id, *b.target_ids]
    assert batch.dec_labels[0, :5].tolist() == [*a.target_ids, 1, *b.target_ids, 1]
    assert batch.enc_slots["tokens"].tolist() == [1, 2, 3, 5]


def test_too_long_example_is_a_clear_error():
    vocab = tiny_vocab()
    with pytest.raises(PackingError, match="needs 41 encoder .* data.encoder_length"):
        check_fits(example(vocab, list(range(40)), [1]), 32, 8)


def test_pack_rows_first_fit_decreasing():
    vocab = tiny_vocab()
    exs = [example(vocab, [1] * n, [1]) for n in (10, 20, 5, 30)]
    rows, left = pack_rows(exs, rows=1, encoder_length=40, decoder_length=10)
    assert [e.encoder_tokens for e in rows[0]] == [31, 6]  # 30+1 then 5+1 fit; 20+1, 10+1 wait
    assert sorted(e.encoder_tokens for e in left) == [11, 21]


def test_train_stream_resumes_exactly_and_ranks_differ():
    from uio.core.data import StreamState, TrainStream

    vocab = tiny_vocab()

    def pipeline(raw, rng):
        return example(vocab, [rng.randrange(40) for _ in range(rng.randint(3, 20))], [1, 2], task=raw["task"])

    sources = [([{"task": f"t{i}"} for i in range(50)], 1.0)]

    def stream(**kw):
        return iter(TrainStream(pipeline, sources, 0, 2, 64, 16, {"tokens": 1}, window=16, **kw))

    straight = [next(stream()) for _ in range(1)]
    it = stream()
    batches = [next(it) for _ in range(4)]
    resumed = stream(start=StreamState.from_dict(batches[1].stream_state))
    for want in batches[2:]:
        got = next(resumed)
        assert got.tasks == want.tasks
        assert (got.enc_special_ids == want.enc_special_ids).all()
    other_rank = next(stream(rank=1))
    assert other_rank.tasks != straight[0].tasks
