"""SwiGLU, ``silu(gate) * up``: eager reference vs torch.compile vs Triton vs Liger.

Usage::

    python benchmarks/swiglu.py                    # d = 1024..4096 on CUDA, 256..1024 on CPU
    python benchmarks/swiglu.py --dims 11008 --tokens 4096
    python benchmarks/swiglu.py --quick            # smoke test, a few seconds

One call is the activation of one MLP: ``gate, up [--tokens, d]`` (the outputs
of ``wi_0`` and ``wi_1``), swept over the MLP width d.
:func:`uio.core.kernels.reference.swiglu` against its ``torch.compile``, our
Triton kernel and Liger-Kernel's ``LigerSiLUMulFunction``. Exits 1 if a
variant's output disagrees with eager. See ``_kernels.py`` for what is timed and how.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _kernels import add_kernel_args, op_variants, resolve, sweep

from uio.core.kernels import reference


def liger_swiglu():
    from liger_kernel.ops.swiglu import LigerSiLUMulFunction

    return LigerSiLUMulFunction.apply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_kernel_args(parser)
    args = resolve(parser.parse_args(argv))

    def inputs(d: int) -> list[torch.Tensor]:
        return [
            torch.randn(args.tokens, d, device=args.device).to(args.dtype).requires_grad_()
            for _ in range(2)
        ]

    variants = op_variants("swiglu", reference.swiglu, liger_swiglu, args)
    problems = [(d, lambda d=d: inputs(d)) for d in args.dims]
    ok = sweep(f"SwiGLU, {args.tokens} rows x d", "d", problems, variants, args, "swiglu")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
