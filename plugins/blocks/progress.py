"""The progress bar of uio's long fits (tokenizers, classifiers, encoder pretraining)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(label: str, status: str = "{task.description}", *, disable: bool = False) -> Progress:
    """A rich progress bar: ``label``, the bar, steps done of all, ``status``, time spent and left.

    ``status`` is a rich format over the task (``"loss {task.fields[loss]:.3f}"``).
    The bar is drawn on stderr, so stdout stays clean for piped output; without a
    terminal rich skips the live redraws and prints the final state once.
    """
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(status),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=disable,
    )
