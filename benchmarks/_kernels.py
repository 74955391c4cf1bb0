"""What the fused-kernel benchmarks share: variants, fwd/bwd/full timing, peak memory, tables.

Liger-Kernel's benchmark shape (``benchmark/scripts/``): one op, one shape axis
swept, and for every variant the speed and peak memory of the forward pass, the
backward pass and both ("full"), against the eager reference, in one run.

Variants of an op:

* ``eager (reference)``: the op from :mod:`uio.core.kernels.reference`;
* ``torch.compile``: the same reference under ``torch.compile(dynamic=False)``
  (Inductor: C++ on CPU, Triton on CUDA). Its first call compiles; the warm-up
  absorbs that (on CPU Inductor's first compile in a process takes ~30 s);
* ``triton (uio)``: our kernel (:mod:`uio.core.kernels`), where it runs compiled
  (CUDA). Under ``TRITON_INTERPRET=1`` it would run, but the interpreter's speed
  says nothing about the kernel, so it is not timed;
* ``liger``: Liger-Kernel's kernel for the op (CUDA, ``liger_kernel`` installed).

A variant that cannot run prints why under the table instead of a row.

Timing: a calibrated number of calls per round (at least ``--min-ms`` per
round), rounds interleaved across variants, median kept (``_common``). On CUDA
each round ends with a synchronize. Backward is timed on a retained graph;
input gradients are reset to None before every backward, so no variant pays
for gradient accumulation. Peak memory is what one call allocates beyond what
was live before it (the inputs and, for backward, the graph):
``torch.cuda.max_memory_allocated`` on CUDA, torch's profiler on CPU
(``_memory.peak_of_call``).

Before timing, each variant's forward output is compared with eager's; a
script exits 1 if one differs by more than ``AGREEMENT`` (per dtype, relative
to the largest eager value).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from _common import Variant, add_common_args, environment, print_table, set_threads, spread
from _common import time_interleaved as _time_interleaved
from _memory import peak_of_call

MODES = ("forward", "backward", "full")
AGREEMENT = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}
"""Largest forward difference from eager, relative to eager's largest value, a variant may show."""


@dataclass
class OpVariant:
    """One implementation of the op: ``fn(*inputs) -> tensor or tuple``, or why it is skipped."""

    name: str
    fn: Callable[..., object] | None
    skipped: str | None = None


GPU_DIMS = [1024, 2048, 3072, 4096]
"""Widths swept on CUDA (the issue's d from 1024 to 4096)."""
CPU_DIMS = [256, 512, 1024]
"""Widths swept on CPU, where eager calls at d=4096 take seconds."""


