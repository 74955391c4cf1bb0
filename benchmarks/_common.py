"""What every benchmark script shares: thread setup, timing, and the ratio table.

The scripts follow Liger-Kernel's benchmark style: every variant runs in the same
process, and the table reports each one against a reference variant measured in
that same run (so a busy machine slows both sides alike). Timed rounds are
interleaved across variants and the median is kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

DEFAULT_CONFIG = str(
    Path(__file__).resolve().parents[1] / "configs" / "experiment" / "scene_qa.yaml"
)


def add_common_args(
    parser: argparse.ArgumentParser, *, default_threads: int = 1, default_repeats: int = 3
) -> None:
    """``--threads``, ``--repeats`` and ``--quick``, the flags every benchmark takes.

    One thread by default: on a small machine shared with other jobs, a second
    intra-op thread spends its time waiting at OpenMP barriers: with 2 threads
    decoding ran 2.5x to 30x slower than with 1, depending on the other load.
    """
    parser.add_argument(
        "--threads",
        type=int,
        default=default_threads,
        help=f"torch.set_num_threads value (default {default_threads})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=default_repeats,
        help=f"timed rounds per variant, interleaved; the median is reported (default {default_repeats})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run that finishes in seconds (smoke test)"
    )


def set_threads(threads: int) -> int:
    """Pin torch's intra-op thread count (and report what torch now uses)."""
    torch.set_num_threads(threads)
    return torch.get_num_threads()


def environment(threads: int) -> str:
    """One line saying what the numbers were measured on."""
    return f"torch {torch.__version__} | {_cpu_name()}, {os.cpu_count()} cores | torch threads {threads}"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Variant:
    """One side of a comparison: a name, a callable to time, and its timed rounds."""

    name: str
    run: Callable[[], object]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_interleaved(variants: Sequence[Variant], repeats: int) -> None:
    """Time each variant ``repeats`` times, alternating between them (A B A B ...)."""
    for _ in range(repeats):
        for v in variants:
            start = time.perf_counter()
            v.run()
            v.seconds.append(time.perf_counter() - start)


def ratio(value: float, reference: float) -> str:
    """``value / reference`` as ``"4.21x"`` (``"-"`` when there is no reference)."""
    return f"{value / reference:.2f}x" if reference else "-"


def spread(seconds: Sequence[float]) -> str:
    """Relative spread of timed rounds, ``(max - min) / median``, as a percentage."""
    if len(seconds) < 2:
        return "-"
    return f"{(max(seconds) - min(seconds)) / statistics.median(seconds):.0%}"


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    caption: str | None = None,
    console: Console | None = None,
) -> None:
    """Print one table; the first column is left-aligned, the others right-aligned."""
    table = Table(title=title, caption=caption, caption_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(_cell(c) for c in row))
    (console or wide_console()).print(table)


def wide_console() -> Console:
    """A console at least 140 columns wide, so piped output does not wrap the tables."""
    return Console(width=max(Console().width, 140))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
