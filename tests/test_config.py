"""Run configs: composition, overrides, presets, and every error reported at once."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict, Field

from uio.core import presets
from uio.core.config import (
    COMMAND_LINE,
    ConfigError,
    config_to_yaml,
    load_config,
    unified_vocab_size,
)
from uio.plugins import (
    API_VERSION,
    DatasetSpec,
    EmptyConfig,
    ModalitySpec,
    ObjectiveSpec,
    TaskSpec,
    hookimpl,
)
from uio.plugins.registry import load_registry

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- a fake registry


class MyModalityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vocab_size: int = Field(100, ge=1)


class ToyDataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    examples: int = Field(10, ge=0)


def _unused(*args):
    raise AssertionError("config validation must not build anything")


def _modality(name: str, config_model: type[BaseModel], vocab, objectives=()) -> ModalitySpec:
    return ModalitySpec(
        name=name,
        api_version=API_VERSION,
        config_model=config_model,
        vocab_size=vocab,
        build_tokenizer=_unused,
        build_processor=_unused,
        build_input_encoder=_unused,
        build_output_decoder=_unused,
        objectives=[
            ObjectiveSpec(name=o, prefix="R", target_modalities=[name], apply=_unused)
            for o in objectives
        ],
    )


def _plugin(modalities=(), datasets=(), tasks=()) -> SimpleNamespace:
    @hookimpl
    def uio_modalities():
        return list(modalities)

    @hookimpl
    def uio_datasets():
        return list(datasets)

    @hookimpl
    def uio_tasks():
        return list(tasks)

    return SimpleNamespace(
        uio_modalities=uio_modalities, uio_datasets=uio_datasets, uio_tasks=uio_tasks
    )


@pytest.fixture(scope="module")
def registry():
    main = _plugin(
        modalities=[
            _modality(
                "my_modality",
                MyModalityConfig,
                lambda cfg: cfg.vocab_size,
                ["my_modality.denoise", "my_modality.prefix_lm"],
            ),
            _modality("other_modality", EmptyConfig, 1000),
        ],
        datasets=[DatasetSpec(name="toy", build=_unused, config_model=ToyDataConfig)],
        tasks=[
            TaskSpec(name="toy.ask", build=_unused, target_modality="my_modality"),
            TaskSpec(name="toy.other", build=_unused, target_modality="other_modality"),
        ],
    )
    # Two plugins claiming one modality are both broken (the registry's rule).
    clash = [_modality("clash", EmptyConfig, 1)]
    reg = load_registry(
        [("fake", main), ("dup_a", _plugin(clash)), ("dup_b", _plugin(clash))],
        use_entry_points=False,
        strict=False,
    )
    assert set(reg.modalities) == {"my_modality", "other_modality"}
    return reg


VALID = """\
name: t
modalities:
  my_modality: {vocab_size: 64}
data:
  sources: [{dataset: toy}]
"""


def write(root: Path, rel: str, content: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def errors_of(path, registry, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, registry=registry)
    return info.value


# --------------------------------------------------------------------------- composition


def test_composition_precedence_and_sources(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "model/m.yaml", "preset: tiny\nd_model: 64\n")
    write(
        tmp_path,
        "data/d.yaml",
        "sources: [{dataset: toy, options: {examples: 5}}]\nencoder_length: 100\nbatch_rows: 8\n",
    )
    exp = write(
        tmp_path,
        "exp/e.yaml",
        """\
include:
  model: ../model/m.yaml
  data: ../data/d.yaml
name: run1
modalities:
  my_modality: {vocab_size: 64}
  other_modality:
data:
  batch_rows: 4
train:
  max_steps: 50
