"""Fused ops and their one dispatch point.

Every op has an eager reference in :mod:`uio.core.kernels.reference`. A fused
implementation registers itself with :func:`register_kernel`; :func:`get_op`
picks the fused one when the config allows (``model.kernels: auto``) and it
reports itself available for the device, else the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uio.core.kernels import reference

OPS = (
    "rms_norm", "swiglu", "rotary_tables", "apply_rotary", "attention", "attention_math",
    "linear_cross_entropy",
)


@dataclass(frozen=True)
class FusedKernel:
    """A fused implementation of one op and when it may run."""

    fn: Callable[..., Any]
    available: Callable[[str], bool]
    """``device type -> whether the kernel runs there`` (e.g. Triton: cuda only)."""


_FUSED: dict[str, FusedKernel] = {}


def register_kernel(op: str, fn: Callable[..., Any], available: Callable[[str], bool]) -> None:
    """Offer a fused implementation of ``op``."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
    _FUSED[op] = FusedKernel(fn, available)


def get_op(op: str, mode: str = "auto", device_type: str = "cpu") -> Callable[..., Any]:
    """The implementation of ``op`` to use for ``mode`` (``auto``/``eager``) on a device."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
    fused = _FUSED.get(op)
    if mode == "auto" and fused is not None and fused.available(device_type):
        return fused.fn
    return getattr(reference, op)
