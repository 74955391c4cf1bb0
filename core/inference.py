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
from uio.plugins.spec import FitValueProcessor, FixedLengthDecoder


@dataclass
class LoadedRun:
    """A run with trained weights, ready to generate."""

    run: Run
    model: UIOTransformer
    checkpoint_path: Path

    def generate(
        self,
        raws: list[dict[str, Any]],
        options: DecodeOptions,
        seed: int = 0,
        rng_keys: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Generate for raw examples; returns dicts with prediction, reference and scores.

        Each example's prompt phrasing is drawn from ``random.Random(key)``, key
        ``f"{seed}:{i}"`` unless ``rng_keys`` gives them (to repeat a run's prompts).
        """
        pipeline = self.run.pipeline()
        vocab = pipeline.vocab
        keys = rng_keys or [f"{seed}:{i}" for i in range(len(raws))]
        prepared = []
        for raw, key in zip(raws, keys, strict=True):
            example, reference = pipeline.for_inference(raw, random.Random(key))
            reference = self._prepared_reference(pipeline, raw, example.meta["target"], reference)
            prepared.append((raw, example, reference))
        targets = [ex.meta["target"] for _, ex, _ in prepared]
        examples = [ex for _, ex, _ in prepared]
        ids = generate(
            self.model,
            examples,
            targets,
            vocab,
            self.run.modality_index,
            options,
            lengths=[self.output_length(m) for m in targets],
            unconditional=[
                pipeline.without_prompt(ex) if pipeline.guided(m) else None
                for ex, m in zip(examples, targets, strict=True)
            ],
        )
        results = []
        for (raw, example, reference), modality, out, key in zip(prepared, targets, ids, keys, strict=True):
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
                    "scores": self.score(raw, modality, prediction, reference),
                    "raw": raw,
                    "rng_key": key,
                }
            )
        return results

    def _prepared_reference(self, pipeline, raw: dict[str, Any], modality: str, reference: Any) -> Any:
        return self.prepared_value(pipeline, raw, modality, reference)

    def prepared_value(self, pipeline, raw: dict[str, Any], modality: str, value: Any) -> Any:
        """A value of an example as its modality's processor prepares it (``fit_value``), if it does.

        A file named relative to its manifest can only be read with the example's
        context, which decoders do not get: a file path in a JSON Lines line would
        otherwise score nothing as a reference, and show as a path in the gallery.
        """
        processor = self.run.bound[modality].processor
        if not isinstance(processor, FitValueProcessor):
            return value
        ctx = pipeline.context(raw)
        with pipeline.naming(raw["task"], ctx):
            return processor.fit_value(value, ctx)

    def output_length(self, modality: str) -> int | None:
        """The fixed number of ids a value of ``modality`` takes, if its decoder says so."""
        decoder = self.run.bound[modality].decoder
        return int(decoder.output_length) if isinstance(decoder, FixedLengthDecoder) else None

    def score(self, raw: dict[str, Any], modality: str, prediction: Any, reference: Any) -> dict[str, float]:
        """The target decoder's metrics plus the task's own (``TaskSpec.score``)."""
        scores = dict(self.run.bound[modality].decoder.score(prediction, reference))
        task = self.run.registry.task(raw["task"])
        if task.score is not None:
            scores.update(task.score(raw, prediction, reference))
        return scores

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
