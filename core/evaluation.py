"""Held-out evaluation: generate, score with each modality's decoder, compare with chance."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from uio.core.generation import DecodeOptions
from uio.core.inference import LoadedRun


def chance_scores(results: list[dict[str, Any]], score: Callable[[Any, Any], dict[str, float]]) -> dict[str, float]:
    """Scores of always answering the most common reference (the majority baseline)."""
    counts = Counter(repr(r["reference"]) for r in results)
    top = counts.most_common(1)[0][0]
    guess = next(r["reference"] for r in results if repr(r["reference"]) == top)
    totals: dict[str, float] = defaultdict(float)
    for r in results:
        for k, v in score(guess, r["reference"]).items():
            totals[k] += v
    return {k: v / len(results) for k, v in totals.items()}


def summarise(results: list[dict[str, Any]], loaded: LoadedRun) -> dict[str, Any]:
    """Per-task mean metrics with the majority baseline beside each, plus the overall mean."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_task[r["task"]].append(r)
    tasks = {}
    for task, rows in sorted(by_task.items()):
        decoder = loaded.run.bound[rows[0]["modality"]].decoder
        metrics: dict[str, float] = defaultdict(float)
        for r in rows:
            for k, v in r["scores"].items():
                metrics[k] += v
        tasks[task] = {
            "n": len(rows),
            "metrics": {k: v / len(rows) for k, v in metrics.items()},
            "chance": chance_scores(rows, decoder.score),
        }
    overall: dict[str, float] = defaultdict(float)
    overall_chance: dict[str, float] = defaultdict(float)
    total = sum(t["n"] for t in tasks.values())
    for t in tasks.values():
        for k, v in t["metrics"].items():
            overall[k] += v * t["n"] / total
        for k, v in t["chance"].items():
            overall_chance[k] += v * t["n"] / total
    return {"n": total, "tasks": tasks, "overall": dict(overall), "overall_chance": dict(overall_chance)}


def evaluate(
    loaded: LoadedRun,
    split: str,
    max_examples: int,
    batch_size: int,
    options: DecodeOptions,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate for up to ``max_examples`` examples of ``split``; return summary and rows."""
    raws = loaded.run.dataset(split)
    if not raws:
        raise ValueError(f"split {split!r} has no examples in this run's data mixture")
    raws = raws[:max_examples]
    results: list[dict[str, Any]] = []
    for start in range(0, len(raws), batch_size):
        results.extend(loaded.generate(raws[start : start + batch_size], options, seed=start))
        if progress is not None:
            progress(len(results), len(raws))
    summary = summarise(results, loaded)
    summary["split"] = split
    return summary, results
