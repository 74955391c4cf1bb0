"""QK-norm + rotary, and rotary alone: eager reference vs torch.compile vs Triton vs Liger.

Usage::

    python benchmarks/rotary.py                    # d = 1024..4096 on CUDA, 256..1024 on CPU
    python benchmarks/rotary.py --head-dim 64 --dims 2048
    python benchmarks/rotary.py --quick            # smoke test, a few seconds

One call transforms the queries and the keys of one attention layer,
``q, k [1, d / head_dim heads, --tokens, head_dim]``, with cos/sin tables of
1D positions. The swept axis d is the model width (heads x head dim, the head
dim fixed). Two tables:

1. QK-norm + rotary (UIO2's attention): :func:`uio.core.kernels.reference.qk_norm_rotary`
   on q and on k, against its ``torch.compile``, our fused Triton kernel, and
   Liger-Kernel's ``LigerRMSNorm`` over the head dim followed by
   ``liger_rotary_pos_emb`` (Liger has no fused norm + rotary);
2. rotary alone (``apply_rotary``), against ``liger_rotary_pos_emb``.

q and k are contiguous ``[B, H, L, Dh]`` tensors here: Liger's rotary writes in
place into the ``[B, L, H, Dh]`` storage it is given, which would overwrite the
inputs had they been views of that layout (as in the model). Liger takes cos/sin
over the full head dim (HF layout): they are built once per shape, outside the
timing. Exits 1 if a variant's output disagrees with eager.
See ``_kernels.py`` for what is timed and how.
"""

from __future__ import annotations

import argparse
import sys

import torch
from _kernels import add_kernel_args, op_variants, resolve, sweep

from uio.core.kernels import reference

EPS = 1e-6


def eager_qk_norm_rotary(q, k, wq, wk, cos, sin):
    return (
        reference.qk_norm_rotary(q, wq, EPS, cos, sin),
        reference.qk_norm_rotary(k, wk, EPS, cos, sin),
    )


def eager_rotary(q, k, cos, sin):
    return reference.apply_rotary(q, cos, sin), reference.apply_rotary(k, cos, sin)


def fused_qk_norm_rotary(fn):
    return lambda q, k, wq, wk, cos, sin: (fn(q, wq, EPS, cos, sin), fn(k, wk, EPS, cos, sin))


def fused_rotary(fn):
    return lambda q, k, cos, sin: (fn(q, cos, sin), fn(k, cos, sin))


class _FullTables:
    """cos/sin over the full head dim, ``[B, L, Dh]`` (HF layout), built once per table."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None

    def __call__(self, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (cos.data_ptr(), sin.data_ptr())
        if key != self._key:
            self._key = key
            self._tables = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)
        return self._tables


def liger_rotary():
    from liger_kernel.transformers.rope import liger_rotary_pos_emb

    full = _FullTables()

    def run(q, k, cos, sin):
        out = liger_rotary_pos_emb(q, k, *full(cos, sin))
        return out[0], out[1]  # some releases also return cos and sin

    return run


def liger_qk_norm_rotary(device: torch.device):
    from liger_kernel.transformers.rms_norm import LigerRMSNorm

    rotate = liger_rotary()
    norms: dict[tuple[int, int], torch.nn.Module] = {}

    def norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        key = (weight.data_ptr(), weight.shape[0])
        if key not in norms:  # built and filled on the warm-up call, outside the timing
            norms[key] = LigerRMSNorm(weight.shape[0], eps=EPS).to(device, weight.dtype)
            with torch.no_grad():
                norms[key].weight.copy_(weight)
        return norms[key](x)

    def run(q, k, wq, wk, cos, sin):
        return rotate(norm(q, wq), norm(k, wk), cos, sin)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--head-dim", type=int, default=None, help="default: 128 on CUDA, 64 on CPU"
    )
    add_kernel_args(parser)
    args = resolve(parser.parse_args(argv))
    head_dim = args.head_dim or (128 if args.device.type == "cuda" else 64)
    if args.quick:
        head_dim = min(head_dim, 32)

    def qk_inputs(d: int, with_weights: bool) -> list[torch.Tensor]:
        if d % head_dim:
            raise SystemExit(f"d={d} is not a multiple of the head dim {head_dim}")
        shape = (1, d // head_dim, args.tokens, head_dim)
        q = torch.randn(shape, device=args.device).to(args.dtype).requires_grad_()
        k = torch.randn(shape, device=args.device).to(args.dtype).requires_grad_()
        positions = torch.arange(args.tokens, device=args.device).view(1, -1, 1).expand(1, -1, 2)
        cos, sin = reference.rotary_tables(positions, head_dim, 10000.0)
        if not with_weights:
            return [q, k, cos, sin]
        weights = [
            (1 + 0.1 * torch.randn(head_dim, device=args.device)).to(args.dtype).requires_grad_()
            for _ in range(2)
        ]
        return [q, k, *weights, cos, sin]

    sections = (
        (
            "QK-norm + rotary",
            "qk_norm_rotary",
            eager_qk_norm_rotary,
            fused_qk_norm_rotary,
            lambda: liger_qk_norm_rotary(args.device),
            True,
        ),
        ("Rotary", "apply_rotary", eager_rotary, fused_rotary, liger_rotary, False),
    )
    ok = True
    for title, op, eager, adapt, liger, with_weights in sections:
        variants = op_variants(op, eager, liger, args, adapt)
        problems = [(d, lambda d=d, w=with_weights: qk_inputs(d, w)) for d in args.dims]
        ok &= sweep(
            f"{title} of q and k, {args.tokens} tokens, head dim {head_dim}",
            "d",
            problems,
            variants,
            args,
            f"{op}, heads = d / {head_dim}",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
