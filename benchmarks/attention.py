"""Block-diagonal attention over packed rows: FlexAttention against SDPA with a dense mask.

Usage::

    python benchmarks/attention.py                     # CPU: 512 1024 2048 tokens; CUDA: up to 8192
    python benchmarks/attention.py --tokens 8192 --causal
    python benchmarks/attention.py --quick             # smoke test

A row of ``--tokens`` packed tokens holds examples of random lengths in
``[--min-len, --max-len]`` (the last one cut to fit); ``--heads`` heads of
``--head-dim``. The mask is the trunk's packed-row rule (``uio.core.masks``):
the encoder's (bidirectional within an example) or with ``--causal`` the
decoder's. Variants:

* **sdpa dense mask (ref)**: :func:`uio.core.kernels.reference.attention`
  with the ``[B, 1, L, L]`` boolean mask;
* **flex**: :func:`uio.core.kernels.flex_attention.flex_attention` with the
  ``BlockMask`` (compiled on CUDA). On CPU, where FlexAttention has no backward
  in torch 2.11, the forward is timed through ``torch.compile(flex_attention)``
  (``flex, compiled``; skipped by ``--quick``: compiling takes about a minute)
  and through its unfused eager path (``flex, eager``).

On CPU every variant runs forward only, without autograd (FlexAttention has
no backward there), so time and memory compare like with like.

"mask s" is the time to build the variant's mask from segment ids, done once
per batch and shared by every layer, so it is not in the per-call columns.
Timing and peak memory as in ``benchmarks/linear_cross_entropy.py``: warm-up,
interleaved rounds, medians; peak tensor memory of one call beyond its inputs.
Each variant's output is first checked against the reference's (exit 1 if they
differ).
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import add_common_args, environment, print_table, set_threads, spread
from _memory import mib, peak_of_call

from uio.core.kernels import reference
from uio.core.kernels.flex_attention import flex_attention, segment_block_mask
from uio.core.masks import block_mask

REFERENCE = "sdpa dense mask (ref)"
AGREEMENT = {torch.float32: 1e-4, torch.bfloat16: 5e-2}
"""Largest output difference from the reference (relative to its largest value) a variant may show."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=None,
                        help="packed tokens per row to sweep (default CPU 512 1024 2048; CUDA 1024 ... 8192)")
    parser.add_argument("--rows", type=int, default=1, help="rows per batch (default 1)")
    parser.add_argument("--heads", type=int, default=None, help="heads (default CPU 4, CUDA 16)")
    parser.add_argument("--head-dim", type=int, default=64, help="head dimension (default 64)")
    parser.add_argument("--min-len", type=int, default=32, help="shortest example (default 32)")
    parser.add_argument("--max-len", type=int, default=256, help="longest example (default 256)")
    parser.add_argument("--causal", action="store_true", help="the decoder's causal mask")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                        help="q, k, v dtype (default float32 on CPU, bfloat16 on CUDA)")
    parser.add_argument("--float32-logits", action="store_true",
                        help="upcast q, k, v to float32 as model.float32_attention_logits does")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--seed", type=int, default=0)
    add_common_args(parser, default_repeats=5)
    args = parser.parse_args(argv)
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = args.device.type == "cuda"
    args.dtype = getattr(torch, args.dtype or ("bfloat16" if cuda else "float32"))
    args.heads = args.heads or (16 if cuda else 4)
    args.tokens = args.tokens or ([1024, 2048, 4096, 8192] if cuda else [512, 1024, 2048])
    if args.quick:
        args.tokens, args.repeats, args.heads = [256], 1, 2
    if args.min_len < 1 or args.max_len < args.min_len:
        raise SystemExit(f"--min-len {args.min_len} / --max-len {args.max_len}: need 1 <= min <= max")
    return args


def packed_segments(rows: int, tokens: int, min_len: int, max_len: int, seed: int) -> torch.Tensor:
    """``[rows, tokens]`` segment ids: examples of random lengths packed back to back."""
    rng = random.Random(seed)
    out = torch.empty(rows, tokens, dtype=torch.long)
    for r in range(rows):
        ids, seg = [], 0
        while len(ids) < tokens:
            seg += 1
            ids += [seg] * rng.randint(min_len, max_len)
        out[r] = torch.tensor(ids[:tokens])
    return out


@dataclass
class Variant:
    name: str
    build_mask: Callable[[torch.Tensor], object]
    attend: Callable[..., torch.Tensor]


def variants(args: argparse.Namespace) -> tuple[list[Variant], dict[str, str]]:
    causal = args.causal
    skipped: dict[str, str] = {}
    found = [
        Variant(REFERENCE, lambda seg: block_mask(seg, seg, causal), reference.attention),
    ]
    block = functools.partial(_block, causal=causal)
    if args.device.type == "cuda":
        found.append(Variant("flex", block, flex_attention))
        return found, skipped
    from torch.nn.attention.flex_attention import flex_attention as bare_flex

    compiled = torch.compile(bare_flex, dynamic=False)

    def flex_compiled(q, k, v, mask, scale, float32_logits):
        dtype = v.dtype
        if float32_logits:
            q, k, v = q.float(), k.float(), v.float()
        q, k, v = q.detach(), k.detach(), v.detach()  # forward only on CPU
        return compiled(q, k, v, block_mask=mask, scale=scale).to(dtype)

    if args.quick:
        skipped["flex, compiled"] = "--quick (compiling takes about a minute on CPU)"
    else:
        found.append(Variant("flex, compiled", block, flex_compiled))
    found.append(Variant("flex, eager", block, flex_attention))
    return found, skipped


