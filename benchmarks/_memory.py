"""Peak memory of one call, on CUDA or on CPU, for the benchmark tables.

CUDA: ``torch.cuda.max_memory_allocated()`` over the call, minus what was
allocated before it.

CPU has no allocator statistics, so the call runs under ``torch.profiler``
with ``profile_memory=True``, which records every allocation and free of
torch's CPU allocator; the profiler's memory timeline (the one behind
``export_memory_timeline``) gives the live bytes over time, and the peak is
their maximum (the timeline counts only what the call allocates). This is the CPU
twin of the CUDA number: tensor memory, not the allocator's or BLAS's scratch.

Why not the process's resident memory: after a warm-up call, glibc serves the
measured call's tensors from holes earlier frees left in its heap, so the
resident high-water mark (reset through ``/proc/self/clear_refs``) missed the
whole call in 4 of 13 trials; a fresh process per variant, measured on its
first call, is reliable but costs a compile per compiled variant. As a check,
that first-call resident growth (``ru_maxrss``, ``MALLOC_MMAP_THRESHOLD_=65536``)
of the linear cross-entropy at vocab 65,536 came within 5% of this count:
5,149 vs 5,128 MiB eager, 244 vs 232 MiB chunked.
"""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Callable

import torch

# Kineto (the profiler's backend) logs an error line when it finds no GPU; read at
# its first use, so setting it here, before any profiling, is early enough.
os.environ.setdefault("KINETO_LOG_LEVEL", "5")


def peak_of_call(call: Callable[[], object], device: torch.device) -> int:
    """Bytes of peak tensor memory ``call()`` allocated beyond what was live before it."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    return _cpu_peak(call)


def _cpu_peak(call: Callable[[], object]) -> int:
    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import MemoryProfileTimeline

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Warning: Profiler clears events")
        with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
        ) as prof:
            call()
    _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    # The timeline starts empty and its first point already holds the first
    # allocation, so the peak is counted from zero, not from that point.
    live = [sum(per_category) for per_category in sizes]
    return max([0, *live])


def mib(nbytes: int | None) -> str:
    """Bytes as MiB for a table cell (``-`` when not measured)."""
    return "-" if nbytes is None else f"{nbytes / 2**20:,.1f}"
