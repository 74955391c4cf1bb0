"""Assembling a run from a resolved config: plugins, vocabulary, pipeline, model."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from uio.core.binding import (
    BoundModality,
    bind_modalities,
    build_vocabulary,
    fit_tokenizers,
    load_tokenizers,
    manifest_details,
    unfitted,
)
from uio.core.config import ResolvedConfig
from uio.core.objectives import ObjectiveMixture
from uio.core.pipeline import ExampleError, ExamplePipeline
from uio.core.transformer import TrunkShape, UIOTransformer
from uio.core.vocab import Vocabulary
from uio.plugins.registry import Registry, get_registry
from uio.plugins.spec import FitValueProcessor


class DataSourceError(ValueError):
    """A dataset builder refused its options or its files."""


class TokenizerChoiceError(ValueError):
    """``prepare_tokenizers(only=...)`` named a modality without a trainable tokenizer."""


@dataclass
class Run:
    """Everything a run needs except the weights."""

    resolved: ResolvedConfig
    registry: Registry
    bound: dict[str, BoundModality]
    _sources: dict[str, list] = field(default_factory=dict, repr=False)

    @property
    def config(self):
        return self.resolved.run

    @property
    def out_dir(self) -> Path:
        return Path(self.config.train.out_dir)

    @property
    def tokenizer_dir(self) -> Path:
        return self.out_dir / "tokenizers"

    @property
    def modality_index(self) -> dict[str, int]:
        """1-based index of each modality (0 is the core's own tokens)."""
        return {name: i + 1 for i, name in enumerate(self.bound)}

    @cached_property
    def vocab(self) -> Vocabulary:
        return build_vocabulary(
            self.bound, self.registry, self.config.model.num_sentinels, self.config.model.vocab_size
        )

    def manifest(self) -> dict[str, Any]:
        return self.vocab.manifest(manifest_details(self.bound))

    def pipeline(self) -> ExamplePipeline:
        vocab = self.vocab
        objectives = [self.registry.objectives[n] for n in vocab.prefix_ids]
        mixture = ObjectiveMixture(
            objectives, self.config.objectives.weights, self.config.objectives.default_weight, vocab
        )
        resampled = self.config.model.resampler.latents if self.config.model.resampler.enabled else 0
        return ExamplePipeline(
            self.bound, self.registry, vocab, mixture, resampled, self.config.objectives.empty_prompt_rate
        )

    def build_model(self, device: str | torch.device = "cpu") -> UIOTransformer:
        """The transformer with fresh weights (``device="meta"`` allocates nothing)."""
        factories = {
            name: (lambda ctx, b=b: b.spec.build_input_encoder(b.config, ctx))
            for name, b in self.bound.items()
        }
        with torch.device(device):
            return UIOTransformer(TrunkShape.from_config(self.config.model), self.vocab.size, factories)

    def dataset(self, split: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Raw examples of a split from every data source, concatenated.

        With ``limit`` (fewer than all), each source gives a share of it in proportion to
        its size, from its start, so that no source is left out of a subset.
        """
        sources = [examples for examples, _ in self.sources(split)]
        if limit is not None and limit < sum(map(len, sources)):
            sources = [examples[:n] for examples, n in zip(sources, proportional_shares(
                [len(examples) for examples in sources], limit), strict=True)]
        return [ex for examples in sources for ex in examples]

    def sources(self, split: str) -> list[tuple[list[dict[str, Any]], float]]:
        """Per-source raw examples and mix weights (built once per split)."""
        if split in self._sources:
            return self._sources[split]
        out = []
        sources = zip(self.config.data.sources, self.resolved.dataset_configs, strict=True)
        for i, (source, options) in enumerate(sources):
            spec = self.registry.dataset(source.dataset)
            examples = self._build_source(spec, options, split, i) if split in spec.splits else []
            if source.tasks is not None:
                examples = [e for e in examples if e.get("task") in source.tasks or e.get("group") in source.tasks]
            if examples:
                out.append((examples, source.weight))
        self._sources[split] = out
        return out

    def _build_source(self, spec, options, split: str, index: int) -> list[dict[str, Any]]:
        try:
            return list(spec.build(options, split, self.config.seed))
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise DataSourceError(
                f"data.sources[{index}] (dataset {spec.name!r}, split {split!r}): {exc}"
            ) from exc

    def tokenizer_values(self, limit: int) -> dict[str, list[Any]]:
        """Raw values per modality from the training split, for fitting tokenizers."""
        pipeline = self.pipeline()
        values: dict[str, list[Any]] = {}
        rng = random.Random(self.config.seed)
        for raw in self.dataset("train", limit):
            try:
                example_values = self._fit_values(pipeline, raw, rng)
            except ExampleError:
                if not self.config.data.skip_bad_examples:
                    raise
                continue
            for modality, value in example_values:
                values.setdefault(modality, []).append(value)
        return values

    def _fit_values(self, pipeline: ExamplePipeline, raw: dict[str, Any], rng: random.Random) -> list[tuple[str, Any]]:
        """``(modality, value)`` of one example as the tokenizers' ``fit`` wants them."""
        task, built = pipeline.task_example(raw, rng)
        ctx = pipeline.context(raw)
        out = []
        with pipeline.naming(task.name, ctx):
            for modality, value in [*built.inputs, built.target]:
                processor = self.bound[modality].processor
                if isinstance(processor, FitValueProcessor):
                    value = processor.fit_value(value, ctx)
                out.append((modality, value))
        return out

    def prepare_tokenizers(
        self, *, refit: bool = False, only: Sequence[str] | None = None, log=print
    ) -> dict[str, dict[str, float]]:
        """Load saved tokenizers; fit the missing ones (or all trainable ones with ``refit``).

        ``only`` (with ``refit``) refits just those modalities; the others are loaded,
        or fitted when missing, as without ``refit``.
        """
        trainable = [n for n, b in self.bound.items() if b.trainable_tokenizer]
        if only is not None:
            wrong = [n for n in only if n not in trainable]
            if wrong:
                raise TokenizerChoiceError(
                    f"cannot refit {', '.join(map(repr, wrong))}: expected one of the configured "
                    f"modalities with a trainable tokenizer ({', '.join(trainable) or 'none'})"
                )
        everything = refit and only is None
        loaded = [] if everything else load_tokenizers(self.bound, self.tokenizer_dir)
        if everything:
            todo = trainable
        else:
            chosen = set(only or []) if refit else set()
            todo = [n for n in self.bound if n in chosen or n in unfitted(self.bound)]
        loaded = [n for n in loaded if n not in todo]
        if loaded:
            log(f"loaded tokenizers from {self.tokenizer_dir}: {', '.join(loaded)}")
        if not todo:
            return {}
        log(f"fitting tokenizers: {', '.join(todo)} ...")
        values = self.tokenizer_values(self.config.train.tokenizer_fit_examples)
        return fit_tokenizers(self.bound, values, self.tokenizer_dir, todo)


def proportional_shares(sizes: Sequence[int], total: int) -> list[int]:
    """Split ``total`` in proportion to ``sizes`` (each share at most its size), by largest
    remainders; every non-empty size gets at least one when ``total`` allows."""
    whole = sum(sizes)
    if total >= whole:
        return list(sizes)
    floor = 1 if total >= sum(1 for n in sizes if n) else 0
    lowest = [min(n, floor) for n in sizes]
    exact = [total * n / whole for n in sizes]
    shares = [max(low, int(e)) for low, e in zip(lowest, exact, strict=True)]
    while sum(shares) > total:  # the floors pushed it over: take from the most over-served
        i = max((k for k in range(len(sizes)) if shares[k] > lowest[k]), key=lambda k: shares[k] - exact[k])
        shares[i] -= 1
    for i in sorted(range(len(sizes)), key=lambda k: exact[k] - shares[k], reverse=True):
        if sum(shares) == total:
            break
        if shares[i] < sizes[i]:
            shares[i] += 1
    return shares


def assemble(resolved: ResolvedConfig, registry: Registry | None = None) -> Run:
    """Bind the configured modalities of a resolved config."""
    registry = registry or get_registry()
    return Run(resolved, registry, bind_modalities(resolved.modality_configs, registry))
