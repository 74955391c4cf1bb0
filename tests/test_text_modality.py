"""The built-in text modality: tokenizer, processor, encoder, decoder, objectives, tasks."""

from __future__ import annotations

import io
import pickle
import random
import re

import pytest
import torch
from pydantic import ValidationError

from uio.modalities.text import (
    SentencePieceTokenizer,
    TextConfig,
    TextInputEncoder,
    TextOutputDecoder,
    TextProcessor,
    extreme_span_corruption,
    normalize_answer,
    prefix_lm,
    random_spans,
    span_corruption,
)
from uio.modalities.text.plugin import TEXT_SPEC
from uio.modalities.text.tasks import build_lm, build_seq2seq
from uio.plugins import (
    EncoderContext,
    ObjectiveContext,
    ObjectiveExample,
    OutputDecoder,
    ProcessContext,
    Processor,
    Segment,
    TrainableTokenizer,
)

WORDS = (
    "the a cat dog bird sees chases likes small big red blue green old young house tree "
    "river over under near quickly slowly and but runs sleeps eats jumps happy sad "
    "garden window yellow seven eleven stone paper glass music"
).split()
TEXT_RANGE = (10, 522)
SENTINELS = list(range(1000, 1100))
CTX = ObjectiveContext(sentinel_ids=SENTINELS, modality_ranges={"text": TEXT_RANGE})


def make_corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[SentencePieceTokenizer, dict]:
    tok = SentencePieceTokenizer(TextConfig(vocab_size=256))
    out = tmp_path_factory.mktemp("tok")
    figures = tok.fit(make_corpus(), out)
    return tok, {"figures": figures, "out": out}


# --------------------------------------------------------------------------- config


def test_config_validates() -> None:
    assert TextConfig().vocab_size == 512
    with pytest.raises(ValidationError):
        TextConfig(vocab_size=8)
    with pytest.raises(ValidationError):
        TextConfig(vocab_sise=100)  # extra="forbid" catches typos
    assert TEXT_SPEC.vocab_size_for(TextConfig(vocab_size=1000)) == 1000


# --------------------------------------------------------------------------- tokenizer


