"""What the Triton kernels share: when they can run, and launch sizes.

Triton fixes at import time whether ``@triton.jit`` compiles for the GPU or
builds functions for its CPU interpreter (``TRITON_INTERPRET=1``), for its own
library (``tl.sum``, ``tl.sigmoid``, ...) as for our kernels. So the interpreter
is on for a whole process or not at all: set the variable before the process
starts (the tests run the kernels in a child process that way).
"""

from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl
from triton.runtime.jit import JITFunction

MAX_FUSED_WIDTH = 65536
"""Widest row one program holds in registers (Liger-Kernel's ``calculate_settings`` limit)."""

INTERPRETED = not isinstance(tl.sum, JITFunction)
"""Whether triton was imported for its interpreter, so the kernels run on CPU tensors."""


def unavailable_reason(device_type: str) -> str | None:
    """Why the Triton kernels cannot run on ``device_type`` in this process, or None."""
    if INTERPRETED:
        return None
    if device_type != "cuda":
        if os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on"):
            hint = (
                "TRITON_INTERPRET=1 was set after triton was imported; set it before "
                "the process starts"
            )
        else:
            hint = (
                "set TRITON_INTERPRET=1 before the process starts to run them through "
                "Triton's interpreter (slow; for tests)"
            )
        return f"Triton kernels run on CUDA devices, not {device_type!r}: {hint}"
    if not torch.cuda.is_available():
        return "torch sees no CUDA device"
    return None


def available(device_type: str) -> bool:
    """``unavailable_reason(device_type) is None``: the predicate given to ``register_kernel``.

    Asked on every op call, so it answers without building the reason.
    """
    return INTERPRETED or (device_type == "cuda" and _cuda_present())


@functools.cache
def _cuda_present() -> bool:
    return torch.cuda.is_available()


def block_size(width: int, what: str) -> int:
    """The power-of-two block covering ``width`` elements (one row per program)."""
    if width > MAX_FUSED_WIDTH:
        raise ValueError(
            f"{what} is {width} wide; the fused kernels hold a row of at most "
            f"{MAX_FUSED_WIDTH} elements (use model.kernels: eager)"
        )
    return triton.next_power_of_2(width)


def num_warps(block: int) -> int:
    """Warps per program for a row block (Liger-Kernel's ``calculate_settings`` heuristic)."""
    if block >= 32768:
        return 32
    if block >= 8192:
        return 16
    if block >= 2048:
        return 8
    return 4


def persistent_grid(rows: int, device: torch.device) -> tuple[int, int]:
    """``(programs, rows per program)`` for a grid of about one program per SM looping over rows.

    Used by the backward passes that sum a weight gradient: each program keeps
    its partial sum in registers and writes one row of partials. Rows per
    program is a power of two passed as a ``constexpr``: a static loop bound
    compiles once per power of two, and Triton's interpreter (numpy 2) cannot
    loop to a bound given as a runtime integer.
    """
    if device.type == "cuda" and not INTERPRETED:
        sms = torch.cuda.get_device_properties(device).multi_processor_count
    else:
        sms = 4
    per_program = triton.next_power_of_2(max(1, triton.cdiv(rows, sms)))
    return max(1, triton.cdiv(rows, per_program)), per_program


def rows_2d(x: torch.Tensor) -> torch.Tensor:
    """``x`` as ``[rows, last dim]`` with a unit stride along the last dim (a copy if needed)."""
    x2 = x.reshape(-1, x.shape[-1])
    return x2 if x2.stride(-1) == 1 else x2.contiguous()