""",
    )
    cfg = load_config(exp, ["train.max_steps=7", "data.sources[0].weight=2.5"], registry=registry)
    run = cfg.run
    assert run.model.d_model == 64  # the file wins over its preset
    assert run.model.mlp_dim == 512 and run.model.encoder_layers == 3  # from preset tiny
    assert run.model.head_dim == 16  # d_model // n_heads
    assert run.data.encoder_length == 100  # from the included file
    assert run.data.batch_rows == 4  # the including file wins over its include
    assert run.train.max_steps == 7  # the command line wins over every file
    assert run.data.sources[0].weight == 2.5
    assert run.data.sources[0].options == {"examples": 5}
    assert list(run.modalities) == ["my_modality", "other_modality"]  # order kept
    assert run.train.out_dir == "runs/run1"  # the default's interpolation of `name`
    assert cfg.path == exp.resolve()
    assert cfg.sources["model.d_model"] == "model/m.yaml"
    assert cfg.sources["model.mlp_dim"] == "preset tiny"
    assert cfg.sources["data.encoder_length"] == "data/d.yaml"
    assert cfg.sources["data.batch_rows"] == "exp/e.yaml"
    assert cfg.sources["data.sources[0].options.examples"] == "data/d.yaml"
    assert cfg.sources["train.max_steps"] == COMMAND_LINE
    assert cfg.sources["data.sources[0].weight"] == COMMAND_LINE
    assert cfg.modality_configs["my_modality"] == MyModalityConfig(vocab_size=64)
    assert cfg.dataset_configs == [ToyDataConfig(examples=5)]


def test_list_include_recursion_and_cycle(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "base.yaml", VALID + "seed: 1\ntrain: {lr: 0.5}\n")
    write(tmp_path, "parts/a.yaml", "include: [../base.yaml]\nseed: 2\n")
    write(tmp_path, "parts/b.yaml", "seed: 3\ntrain: {max_steps: 9}\n")
    exp = write(tmp_path, "e.yaml", "include: [parts/a.yaml, parts/b.yaml]\n")
    run = load_config(exp, registry=registry).run
    assert (run.seed, run.train.lr, run.train.max_steps) == (3, 0.5, 9)

    write(tmp_path, "c1.yaml", "include: [c2.yaml]\n" + VALID)
    write(tmp_path, "c2.yaml", "include: [c1.yaml]\n")
    (issue,) = errors_of(tmp_path / "c1.yaml", registry).errors
    assert (issue.file, issue.key) == ("c2.yaml", "include[0]")
    assert "include cycle: c1.yaml -> c2.yaml -> c1.yaml" in issue.message


def test_dotted_objective_names_survive_overrides(tmp_path, registry):
    exp = write(tmp_path, "e.yaml", VALID + "objectives: {weights: {my_modality.denoise: 1.0}}\n")
    cfg = load_config(
        exp,
        [
            "objectives.weights.my_modality.denoise=0.25",
            "objectives.weights.my_modality.prefix_lm=2",
        ],
        registry=registry,
    )
    assert cfg.run.objectives.weights == {"my_modality.denoise": 0.25, "my_modality.prefix_lm": 2.0}


def test_interpolation(tmp_path, registry):
    exp = write(
        tmp_path, "e.yaml", VALID + "train: {out_dir: 'out/${name}-${seed}-${train.max_steps}'}\n"
    )
    assert load_config(exp, registry=registry).run.train.out_dir == "out/t-0-1000"
    bad = write(tmp_path, "bad.yaml", VALID + "eval: {split: '${nme}'}\n")
    (issue,) = errors_of(bad, registry).errors
    assert issue.key == "eval.split" and "nme" in issue.message


def test_round_trip_through_yaml_and_base(tmp_path, registry):
    cfg = load_config(write(tmp_path, "e.yaml", VALID), ["model.preset=base"], registry=registry)
    shown = config_to_yaml(cfg)
    again = load_config(write(tmp_path, "shown.yaml", shown), registry=registry)
    assert again.to_container() == cfg.to_container()
    assert (
        load_config(None, base=cfg.to_container(), registry=registry).to_container()
        == cfg.to_container()
    )
    assert cfg.to_container()["modalities"] == {"my_modality": {"vocab_size": 64}}
    assert cfg.to_container()["data"]["sources"][0]["options"] == {
        "examples": 10
    }  # defaults filled


# --------------------------------------------------------------------------- presets


def test_presets_fill_unset_fields_and_explicit_fields_win(tmp_path, registry):
    exp = write(tmp_path, "e.yaml", VALID + "model: {preset: small, d_model: 320, dropout: 0.1}\n")
    model = load_config(exp, registry=registry).run.model
    assert (model.d_model, model.dropout) == (320, 0.1)
    assert (model.n_heads, model.encoder_layers, model.decoder_layers, model.mlp_dim) == (
        4,
        4,
        4,
        1024,
    )
    assert model.head_dim == 80

    large = load_config(
        exp,
        ["model={preset: uio2-large}", "model.d_model=1024", "model.dropout=0"],
        registry=registry,
    ).run.model
    assert (large.d_model, large.n_heads, large.head_dim, large.mlp_dim) == (1024, 16, 64, 2816)
    assert (large.encoder_layers, large.decoder_layers) == (24, 24)
    assert (large.attention, large.mlp, large.rotary, large.z_loss) == (
        "qk_norm",
        "swiglu",
        True,
        1e-4,
    )
    assert (
        presets.get_preset("uio2-xxl")["head_dim"] * presets.get_preset("uio2-xxl")["n_heads"]
        == 3072
    )


def test_unknown_preset_and_preset_registry(tmp_path, registry):
    exp = write(tmp_path, "e.yaml", VALID + "model: {preset: smal}\n")
    (issue,) = errors_of(exp, registry).errors
    assert issue.key == "model.preset" and "did you mean 'small'" in issue.message
    with pytest.raises(KeyError, match="did you mean 'tiny'"):
        presets.get_preset("tinny")
    try:
        presets.register_preset("test-only", d_model=8)
        with pytest.warns(UserWarning, match="overwritten"):
            presets.register_preset("test-only", d_model=16)
        assert presets.get_preset("test-only") == {"d_model": 16}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            presets.register_preset("test-only-2", d_model=8)  # a new name: no warning
    finally:
        presets._PRESETS.pop("test-only", None)
        presets._PRESETS.pop("test-only-2", None)
    assert presets.list_presets()[:3] == ["tiny", "small", "base"]


# --------------------------------------------------------------------------- errors


def test_many_mistakes_give_one_error_listing_all(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "model/m.yaml", "preset: tiny\nd_model: big\n")
    exp = write(
        tmp_path,
        "exp/e.yaml",
        """\
