"""The run configuration: pydantic models, YAML composition, every error at once.

A run is one YAML file that may ``include:`` others, plus dotlist overrides::

    include:
      model: ../model/tiny.yaml        # the file's content becomes `model`
      data: ../data/my_mixture.yaml
    name: my_run
    modalities:                        # the order decides the id ranges
      my_modality: {vocab_size: 256}

:func:`load_config` merges the layers (``base`` < included files < the file's
own keys < overrides), fills model presets, resolves OmegaConf interpolations,
validates the run and each plugin's section against the registry, and raises one
:class:`ConfigError` listing every problem, each with its file and key path (the
idea of torchtune's ``config/_validate.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from uio.core.config_compose import _Composer, _fill, _get, _Layer, _leaves, _merge, _under
from uio.core.config_errors import (
    _MISSING_KEY,
    COMMAND_LINE,
    MISSING,
    ConfigError,
    ConfigIssue,
    KeyPath,
    _did_you_mean,
    _display,
    _is_model,
    _key,
    _pydantic_issues,
)
from uio.core.presets import get_preset, list_presets
from uio.plugins.registry import Registry, get_registry

# --------------------------------------------------------------------------- schema


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResamplerConfig(_Section):
    """Perceiver resampler that compresses long histories to a few latents."""

    enabled: bool = False
    latents: int = Field(32, gt=0)
    layers: int = Field(2, gt=0)
    heads: int = Field(4, gt=0)


class ModelConfig(_Section):
    """The transformer; ``preset`` fills every field the config does not set."""

    preset: str | None = None
    d_model: int = Field(256, gt=0)
    n_heads: int = Field(4, gt=0)
    head_dim: int | None = Field(
        None, gt=0, validate_default=True, description="None: d_model // n_heads."
    )
    encoder_layers: int = Field(2, gt=0)
    decoder_layers: int = Field(2, gt=0)
    mlp_dim: int = Field(1024, gt=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    attention: Literal["qk_norm", "scaled_cosine", "plain"] = "qk_norm"
    rotary: bool = True
    rotary_base: float = Field(10000.0, gt=0)
    modality_embeddings: bool = True
    float32_attention_logits: bool = True
    z_loss: float = Field(1e-4, ge=0.0)
    logit_scale: Literal["rsqrt_d", "none"] = "rsqrt_d"
    vocab_size: int | None = Field(
        None, gt=0, description="None: the exact unified size rounded up to a multiple of 64."
    )
    resampler: ResamplerConfig = Field(default_factory=ResamplerConfig)
    kernels: Literal["auto", "eager", "triton"] = "auto"
    attention_backend: Literal["auto", "flex", "sdpa", "eager"] = Field(
        "auto",
        description=(
            "flex: FlexAttention with a block mask; sdpa: SDPA with a dense mask; eager: "
            "attention written out; auto: flex on CUDA unless kernels is eager, else sdpa."
        ),
    )
    num_sentinels: int = Field(100, ge=0)

    @field_validator("head_dim")
    @classmethod
    def _default_head_dim(cls, value: int | None, info: Any) -> int | None:
        if value is not None:
            return value
        d_model, n_heads = info.data.get("d_model"), info.data.get("n_heads")
        if d_model is None or n_heads is None:  # their own errors are reported
            return None
        if d_model % n_heads:
            raise ValueError(
                f"d_model {d_model} is not divisible by n_heads {n_heads}; set head_dim"
            )
        return d_model // n_heads


def _flatten_names(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{a: {b: 1}}`` -> ``{"a.b": 1}``: dotted names survive dotlist overrides."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(_flatten_names(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class DataSource(_Section):
    """One dataset of the mixture; ``options`` are checked against the dataset's model."""

    dataset: str
    weight: float = Field(1.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    tasks: list[str] | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


class DataConfig(_Section):
    sources: list[DataSource] = Field(min_length=1)
    encoder_length: int = Field(256, gt=0)
    decoder_length: int = Field(64, gt=0)
    batch_rows: int = Field(16, gt=0)
    packing: bool = True
    skip_bad_examples: bool = Field(
        False,
        description=(
            "Skip training examples that cannot be processed (a corrupt file, a value out of range, ...), counting "
            "and reporting them, instead of stopping at the first."
        ),
    )


class ObjectivesConfig(_Section):
    """Mix weights of the denoising objectives; unnamed ones get ``default_weight``."""

    weights: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)
    default_weight: float = Field(1.0, ge=0.0)
    empty_prompt_rate: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description=(
            "Share of examples whose target modality asks for classifier-free guidance that "
            "train with an empty prompt (0 turns it off)."
        ),
    )

    @field_validator("weights", mode="before")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        return _flatten_names(value) if isinstance(value, dict) else value


