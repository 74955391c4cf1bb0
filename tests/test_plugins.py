"""Plugins as real distributions: discovery, broken plugins, the CLI, and the contract check.

Each test "installs" distributions by writing ``<dist>-<version>.dist-info`` folders
(METADATA + entry_points.txt) and the plugin modules into a temporary folder put on
``sys.path`` — what pip does, minus the copying — so ``importlib.metadata`` finds
them exactly as it finds an installed plugin. Nothing here touches ``uio.core``'s code.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

from uio.core.assembly import assemble
from uio.core.cli import main
from uio.core.config import ConfigError, load_config
from uio.plugins import API_VERSION, hookimpl
from uio.plugins.registry import (
    ENTRY_POINT_GROUP,
    PluginError,
    get_registry,
    load_registry,
    reset_registry,
)

pytest_plugins = ["uio.plugins.testing"]

# --------------------------------------------------------------------------- a third-party plugin

# A modality uio does not ship: digit strings, one token per digit, plus a dataset
# whose tasks reverse or sort them (after a text instruction). Imports only uio.plugins.
DIGITS_MODULE = """
import hashlib
import random

import torch
from pydantic import BaseModel, ConfigDict, Field

from uio.plugins import (
    API_VERSION, DatasetSpec, ModalitySpec, ObjectiveSpec, Segment, TaskExample, TaskSpec,
    hookimpl,
)

ALPHABET = "0123456789"


class DigitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_length: int = Field(12, ge=1)


class DigitsTokenizer:
    vocab_size = 10

    def __init__(self, config):
        self.config = config

    def encode(self, value):
        return [ALPHABET.index(c) for c in str(value)]

    def decode(self, ids):
        return "".join(ALPHABET[i] for i in ids if 0 <= i < 10)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def fingerprint(self):
        return hashlib.sha256(ALPHABET.encode()).hexdigest()[:16]


class DigitsProcessor:
    def __init__(self, config, tokenizer):
        self.config, self.tokenizer = config, tokenizer

    def input_segment(self, value, ctx):
        return Segment("digits", ids=torch.tensor(self.target_ids(value, ctx), dtype=torch.long))

    def target_ids(self, value, ctx):
        ids = self.tokenizer.encode(value)
        if len(ids) > self.config.max_length:
            raise ValueError(f"{ctx.example_id}: too many digits")
        return ids


