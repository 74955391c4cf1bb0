"""Chunked linear + cross-entropy + z-loss against the eager reference: time and peak memory.

Usage::

    python benchmarks/linear_cross_entropy.py                 # vocab 4096 16384 65536, 4096 tokens, d 512
    python benchmarks/linear_cross_entropy.py --vocab 65536 --threads 2
    python benchmarks/linear_cross_entropy.py --quick         # smoke test

The op is the trunk's loss: ``(hidden @ weight.T) * d**-0.5``, mean cross-entropy
plus z-loss 1e-4 over ``--tokens`` rows (all labelled). Variants:

* **eager (reference)**: :func:`uio.core.kernels.reference.linear_cross_entropy`,
  which holds float32 logits for every row (and autograd keeps several such
  tensors for the backward);
* **chunked**: :func:`uio.core.kernels.chunked_cross_entropy.linear_cross_entropy`,
  what ``model.kernels: auto`` runs; it computes the gradients in its forward,
  so its "backward" only scales them;
* **compiled reference**: ``torch.compile`` of the reference (skipped by
  ``--no-compile`` and ``--quick``: the first compile takes about a minute on CPU);
* **liger** (CUDA only, if ``liger_kernel`` is installed):
  ``LigerFusedLinearCrossEntropyLoss(lse_square_scale=1e-4)`` on
  ``hidden * d**-0.5`` (the same logits).

Timing: every variant in this process, after one untimed warm-up call; each
round runs forward then backward of every variant in turn (interleaved), and
the median over ``--repeats`` rounds is kept; "full" is the median of
forward + backward. The warm-up call also checks that each variant's loss and
gradients agree with eager's (the script exits 1 if not). Peak memory: one more forward + backward per variant, the
peak of tensor memory allocated beyond its inputs (``benchmarks/_memory.py``:
``torch.cuda.max_memory_allocated`` on CUDA, the profiler's record of torch's
allocations on CPU), the gradients of ``hidden`` and ``weight`` included.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable

import torch
from _common import add_common_args, environment, print_table, set_threads, spread
from _memory import mib, peak_of_call

from uio.core.kernels import reference
from uio.core.kernels.chunked_cross_entropy import chunk_rows_for
from uio.core.kernels.chunked_cross_entropy import linear_cross_entropy as chunked

Z_LOSS = 1e-4
AGREEMENT = {torch.float32: 1e-4, torch.bfloat16: 5e-2}
"""Largest difference from eager (relative to eager's largest value) a variant may show."""
REFERENCE = "eager (reference)"
TARGET = {"vocab": 65536, "tokens": 4096, "d_model": 512, "memory": 0.10, "time": 1.3}
"""The CPU goal of issue 6 for the chunked op, checked in a line under the table."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vocab", type=int, nargs="+", default=[4096, 16384, 65536],
                        help="vocabulary sizes to sweep (default 4096 16384 65536)")
    parser.add_argument("--tokens", type=int, default=4096, help="rows N (default 4096)")
    parser.add_argument("--d-model", type=int, default=512, help="hidden width d (default 512)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                        help="hidden and weight dtype (default float32 on CPU, bfloat16 on CUDA)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="rows per chunk of the chunked op (default: ~32 MiB of float32 logits)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled reference")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory columns")
    add_common_args(parser, default_repeats=3)
    args = parser.parse_args(argv)
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.type == "cuda" else "float32"))
    if args.quick:
        args.vocab, args.tokens, args.d_model, args.repeats = [2048], 256, 64, 1
        args.no_compile = True
    return args


def variants(args: argparse.Namespace) -> tuple[dict[str, Callable], dict[str, str]]:
    """``name -> loss(hidden, weight, labels)`` and ``name -> why it was skipped``."""
    scale = args.d_model**-0.5

    def eager(h, w, y):
        ce, z = reference.linear_cross_entropy(h, w, y, logit_scale=scale, z_loss=Z_LOSS)
        return ce + z

    def chunk(h, w, y):
        ce, z = chunked(h, w, y, logit_scale=scale, z_loss=Z_LOSS, chunk_rows=args.chunk_rows)
        return ce + z

    found: dict[str, Callable] = {REFERENCE: eager, "chunked": chunk}
    skipped: dict[str, str] = {}
    if args.no_compile:
        skipped["compiled reference"] = "--no-compile or --quick (compiling takes about a minute on CPU)"
    else:
        found["compiled reference"] = torch.compile(eager)
    if args.device.type != "cuda":
        skipped["liger"] = "Liger-Kernel's Triton kernels need CUDA"
    else:
        try:
            from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
        except ImportError as exc:
            skipped["liger"] = f"liger_kernel is not installed ({exc})"
        else:
            liger_loss = LigerFusedLinearCrossEntropyLoss(lse_square_scale=Z_LOSS)

            def liger(h, w, y):
                out = liger_loss(w, h * scale, y)
                return out[0] if isinstance(out, tuple) else out

            found["liger"] = liger
    return found, skipped


def inputs(args: argparse.Namespace, vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(args.tokens, args.d_model, generator=g)
    weight = torch.randn(vocab, args.d_model, generator=g)
    labels = torch.randint(0, vocab, (args.tokens,), generator=g)
    to = {"device": args.device, "dtype": args.dtype}
    return hidden.to(**to).requires_grad_(), weight.to(**to).requires_grad_(), labels.to(args.device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_agreement(fns: dict[str, Callable], hidden, weight, labels) -> str | None:
    """Run every variant once; say which one's loss or gradients differ from eager's, if any."""
    results = {}
    for name, fn in fns.items():
        hidden.grad = weight.grad = None
        loss = fn(hidden, weight, labels)
        loss.backward()
        results[name] = (loss.detach().float(), hidden.grad.float(), weight.grad.float())
    tol = AGREEMENT[hidden.dtype]
    for name, got in results.items():
        for what, a, b in zip(("loss", "grad hidden", "grad weight"), got, results[REFERENCE], strict=True):
            error = float((a - b).abs().max() / b.abs().max().clamp(min=1e-30))
            if error > tol:
                return f"{name} differs from {REFERENCE} in {what} by {error:.2e} (> {tol:g})"
    return None


def step(fn: Callable, hidden, weight, labels, device: torch.device) -> tuple[float, float]:
    """Forward and backward seconds of one call (fresh gradients each time)."""
    hidden.grad = weight.grad = None
    _sync(device)
    start = time.perf_counter()
    loss = fn(hidden, weight, labels)
    _sync(device)
    mid = time.perf_counter()
    loss.backward()
    _sync(device)
    return mid - start, time.perf_counter() - mid


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    fns, skipped = variants(args)

    rows, checks = [], []
    for vocab in args.vocab:
        hidden, weight, labels = inputs(args, vocab)
        times = {name: ([], []) for name in fns}
        disagree = check_agreement(fns, hidden, weight, labels)  # also the warm-up call
        if disagree:
            print(f"vocab {vocab:,}: {disagree}", file=sys.stderr)
            return 1
        for _ in range(args.repeats):
            for name, fn in fns.items():
                fwd, bwd = step(fn, hidden, weight, labels, args.device)
                times[name][0].append(fwd)
                times[name][1].append(bwd)
        peaks: dict[str, int | None] = {}
        for name, fn in fns.items():
            hidden.grad = weight.grad = None
            call = functools.partial(step, fn, hidden, weight, labels, args.device)
            peaks[name] = None if args.no_memory else peak_of_call(call, args.device)
        del hidden, weight, labels
        full_ref = statistics.median(map(sum, zip(*times[REFERENCE], strict=True)))
        for name in fns:
            fwd, bwd = times[name]
            full = [f + b for f, b in zip(fwd, bwd, strict=True)]
            full_s = statistics.median(full)
            peak, peak_ref = peaks[name], peaks[REFERENCE]
            mem_ratio = peak / peak_ref if peak is not None and peak_ref else None
            rows.append([
                f"{vocab:,}", name, statistics.median(fwd), statistics.median(bwd), full_s,
                spread(full), f"{full_s / full_ref:.2f}x", mib(peak),
                "-" if mem_ratio is None else f"{mem_ratio:.1%}",
            ])
            if name == "chunked" and _is_target(args, vocab):
                checks.append((full_s / full_ref, mem_ratio))

    chunk = args.chunk_rows or chunk_rows_for(max(args.vocab))
    notes = [f"{name}: skipped, {why}" for name, why in skipped.items()]
    if args.no_memory:
        notes.append("peak memory not measured (--no-memory)")
    print_table(
        f"Linear + cross-entropy + z-loss, {args.tokens:,} tokens x d {args.d_model}, "
        f"{str(args.dtype).removeprefix('torch.')}, {args.device.type}",
        ["vocab", "variant", "fwd s", "bwd s", "full s", "spread", "full time vs eager",
         "peak MiB", "peak memory vs eager"],
        rows,
        caption="\n".join([
            f"median of {args.repeats} interleaved rounds after a warm-up | chunked: "
            f"{chunk} rows per chunk at vocab {max(args.vocab):,} (--chunk-rows)",
            *notes,
            environment(threads),
        ]),
    )
    for time_ratio, mem_ratio in checks:
        mem = "not measured" if mem_ratio is None else f"{mem_ratio:.1%} of eager (goal <= 10%)"
        print(
            f"goal at vocab 65,536, 4,096 tokens, d 512: chunked peak memory {mem}; "
            f"time {time_ratio:.2f}x eager (goal <= 1.3x)"
        )
    return 0


def _is_target(args: argparse.Namespace, vocab: int) -> bool:
    return (vocab, args.tokens, args.d_model) == (TARGET["vocab"], TARGET["tokens"], TARGET["d_model"])


if __name__ == "__main__":
    sys.exit(main())
