"""A pytest plugin for modality authors: register plugins per test, check the contract.

Enable it in your package's ``tests/conftest.py`` (or a test module)::

    pytest_plugins = ["uio.plugins.testing"]

    def test_contract(uio_contract):
        uio_contract(MY_SPEC, sample_values=["0123", "42"])

Fixtures: ``uio_register(name, plugin)`` registers a plugin object in-process for
one test (installed plugins still load); ``uio_isolated_registry`` does the same
with entry-point discovery off (``.use_builtin("text")`` brings back chosen ones);
``uio_contract`` is :func:`check_modality_contract`.
"""

from __future__ import annotations

import io
import math
import pickle
import random
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import BaseModel

from uio.plugins.registry import (
    Registry,
    get_registry,
    register_in_process,
    reset_registry,
    unregister_in_process,
)
from uio.plugins.spec import (
    API_VERSION,
    EncoderContext,
    ModalitySpec,
    ObjectiveContext,
    ObjectiveExample,
    OutputDecoder,
    ProcessContext,
    Processor,
    Segment,
    Tokenizer,
    TrainableTokenizer,
)

__all__ = [
    "PluginSandbox",
    "check_modality_contract",
    "uio_contract",
    "uio_isolated_registry",
    "uio_register",
]

AUTOLOAD_ENV = "UIO_DISABLE_PLUGIN_AUTOLOAD"
SELECT_ENV = "UIO_LOAD_PLUGINS"


# --------------------------------------------------------------------------- fixtures