class DigitsEncoder(torch.nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self._ctx = ctx

    def forward(self, payloads):
        return self._ctx.embed_ids(torch.cat(payloads).long())


class DigitsDecoder:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def decode(self, ids):
        return self.tokenizer.decode(ids)

    def score(self, prediction, reference):
        return {"exact_match": float(str(prediction) == str(reference))}

    def render(self, value):
        return str(value)


DIRECT = ObjectiveSpec(
    name="digits.direct", prefix="S", target_modalities=["digits"],
    apply=lambda example, rng, ctx: example,
)

SPEC = ModalitySpec(
    name="digits",
    api_version=API_VERSION,
    config_model=DigitsConfig,
    vocab_size=10,
    build_tokenizer=DigitsTokenizer,
    build_processor=DigitsProcessor,
    build_input_encoder=lambda config, ctx: DigitsEncoder(ctx),
    build_output_decoder=lambda config, tokenizer: DigitsDecoder(tokenizer),
    objectives=[DIRECT],
    description="digit strings",
)

RULES = {"digits.reverse": lambda d: d[::-1], "digits.sort": lambda d: "".join(sorted(d))}


def _task(name):
    def build(raw, rng):
        words = name.split(".")[1]
        prompt = rng.choice([f"{words} the digits", f"{words} these digits"])
        return TaskExample(
            inputs=[("text", prompt), ("digits", raw["digits"])],
            target=("digits", RULES[name](raw["digits"])),
        )
    return TaskSpec(name=name, build=build, target_modality="digits", objectives=["digits.direct"])


class DigitsDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: int = 16


def build_digits(options, split, seed):
    rng = random.Random(f"{split}:{seed}")
    names = sorted(RULES)
    return [
        {"id": f"{split}-{i}", "task": names[i % 2],
         "digits": "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 5)))}
        for i in range(options.examples)
    ]


@hookimpl
def uio_modalities():
    return [SPEC]


@hookimpl
def uio_tasks():
    return [_task(name) for name in sorted(RULES)]


@hookimpl
def uio_datasets():
    return [DatasetSpec(name="digits", build=build_digits, config_model=DigitsDataConfig)]
"""

IMPORT_FAILS = """
import uio_missing_dependency_xyz  # not installed: the plugin cannot import
"""

OLD_API = f"""
from uio.plugins import ModalitySpec, ObjectiveSpec, hookimpl

SPEC = ModalitySpec(
    name="legacy", api_version={API_VERSION + 1}, vocab_size=4,
    build_tokenizer=print, build_processor=print, build_input_encoder=print,
    build_output_decoder=print,
    objectives=[ObjectiveSpec(name="legacy.copy", prefix="S", target_modalities=["legacy"], apply=print)],
)

@hookimpl
def uio_modalities():
    return [SPEC]
"""

CLAIMS_DUPE = """
from uio.plugins import ModalitySpec, hookimpl

@hookimpl
def uio_modalities():
    return [ModalitySpec(
        name="dupe", api_version=1, vocab_size=4,
        build_tokenizer=print, build_processor=print, build_input_encoder=print,
        build_output_decoder=print,
    )]
"""

HOOK_TYPO = """
from uio.plugins import hookimpl

@hookimpl
def uio_modalites():  # sic
    return []
"""


class Site:
    """A folder on ``sys.path`` into which tests install distributions."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.root.mkdir()
        self.modules: list[str] = []
        self.entry_point_names: list[str] = []
        monkeypatch.syspath_prepend(str(root))
        # Hermetic: the built-in plugins and the ones installed here, whatever else
        # the developer's environment holds (e.g. examples/uio-digits installed).
        self._monkeypatch = monkeypatch
        self._builtin = [
            ep.name
            for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.dist is not None and ep.dist.metadata["Name"] == "uio"
        ]
        self._select()

    def _select(self) -> None:
        names = [*self._builtin, *self.entry_point_names]
        self._monkeypatch.setenv("UIO_LOAD_PLUGINS", ",".join(names))

    def install(self, dist: str, version: str, modules: dict[str, str]) -> None:
        """One distribution whose entry points are named like its modules' last word."""
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = [f"[{ENTRY_POINT_GROUP}]"]
        for module, source in modules.items():
            name = module.rsplit("_", 1)[-1]
            lines.append(f"{name} = {module}")
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
            self.modules.append(module)
            self.entry_point_names.append(name)
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        self._select()
        importlib.invalidate_caches()
        reset_registry()


@pytest.fixture
def site(tmp_path, monkeypatch):
    for var in ("UIO_STRICT_PLUGINS", "UIO_LOAD_PLUGINS", "UIO_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    reset_registry()
    s = Site(tmp_path / "site", monkeypatch)
    yield s
    for module in s.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()
    reset_registry()


def _plugins_json(capsys) -> dict[str, dict]:
    capsys.readouterr()
    assert main(["plugins", "list", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


# --------------------------------------------------------------------------- a new modality


def _write_digits_run(tmp_path: Path) -> Path:
    path = tmp_path / "digits.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: digits_test
            model:
              d_model: 32
              n_heads: 4
              encoder_layers: 1
              decoder_layers: 1
              mlp_dim: 64
              num_sentinels: 4
            modalities:
              text: {{vocab_size: 32}}
              digits: {{}}
            data:
              sources: [{{dataset: digits, options: {{examples: 24}}}}]
              encoder_length: 24
              decoder_length: 8
              batch_rows: 4
            train:
              max_steps: 5
              warmup_steps: 1
              log_every_n_steps: 1
              checkpoint_every_n_steps: 0
              tokenizer_fit_examples: 24
              out_dir: {tmp_path / "run"}
            generate:
              max_new_tokens: 6
            """
        )
    )
    return path


def test_third_party_modality_trains_and_generates(site, tmp_path, capsys) -> None:
    site.install("uio-testdigits", "0.3.1", {"uio_testplugin_testdigits": DIGITS_MODULE})

    rows = _plugins_json(capsys)
    assert rows["testdigits"] == {
        "name": "testdigits",
        "distribution": "uio-testdigits",
        "version": "0.3.1",
        "entry_point": "testdigits = uio_testplugin_testdigits",
        "modalities": ["digits"],
        "objectives": ["digits.direct"],
        "tasks": ["digits.reverse", "digits.sort"],
        "datasets": ["digits"],
        "status": "ok",
        "error": "",
    }
    assert rows["text"]["status"] == "ok"

    # Its own id range, right after text's: pad/eos/bos, 2 start tokens, 4 objective
    # prefixes (3 text + digits.direct), 4 sentinels = 13 special ids; text 32; digits 10.
    config = _write_digits_run(tmp_path)
    run = assemble(load_config(config))
    vocab = run.vocab
    assert (vocab.range("text").start, vocab.range("text").size) == (13, 32)
    assert (vocab.range("digits").start, vocab.range("digits").size) == (45, 10)
    assert vocab.to_global("digits", [0, 9]) == [45, 54]

    assert main(["train", str(config), "--no-progress"]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True, map_location="cpu")
    assert saved["global_step"] == 5
    manifest = {m["name"]: m for m in saved["uio"]["manifest"]["modalities"]}
    assert (manifest["digits"]["start"], manifest["digits"]["size"]) == (45, 10)
    assert manifest["digits"]["plugin_version"] == "0.3.1"

    capsys.readouterr()
    assert main(["generate", str(ckpt), "--json", "-n", "2"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    heldout = run.dataset("heldout")[:2]
    assert [r["id"] for r in results] == ["heldout-0", "heldout-1"]
    assert [r["task"] for r in results] == ["digits.reverse", "digits.sort"]
    assert [r["modality"] for r in results] == ["digits", "digits"]
    assert results[0]["reference"] == heldout[0]["digits"][::-1]
    assert results[1]["reference"] == "".join(sorted(heldout[1]["digits"]))
    for result, raw in zip(results, heldout, strict=True):
        assert re.fullmatch(r"[0-9]{0,6}", result["prediction"]), result
        assert result["input"].endswith(f" | {raw['digits']}")
        assert result["scores"] == {
            "exact_match": float(result["prediction"] == result["reference"])
        }


# --------------------------------------------------------------------------- broken plugins


BROKEN = ("importfail", "oldapi", "dupeone", "dupetwo", "typo")


@pytest.fixture
def broken_site(site):
    site.install("uio-importfail", "0.1.0", {"uio_testplugin_importfail": IMPORT_FAILS})
    site.install("uio-oldapi", "2.0.0", {"uio_testplugin_oldapi": OLD_API})
    site.install("uio-dupe-one", "1.0.0", {"uio_testplugin_dupeone": CLAIMS_DUPE})
    site.install("uio-dupe-two", "1.1.0", {"uio_testplugin_dupetwo": CLAIMS_DUPE})
    site.install("uio-typo", "0.0.1", {"uio_testplugin_typo": HOOK_TYPO})
    return site


def test_broken_plugins_are_listed_with_reason_and_fix(broken_site, capsys) -> None:
    rows = _plugins_json(capsys)
    assert {name for name, row in rows.items() if row["status"] != "ok"} == set(BROKEN)
    assert {name for name, row in rows.items() if row["status"] == "ok"} == {
        "text",
        "scenes",
        "jsonl",
        "box",
        "image",
        "audio",
        "sounds",
    }
    for name in BROKEN:
        row = rows[name]
        assert row["entry_point"] == f"{name} = uio_testplugin_{name}"
        assert row["distribution"].startswith("uio-")
        assert "fix:" in row["error"], row

    assert rows["importfail"]["distribution"] == "uio-importfail"
    assert rows["importfail"]["error"] == (
        "failed to import (ModuleNotFoundError: No module named 'uio_missing_dependency_xyz'); "
        "fix: reinstall uio-importfail with its dependencies, or uninstall it"
    )
    # The names a broken plugin would provide are kept, so errors can point at it.
    assert (rows["oldapi"]["modalities"], rows["oldapi"]["objectives"]) == (
        ["legacy"],
        ["legacy.copy"],
    )
    assert rows["oldapi"]["error"].startswith(
        f"modality 'legacy' declares api_version={API_VERSION + 1}, but this uio speaks plugin "
        f"API version {API_VERSION}; fix: upgrade the plugin"
    )
    assert (
        "also registered by plugin 'dupetwo' (distribution 'uio-dupe-two', entry point "
        "'dupetwo = uio_testplugin_dupetwo'); fix: uninstall one of them"
        in rows["dupeone"]["error"]
    )
    assert (
        "also registered by plugin 'dupeone' (distribution 'uio-dupe-one'"
        in rows["dupetwo"]["error"]
    )
    assert "unknown hook 'uio_modalites'" in rows["typo"]["error"]
    assert rows["typo"]["error"].endswith(
        "fix: rename the function or remove it (known hooks: uio_modalities, uio_objectives, "
        "uio_tasks, uio_datasets)"
    )

    registry = get_registry()
    assert sorted(registry.modalities) == ["audio", "box", "image", "text"]  # the others still load
    assert {"scene_qa", "jsonl", "sounds"} <= set(registry.datasets)
    with pytest.raises(
        PluginError,
        match=r"unknown modality 'legacy'.*plugin 'oldapi' would provide it but is broken: modality 'legacy' declares api_version=2",
    ):
        registry.modality("legacy")


def test_broken_plugin_named_in_config_errors(broken_site, tmp_path) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_text(
        "name: x\nmodalities: {text: {}, legacy: {}}\ndata: {sources: [{dataset: scene_qa}]}\n"
    )
    with pytest.raises(
        ConfigError, match=r"plugin 'oldapi' would provide it but is broken"
    ) as info:
        load_config(path)
    assert "modalities.legacy" in str(info.value)


def test_strict_mode_names_every_broken_plugin(broken_site, monkeypatch, capsys) -> None:
    monkeypatch.setenv("UIO_STRICT_PLUGINS", "1")
    reset_registry()
    with pytest.raises(PluginError) as info:
        get_registry()
    message = str(info.value)
    assert message.startswith("broken plugins (UIO_STRICT_PLUGINS is set):")
    for name in BROKEN:
        assert f"plugin {name!r} (distribution 'uio-" in message
        assert f"entry point '{name} = uio_testplugin_{name}'" in message
    assert len(message.splitlines()) == 1 + len(BROKEN)

    capsys.readouterr()
    assert main(["plugins", "list"]) == 2  # a user error: a message, no traceback
    assert "broken plugins (UIO_STRICT_PLUGINS is set)" in capsys.readouterr().err


def test_load_plugins_selects_entry_points(broken_site, monkeypatch) -> None:
    monkeypatch.setenv("UIO_LOAD_PLUGINS", "text")
    monkeypatch.setenv("UIO_STRICT_PLUGINS", "1")
    reset_registry()
    registry = get_registry()
    assert [(p.name, p.status) for p in registry.plugins] == [("text", "ok")]
    assert sorted(registry.modalities) == ["text"]
    assert registry.broken == []


# --------------------------------------------------------------------------- the CLI


def test_plugins_show_text_has_config_schema(site, capsys) -> None:
    capsys.readouterr()
    assert main(["plugins", "show", "text"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["name"], shown["distribution"], shown["status"]) == ("text", "uio", "ok")
    spec = shown["modality_specs"]["text"]
    schema = spec["config"]
    assert schema["title"] == "TextConfig"
    assert set(schema["properties"]) == {"vocab_size", "model_type", "max_length", "lowercase"}
    assert schema["properties"]["vocab_size"]["default"] == 512
    assert schema["additionalProperties"] is False
    assert spec["objectives"] == [
        "text.prefix_lm",
        "text.span_corruption",
        "text.extreme_span_corruption",
    ]

    assert main(["plugins", "show", "nonesuch"]) == 2
    assert "no plugin named 'nonesuch'" in capsys.readouterr().err


def test_version_lists_plugins(broken_site, capsys) -> None:
    capsys.readouterr()
    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "uio 0.1.0"
    assert lines[1] == "plugins:"
    assert "  text 0.1.0 (uio) ok" in lines
    assert "  scenes 0.1.0 (uio) ok" in lines
    typo = next(line for line in lines if line.startswith("  typo "))
    assert typo.startswith("  typo 0.0.1 (uio-typo) BROKEN: unknown hook 'uio_modalites'")


# --------------------------------------------------------------------------- uio.plugins.testing


class InProcess:
    """A plugin object (no module, no entry point): hooks as methods."""

    @hookimpl
    def uio_tasks(self):
        from uio.modalities.text.tasks import LM

        return [LM.model_copy(update={"name": "inproc.lm"})]


def test_uio_register_keeps_installed_plugins(uio_register) -> None:
    registry = uio_register("inproc", InProcess())
    assert "inproc.lm" in registry.tasks
    assert "text" in registry.modalities
    assert registry.plugin("inproc").distribution == ""
    assert get_registry() is registry  # the process-wide registry, as core code sees it

    class Typo:
        @hookimpl
        def uio_modalites(self):
            return []

    with pytest.raises(
        AssertionError, match=r"plugin 'typo' registered but is broken: unknown hook"
    ):
        uio_register("typo", Typo())
    assert uio_register("typo2", Typo(), expect_ok=False).plugin("typo2").status == "broken"


def test_uio_register_is_undone_after_the_test() -> None:
    assert "inproc.lm" not in get_registry().tasks
    assert {p.name for p in get_registry().plugins}.isdisjoint({"inproc", "typo", "typo2"})


def test_uio_isolated_registry(uio_isolated_registry) -> None:
    registry = uio_isolated_registry("inproc", InProcess())
    assert [p.name for p in registry.plugins] == ["inproc"]
    assert registry.modalities == {}
    assert load_registry().plugins == []  # direct loads see the switch too (and no extras)

    registry = uio_isolated_registry.use_builtin("text")
    assert [p.name for p in registry.plugins] == ["text", "inproc"]
    assert sorted(registry.modalities) == ["text"]


def test_contract_passes_on_text(uio_contract) -> None:
    from uio.modalities.text import TextConfig
    from uio.modalities.text.plugin import TEXT_SPEC

    samples = ["the cat sat on the mat", "a dog ran", "cats and dogs", "the end"]
    uio_contract(TEXT_SPEC, TextConfig(vocab_size=40), sample_values=samples)
    uio_contract(TEXT_SPEC, {"vocab_size": 40, "model_type": "bpe"}, sample_values=samples)


def test_contract_explains_violations(uio_contract) -> None:
    from uio.modalities.text import SentencePieceTokenizer, TextConfig
    from uio.modalities.text.plugin import TEXT_SPEC

    samples = ["the cat sat on the mat", "a dog ran"]

    class Overflowing(SentencePieceTokenizer):
        def encode(self, value):
            return [i + self.vocab_size for i in super().encode(value)]

    broken = TEXT_SPEC.model_copy(update={"build_tokenizer": Overflowing})
    with pytest.raises(AssertionError) as info:
        uio_contract(broken, TextConfig(vocab_size=40), sample_values=samples)
    message = str(info.value)
    assert message.startswith("modality 'text' breaks the uio plugin contract: ")
    assert "processor.input_segment(sample value #0 'the cat sat on the mat')" in message
    assert "is outside [0, vocab_size=40)" in message

    old = TEXT_SPEC.model_copy(update={"api_version": API_VERSION + 1})
    with pytest.raises(AssertionError, match=r"api_version: spec declares api_version=2 but"):
        uio_contract(old, TextConfig(vocab_size=40), sample_values=samples)

    with pytest.raises(AssertionError, match=r"trainable tokenizer: the tokenizer needs fitting"):
        uio_contract(TEXT_SPEC, TextConfig(vocab_size=40))

    wrong_name = TEXT_SPEC.model_copy(update={"name": "words"})
    with pytest.raises(
        AssertionError, match=r"segment.modality is 'text'; it must be the spec's name 'words'"
    ):
        uio_contract(wrong_name, TextConfig(vocab_size=40), sample_values=samples)

    class Lossy(SentencePieceTokenizer):
        def decode(self, ids):
            return super().decode(ids[:-1])

    lossy = TEXT_SPEC.model_copy(update={"build_tokenizer": Lossy})
    with pytest.raises(
        AssertionError,
        # The last piece is dropped; where pieces split depends on the tokenizer.
        match=r"the round trip gave 'the cat sat on the[^']*', which scores \{'exact_match': 0.0\}",
    ):
        uio_contract(lossy, TextConfig(vocab_size=40), sample_values=samples)

    class Unsafe(SentencePieceTokenizer):
        def state_dict(self):
            return {"config": self.config}  # a pydantic object: not loadable with weights_only

    unsafe = TEXT_SPEC.model_copy(update={"build_tokenizer": Unsafe})
    with pytest.raises(
        AssertionError,
        match=r"does not load with weights_only=True \(it holds a uio.modalities.text.config.TextConfig\); keep it to tensors and plain containers",
    ):
        uio_contract(unsafe, TextConfig(vocab_size=40), sample_values=samples)

    greedy = TEXT_SPEC.model_copy(update={"build_input_encoder": lambda cfg, ctx: _HoldsTable(ctx)})
    with pytest.raises(AssertionError, match=r"registers the core's shared embedding"):
        uio_contract(greedy, TextConfig(vocab_size=40), sample_values=samples)


class _HoldsTable(torch.nn.Module):
    def __init__(self, ctx):
        super().__init__()
        self.table = ctx.embed_ids

    def forward(self, payloads):
        return self.table(torch.cat(payloads))


def test_undecorated_hook_is_reported_not_ignored():
    import types

    from uio.plugins.registry import load_registry

    plugin = types.SimpleNamespace(uio_modalities=lambda: [])
    registry = load_registry([("forgetful", plugin)], use_entry_points=False)
    info = registry.plugin("forgetful")
    assert info.status == "broken"
    assert "uio_modalities" in info.error and "@hookimpl" in info.error
