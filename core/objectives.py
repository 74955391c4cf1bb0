"""The mixture of denoisers (UIO2, arXiv 2312.17172 sec. 5.1).

Per example, one objective is sampled among those that the plugins supply for
the example's target modality (and that its task allows), with mix weights from
the config. The objective rewrites the example; the core then prepends the
objective's prefix token to the encoder input.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from uio.core.vocab import Vocabulary
from uio.plugins.spec import ObjectiveContext, ObjectiveExample, ObjectiveSpec, TaskSpec


class ObjectiveMixture:
    """Samples and applies objectives.

    Args:
        objectives: every objective with a prefix token in the vocabulary.
        weights: mix weight per objective name; missing names get ``default_weight``.
        vocab: the unified vocabulary (for sentinels and ranges).
    """

    def __init__(
        self,
        objectives: Sequence[ObjectiveSpec],
        weights: dict[str, float],
        default_weight: float,
        vocab: Vocabulary,
    ) -> None:
        self.objectives = {o.name: o for o in objectives}
        self.weights = {name: float(weights.get(name, default_weight)) for name in self.objectives}
        self.vocab = vocab
        self.context = ObjectiveContext(
            sentinel_ids=tuple(vocab.sentinel_ids),
            modality_ranges={r.name: (r.start, r.end) for r in vocab.ranges.values()},
        )

    def candidates(self, task: TaskSpec, target_modality: str) -> list[tuple[ObjectiveSpec, float]]:
        """Objectives (with weight > 0) that may be sampled for a task and target modality."""
        allowed = task.objectives
        out = []
        for name, obj in self.objectives.items():
            if target_modality not in obj.target_modalities:
                continue
            if allowed is not None and name not in allowed:
                continue
            if self.weights[name] > 0:
                out.append((obj, self.weights[name]))
        if not out and allowed:
            # A task that names objectives gets them even when the mix weight is 0.
            out = [(self.objectives[n], 1.0) for n in allowed if n in self.objectives]
        return out

    def sample(self, task: TaskSpec, target_modality: str, rng: random.Random) -> ObjectiveSpec:
        """One objective for an example, by mix weight."""
        options = self.candidates(task, target_modality)
        if not options:
            raise ValueError(
                f"no objective can train task {task.name!r} with target modality "
                f"{target_modality!r}: none is registered for it, or all have weight 0 in "
                "objectives.weights"
            )
        objs, weights = zip(*options, strict=True)
        return rng.choices(objs, weights=weights, k=1)[0]

    def apply(self, objective: ObjectiveSpec, example: ObjectiveExample, rng: random.Random) -> ObjectiveExample:
        """Run an objective on an example."""
        return objective.apply(example, rng, self.context)