def _block(seg: torch.Tensor, causal: bool):
    return segment_block_mask(seg, seg, causal)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(v: Variant, qkv, mask, scale: float, float32_logits: bool, device) -> tuple[float, float | None]:
    """Forward and (on CUDA) backward seconds of one call."""
    backward = device.type == "cuda"
    for t in qkv:
        t.grad = None
    _sync(device)
    start = time.perf_counter()
    with torch.set_grad_enabled(backward):
        out = v.attend(*qkv, mask, scale, float32_logits)
    _sync(device)
    mid = time.perf_counter()
    if not backward:
        return mid - start, None
    out.backward(torch.ones_like(out))
    _sync(device)
    return mid - start, time.perf_counter() - mid


def timed(fn: Callable[[], object], device) -> tuple[float, object]:
    """Seconds of ``fn()`` and its result."""
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    found, skipped = variants(args)
    scale = args.head_dim**-0.5
    backward = args.device.type == "cuda"
    rows = []
    for tokens in args.tokens:
        seg = packed_segments(args.rows, tokens, args.min_len, args.max_len, args.seed).to(args.device)
        g = torch.Generator().manual_seed(args.seed)
        shape = (args.rows, args.heads, tokens, args.head_dim)
        qkv = [torch.randn(shape, generator=g).to(args.device, args.dtype).requires_grad_() for _ in range(3)]
        masks, mask_s = {}, {}
        for v in found:
            v.build_mask(seg)  # warm-up
            mask_s[v.name], masks[v.name] = timed(functools.partial(v.build_mask, seg), args.device)
            step(v, qkv, masks[v.name], scale, args.float32_logits, args.device)
        with torch.no_grad():
            outs = {v.name: v.attend(*qkv, masks[v.name], scale, args.float32_logits).float() for v in found}
        for name, out in outs.items():
            error = float((out - outs[REFERENCE]).abs().max() / outs[REFERENCE].abs().max())
            if error > AGREEMENT[args.dtype]:
                print(f"{tokens} tokens: {name} differs from {REFERENCE} by {error:.2e}", file=sys.stderr)
                return 1
        times = {v.name: ([], []) for v in found}
        for _ in range(args.repeats):
            for v in found:
                fwd, bwd = step(v, qkv, masks[v.name], scale, args.float32_logits, args.device)
                times[v.name][0].append(fwd)
                times[v.name][1].append(bwd)
        peaks = {
            v.name: peak_of_call(
                functools.partial(step, v, qkv, masks[v.name], scale, args.float32_logits, args.device),
                args.device,
            )
            for v in found
        }
        ref_fwd = statistics.median(times[REFERENCE][0])
        ref_full = statistics.median(map(sum, zip(*times[REFERENCE], strict=True))) if backward else None
        examples = int(seg.max())
        for v in found:
            fwd, bwd = times[v.name]
            fwd_s = statistics.median(fwd)
            full_s = statistics.median([f + b for f, b in zip(fwd, bwd, strict=True)]) if backward else None
            rows.append([
                v.name, f"{tokens:,}", examples, mask_s[v.name], fwd_s,
                statistics.median(bwd) if backward else "-", "-" if full_s is None else full_s,
                spread(fwd), f"{ref_fwd / fwd_s:.2f}x",
                "-" if full_s is None else f"{ref_full / full_s:.2f}x",
                mib(peaks[v.name]), f"{peaks[v.name] / peaks[REFERENCE]:.1%}" if peaks[REFERENCE] else "-",
            ])

    notes = [f"{name}: skipped, {why}" for name, why in skipped.items()]
    if not backward:
        notes.append("CPU: forward only, without autograd, for every variant (FlexAttention has no backward there)")
    logits = "float32 logits" if args.float32_logits else f"{str(args.dtype).removeprefix('torch.')} logits"
    print_table(
        f"Packed attention, {'causal' if args.causal else 'bidirectional'} within examples of "
        f"{args.min_len}-{args.max_len} tokens, {args.rows} row(s) x {args.heads} heads x {args.head_dim}, "
        f"{args.device.type}",
        ["variant", "tokens", "examples", "mask s", "fwd s", "bwd s", "full s", "spread",
         "fwd vs sdpa", "full vs sdpa", "peak MiB", "memory vs sdpa"],
        rows,
        caption="\n".join([
            f"{str(args.dtype).removeprefix('torch.')} q/k/v, {logits} | median of {args.repeats} "
            "interleaved rounds after a warm-up | vs sdpa: speed = sdpa seconds / variant seconds, "
            "memory = variant peak / sdpa peak",
            *notes,
            environment(threads),
        ]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
