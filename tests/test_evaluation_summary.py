"""How uio eval aggregates metrics over tasks."""

from __future__ import annotations

from uio.core.evaluation import _weighted_means


def test_overall_means_count_only_the_tasks_that_report_a_metric() -> None:
    tasks = {
        "caption": {"n": 2, "metrics": {"exact_match": 1.0}},
        "refexp": {"n": 6, "metrics": {"exact_match": 0.0, "iou": 0.5}},
    }
    assert _weighted_means(tasks, "metrics") == {"exact_match": 0.25, "iou": 0.5}
