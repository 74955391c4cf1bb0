"""Loading a trained run from a checkpoint, and generating from raw examples."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uio.core.assembly import Run, assemble
from uio.core.checkpoint import UIO_KEY, CheckpointError, load_checkpoint_file
from uio.core.config import load_config
from uio.core.generation import DecodeOptions, generate
from uio.core.transformer import UIOTransformer
from uio.core.vocab import compare_manifests
from uio.plugins.registry import Registry


@dataclass
class LoadedRun:
    """A run with trained weights, ready to generate."""

    run: Run
    model: UIOTransformer
    checkpoint_path: Path

    def generate(
        self, raws: list[dict[str, Any]], options: DecodeOptions, seed: int = 0
    ) -> list[dict[str, Any]]:
        """Generate for raw examples; returns dicts with prediction, reference and scores."""
        pipeline = self.run.pipeline()
        vocab = pipeline.vocab
        prepared = []
        for i, raw in enumerate(raws):
            example, reference = pipeline.for_inference(raw, random.Random(f"{seed}:{i}"))
            prepared.append((raw, example, reference))
        targets = [ex.meta["target"] for _, ex, _ in prepared]
        ids = generate(
            self.model,
            [ex for _, ex, _ in prepared],
            targets,
            vocab,
            self.run.modality_index,
            options,
        )
        results = []
        for (raw, example, reference), modality, out in zip(prepared, targets, ids, strict=True):
            bound = self.run.bound[modality]
            prediction = bound.decoder.decode(vocab.to_local(modality, out))
            results.append(
                {
                    "id": raw.get("id", ""),
                    "task": example.task,
                    "modality": modality,
                    "input": self._render_inputs(raw, example),
                    "prediction": prediction,
                    "reference": reference,
                    "scores": bound.decoder.score(prediction, reference),
                }
            )
        return results

    def _render_inputs(self, raw: dict[str, Any], example) -> str:
        parts = []
        for seg in example.inputs:
            if seg.ids is not None:
                decoder = self.run.bound[seg.modality].decoder
                local = self.run.vocab.to_local(seg.modality, seg.ids.tolist())
                parts.append(decoder.render(decoder.decode(local)))
            else:
                parts.append(f"<{seg.modality}: {seg.num_tokens} tokens>")
        return " | ".join(parts)


def load_run(
    checkpoint_path: str | Path,
    overrides: list[str] | None = None,
    registry: Registry | None = None,
    device: str = "cpu",
) -> LoadedRun:
    """Rebuild a run from a checkpoint, checking that the installed plugins still agree."""
    path = Path(checkpoint_path)
    checkpoint = load_checkpoint_file(path, device)
    section = checkpoint[UIO_KEY]
    resolved = load_config(None, overrides or [], registry=registry, base=section["config"])
    run = assemble(resolved, registry)
    for name, state in section.get("tokenizers", {}).items():
        if name in run.bound and state:
            run.bound[name].tokenizer.load_state_dict(state)
    problems = compare_manifests(section["manifest"], run.manifest())
    if problems:
        raise CheckpointError(
            f"checkpoint {path} does not match the installed plugins:\n  - " + "\n  - ".join(problems)
        )
    model = run.build_model(device)
    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.eval()
    return LoadedRun(run, model, path)
