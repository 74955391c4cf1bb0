"""Turning the configured modality specs into live objects, and their tokenizers' files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel

from uio.core.vocab import Vocabulary
from uio.plugins.registry import Registry
from uio.plugins.spec import ModalitySpec, OutputDecoder, Processor, Tokenizer, TrainableTokenizer


class ModalityBuildError(ValueError):
    """A modality's factories refused its config (a missing file, an impossible size)."""


@dataclass
class BoundModality:
    """One configured modality: its spec, validated config and built parts."""

    name: str
    spec: ModalitySpec
    config: BaseModel
    tokenizer: Tokenizer
    processor: Processor
    decoder: OutputDecoder
    plugin_version: str

    @property
    def trainable_tokenizer(self) -> bool:
        return isinstance(self.tokenizer, TrainableTokenizer)


def bind_modalities(modality_configs: dict[str, BaseModel], registry: Registry) -> dict[str, BoundModality]:
    """Build tokenizer, processor and output decoder of every configured modality, in order."""
    bound: dict[str, BoundModality] = {}
    for name, cfg in modality_configs.items():
        spec = registry.modality(name)
        version = next((p.version for p in registry.plugins if name in p.modalities), "")
        try:
            tokenizer = spec.build_tokenizer(cfg)
            processor = spec.build_processor(cfg, tokenizer)
            decoder = spec.build_output_decoder(cfg, tokenizer)
        except (ValueError, TypeError, OSError) as exc:  # e.g. a weights file that is not there
            raise ModalityBuildError(f"modalities.{name}: {exc}") from exc
        bound[name] = BoundModality(
            name=name,
            spec=spec,
            config=cfg,
            tokenizer=tokenizer,
            processor=processor,
            decoder=decoder,
            plugin_version=version,
        )
    return bound


def objective_names_for(modalities: Iterable[str], registry: Registry) -> list[str]:
    """Objectives whose targets include a configured modality (they get prefix tokens)."""
    modalities = set(modalities)
    return sorted(
        name
        for name, spec in registry.objectives.items()
        if any(m in modalities for m in spec.target_modalities)
    )


def build_vocabulary(
    bound: dict[str, BoundModality], registry: Registry, num_sentinels: int, padded_size: int | None
) -> Vocabulary:
    """The unified vocabulary of a run."""
    return Vocabulary(
        [(name, b.spec.vocab_size_for(b.config)) for name, b in bound.items()],
        objective_names_for(bound, registry),
        num_sentinels,
        padded_size,
    )


def manifest_details(bound: dict[str, BoundModality]) -> dict[str, dict[str, Any]]:
    """Per-modality facts for the vocabulary manifest."""
    return {
        name: {"plugin_version": b.plugin_version, "tokenizer": b.tokenizer.fingerprint()}
        for name, b in bound.items()
    }


def tokenizer_path(directory: Path, modality: str) -> Path:
    return Path(directory) / f"{modality}.pt"


def load_tokenizers(bound: dict[str, BoundModality], directory: Path) -> list[str]:
    """Load saved tokenizer states that exist in ``directory``; returns the names loaded."""
    loaded = []
    for name, b in bound.items():
        path = tokenizer_path(directory, name)
        if b.trainable_tokenizer and path.exists():
            b.tokenizer.load_state_dict(torch.load(path, weights_only=True))
            loaded.append(name)
    return loaded


def unfitted(bound: dict[str, BoundModality]) -> list[str]:
    """Modalities whose tokenizer needs fitting."""
    return [n for n, b in bound.items() if b.trainable_tokenizer and not b.tokenizer.is_fitted]


def fit_tokenizers(
    bound: dict[str, BoundModality],
    values: dict[str, Sequence[Any]],
    directory: Path,
    names: Iterable[str],
) -> dict[str, dict[str, float]]:
    """Fit the named tokenizers on raw values and save each state atomically."""
    from uio.core.checkpoint import atomic_torch_save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = {}
    for name in names:
        samples = values.get(name, [])
        if not samples:
            raise ValueError(
                f"no training values of modality {name!r} to fit its tokenizer on; "
                "check that the data mixture has examples using it"
            )
        report[name] = bound[name].tokenizer.fit(samples, directory / name)
        atomic_torch_save(bound[name].tokenizer.state_dict(), tokenizer_path(directory, name))
    return report