def add_kernel_args(parser: argparse.ArgumentParser) -> None:
    """The flags of every kernel benchmark, on top of ``_common.add_common_args``."""
    parser.add_argument(
        "--dims",
        type=int,
        nargs="+",
        default=None,
        help=f"values of the swept width (default: {GPU_DIMS} on CUDA, {CPU_DIMS} on CPU)",
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=None,
        help="rows (tokens) per call (default: 4096 CUDA, 1024 CPU)",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default=None,
        help="input dtype (default: bfloat16 on CUDA, float32 on CPU)",
    )
    parser.add_argument(
        "--device", choices=["cuda", "cpu"], default=None, help="default: cuda if present"
    )
    parser.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="the torch.compile variant (auto: on, but off for --quick on CPU: slow to compile)",
    )
    parser.add_argument(
        "--min-ms", type=float, default=20.0, help="calls per timed round add up to at least this"
    )
    add_common_args(parser, default_repeats=5)


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the device-dependent defaults; ``--quick`` shrinks everything."""
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = args.device.type == "cuda"
    args.dims = args.dims or (GPU_DIMS if gpu else CPU_DIMS)
    args.tokens = args.tokens or (4096 if gpu else 1024)
    args.dtype = getattr(torch, args.dtype or ("bfloat16" if gpu else "float32"))
    if args.quick:
        args.dims = args.dims[:2]
        args.tokens = min(args.tokens, 128)
        args.repeats = 1
        args.min_ms = 2.0
    if args.compile == "auto":
        args.compile = "off" if args.quick and not gpu else "on"
    args.threads = set_threads(args.threads)
    return args


def compiled_variant(reference_fn: Callable[..., object], args: argparse.Namespace) -> OpVariant:
    """``torch.compile`` of the reference, or why it is left out."""
    if args.compile == "off":
        return OpVariant(
            "torch.compile",
            None,
            "--compile off (the default with --quick on CPU: Inductor's "
            "first compile in a process takes ~30 s there; --compile on forces it)",
        )
    return OpVariant("torch.compile", torch.compile(reference_fn, dynamic=False))


def triton_variant(
    op: str,
    args: argparse.Namespace,
    adapt: Callable[[Callable[..., object]], Callable[..., object]] = lambda fn: fn,
) -> OpVariant:
    """Our Triton kernel for ``op`` (``adapt`` fits it to the benchmark's call), or why not."""
    try:
        from uio.core.kernels import _FUSED, _NOT_LOADED, _triton
    except ImportError as exc:
        return OpVariant("triton (uio)", None, f"triton did not import: {exc}")
    if op in _NOT_LOADED:
        return OpVariant("triton (uio)", None, _NOT_LOADED[op])
    if _triton.INTERPRETED:
        return OpVariant(
            "triton (uio)", None, "TRITON_INTERPRET=1: interpreter speed means nothing"
        )
    why = _triton.unavailable_reason(args.device.type)
    if why:
        return OpVariant("triton (uio)", None, why)
    return OpVariant("triton (uio)", adapt(_FUSED[op].fn))


def op_variants(
    op: str,
    eager: Callable[..., object],
    liger: Callable[[], Callable[..., object]],
    args: argparse.Namespace,
    adapt: Callable[[Callable[..., object]], Callable[..., object]] = lambda fn: fn,
) -> list[OpVariant]:
    """The variants every op benchmark compares: eager (the reference, first),
    its ``torch.compile``, our Triton kernel and Liger-Kernel's."""
    return [
        OpVariant("eager (reference)", eager),
        compiled_variant(eager, args),
        triton_variant(op, args, adapt),
        liger_variant(args, liger),
    ]


def liger_variant(
    args: argparse.Namespace, build: Callable[[], Callable[..., object]]
) -> OpVariant:
    """Liger-Kernel's version, built by ``build()`` (which imports ``liger_kernel``), or why not."""
    if args.device.type != "cuda":
        return OpVariant("liger", None, "Liger-Kernel's Triton kernels need CUDA")
    try:
        return OpVariant("liger", build())
    except ImportError as exc:
        return OpVariant("liger", None, f"liger_kernel is not installed ({exc})")


def _outputs(value: object) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class _Runs:
    """The three callables of one variant on one problem."""

    forward: Callable[[], object]
    backward: Callable[[], object]
    full: Callable[[], object]


def _runs(
    fn: Callable[..., object], inputs: list[torch.Tensor], grads: list[torch.Tensor]
) -> _Runs:
    leaves = [t for t in inputs if t.requires_grad]

    def reset() -> None:
        for t in leaves:
            t.grad = None

    def forward() -> object:
        return fn(*inputs)

    graph = _outputs(fn(*inputs))

    def backward() -> None:
        reset()
        torch.autograd.backward(graph, grads, retain_graph=True)

    def full() -> None:
        reset()
        torch.autograd.backward(_outputs(fn(*inputs)), grads)

    return _Runs(forward, backward, full)


def _peak_mib(run: Callable[[], object], device: torch.device) -> float:
    """Peak MiB one call allocates (CUDA allocator statistics; on CPU, torch's profiler)."""
    return peak_of_call(run, device) / 2**20


def _calls_per_round(run: Callable[[], object], device: torch.device, min_ms: float) -> int:
    import time

    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    once = time.perf_counter() - start
    return max(1, int(min_ms / 1000 / max(once, 1e-7)))


def _repeat(run: Callable[[], object], calls: int, device: torch.device) -> Callable[[], None]:
    def timed() -> None:
        for _ in range(calls):
            run()
        _sync(device)

    return timed


def sweep(
    title: str,
    axis: str,
    problems: Sequence[tuple[int, Callable[[], list[torch.Tensor]]]],
    variants: Sequence[OpVariant],
    args: argparse.Namespace,
    shape_note: str,
) -> bool:
    """Time every runnable variant on every problem and print the tables.

    ``problems``: ``(axis value, make_inputs)``; ``make_inputs()`` returns fresh
    inputs, the differentiable ones as leaves requiring grad. The first variant
    is the reference the ratios and the max difference are taken against.
    Returns False (after saying which) if a variant's output disagrees with it.
    """
    runnable = [v for v in variants if v.fn is not None]
    rows: list[list[object]] = []
    memory_rows: list[list[object]] = []
    disagreements: list[str] = []
    for value, make_inputs in problems:
        torch.manual_seed(0)
        inputs = make_inputs()
        with torch.no_grad():
            expected = _outputs(runnable[0].fn(*inputs))
        grads = [torch.randn_like(o) for o in expected]
        stats: dict[str, dict[str, object]] = {}
        timers: dict[str, list[Variant]] = {mode: [] for mode in MODES}
        for v in runnable:
            runs = _runs(v.fn, inputs, grads)
            for mode in MODES:  # warm-up: compiles, autotunes, fills caches
                getattr(runs, mode)()
            with torch.no_grad():
                got = _outputs(v.fn(*inputs))
            pairs = list(zip(got, expected, strict=True))
            diff = max((a.float() - b.float()).abs().max().item() for a, b in pairs)
            scale = max(b.float().abs().max().item() for _, b in pairs) or 1.0
            if diff > AGREEMENT[args.dtype] * scale:
                disagreements.append(f"{v.name} at {axis} = {value}: max |diff| {diff:.2e}")
            stats[v.name] = {"diff": diff}
            for mode in MODES:
                stats[v.name][f"{mode} MiB"] = _peak_mib(getattr(runs, mode), args.device)
            for mode in MODES:
                run = getattr(runs, mode)
                calls = _calls_per_round(run, args.device, args.min_ms)
                stats[v.name][f"{mode} calls"] = calls
                timers[mode].append(Variant(v.name, _repeat(run, calls, args.device)))
        for mode in MODES:
            _time_interleaved(timers[mode], args.repeats)
        for i, v in enumerate(runnable):
            ref, mine = stats[runnable[0].name], stats[v.name]
            row: list[object] = [value, v.name]
            mem: list[object] = [value, v.name]
            for mode in MODES:
                ms = timers[mode][i].median / mine[f"{mode} calls"] * 1000
                ref_ms = timers[mode][0].median / ref[f"{mode} calls"] * 1000
                row += [f"{ms:.3f}", f"{ref_ms / ms:.2f}x"]
                mib, ref_mib = mine[f"{mode} MiB"], ref[f"{mode} MiB"]
                if mib is not None:
                    mem += [f"{mib:.1f}", f"{mib / ref_mib:.2f}x" if ref_mib else "-"]
            rows.append([*row, f"{mine['diff']:.1e}", spread(timers["full"][i].seconds)])
            memory_rows.append(mem)
    skipped = [f"  {v.name}: {v.skipped}" for v in variants if v.fn is None]
    dtype = str(args.dtype).split(".")[-1]
    caption = (
        f"{shape_note} | {dtype} on {args.device.type} | {args.repeats} timed rounds, median | "
        "ms per call; vs eager = eager ms / this ms (higher is better); max |diff|: forward "
        "output vs eager\n"
        f"{environment(args.threads)}" + ("\nnot timed:\n" + "\n".join(skipped) if skipped else "")
    )
    speed = ["fwd ms", "fwd vs eager", "bwd ms", "bwd vs eager", "full ms", "full vs eager"]
    print_table(
        f"{title}: speed", [axis, "variant", *speed, "max |diff|", "spread"], rows, caption=caption
    )
    for line in disagreements:
        print(f"DISAGREES with eager: {line}")
    memory = ["fwd MiB", "fwd vs eager", "bwd MiB", "bwd vs eager", "full MiB", "full vs eager"]
    print_table(
        f"{title}: peak memory",
        [axis, "variant", *memory],
        memory_rows,
        caption="MiB allocated during one call beyond what was allocated before it (the inputs; "
        "for backward, also the graph); vs eager = this / eager (lower is better)",
    )
    return not disagreements