def test_fit_encode_decode_roundtrip(fitted) -> None:
    tok, info = fitted
    figures = info["figures"]
    assert tok.is_fitted
    assert isinstance(tok, TrainableTokenizer)
    assert (info["out"] / "text.model").stat().st_size > 0
    assert 0 < figures["pieces"] <= 256
    assert figures["pieces"] == tok.num_pieces
    assert figures["unk_rate"] == 0.0
    assert figures["mean_pieces_per_text"] >= 3  # at least one piece a word
    for text in make_corpus(50, seed=1):
        ids = tok.encode(text)
        assert ids and all(0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text


def test_decode_drops_ids_outside_model(fitted) -> None:
    tok, _ = fitted
    ids = tok.encode("the cat")
    assert tok.decode([*ids, tok.num_pieces, 10_000, -1]) == "the cat"


def test_unseen_characters_are_unknown(fitted) -> None:
    tok, _ = fitted
    assert 0 in tok.encode("the ZQ cat")


def test_state_dict_roundtrip_through_weights_only_load(fitted) -> None:
    tok, _ = fitted
    buf = io.BytesIO()
    torch.save(tok.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["model_proto"].dtype == torch.uint8
    fresh = SentencePieceTokenizer(TextConfig(vocab_size=256))
    assert not fresh.is_fitted
    fresh.load_state_dict(state)
    assert fresh.is_fitted
    assert re.fullmatch(r"[0-9a-f]{16}", tok.fingerprint())
    assert fresh.fingerprint() == tok.fingerprint()
    for text in make_corpus(20, seed=2):
        assert fresh.encode(text) == tok.encode(text)


def test_load_into_too_small_vocab_fails(fitted) -> None:
    tok, _ = fitted
    small = SentencePieceTokenizer(TextConfig(vocab_size=16))
    with pytest.raises(ValueError, match="vocab_size"):
        small.load_state_dict(tok.state_dict())


def test_pickle_roundtrip(fitted) -> None:
    tok, _ = fitted
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.fingerprint() == tok.fingerprint()
    assert clone.encode("the old dog runs") == tok.encode("the old dog runs")
    unfitted = pickle.loads(pickle.dumps(SentencePieceTokenizer(TextConfig())))
    assert not unfitted.is_fitted


def test_unfitted_tokenizer_errors_clearly() -> None:
    tok = SentencePieceTokenizer(TextConfig())
    for call in (
        lambda: tok.encode("hi"),
        lambda: tok.decode([1]),
        tok.state_dict,
        tok.fingerprint,
    ):
        with pytest.raises(RuntimeError, match=r"not fitted; run `uio fit-tokenizer CONFIG`"):
            call()


def test_fit_errors(tmp_path) -> None:
    tok = SentencePieceTokenizer(TextConfig(vocab_size=16))
    with pytest.raises(ValueError, match=r"text.vocab_size=16 is too small .* text.vocab_size >= \d+"):
        tok.fit(["abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ"] * 5, tmp_path)
    with pytest.raises(ValueError, match="no non-empty text"):
        tok.fit(["", "  "], tmp_path)
    with pytest.raises(TypeError, match=r"value #1: expected a string.*got dict"):
        tok.fit(["ok", {"a": 1}], tmp_path)


def test_lowercase_and_bpe(tmp_path) -> None:
    corpus = make_corpus(200)
    lower = SentencePieceTokenizer(TextConfig(vocab_size=128, lowercase=True))
    lower.fit([t.upper() for t in corpus], tmp_path / "lower")
    assert lower.encode("The Red CAT") == lower.encode("the red cat")
    assert lower.decode(lower.encode("The Red CAT")) == "the red cat"

    bpe = SentencePieceTokenizer(TextConfig(vocab_size=128, model_type="bpe"))
    bpe.fit(corpus, tmp_path / "bpe")
    assert bpe.num_pieces <= 128
    assert bpe.decode(bpe.encode(corpus[3])) == corpus[3]
    assert bpe.fingerprint() != lower.fingerprint()


def test_long_documents_are_not_dropped_from_training(tmp_path) -> None:
    # One 12k-character line: sentencepiece alone skips sentences over 4192 bytes.
    doc = " ".join(make_corpus(1000))
    assert len(doc) > 12_000
    tok = SentencePieceTokenizer(TextConfig(vocab_size=128))
    figures = tok.fit([doc], tmp_path)
    assert figures["unk_rate"] == 0.0
    assert tok.decode(tok.encode("green garden")) == "green garden"


# --------------------------------------------------------------------------- processor


def test_processor_makes_segments_and_targets(fitted) -> None:
    tok, _ = fitted
    proc = TextProcessor(TextConfig(vocab_size=256), tok)
    assert isinstance(proc, Processor)
    ctx = ProcessContext(example_id="ex-7")
    seg = proc.input_segment("the cat sees a bird", ctx)
    assert seg.modality == "text" and seg.ids.dtype == torch.long
    assert seg.ids.tolist() == tok.encode("the cat sees a bird")
    assert seg.num_tokens == len(tok.encode("the cat sees a bird"))
    assert proc.target_ids(7, ctx) == tok.encode("7")
    assert proc.target_ids(2.5, ctx) == tok.encode("2.5")
    assert proc.target_ids("", ctx) == []
    assert proc.input_segment("", ctx).num_tokens == 0


def test_processor_rejects_bad_values(fitted) -> None:
    tok, _ = fitted
    proc = TextProcessor(TextConfig(vocab_size=256, max_length=5), tok)
    ctx = ProcessContext(example_id="ex-42")
    with pytest.raises(TypeError, match=r"example 'ex-42'.*must be a string, got list"):
        proc.input_segment(["not", "text"], ctx)
    with pytest.raises(TypeError, match=r"example 'ex-42'.*got NoneType"):
        proc.target_ids(None, ctx)
    long_text = "the small red cat chases the big blue dog over the old tree"
    n = len(tok.encode(long_text))
    with pytest.raises(ValueError, match=rf"target of {n} tokens exceeds text.max_length=5"):
        proc.target_ids(long_text, ctx)
    with pytest.raises(ValueError, match=r"example 'ex-42'.*input.*starts 'the small red cat"):
        proc.input_segment(long_text, ctx)


def test_processor_pickles(fitted) -> None:
    tok, _ = fitted
    proc = pickle.loads(pickle.dumps(TextProcessor(TextConfig(vocab_size=256), tok)))
    assert proc.target_ids("a dog", ProcessContext()) == tok.encode("a dog")


# --------------------------------------------------------------------------- encoder


def test_input_encoder_uses_shared_embedding() -> None:
    emb = torch.nn.Embedding(2000, 8)
    enc = TEXT_SPEC.build_input_encoder(TextConfig(), EncoderContext(d_model=8, embed_ids=emb))
    assert isinstance(enc, TextInputEncoder)
    assert list(enc.parameters()) == []  # the embedding is the core's, not copied
    a, b = torch.tensor([10, 11, 1000]), torch.tensor([500])
    out = enc([a, b])
    assert out.shape == (4, 8)
    torch.testing.assert_close(out, emb(torch.tensor([10, 11, 1000, 500])))
    out.sum().backward()
    assert emb.weight.grad[10].abs().sum() > 0 and emb.weight.grad[12].abs().sum() == 0


# --------------------------------------------------------------------------- decoder


def test_output_decoder(fitted) -> None:
    tok, _ = fitted
    dec = TEXT_SPEC.build_output_decoder(TextConfig(), tok)
    assert isinstance(dec, TextOutputDecoder) and isinstance(dec, OutputDecoder)
    assert dec.decode(tok.encode("a happy dog")) == "a happy dog"
    assert dec.score("  The   Cat sleeps.", "the cat sleeps") == {"exact_match": 1.0}
    assert dec.score("the cat!?", "The cat") == {"exact_match": 1.0}
    assert dec.score("the cat", "the dog") == {"exact_match": 0.0}
    assert dec.score("a dog", ["the cat", "A dog."]) == {"exact_match": 1.0}
    assert dec.score("e.g. cat", "eg cat") == {"exact_match": 0.0}  # only trailing punctuation
    assert normalize_answer(" Hello,\n World... ") == "hello, world"
    assert dec.render("line one\n  line two") == "line one line two"


# --------------------------------------------------------------------------- objectives


def _example(ids: list[int], inputs: list[Segment] | None = None) -> ObjectiveExample:
    return ObjectiveExample(
        inputs=inputs or [],
        target=Segment(modality="text", ids=torch.tensor(ids, dtype=torch.long)),
        task="text.lm",
    )


def _random_ids(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(*TEXT_RANGE) for _ in range(n)]


def _reconstruct(corrupted: list[int], target: list[int]) -> tuple[list[int], int]:
    """Put the target's spans back in place of the sentinels; also count the spans."""
    spans: dict[int, list[int]] = {}
    current = None
    for i in target:
        if i in SENTINELS:
            current = i
            spans[current] = []
        else:
            assert current is not None, "target must start with a sentinel"
            spans[current].append(i)
    assert list(spans) == SENTINELS[: len(spans)]  # sentinels used in order
    out = [t for i in corrupted for t in (spans[i] if i in SENTINELS else [i])]
    return out, len(spans)


@pytest.mark.parametrize("objective", [span_corruption, extreme_span_corruption])
def test_span_corruption_reconstructs(objective) -> None:
    for seed in range(30):
        n = random.Random(seed).choice([1, 2, 3, 7, 50, 333])
        ids = _random_ids(n, seed)
        prior = Segment(modality="text", ids=torch.tensor([11, 12]))
        ex = _example(ids, inputs=[prior])
        out = objective(ex, random.Random(seed), CTX)
        assert out.task == "text.lm"
        assert len(out.inputs) == 2 and out.inputs[0] is prior  # appended after inputs
        corrupted = out.inputs[1].ids.tolist()
        rebuilt, num_spans = _reconstruct(corrupted, out.target.ids.tolist())
        assert rebuilt == ids
        assert num_spans >= 1
        assert ex.target.ids.tolist() == ids and len(ex.inputs) == 1  # input not mutated


def _noise_fraction(objective, lengths: range) -> float:
    fractions = []
    for seed, n in enumerate(lengths):
        out = objective(_example(_random_ids(n, seed)), random.Random(seed), CTX)
        target = out.target.ids.tolist()
        fractions.append(sum(1 for i in target if i not in SENTINELS) / n)
    return sum(fractions) / len(fractions)


def test_noise_fractions() -> None:
    regular = _noise_fraction(span_corruption, range(100, 400, 7))
    extreme = _noise_fraction(extreme_span_corruption, range(100, 400, 7))
    assert abs(regular - 0.15) < 0.01
    assert abs(extreme - 0.5) < 0.01
    # Mean span length about 3 for [R]: n=300 -> 45 noise tokens in about 15 spans.
    out = span_corruption(_example(_random_ids(300, 0)), random.Random(0), CTX)
    assert 13 <= sum(1 for i in out.target.ids.tolist() if i in SENTINELS) <= 17
    # [X] on 300 tokens: 150 noise tokens in spans of mean length 32 -> 5 spans.
    out = extreme_span_corruption(_example(_random_ids(300, 0)), random.Random(0), CTX)
    assert sum(1 for i in out.target.ids.tolist() if i in SENTINELS) == 5


def test_never_more_spans_than_sentinels() -> None:
    ctx = ObjectiveContext(sentinel_ids=SENTINELS[:2], modality_ranges={"text": TEXT_RANGE})
    ids = _random_ids(300, 3)
    out = span_corruption(_example(ids), random.Random(3), ctx)
    rebuilt, num_spans = _reconstruct(out.inputs[0].ids.tolist(), out.target.ids.tolist())
    assert rebuilt == ids and num_spans == 2
    assert out.target.num_tokens - num_spans == 45  # still 15% noise, in longer spans
    no_sentinels = ObjectiveContext(sentinel_ids=[], modality_ranges={"text": TEXT_RANGE})
    with pytest.raises(ValueError, match="sentinel"):
        span_corruption(_example(ids), random.Random(0), no_sentinels)


def test_random_spans_are_well_formed() -> None:
    for seed in range(200):
        rng = random.Random(seed)
        n, density, mean = rng.randint(1, 60), rng.choice([0.15, 0.5]), rng.choice([2, 3, 8])
        spans = random_spans(n, density, mean, 100, rng)
        assert spans and all(0 <= s < e <= n for s, e in spans)
        # separated by at least one clean token, so no two sentinels are adjacent
        assert all(e < s2 for (_, e), (s2, _) in zip(spans, spans[1:], strict=False))
        expected = 1 if n == 1 else min(max(round(n * density), 1), n - 1)
        assert sum(e - s for s, e in spans) == expected
    assert random_spans(0, 0.15, 3, 100, random.Random(0)) == []


def test_objectives_are_deterministic_by_seed() -> None:
    ids = _random_ids(120, 5)
    for objective in (span_corruption, extreme_span_corruption, prefix_lm):
        a = objective(_example(ids), random.Random(9), CTX)
        b = objective(_example(ids), random.Random(9), CTX)
        assert a.target.ids.tolist() == b.target.ids.tolist()
        assert [s.ids.tolist() for s in a.inputs] == [s.ids.tolist() for s in b.inputs]
        targets = {
            tuple(objective(_example(ids), random.Random(s), CTX).target.ids.tolist())
            for s in range(5)
        }
        assert len(targets) > 1


def test_prefix_lm() -> None:
    for n in (2, 3, 40):
        ids = _random_ids(n, 1)
        cuts = set()
        for seed in range(60):
            out = prefix_lm(_example(ids), random.Random(seed), CTX)
            prefix, rest = out.inputs[0].ids.tolist(), out.target.ids.tolist()
            assert prefix and rest and prefix + rest == ids
            assert out.task == "text.lm"
            cuts.add(len(prefix))
        assert len(cuts) == n - 1 if n < 40 else len(cuts) > 20
    with_inputs = _example(ids, inputs=[Segment(modality="text", ids=torch.tensor([10]))])
    assert prefix_lm(with_inputs, random.Random(0), CTX) is with_inputs
    single = _example([42])
    assert prefix_lm(single, random.Random(0), CTX).target.ids.tolist() == [42]
    assert not prefix_lm(single, random.Random(0), CTX).inputs


# --------------------------------------------------------------------------- tasks and registry


def test_tasks() -> None:
    lm = build_lm({"task": "text.lm", "text": "hello"}, random.Random(0))
    assert lm.inputs == [] and lm.target == ("text", "hello")

    plain = build_seq2seq({"task": "text.seq2seq", "input": "x", "target": "y"}, random.Random(0))
    assert plain.inputs == [("text", "x")] and plain.target == ("text", "y")
    raw = {"task": "text.seq2seq", "input": "chat", "target": "cat", "instruction": ["Tr:", "En:"]}
    seen = {build_seq2seq(raw, random.Random(s)).inputs[0][1] for s in range(20)}
    assert seen == {"Tr: chat", "En: chat"}

    with pytest.raises(ValueError, match=r"'text.seq2seq'.*'target'.*\['input', 'task'\]"):
        build_seq2seq({"task": "text.seq2seq", "input": "x"}, random.Random(0))
    with pytest.raises(ValueError, match=r"'text.lm' \(example 'e1'\) needs field 'text'"):
        build_lm({"task": "text.lm", "id": "e1", "body": "x"}, random.Random(0))


def test_registry_discovers_text_plugin() -> None:
    from uio.plugins.registry import load_registry

    registry = load_registry()
    assert registry.plugin("text").status == "ok", registry.plugin("text").error
    assert "text" in registry.modalities
    assert {"text.lm", "text.seq2seq"} <= set(registry.tasks)
    assert {o.prefix for o in registry.objectives_for("text")} >= {"S", "R", "X"}
    assert registry.task("text.seq2seq").objectives == ["text.prefix_lm"]