class TrainConfig(_Section):
    max_steps: int = Field(1000, gt=0)
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    warmup_steps: int = Field(100, ge=0)
    weight_decay: float = Field(0.01, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = Field(1.0, ge=0.0)
    accelerator: str = "cpu"
    devices: int | str = 1
    precision: str = "32-true"
    strategy: str = "auto"
    out_dir: str = "runs/${name}"
    logger: Literal["csv", "tensorboard"] = "csv"
    log_every_n_steps: int = Field(10, gt=0)
    checkpoint_every_n_steps: int = Field(250, ge=0)
    max_time_minutes: float | None = Field(None, gt=0)
    schedule_over: Literal["steps", "steps_or_time"] = Field(
        "steps",
        description=(
            "steps: the cosine decay ends at max_steps. steps_or_time: it ends at max_steps or at "
            "max_time_minutes, whichever comes first, so a slower machine still anneals within the "
            "time budget (Cramming, arXiv 2212.14034, sets its schedule by the time budget)."
        ),
    )
    lr_scale: dict[str, Annotated[float, Field(gt=0.0)]] = Field(
        default_factory=dict,
        description=(
            "Learning-rate multipliers by parameter-name prefix, e.g. {input_encoders.NAME: 0.4} "
            "for one modality's input encoder (the longest matching prefix wins)."
        ),
    )
    fit_missing_tokenizers: bool = True
    tokenizer_fit_examples: int = Field(5000, gt=0)
    compile: bool = Field(
        False,
        description=(
            "torch.compile each encoder and decoder layer (torchtitan's per-block compile); "
            "the first steps pay the compile time."
        ),
    )

    @field_validator("lr_scale", mode="before")
    @classmethod
    def _flatten_prefixes(cls, value: Any) -> Any:
        return _flatten_names(value) if isinstance(value, dict) else value

    @field_validator("schedule_over")
    @classmethod
    def _time_schedule_needs_budget(cls, value: str, info: ValidationInfo) -> str:
        if value == "steps_or_time" and info.data.get("max_time_minutes") is None:
            raise ValueError("'steps_or_time' needs train.max_time_minutes to be set")
        return value


class EvalConfig(_Section):
    split: str = "heldout"
    max_examples: int = Field(1000, gt=0)
    batch_size: int = Field(64, gt=0)
    show_examples: int = Field(8, ge=0)


class GenerateConfig(_Section):
    strategy: Literal["greedy", "sample", "beam"] = "greedy"
    max_new_tokens: int = Field(32, gt=0)
    temperature: float = Field(1.0, ge=0.0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    num_beams: int = Field(4, ge=1)
    use_cache: bool = True
    guidance_scale: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Classifier-free guidance weight a for target modalities that ask for it: "
            "(1 + a) * logp(x | prompt) - a * logp(x | empty); 0 turns it off."
        ),
    )
    guidance_scales: dict[str, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=dict,
        description=(
            "Guidance weight per target modality, e.g. {NAME: 0.0}; a modality not named "
            "here gets guidance_scale."
        ),
    )