include: {model: ../model/m.yaml}
name: t
modalities:
  my_modalty: {}
  my_modality: {vocab_size: 0}
data:
  sources:
    - {dataset: toi}
    - {dataset: toy, options: {exampels: 3}, tasks: [toy.ask, toy.nope, toy.other]}
objectives: {weights: {my_modality.denose: 1.0}}
generate: {strategy: nucleus}
train: {max_step: 10}
trian: {}
""",
    )
    error = errors_of(exp, registry, ["eval.batch_size=-1", "oops"])
    found = {(i.file, i.key) for i in error.errors}
    assert found == {
        ("model/m.yaml", "model.d_model"),
        ("exp/e.yaml", "modalities.my_modalty"),
        ("exp/e.yaml", "modalities.my_modality.vocab_size"),
        ("exp/e.yaml", "data.sources[0].dataset"),
        ("exp/e.yaml", "data.sources[1].options.exampels"),
        ("exp/e.yaml", "data.sources[1].tasks[1]"),
        ("exp/e.yaml", "data.sources[1].tasks[2]"),  # produces a modality the run lacks
        ("exp/e.yaml", "objectives.weights.my_modality.denose"),
        ("exp/e.yaml", "generate.strategy"),
        ("exp/e.yaml", "train.max_step"),
        ("exp/e.yaml", "trian"),
        (COMMAND_LINE, "eval.batch_size"),
        (COMMAND_LINE, "oops"),
    }
    text = str(error).splitlines()
    assert text[0] == f"{len(error.errors)} problems in exp/e.yaml:"
    assert len(text) == len(error.errors) + 1
    by_key = {i.key: i for i in error.errors}
    assert by_key["model.d_model"].given == "big" and "int" in by_key["model.d_model"].expected
    assert "did you mean 'toy'" in by_key["data.sources[0].dataset"].message
    assert "did you mean 'examples'" in by_key["data.sources[1].options.exampels"].message
    assert (
        "did you mean 'my_modality.denoise'"
        in by_key["objectives.weights.my_modality.denose"].message
    )
    assert "'other_modality'" in by_key["data.sources[1].tasks[2]"].message
    assert "  exp/e.yaml:generate.strategy: Input should be" in str(error)
    assert "(given: 'nucleus'; expected: 'greedy' | 'sample' | 'beam')" in str(error)
    assert by_key["oops"].expected == "KEY=VALUE"


def test_did_you_mean_for_keys_and_modalities(tmp_path, registry):
    exp = write(
        tmp_path, "e.yaml", VALID.replace("my_modality:", "my_modalty:") + "train: {max_step: 5}\n"
    )
    by_key = {i.key: i for i in errors_of(exp, registry).errors}
    assert set(by_key) == {"train.max_step", "modalities.my_modalty"}
    assert "unknown key 'max_step'; did you mean 'max_steps'?" in by_key["train.max_step"].message
    assert "max_steps" in by_key["train.max_step"].expected
    assert "did you mean 'my_modality'?" in by_key["modalities.my_modalty"].message


def test_name_of_a_broken_plugin_is_explained(tmp_path, registry):
    exp = write(
        tmp_path,
        "e.yaml",
        VALID.replace(
            "  my_modality: {vocab_size: 64}", "  my_modality: {vocab_size: 64}\n  clash: {}"
        ),
    )
    (issue,) = errors_of(exp, registry).errors
    assert issue.key == "modalities.clash"
    assert "plugin 'dup_a' would provide it but is broken" in issue.message


def test_missing_include_file(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    exp = write(
        tmp_path,
        "exp/e.yaml",
        "include: {data: ../data/nope.yaml}\nname: t\nmodalities: {my_modality: {}}\n",
    )
    (issue,) = errors_of(exp, registry).errors  # no "data.sources is missing" noise
    assert (issue.file, issue.key) == ("exp/e.yaml", "include.data")
    assert issue.message == "file not found: data/nope.yaml"
    (issue,) = errors_of(tmp_path / "absent.yaml", registry).errors
    assert issue.message == "file not found: absent.yaml"


def test_yaml_syntax_error_names_the_line(tmp_path, monkeypatch, registry):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bad.yaml", "seed: 1\ntrain:\n  max_steps: [1, 2\n  lr: 3\n")
    exp = write(tmp_path, "e.yaml", "include: [bad.yaml]\n" + VALID)
    (issue,) = errors_of(exp, registry).errors
    assert issue.file == "bad.yaml" and issue.line == 4
    assert str(issue).startswith("bad.yaml:4: YAML syntax error")


def test_override_errors(tmp_path, registry):
    exp = write(tmp_path, "e.yaml", VALID)
    by_key = {
        i.key: i
        for i in errors_of(
            exp,
            registry,
            [
                "train.max_steps",
                "data.sources[3].weight=1",
                "data.sources.x=1",
                "a..b=1",
                "train.grad_clip=[1",
                "train.lr=fast",
            ],
        ).errors
    }
    assert by_key["train.max_steps"].message == "override without '='"
    assert "out of range" in by_key["data.sources[3].weight"].message
    assert "is a list" in by_key["data.sources.x"].message
    assert by_key["a..b"].message == "malformed override key"
    assert "cannot parse the value" in by_key["train.grad_clip"].message
    assert by_key["train.lr"].given == "fast" and "float" in by_key["train.lr"].expected
    assert all(i.file == COMMAND_LINE for i in by_key.values())


def test_vocabulary_overflow(tmp_path, registry):
    exp = write(
        tmp_path,
        "e.yaml",
        VALID.replace("{vocab_size: 64}", "{vocab_size: 64}\n  other_modality: {}"),
    )
    # 1 pad + 2 (eos, bos) + 2 starts + 2 objective prefixes + 100 sentinels + 64 + 1000
    cfg = load_config(exp, ["model.vocab_size=1171"], registry=registry)
    assert unified_vocab_size(cfg.run, cfg.modality_configs, registry) == 1171
    (issue,) = errors_of(exp, registry, ["model.vocab_size=1000"]).errors
    assert (issue.file, issue.key, issue.given, issue.expected) == (
        COMMAND_LINE,
        "model.vocab_size",
        1000,
        ">= 1171",
    )
    assert "vocabulary overflow" in issue.message
    assert "needs 1171 ids" in issue.message
    assert "special tokens 107, my_modality 64, other_modality 1000" in issue.message


def test_head_dim_must_divide(tmp_path, registry):
    exp = write(tmp_path, "e.yaml", VALID + "model: {d_model: 100, n_heads: 3}\n")
    (issue,) = errors_of(exp, registry).errors
    assert issue.key == "model.head_dim" and "not divisible" in issue.message
    ok = load_config(exp, ["model.head_dim=32"], registry=registry).run.model
    assert ok.head_dim == 32


# --------------------------------------------------------------------------- the repo's configs


def _real_registry():
    reg = load_registry()
    missing = [
        n for n, table in (("text", reg.modalities), ("scene_qa", reg.datasets)) if n not in table
    ]
    if missing:
        reasons = "; ".join(f"{p.name}: {p.error}" for p in reg.broken)
        pytest.skip(
            f"plugins not importable yet ({', '.join(missing)} missing; {reasons or 'none broken'})"
        )
    return reg


CONFIGS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("rel", CONFIGS)
def test_every_repo_config_loads(rel, tmp_path):
    registry = _real_registry()
    path = REPO / rel
    kind = Path(rel).parts[1]
    if kind == "experiment":
        cfg = load_config(path, registry=registry)
        assert cfg.run.name
        return
    # A fragment: compose it into a run with the other fragments' defaults.
    model = path if kind == "model" else REPO / "configs/model/tiny.yaml"
    data = path if kind == "data" else REPO / "configs/data/scene_qa.yaml"
    exp = write(
        tmp_path,
        "e.yaml",
        f"include: {{model: '{model}', data: '{data}'}}\n"
        "name: check\nmodalities: {text: {vocab_size: 256}}\n",
    )
    cfg = load_config(exp, registry=registry)
    if kind == "model":
        assert cfg.run.model.preset == path.stem
        assert cfg.run.model.d_model == presets.get_preset(path.stem)["d_model"]


def test_default_experiment_numbers():
    registry = _real_registry()
    cfg = load_config(REPO / "configs/experiment/default.yaml", registry=registry)
    run = cfg.run
    assert run.model.preset == "tiny" and run.model.d_model == 128
    assert [s.dataset for s in run.data.sources] == ["scene_vision", "scene_qa", "sounds"]
    assert set(run.modalities) == {"text", "image", "box", "audio"}
    assert run.modalities["image"]["tokenizer_weights"].startswith("pkg://")
    assert run.modalities["audio"]["tokenizer_weights"].startswith("pkg://")
    assert run.objectives.weights["image.direct"] > 0 and run.objectives.weights["box.direct"] > 0
    assert run.objectives.weights["audio.direct"] > 0
    # The vision issue allows at most 15 minutes of training for the default experiment.
    assert run.train.accelerator == "cpu" and 0 < run.train.max_time_minutes <= 15
    assert run.train.out_dir == "runs/default"


def test_text_only_experiment_numbers():
    registry = _real_registry()
    run = load_config(REPO / "configs/experiment/scene_qa.yaml", registry=registry).run
    assert run.data.sources[0].dataset == "scene_qa"
    assert run.data.sources[0].options["train_examples"] == 200000
    assert set(run.modalities) == {"text"}
    assert 0 < run.train.max_time_minutes <= 10 and run.train.out_dir == "runs/scene_qa"


def test_time_schedule_without_a_time_budget_is_named(tmp_path, registry):
    path = write(tmp_path, "e.yaml", VALID + "train: {schedule_over: steps_or_time}\n")
    (issue,) = errors_of(path, registry).errors
    assert issue.key == "train.schedule_over" and issue.file.endswith("e.yaml")
    assert issue.given == "steps_or_time" and "needs train.max_time_minutes" in issue.message


def test_guidance_weights_must_name_configured_modalities(tmp_path, registry):
    ok = write(tmp_path, "ok.yaml", VALID + "generate: {guidance_scale: 0.5, guidance_scales: {my_modality: 0.0}}\n")
    assert load_config(ok, registry=registry).run.generate.guidance_scales == {"my_modality": 0.0}
    bad = write(tmp_path, "e.yaml", VALID + "generate: {guidance_scales: {audio: 0.0}}\n")
    (issue,) = errors_of(bad, registry).errors
    assert issue.key == "generate.guidance_scales.audio" and issue.file.endswith("e.yaml")
    assert "does not configure" in issue.message and "my_modality" in issue.expected
    negative = write(tmp_path, "n.yaml", VALID + "generate: {guidance_scales: {my_modality: -1}}\n")
    (issue,) = errors_of(negative, registry).errors
    assert issue.key.startswith("generate.guidance_scales")
