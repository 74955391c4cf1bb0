"""Held-out evaluation: generate, score with each modality's decoder, compare with chance."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from uio.core.generation import DecodeOptions
from uio.core.inference import LoadedRun


def chance_scores(
    results: list[dict[str, Any]], score: Callable[[dict[str, Any], Any, Any], dict[str, float]]
) -> dict[str, float]:
    """Scores of always answering the most common reference (the majority baseline).

    ``score(raw example, prediction, reference)``. References are told apart by
    their ``repr``; where every one is distinct (pictures), the first is the guess.
    """
    counts = Counter(repr(r["reference"]) for r in results)
    top = counts.most_common(1)[0][0]
    guess = next(r["reference"] for r in results if repr(r["reference"]) == top)
    totals: dict[str, float] = defaultdict(float)
    for r in results:
        for k, v in score(r["raw"], guess, r["reference"]).items():
            totals[k] += v
    return {k: v / len(results) for k, v in totals.items()}


def _add_corpus_scores(entry: dict[str, Any], rows: list[dict[str, Any]], loaded: LoadedRun) -> None:
    """Add the task's corpus-level metrics (``TaskSpec.corpus_score``), chance being the
    majority reference given for every example."""
    score = loaded.run.registry.task(rows[0]["raw"]["task"]).corpus_score
    if score is None:
        return
    raws = [r["raw"] for r in rows]
    references = [r["reference"] for r in rows]
    entry["metrics"].update(score(raws, [r["prediction"] for r in rows], references))
    top = Counter(repr(ref) for ref in references).most_common(1)[0][0]
    guess = next(ref for ref in references if repr(ref) == top)
    entry["chance"].update(score(raws, [guess] * len(rows), references))


def summarise(results: list[dict[str, Any]], loaded: LoadedRun) -> dict[str, Any]:
    """Per-task mean metrics with the majority baseline beside each, plus the overall mean."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_task[r["task"]].append(r)
    tasks = {}
    for task, rows in sorted(by_task.items()):
        modality = rows[0]["modality"]
        metrics: dict[str, float] = defaultdict(float)
        for r in rows:
            for k, v in r["scores"].items():
                metrics[k] += v
        tasks[task] = {
            "n": len(rows),
            "metrics": {k: v / len(rows) for k, v in metrics.items()},
            "chance": chance_scores(rows, lambda raw, p, r, m=modality: loaded.score(raw, m, p, r)),
        }
        _add_corpus_scores(tasks[task], rows, loaded)
    total = sum(t["n"] for t in tasks.values())
    return {
        "n": total,
        "tasks": tasks,
        "overall": _weighted_means(tasks, "metrics"),
        "overall_chance": _weighted_means(tasks, "chance"),
    }


def _weighted_means(tasks: dict[str, dict[str, Any]], key: str) -> dict[str, float]:
    """Each metric averaged over the examples of the tasks that report it (a caption task
    has no IoU: it must not pull the IoU mean towards 0)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for t in tasks.values():
        for k, v in t[key].items():
            sums[k] += v * t["n"]
            counts[k] += t["n"]
    return {k: sums[k] / counts[k] for k in sums}


def evaluate(
    loaded: LoadedRun,
    split: str,
    max_examples: int,
    batch_size: int,
    options: DecodeOptions,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate for up to ``max_examples`` examples of ``split``; return summary and rows."""
    raws = loaded.run.dataset(split, max_examples)
    if not raws:
        raise ValueError(f"split {split!r} has no examples in this run's data mixture")
    results: list[dict[str, Any]] = []
    for start in range(0, len(raws), batch_size):
        results.extend(loaded.generate(raws[start : start + batch_size], options, seed=start))
        if progress is not None:
            progress(len(results), len(raws))
    summary = summarise(results, loaded)
    summary["split"] = split
    return summary, results


def guidance_ablation(
    loaded: LoadedRun,
    results: list[dict[str, Any]],
    batch_size: int,
    options: DecodeOptions,
) -> dict[str, Any]:
    """Metrics of the guided tasks again without guidance (scale 0), beside the guided ones.

    Only tasks whose target modality asks for classifier-free guidance and has a
    weight above 0 (``options.scale_for``) are re-run; ``{}`` when no task is guided.
    ``guidance_scales`` gives the weight each re-run modality was guided with.
    """
    pipeline = loaded.run.pipeline()
    guided = [r for r in results if pipeline.guided(r["modality"]) and options.scale_for(r["modality"]) > 0]
    if not guided:
        return {}
    unguided_options = options.unguided()
    rerun: list[dict[str, Any]] = []
    for start in range(0, len(guided), batch_size):
        chunk = guided[start : start + batch_size]
        rerun.extend(
            loaded.generate([r["raw"] for r in chunk], unguided_options, rng_keys=[r["rng_key"] for r in chunk])
        )
    with_guidance = summarise(guided, loaded)["tasks"]
    without = summarise(rerun, loaded)["tasks"]
    return {
        "guidance_scale": options.guidance_scale,
        "guidance_scales": {m: options.scale_for(m) for m in sorted({r["modality"] for r in guided})},
        "tasks": {
            task: {"guided": with_guidance[task]["metrics"], "unguided": without[task]["metrics"], "n": t["n"]}
            for task, t in without.items()
        },
    }