class RunConfig(_Section):
    """One run. ``modalities`` keeps its order: it decides the id ranges."""

    name: str = Field(min_length=1)
    seed: int = Field(0, ge=0)
    model: ModelConfig = Field(default_factory=ModelConfig)
    modalities: dict[str, dict[str, Any]] = Field(min_length=1)
    data: DataConfig
    objectives: ObjectivesConfig = Field(default_factory=ObjectivesConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)

    @field_validator("modalities", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


@dataclass
class ResolvedConfig:
    """A validated run with each plugin's section validated by its own model.

    ``run.modalities`` and ``run.data.sources[i].options`` hold the validated
    options with their defaults filled in, so :meth:`to_container` is complete.
    """

    run: RunConfig
    modality_configs: dict[str, BaseModel]
    dataset_configs: list[BaseModel]
    sources: dict[str, str] = field(default_factory=dict)
    """Key path (``train.max_steps``) -> the file that set it last, or ``"command line"``."""
    path: Path | None = None

    def to_container(self) -> dict[str, Any]:
        """The resolved run as plain containers (for checkpoints and ``config show``)."""
        return self.run.model_dump(mode="json")


# --------------------------------------------------------------------------- registry checks


def _plugin_hint(registry: Registry, name: str) -> str:
    for plugin in registry.broken:
        provided = plugin.modalities + plugin.datasets + plugin.tasks + plugin.objectives
        if name in provided or plugin.name == name:
            return f"; plugin {plugin.name!r} would provide it but is broken: {plugin.error}"
    if registry.broken:
        return f" ({len(registry.broken)} broken plugin(s): see `uio plugins list`)"
    return ""


def _unknown(
    kind: str, name: Any, table: dict[str, Any], registry: Registry, file: str, path: KeyPath
) -> ConfigIssue:
    known = sorted(table)
    return ConfigIssue(
        file,
        _key(path),
        name,
        f"one of: {', '.join(known) or f'none (no {kind} registered)'}",
        f"unknown {kind} {name!r}{_did_you_mean(name, known)}{_plugin_hint(registry, str(name))}",
    )


def _validate_options(
    model: type[BaseModel], options: Any, path: KeyPath, source_of: Any, issues: list[ConfigIssue]
) -> BaseModel | None:
    try:
        return model.model_validate({} if options is None else options)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, model, path, source_of))
    return None


def _check_plugins(
    data: dict[str, Any], registry: Registry, source_of: Any, issues: list[ConfigIssue]
) -> tuple[dict[str, BaseModel], list[BaseModel]] | None:
    """Names and plugin sections checked against the registry; ``None`` if any failed."""
    ok = True
    modality_configs: dict[str, BaseModel] = {}
    modalities = data.get("modalities")
    for name, options in modalities.items() if isinstance(modalities, dict) else ():
        path = ("modalities", name)
        if name not in registry.modalities:
            issues.append(
                _unknown("modality", name, registry.modalities, registry, source_of(path), path)
            )
            ok = False
        elif options is None or isinstance(options, dict):  # other shapes: pydantic reports
            cfg = _validate_options(
                registry.modalities[name].config_model, options, path, source_of, issues
            )
            ok = ok and cfg is not None
            if cfg is not None:
                modality_configs[name] = cfg

    dataset_configs: list[BaseModel] = []
    data_section = data.get("data")
    sources = data_section.get("sources") if isinstance(data_section, dict) else None
    for i, src in enumerate(sources if isinstance(sources, list) else ()):
        if not isinstance(src, dict):
            continue
        base: KeyPath = ("data", "sources", i)
        dataset = src.get("dataset")
        if isinstance(dataset, str):
            if dataset not in registry.datasets:
                path = (*base, "dataset")
                issues.append(
                    _unknown("dataset", dataset, registry.datasets, registry, source_of(path), path)
                )
                ok = False
            elif src.get("options") is None or isinstance(src.get("options"), dict):
                cfg = _validate_options(
                    registry.datasets[dataset].config_model,
                    src.get("options"),
                    (*base, "options"),
                    source_of,
                    issues,
                )
                ok = ok and cfg is not None
                if cfg is not None:
                    dataset_configs.append(cfg)
        tasks = src.get("tasks")
        for j, task in enumerate(tasks if isinstance(tasks, list) else ()):
            path = (*base, "tasks", j)
            if not isinstance(task, str):
                continue
            if task not in registry.tasks:
                issues.append(
                    _unknown("task", task, registry.tasks, registry, source_of(path), path)
                )
                ok = False
                continue
            target = registry.tasks[task].target_modality
            if target is not None and isinstance(modalities, dict) and target not in modalities:
                issues.append(
                    ConfigIssue(
                        source_of(path),
                        _key(path),
                        task,
                        f"a modality in `modalities` ({target!r})",
                        f"task {task!r} produces modality {target!r}, which the run does not configure",
                    )
                )
                ok = False

    generate = data.get("generate")
    scales = generate.get("guidance_scales") if isinstance(generate, dict) else None
    for name in scales if isinstance(scales, dict) and isinstance(modalities, dict) else ():
        if name not in modalities:
            path = ("generate", "guidance_scales", name)
            issues.append(
                ConfigIssue(
                    source_of(path),
                    _key(path),
                    name,
                    f"a modality in `modalities` ({', '.join(modalities)})",
                    f"guidance weight for {name!r}, which the run does not configure",
                )
            )
            ok = False

    objectives = data.get("objectives")
    weights = objectives.get("weights") if isinstance(objectives, dict) else None
    for name in _flatten_names(weights) if isinstance(weights, dict) else ():
        if name not in registry.objectives:
            path = ("objectives", "weights", name)
            issues.append(
                _unknown("objective", name, registry.objectives, registry, source_of(path), path)
            )
            ok = False
    return (modality_configs, dataset_configs) if ok else None