class PluginSandbox:
    """Registers plugin objects in-process for one test; everything is undone at teardown.

    Call it as ``sandbox(name, plugin)``: it registers the plugin, reloads the
    registry and returns it. Unless ``expect_ok=False``, a plugin that comes out
    broken fails the test with the registry's reason.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, isolated: bool) -> None:
        self._monkeypatch = monkeypatch
        self._names: list[str] = []
        self.isolated = isolated
        if isolated:
            monkeypatch.setenv(AUTOLOAD_ENV, "1")
            monkeypatch.delenv(SELECT_ENV, raising=False)
        reset_registry()

    def __call__(self, name: str, plugin: Any, *, expect_ok: bool = True) -> Registry:
        register_in_process(name, plugin)
        self._names.append(name)
        registry = get_registry()
        info = registry.plugin(name)
        if expect_ok and info.status != "ok":
            raise AssertionError(f"plugin {name!r} registered but is broken: {info.error}")
        return registry

    def use_builtin(self, *names: str) -> Registry:
        """Also discover these entry points (e.g. ``"text"``), and no others."""
        if not names:
            raise ValueError("use_builtin needs at least one entry-point name, e.g. 'text'")
        self._monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
        self._monkeypatch.setenv(SELECT_ENV, ",".join(names))
        reset_registry()
        return get_registry()

    @property
    def registry(self) -> Registry:
        """The process-wide registry as this test sees it."""
        return get_registry()

    def close(self) -> None:
        for name in self._names:
            unregister_in_process(name)
        self._names.clear()
        reset_registry()


@pytest.fixture
def uio_register(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSandbox]:
    """``uio_register(name, plugin)``: a plugin for this test, beside the installed ones."""
    sandbox = PluginSandbox(monkeypatch, isolated=False)
    yield sandbox
    sandbox.close()


@pytest.fixture
def uio_isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginSandbox]:
    """Like ``uio_register``, but no installed plugin loads unless ``use_builtin`` names it."""
    sandbox = PluginSandbox(monkeypatch, isolated=True)
    yield sandbox
    sandbox.close()


@pytest.fixture
def uio_contract():
    """:func:`check_modality_contract`, as a fixture."""
    return check_modality_contract


# --------------------------------------------------------------------------- the contract check

#: Where the check places the modality's range in its stand-in vocabulary: ids
#: below it play the special tokens, so an encoder that forgets the shift is caught.
_OFFSET = 8
_SENTINELS = (3, 4, 5, 6, 7)
_D_MODEL = 16


class _Violation(AssertionError):
    pass


def _fail(spec_name: str, check: str, detail: str) -> _Violation:
    return _Violation(f"modality {spec_name!r} breaks the uio plugin contract: {check}: {detail}")


@contextmanager
def _step(spec_name: str, check: str) -> Iterator[None]:
    """Turn an exception raised by plugin code into an AssertionError naming the step."""
    try:
        yield
    except _Violation:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of plugin code is a violation
        raise _fail(spec_name, check, f"raised {type(exc).__name__}: {exc}") from exc


def _require(condition: bool, spec_name: str, check: str, detail: str) -> None:
    if not condition:
        raise _fail(spec_name, check, detail)


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_ids(ids: Sequence[Any], vocab_size: int, name: str, check: str) -> list[int]:
    out = []
    for i in ids:
        _require(
            isinstance(i, int) and not isinstance(i, bool),
            name,
            check,
            f"ids must be Python ints, got {type(i).__name__} ({i!r})",
        )
        _require(
            0 <= i < vocab_size,
            name,
            check,
            f"local id {i} is outside [0, vocab_size={vocab_size}); local ids count from 0 "
            f"within the modality (the core shifts them into the unified vocabulary)",
        )
        out.append(i)
    return out


def _config_for(spec: ModalitySpec, config: Any) -> BaseModel:
    name = spec.name
    if config is None:
        with _step(name, f"config_model {spec.config_model.__name__}() with defaults"):
            return spec.config_model()
    if isinstance(config, spec.config_model):
        return config
    with _step(name, f"config_model {spec.config_model.__name__}.model_validate(config)"):
        return spec.config_model.model_validate(config)


def check_modality_contract(
    spec: ModalitySpec, config: Any = None, sample_values: list | None = None
) -> None:
    """Check a modality spec against the plugin contract; raise ``AssertionError`` on a violation.

    Args:
        spec: the spec your ``uio_modalities`` hook returns.
        config: the modality's config (an instance of ``spec.config_model`` or a
            dict for it); ``None``: the config model's defaults, which must exist.
        sample_values: raw values of the modality (e.g. strings for text). Needed
            to fit a trainable tokenizer and to check processing, round trips and
            scoring; without them only what needs no value is checked.

    Checked: the spec validates and speaks this uio's ``API_VERSION``; the
    tokenizer, processor, output decoder and input encoder build; a trainable
    tokenizer fits; input segments carry the modality's name and local ids in
    ``[0, vocab_size)``, as do target ids; decoding a value's ids gives back a
    value scoring 1.0 against it; the input encoder is an ``nn.Module`` returning
    ``[n, d_model]`` from global ids; the tokenizer state survives ``torch.save``
    and ``torch.load(weights_only=True)`` into a fresh tokenizer (same
    fingerprint, same ids); the processor pickles; objectives target the modality
    and return examples.
    """
    if not isinstance(spec, ModalitySpec):
        raise AssertionError(
            f"expected a uio.plugins.ModalitySpec, got {type(spec).__name__}; build it with "
            f"ModalitySpec(name=..., api_version=API_VERSION, ...)"
        )
    name = spec.name
    with _step(name, "ModalitySpec validation"):
        ModalitySpec(**{field: getattr(spec, field) for field in ModalitySpec.model_fields})
    _require(
        spec.api_version == API_VERSION,
        name,
        "api_version",
        f"spec declares api_version={spec.api_version} but this uio speaks {API_VERSION}; "
        f"fix: set api_version=uio.plugins.API_VERSION and update the plugin to that contract",
    )
    cfg = _config_for(spec, config)
    with _step(name, "vocab_size_for(config)"):
        vocab_size = spec.vocab_size_for(cfg)
    _require(vocab_size >= 0, name, "vocab_size", f"must be >= 0, got {vocab_size}")
    values = list(sample_values or [])

    tokenizer = _check_tokenizer(spec, cfg, vocab_size, values)
    with _step(name, "build_processor(config, tokenizer)"):
        processor = spec.build_processor(cfg, tokenizer)
    _require(
        isinstance(processor, Processor),
        name,
        "processor",
        f"{type(processor).__name__} lacks input_segment(value, ctx) or target_ids(value, ctx)",
    )
    with _step(name, "build_output_decoder(config, tokenizer)"):
        decoder = spec.build_output_decoder(cfg, tokenizer)
    _require(
        isinstance(decoder, OutputDecoder),
        name,
        "output decoder",
        f"{type(decoder).__name__} lacks decode(ids), score(prediction, reference) or render(value)",
    )

    segments = [
        _check_value(spec, vocab_size, tokenizer, processor, decoder, i, v)
        for i, v in enumerate(values)
    ]
    _check_encoder(spec, cfg, vocab_size, segments)
    _check_tokenizer_state(spec, cfg, tokenizer, values)
    _check_pickle(spec, processor, values)
    _check_objectives(spec, vocab_size, segments)


def _check_tokenizer(
    spec: ModalitySpec, cfg: BaseModel, vocab_size: int, values: list
) -> Tokenizer:
    name = spec.name
    with _step(name, "build_tokenizer(config)"):
        tokenizer = spec.build_tokenizer(cfg)
    _require(
        isinstance(tokenizer, Tokenizer),
        name,
        "tokenizer",
        f"{type(tokenizer).__name__} lacks part of the Tokenizer protocol (vocab_size, encode, "
        f"decode, state_dict, load_state_dict, fingerprint)",
    )
    _require(
        tokenizer.vocab_size == vocab_size,
        name,
        "tokenizer.vocab_size",
        f"tokenizer says {tokenizer.vocab_size} but the spec's vocab_size for this config is "
        f"{vocab_size}; they must agree (the spec's size is the modality's id range)",
    )
    if isinstance(tokenizer, TrainableTokenizer) and not tokenizer.is_fitted:
        _require(
            bool(values),
            name,
            "trainable tokenizer",
            "the tokenizer needs fitting; pass sample_values=[...] to check_modality_contract",
        )
        with tempfile.TemporaryDirectory(prefix=f"uio-contract-{name}-") as tmp:
            with _step(name, "tokenizer.fit(sample_values, out_dir)"):
                figures = tokenizer.fit(values, Path(tmp))
        _require(
            isinstance(figures, dict) and all(isinstance(v, int | float) for v in figures.values()),
            name,
            "tokenizer.fit",
            f"must return a dict of summary figures (str -> float), got {_preview(figures)}",
        )
        _require(tokenizer.is_fitted, name, "tokenizer.fit", "is_fitted is still False after fit")
    return tokenizer


def _check_value(
    spec: ModalitySpec,
    vocab_size: int,
    tokenizer: Tokenizer,
    processor: Processor,
    decoder: OutputDecoder,
    index: int,
    value: Any,
) -> Segment:
    name = spec.name
    where = f"sample value #{index} {_preview(value)}"
    ctx = ProcessContext(example_id=f"contract-{index}")
    with _step(name, f"processor.input_segment({where})"):
        segment = processor.input_segment(value, ctx)
    check = f"processor.input_segment({where})"
    _require(
        isinstance(segment, Segment),
        name,
        check,
        f"must return a uio.plugins.Segment, got {type(segment).__name__}",
    )
    _require(
        segment.modality == name,
        name,
        check,
        f"segment.modality is {segment.modality!r}; it must be the spec's name {name!r}",
    )
    if segment.ids is not None:
        _require(
            isinstance(segment.ids, torch.Tensor) and segment.ids.dim() == 1,
            name,
            check,
            "segment.ids must be a 1D tensor of local ids",
        )
        _require(
            not segment.ids.is_floating_point(),
            name,
            check,
            f"segment.ids must be integers, got dtype {segment.ids.dtype}",
        )
        _check_ids(segment.ids.tolist(), vocab_size, name, check)
    else:
        _require(segment.num_tokens > 0, name, check, "a features segment must set num_tokens > 0")
    if segment.positions is not None:
        _require(
            tuple(segment.positions.shape) == (segment.num_tokens, 2),
            name,
            check,
            f"positions must be [num_tokens={segment.num_tokens}, 2], got "
            f"{list(segment.positions.shape)}",
        )
    if vocab_size == 0:  # input-only: nothing to generate, decode or score
        return segment

    check = f"processor.target_ids({where})"
    with _step(name, check):
        target = processor.target_ids(value, ctx)
    _require(
        isinstance(target, list), name, check, f"must return a list, got {type(target).__name__}"
    )
    _check_ids(target, vocab_size, name, check)

    check = f"tokenizer.encode({where})"
    with _step(name, check):
        ids = tokenizer.encode(value)
    ids = _check_ids(list(ids), vocab_size, name, check)
    check = f"decoder.decode(tokenizer.encode({where}))"
    with _step(name, check):
        decoded = decoder.decode(ids)
        scores = decoder.score(decoded, value)
        rendered = decoder.render(decoded)
    _require(
        isinstance(scores, dict) and bool(scores),
        name,
        check,
        f"decoder.score must return a non-empty dict of metrics, got {_preview(scores)}",
    )
    _require(
        isinstance(rendered, str),
        name,
        check,
        f"decoder.render must return a str, got {type(rendered).__name__}",
    )
    if getattr(tokenizer, "lossy", False):
        # A lossy tokenizer (a VQ-GAN) cannot round-trip exactly: its scores need only be numbers.
        bad = {k: v for k, v in scores.items() if not math.isfinite(float(v))}
        _require(not bad, name, check, f"decoder.score gave non-finite metrics {bad}")
        return segment
    imperfect = {k: v for k, v in scores.items() if not math.isclose(float(v), 1.0)}
    _require(
        not imperfect,
        name,
        check,
        f"the round trip gave {_preview(decoded)}, which scores {imperfect} against the value "
        f"(expected 1.0 for every metric): encode and decode must invert each other up to what "
        f"score ignores",
    )
    return segment


def _check_encoder(
    spec: ModalitySpec, cfg: BaseModel, vocab_size: int, segments: list[Segment]
) -> None:
    name = spec.name
    table = torch.nn.Embedding(_OFFSET + max(vocab_size, 1), _D_MODEL)
    ctx = EncoderContext(d_model=_D_MODEL, embed_ids=table)
    with _step(name, "build_input_encoder(config, ctx)"):
        encoder = spec.build_input_encoder(cfg, ctx)
    _require(
        isinstance(encoder, torch.nn.Module),
        name,
        "input encoder",
        f"must be a torch.nn.Module, got {type(encoder).__name__}",
    )
    _require(
        all(p is not table.weight for p in encoder.parameters()),
        name,
        "input encoder",
        "registers the core's shared embedding as its own parameter (it would be counted and "
        "saved twice); keep the EncoderContext (self._ctx = ctx), not ctx.embed_ids",
    )
    payloads, total = [], 0
    for seg in segments:
        if seg.ids is not None:
            payloads.append(seg.ids + _OFFSET)  # the core hands the encoder global ids
        else:
            payloads.append(seg.features)
        total += seg.num_tokens
    if not payloads and vocab_size > 0:  # no sample values: a few ids of the range
        ids = torch.arange(min(vocab_size, 4), dtype=torch.long) + _OFFSET
        payloads, total = [ids], int(ids.numel())
    if not payloads:
        return
    check = f"input encoder on {len(payloads)} payload(s) of {total} tokens"
    with _step(name, check):
        out = encoder(payloads)
    _require(
        isinstance(out, torch.Tensor),
        name,
        check,
        f"must return a tensor, got {type(out).__name__}",
    )
    _require(
        tuple(out.shape) == (total, _D_MODEL),
        name,
        check,
        f"returned shape {list(out.shape)}, expected [{total}, {_D_MODEL}] (one row per token, "
        f"d_model={_D_MODEL}, all payloads concatenated in order)",
    )
    _require(
        out.is_floating_point() and bool(torch.isfinite(out).all()),
        name,
        check,
        "embeddings must be finite floats",
    )


def _check_tokenizer_state(
    spec: ModalitySpec, cfg: BaseModel, tokenizer: Tokenizer, values: list
) -> None:
    name = spec.name
    check = (
        "tokenizer.state_dict() -> torch.save -> torch.load(weights_only=True) -> fresh tokenizer"
    )
    with _step(name, check):
        fingerprint = tokenizer.fingerprint()
        buffer = io.BytesIO()
        torch.save(tokenizer.state_dict(), buffer)
        buffer.seek(0)
    _require(
        isinstance(fingerprint, str) and bool(fingerprint),
        name,
        "tokenizer.fingerprint()",
        f"must return a non-empty str, got {_preview(fingerprint)}",
    )
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:  # noqa: BLE001
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        why = f"it holds a {found.group(1)}" if found else f"{type(exc).__name__}: {exc}"
        raise _fail(
            name,
            check,
            f"the state does not load with weights_only=True ({why}); keep it to tensors and "
            f"plain containers (dict, list, str, int, float, bool), as checkpoints require",
        ) from exc
    with _step(name, check):
        fresh = spec.build_tokenizer(cfg)
        fresh.load_state_dict(state)
        restored = fresh.fingerprint()
    _require(
        restored == fingerprint,
        name,
        check,
        f"fingerprint {restored!r} after loading differs from {fingerprint!r}",
    )
    for i, value in enumerate(values):
        with _step(name, check):
            same = list(fresh.encode(value)) == list(tokenizer.encode(value))
        _require(same, name, check, f"sample value #{i} encodes differently after loading")


def _check_pickle(spec: ModalitySpec, processor: Processor, values: list) -> None:
    name = spec.name
    check = "pickle.dumps(processor) (processors run in dataloader workers)"
    with _step(name, check):
        clone = pickle.loads(pickle.dumps(processor))
    for i, value in enumerate(values):
        ctx = ProcessContext(example_id=f"contract-{i}")
        with _step(name, check):
            a = processor.input_segment(value, ctx)
            b = clone.input_segment(value, ctx)
        same = (a.ids is None and b.ids is None) or (
            a.ids is not None and b.ids is not None and torch.equal(a.ids, b.ids)
        )
        _require(
            same, name, check, f"the unpickled processor segments sample value #{i} differently"
        )


def _check_objectives(spec: ModalitySpec, vocab_size: int, segments: list[Segment]) -> None:
    name = spec.name
    ctx = ObjectiveContext(
        sentinel_ids=_SENTINELS, modality_ranges={name: (_OFFSET, _OFFSET + vocab_size)}
    )
    targets = [s for s in segments if s.ids is not None and s.ids.numel() > 0]
    for objective in spec.objectives:
        check = f"objective {objective.name!r}"
        _require(
            name in objective.target_modalities,
            name,
            check,
            f"target_modalities {objective.target_modalities} do not include {name!r}",
        )
        for seg in targets[:4]:
            example = ObjectiveExample(
                inputs=[], target=Segment(name, ids=seg.ids + _OFFSET), task="contract"
            )
            with _step(name, check):
                out = objective.apply(example, random.Random(0), ctx)
            _require(
                isinstance(out, ObjectiveExample),
                name,
                check,
                f"apply must return an ObjectiveExample, got {type(out).__name__}",
            )
            _require(out.target.ids is not None, name, check, "the returned target has no ids")
