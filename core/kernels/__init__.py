"""Fused ops and their one dispatch point.

Every op has an eager reference in :mod:`uio.core.kernels.reference`. A fused
implementation registers itself with :func:`register_kernel`; :func:`get_op`
picks the fused one when the config allows (``model.kernels: auto``) and it
reports itself available for the device, else the reference; ``eager`` always
picks the reference and ``triton`` insists on the fused kernels.

The Triton kernels (RMSNorm, residual add + RMSNorm, QK-norm + rotary, rotary,
SwiGLU) register at the end of this module; without a working ``triton`` the
references still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uio.core.kernels import reference

OPS = (
    "rms_norm", "add_rms_norm", "swiglu", "rotary_tables", "apply_rotary", "qk_norm_rotary",
    "attention", "attention_math", "linear_cross_entropy",
)
MODES = ("auto", "eager", "triton")


@dataclass(frozen=True)
class FusedKernel:
    """A fused implementation of one op and when it may run."""

    fn: Callable[..., Any]
    available: Callable[[str], bool]
    """``device type -> whether the kernel runs there`` (e.g. Triton: cuda only)."""
    reason: Callable[[str], str | None] | None = None
    """``device type -> why it cannot run there``, for the error of ``kernels: triton``."""


_FUSED: dict[str, FusedKernel] = {}
_NOT_LOADED: dict[str, str] = {}
"""op -> why its fused kernel failed to load (reported by ``kernels: triton``)."""


def register_kernel(
    op: str,
    fn: Callable[..., Any],
    available: Callable[[str], bool],
    reason: Callable[[str], str | None] | None = None,
) -> None:
    """Offer a fused implementation of ``op``; ``reason`` explains when it is unavailable."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
    _FUSED[op] = FusedKernel(fn, available, reason)
    _NOT_LOADED.pop(op, None)


def get_op(op: str, mode: str = "auto", device_type: str = "cpu") -> Callable[..., Any]:
    """The implementation of ``op`` to use for ``mode`` on a device type.

    ``auto``: the fused kernel when one is registered and available there, else
    the reference. ``eager``: the reference. ``triton``: as ``auto``, but an op
    whose fused kernel cannot run (or failed to load) raises ``RuntimeError``
    saying why; ops without a fused kernel (e.g. ``rotary_tables``) use the reference.
    """
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
    if mode not in MODES:
        raise ValueError(f"unknown kernels mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "eager":
        return getattr(reference, op)
    fused = _FUSED.get(op)
    if fused is not None and fused.available(device_type):
        return fused.fn
    if mode == "triton":
        if fused is not None:
            why = fused.reason(device_type) if fused.reason else None
            raise RuntimeError(
                f"model.kernels is 'triton' but the fused {op!r} cannot run on "
                f"{device_type!r}: {why or 'it reports itself unavailable'}"
            )
        if op in _NOT_LOADED:
            raise RuntimeError(
                f"model.kernels is 'triton' but the fused {op!r} did not load: {_NOT_LOADED[op]}"
            )
    return getattr(reference, op)


def _register_triton_kernels() -> None:
    ops = ("rms_norm", "add_rms_norm", "swiglu", "qk_norm_rotary", "apply_rotary")
    try:
        from uio.core.kernels import _triton, triton_rms_norm, triton_rotary, triton_swiglu
    except Exception as exc:  # no triton, or a broken one: the references still run
        for op in ops:
            _NOT_LOADED[op] = f"the Triton kernels failed to import ({type(exc).__name__}: {exc})"
        return
    fns = (
        triton_rms_norm.rms_norm, triton_rms_norm.add_rms_norm, triton_swiglu.swiglu,
        triton_rotary.qk_norm_rotary, triton_rotary.apply_rotary,
    )
    for op, fn in zip(ops, fns, strict=True):
        register_kernel(op, fn, _triton.available, _triton.unavailable_reason)


_register_triton_kernels()


def _register_chunked_cross_entropy() -> None:
    from uio.core.kernels import chunked_cross_entropy

    # Pure PyTorch and exact up to float rounding, so the default on every device.
    register_kernel(
        "linear_cross_entropy", chunked_cross_entropy.linear_cross_entropy, lambda device_type: True
    )


_register_chunked_cross_entropy()
