"""Raw example -> task template -> processors -> objective -> :class:`ModelExample`."""

from __future__ import annotations

import random
from contextlib import contextmanager
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
    empty_prompt_rate: float = 0.0

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

    def context(self, raw: dict[str, Any]) -> ProcessContext:
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
        ctx = self.context(raw)
        with self.naming(task.name, ctx):
            inputs = [self.input_segment(m, v, ctx) for m, v in built.inputs]
            target_modality, target_value = built.target
            local = self.bound[target_modality].processor.target_ids(target_value, ctx)
            target_ids = self.vocab.to_global(target_modality, local)
        target = Segment(target_modality, ids=torch.tensor(target_ids, dtype=torch.long))
        return task, ObjectiveExample(inputs=inputs, target=target, task=task.name), target_value

    @contextmanager
    def naming(self, task: str, ctx: ProcessContext):
        """Re-raise a processor's error as an :class:`ExampleError` naming the example and task."""
        try:
            yield
        except ExampleError:
            raise
        except (TypeError, ValueError, OSError) as exc:
            raise ExampleError(f"example {ctx.example_id or '?'} (task {task!r}): {exc}") from exc

    def _with_target_input(self, example: ObjectiveExample, target_value: Any, raw: dict[str, Any]) -> ObjectiveExample:
        ctx = self.context(raw)
        with self.naming(example.task, ctx):
            segment = self.input_segment(example.target.modality, target_value, ctx)
        return replace(example, target_input=segment)

    def guided(self, modality: str) -> bool:
        """Whether a target modality asked for classifier-free guidance."""
        return self.bound[modality].spec.guidance

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
        """A training example: task template, processing, a sampled objective.

        For a target modality that asks for classifier-free guidance, a share
        ``empty_prompt_rate`` of examples trains with no inputs at all (UIO2 and
        Ho & Salimans 2022, arXiv 2207.12598, drop the condition the same way), so
        the model also learns ``p(target | empty prompt)``.
        """
        task, example, target_value = self.objective_example(raw, rng)
        objective = self.mixture.sample(task, example.target.modality, rng)
        if objective.needs_target_input:
            example = self._with_target_input(example, target_value, raw)
        example = self.mixture.apply(objective, example, rng)
        if self.empty_prompt_rate > 0 and self.guided(example.target.modality):
            if rng.random() < self.empty_prompt_rate:
                example = replace(example, inputs=[])
        return self.to_model_example(objective, example, raw)

    def without_prompt(self, example: ModelExample) -> ModelExample:
        """The same example with an empty prompt (the unconditional branch of guidance)."""
        return replace(example, inputs=[], meta={**example.meta, "unconditional": True})

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
