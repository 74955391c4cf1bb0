"""Raw example -> task template -> processors -> objective -> :class:`ModelExample`."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from uio.core.binding import BoundModality
from uio.core.objectives import ObjectiveMixture
from uio.core.sequence import ModelExample
from uio.core.vocab import Vocabulary
from uio.plugins.registry import Registry
from uio.plugins.spec import ObjectiveExample, ObjectiveSpec, ProcessContext, Segment, TaskExample


class ExampleError(ValueError):
    """A raw example cannot be turned into model inputs; names the example and field."""


@dataclass
class ExamplePipeline:
    """Everything needed to turn raw examples into model examples (picklable)."""

    bound: dict[str, BoundModality]
    registry: Registry
    vocab: Vocabulary
    mixture: ObjectiveMixture
    resampled_tokens: int = 0

    def task_example(self, raw: dict[str, Any], rng: random.Random) -> tuple[Any, TaskExample]:
        """The task spec and the task template's output for a raw example."""
        name = raw.get("task")
        if not isinstance(name, str):
            raise ExampleError(f"example {raw.get('id', '?')} has no 'task' name (keys: {sorted(raw)})")
        task = self.registry.task(name)
        try:
            built = task.build(raw, rng)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExampleError(f"example {raw.get('id', '?')} (task {name!r}): {exc}") from exc
        for modality, _ in [*built.inputs, built.target]:
            if modality not in self.bound:
                raise ExampleError(
                    f"example {raw.get('id', '?')} (task {name!r}) uses modality {modality!r}, "
                    f"which is not configured; configured: {', '.join(self.bound)}"
                )
        return task, built

    def _context(self, raw: dict[str, Any]) -> ProcessContext:
        base = raw.get("_base_dir")
        return ProcessContext(base_dir=Path(base) if base else None, example_id=str(raw.get("id", "")))

    def input_segment(self, modality: str, value: Any, ctx: ProcessContext) -> Segment:
        """Process one input value; discrete ids are shifted into the unified vocabulary."""
        seg = self.bound[modality].processor.input_segment(value, ctx)
        if seg.ids is not None:
            ids = self.vocab.to_global(modality, seg.ids.tolist())
            seg = replace(seg, ids=torch.tensor(ids, dtype=torch.long), num_tokens=len(ids))
        return seg

    def objective_example(self, raw: dict[str, Any], rng: random.Random):
        """Task spec, processed (uncorrupted) example and the raw target value."""
        task, built = self.task_example(raw, rng)
        ctx = self._context(raw)
        try:
            inputs = [self.input_segment(m, v, ctx) for m, v in built.inputs]
            target_modality, target_value = built.target
            local = self.bound[target_modality].processor.target_ids(target_value, ctx)
            target_ids = self.vocab.to_global(target_modality, local)
        except ExampleError:
            raise
        except (TypeError, ValueError, OSError) as exc:
            raise ExampleError(f"example {ctx.example_id or '?'} (task {task.name!r}): {exc}") from exc
        target = Segment(target_modality, ids=torch.tensor(target_ids, dtype=torch.long))
        return task, ObjectiveExample(inputs=inputs, target=target, task=task.name), target_value

    def to_model_example(
        self, objective: ObjectiveSpec, example: ObjectiveExample, raw: dict[str, Any]
    ) -> ModelExample:
        target_modality = example.target.modality
        return ModelExample(
            core_ids=[self.vocab.prefix_ids[objective.name]],
            inputs=example.inputs,
            target_ids=example.target.ids.tolist(),
            start_id=self.vocab.start_ids[target_modality],
            task=str(raw.get("group") or example.task),
            resampled_tokens=self.resampled_tokens,
            meta={"id": raw.get("id", ""), "objective": objective.name, "target": target_modality},
        )

    def __call__(self, raw: dict[str, Any], rng: random.Random) -> ModelExample:
        """A training example: task template, processing, a sampled objective."""
        task, example, _ = self.objective_example(raw, rng)
        objective = self.mixture.sample(task, example.target.modality, rng)
        return self.to_model_example(objective, self.mixture.apply(objective, example, rng), raw)

    def for_inference(self, raw: dict[str, Any], rng: random.Random) -> tuple[ModelExample, Any]:
        """An evaluation example (the task's main objective, uncorrupted target) and its reference."""
        task, example, reference = self.objective_example(raw, rng)
        if task.objectives:
            objective = self.mixture.objectives.get(task.objectives[0])
        else:  # the objective with the largest mix weight
            options = self.mixture.candidates(task, example.target.modality)
            objective = max(options, key=lambda o: (o[1], o[0].name))[0] if options else None
        if objective is None:
            raise ExampleError(f"no objective applies to task {task.name!r}")
        return self.to_model_example(objective, example, raw), reference
