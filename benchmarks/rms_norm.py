"""RMSNorm and residual-add + RMSNorm: eager reference vs torch.compile vs Triton vs Liger.

Usage::

    python benchmarks/rms_norm.py                  # d = 1024..4096 on CUDA, 256..1024 on CPU
    python benchmarks/rms_norm.py --dims 2048 --tokens 8192 --dtype float32
    python benchmarks/rms_norm.py --quick          # smoke test, a few seconds

Two tables, both sweeping the normalised width d over ``--tokens`` rows:

1. ``rms_norm(x, weight)``: :func:`uio.core.kernels.reference.rms_norm` against
   its ``torch.compile``, our Triton kernel and Liger-Kernel's ``LigerRMSNorm``;
2. ``add_rms_norm(x, residual, weight) -> (x + residual, normed)`` (the pre-norm
   block's residual add fused with the next norm), against Liger-Kernel's
   ``LigerFusedAddRMSNorm`` where the installed version has it.

Exits 1 if a variant's output disagrees with eager.
See ``_kernels.py`` for what is timed and how; Triton and Liger need CUDA.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _kernels import add_kernel_args, op_variants, resolve, sweep

from uio.core.kernels import reference

EPS = 1e-6


def eager_rms_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return reference.rms_norm(x, weight, EPS)


def eager_add_rms_norm(x, residual, weight):
    return reference.add_rms_norm(x, residual, weight, EPS)


def liger_rms_norm(device: torch.device):
    """``LigerRMSNorm`` (casting mode "llama": float32 inside, as the reference), one per width."""
    from liger_kernel.transformers.rms_norm import LigerRMSNorm

    modules: dict[tuple[int, torch.dtype], torch.nn.Module] = {}

    def run(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        key = (weight.shape[0], weight.dtype)
        if key not in modules:  # built and filled on the warm-up call, outside the timing
            modules[key] = LigerRMSNorm(key[0], eps=EPS).to(device, weight.dtype)
            with torch.no_grad():
                modules[key].weight.copy_(weight)
        return modules[key](x)

    return run


def liger_add_rms_norm(device: torch.device):
    """``LigerFusedAddRMSNorm`` (newer Liger-Kernel releases), one per width."""
    from liger_kernel.transformers.fused_add_rms_norm import LigerFusedAddRMSNorm

    modules: dict[tuple[int, torch.dtype], torch.nn.Module] = {}

    def run(x: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor):
        key = (weight.shape[0], weight.dtype)
        if key not in modules:
            modules[key] = LigerFusedAddRMSNorm(key[0], eps=EPS).to(device, weight.dtype)
            with torch.no_grad():
                modules[key].weight.copy_(weight)
        normed, total = modules[key](x, residual)  # Liger returns (normed, sum)
        return total, normed

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kernel_args(parser)
    args = resolve(parser.parse_args(argv))

    def leaf(*shape: int, shift: float = 0.0) -> torch.Tensor:
        t = torch.randn(*shape, device=args.device) * (0.1 if shift else 1.0) + shift
        return t.to(args.dtype).requires_grad_()

    sections = (
        (
            "RMSNorm",
            "rms_norm",
            eager_rms_norm,
            liger_rms_norm,
            lambda d: [leaf(args.tokens, d), leaf(d, shift=1.0)],
        ),
        (
            "Residual add + RMSNorm",
            "add_rms_norm",
            eager_add_rms_norm,
            liger_add_rms_norm,
            lambda d: [leaf(args.tokens, d), leaf(args.tokens, d), leaf(d, shift=1.0)],
        ),
    )
    ok = True
    for title, op, eager, liger, make in sections:
        variants = op_variants(op, eager, lambda liger=liger: liger(args.device), args)
        problems = [(d, lambda d=d, make=make: make(d)) for d in args.dims]
        ok &= sweep(f"{title}, {args.tokens} rows x d", "d", problems, variants, args, op)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