def unified_vocab_size(
    run: RunConfig, modality_configs: dict[str, BaseModel], registry: Registry
) -> int:
    """Ids the unified vocabulary uses (before padding), laid out as :mod:`uio.core.vocab` does."""
    from uio.core.binding import objective_names_for
    from uio.core.vocab import Vocabulary

    sizes = [(n, registry.modalities[n].vocab_size_for(c)) for n, c in modality_configs.items()]
    return Vocabulary(sizes, objective_names_for(modality_configs, registry), run.model.num_sentinels).used_size


def _check_vocab(
    run: RunConfig,
    modality_configs: dict[str, BaseModel],
    registry: Registry,
    source_of: Any,
    issues: list[ConfigIssue],
) -> None:
    shares = {}
    for name, cfg in modality_configs.items():
        try:
            shares[name] = registry.modalities[name].vocab_size_for(cfg)
        except Exception as exc:  # noqa: BLE001 - a plugin bug, reported with the config
            path = ("modalities", name)
            issues.append(
                ConfigIssue(
                    source_of(path),
                    _key(path),
                    MISSING,
                    "a vocabulary size",
                    f"the plugin could not compute its vocabulary size: {exc}",
                )
            )
    if len(shares) < len(modality_configs) or run.model.vocab_size is None:
        return
    needed = unified_vocab_size(run, modality_configs, registry)
    if needed > run.model.vocab_size:
        path = ("model", "vocab_size")
        specials = needed - sum(shares.values())
        parts = ", ".join([f"special tokens {specials}", *(f"{n} {s}" for n, s in shares.items())])
        issues.append(
            ConfigIssue(
                source_of(path),
                _key(path),
                run.model.vocab_size,
                f">= {needed}",
                f"vocabulary overflow: the unified vocabulary needs {needed} ids ({parts}) but "
                f"model.vocab_size is {run.model.vocab_size}; raise it or unset it (null: exact size)",
            )
        )


# --------------------------------------------------------------------------- loading


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Every default of a section tree, so that interpolations can refer to them."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if _is_model(info.annotation):
            out[name] = _defaults(info.annotation)
        elif not info.is_required():
            value = info.get_default(call_default_factory=True)
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _resolve(
    data: dict[str, Any], layer: _Layer, source_of: Any, issues: list[ConfigIssue]
) -> tuple[dict[str, Any], set[str]]:
    """Resolve ``${...}`` leaf by leaf, so that every failure is reported.

    Returns the resolved data and the keys that failed (left as written). A default
    that fails (``runs/${name}`` without a name) is not reported: its cause is.
    """
    targets = [p for p in _leaves(data) if isinstance(_get(data, p), str) and "${" in _get(data, p)]
    failed: set[str] = set()
    if not targets:
        return data, failed
    try:
        cfg = OmegaConf.create(data)
    except Exception as exc:  # noqa: BLE001 - e.g. a value OmegaConf cannot hold
        issues.append(
            ConfigIssue(
                source_of(targets[0]),
                "",
                MISSING,
                "plain YAML values",
                f"cannot resolve interpolations: {exc}",
            )
        )
        return data, {_key(p) for p in targets}
    out = copy.deepcopy(data)
    for path in targets:
        try:
            node: Any = cfg
            for part in path:
                node = node[part]
            if isinstance(node, DictConfig | ListConfig):
                node = OmegaConf.to_container(node, resolve=True)
            _get(out, path[:-1])[path[-1]] = node
        except Exception as exc:  # noqa: BLE001 - every OmegaConf resolution error
            failed.add(_key(path))
            if path in layer.sources:
                issues.append(
                    ConfigIssue(
                        source_of(path),
                        _key(path),
                        _get(data, path),
                        "a resolvable interpolation",
                        f"cannot resolve: {str(exc).splitlines()[0]}",
                    )
                )
    return out, failed


def _source_finder(layer: _Layer, root: str) -> Any:
    def source_of(path: KeyPath) -> str:
        for n in range(len(path), 0, -1):  # the key, what set keys below it, then its parents
            prefix = path[:n]
            if prefix in layer.sources:
                return layer.sources[prefix]
            below = [f for p, f in layer.sources.items() if _under(p, prefix)]
            if below:  # prefer a file to a preset that filled keys in
                return next((f for f in reversed(below) if not f.startswith("preset ")), below[-1])
        return root

    return source_of


def load_config(
    path: str | Path | None,
    overrides: Sequence[str] = (),
    *,
    registry: Registry | None = None,
    base: dict[str, Any] | None = None,
) -> ResolvedConfig:
    """Compose, resolve and validate a run; raise one :class:`ConfigError` listing every problem.

    Args:
        path: the run's YAML file (``None``: only ``base`` and ``overrides``).
        overrides: dotlist items such as ``train.max_steps=200``, merged last.
        registry: the plugins to validate names and sections against (default: the
            process-wide registry).
        base: a mapping merged under everything (e.g. the config saved in a checkpoint).
    """
    registry = get_registry() if registry is None else registry
    issues: list[ConfigIssue] = []
    composer = _Composer(issues)
    file = Path(path).resolve() if path is not None else None
    root = _display(file) if file is not None else (COMMAND_LINE if base is None else "base")

    layer = _Layer()
    if base:
        plain = OmegaConf.to_container(OmegaConf.create(base), resolve=False)
        _merge(layer, _Layer(plain, {p: "base" for p in _leaves(plain)}))
    if file is not None:
        loaded = composer.load(file, root, "")
        if loaded is not None:
            _merge(layer, loaded)
    for item in overrides:
        composer.override(layer, item)
    source_of = _source_finder(layer, root)

    model = layer.data.get("model")
    preset = model.get("preset") if isinstance(model, dict) else None
    if preset is not None:
        if isinstance(preset, str) and preset in list_presets():
            _fill(model, get_preset(preset), layer, ("model",), f"preset {preset}")
        else:
            key_path = ("model", "preset")
            issues.append(
                ConfigIssue(
                    source_of(key_path),
                    _key(key_path),
                    preset,
                    f"one of: {', '.join(list_presets())}",
                    f"unknown model preset {preset!r}{_did_you_mean(preset, list_presets())}",
                )
            )

    data = copy.deepcopy(layer.data)
    _fill(data, _defaults(RunConfig), None, (), "")
    data, unresolved = _resolve(data, layer, source_of, issues)

    run: RunConfig | None = None
    try:
        run = RunConfig.model_validate(data)
    except ValidationError as exc:
        found = _pydantic_issues(exc, RunConfig, (), source_of, extra_top_level=("include",))
        unreadable = composer.failed_files > 0  # its keys would be reported missing: noise
        issues.extend(
            i
            for i in found
            if i.key not in unresolved and not (unreadable and i.message == _MISSING_KEY)
        )
    checked = _check_plugins(data, registry, source_of, issues)
    if run is not None and checked is not None:
        _check_vocab(run, checked[0], registry, source_of, issues)
    if issues or run is None or checked is None:
        raise ConfigError(issues, root)

    modality_configs, dataset_configs = checked
    run.modalities = {n: c.model_dump(mode="json") for n, c in modality_configs.items()}
    for source, cfg in zip(run.data.sources, dataset_configs, strict=True):
        source.options = cfg.model_dump(mode="json")
    return ResolvedConfig(
        run=run,
        modality_configs=modality_configs,
        dataset_configs=dataset_configs,
        sources={_key(p): f for p, f in layer.sources.items() if p},
        path=file,
    )


def config_to_yaml(resolved: ResolvedConfig) -> str:
    """The resolved run as YAML (``uio config show``); loading it back gives the same run."""
    return yaml.safe_dump(resolved.to_container(), sort_keys=False, default_flow_style=False)
