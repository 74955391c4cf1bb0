"""The Triton kernels: dispatch, input checks, a CUDA compile check, and the numeric cases.

The numeric cases (every kernel against its eager reference, forward and
backward) live in ``triton_kernel_cases.py`` and run here in a child process:
under Triton's interpreter on CPU, which must be switched on before triton is
imported, or compiled where CUDA is present.
"""

from __future__ import annotations

import pytest
import torch
from triton_child import run_kernel_cases

from uio.core.config import ModelConfig
from uio.core.kernels import _FUSED, _NOT_LOADED, get_op, reference

TRITON_OPS = ("rms_norm", "add_rms_norm", "swiglu", "qk_norm_rotary", "apply_rotary")

try:
    import triton

    from uio.core.kernels import _triton, triton_rms_norm, triton_rotary, triton_swiglu
except ImportError:  # the reference path must work without triton
    triton = None
needs_triton = pytest.mark.skipif(triton is None, reason="triton is not installed")


@pytest.mark.parametrize("op", TRITON_OPS)
def test_eager_mode_returns_the_reference(op):
    assert get_op(op, "eager", "cuda") is getattr(reference, op)
    assert get_op(op, "eager", "cpu") is getattr(reference, op)


def test_auto_mode_falls_back_to_the_reference_where_the_kernels_cannot_run():
    if triton is not None and _triton.INTERPRETED:
        pytest.skip("the interpreter runs the kernels on every device")
    for op in TRITON_OPS:
        assert get_op(op, "auto", "cpu") is getattr(reference, op)


@pytest.mark.parametrize("op", TRITON_OPS)
def test_triton_mode_says_which_op_cannot_run_and_why(op):
    if triton is not None and _triton.INTERPRETED:
        pytest.skip("the interpreter runs the kernels on every device")
    with pytest.raises(RuntimeError) as info:
        get_op(op, "triton", "cpu")
    message = str(info.value)
    assert repr(op) in message and "triton" in message
    if op in _FUSED:
        assert "CUDA" in message and "TRITON_INTERPRET=1" in message
    else:
        assert op in _NOT_LOADED and "import" in message


def test_triton_mode_uses_the_reference_for_ops_without_a_fused_kernel():
    assert get_op("rotary_tables", "triton", "cpu") is reference.rotary_tables


def test_unknown_mode_and_op_are_rejected():
    with pytest.raises(ValueError, match="kernels mode 'fast'"):
        get_op("rms_norm", "fast")
    with pytest.raises(ValueError, match="unknown op 'layer_norm'"):
        get_op("layer_norm")


def test_config_accepts_triton_kernels():
    assert ModelConfig(kernels="triton").kernels == "triton"
    with pytest.raises(ValueError):
        ModelConfig(kernels="cuda")


@needs_triton
def test_triton_kernels_are_registered():
    assert _NOT_LOADED == {}
    assert _FUSED["rms_norm"].fn is triton_rms_norm.rms_norm
    assert _FUSED["add_rms_norm"].fn is triton_rms_norm.add_rms_norm
    assert _FUSED["swiglu"].fn is triton_swiglu.swiglu
    assert _FUSED["qk_norm_rotary"].fn is triton_rotary.qk_norm_rotary
    assert _FUSED["apply_rotary"].fn is triton_rotary.apply_rotary


def test_references_compose():
    torch.manual_seed(0)
    x, r, w = torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.rand(8) + 0.5
    total, normed = reference.add_rms_norm(x, r, w, 1e-6)
    torch.testing.assert_close(total, x + r, rtol=0, atol=0)
    torch.testing.assert_close(normed, reference.rms_norm(x + r, w, 1e-6), rtol=0, atol=0)
    q = torch.randn(2, 4, 3, 8)
    cos, sin = reference.rotary_tables(torch.randint(0, 9, (2, 3, 2)), 8, 10000.0)
    torch.testing.assert_close(
        reference.qk_norm_rotary(q, w, 1e-6, cos, sin),
        reference.apply_rotary(reference.rms_norm(q, w, 1e-6), cos, sin),
        rtol=0,
        atol=0,
    )


@needs_triton
def test_bad_inputs_name_the_argument():
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match="weight must be \\[8\\]"):
        triton_rms_norm.rms_norm(x, torch.ones(7))
    with pytest.raises(ValueError, match="residual must have the shape"):
        triton_rms_norm.add_rms_norm(x, torch.randn(2, 8), torch.ones(8))
    with pytest.raises(ValueError, match="up must have the shape"):
        triton_swiglu.swiglu(x, torch.randn(2, 3, 9))
    with pytest.raises(ValueError, match="at most 65536"):
        triton_rms_norm.rms_norm(torch.randn(1, 70000), torch.ones(70000))
    q = torch.randn(2, 4, 3, 8)
    cos, sin = reference.rotary_tables(torch.zeros(2, 3, 2), 8, 10000.0)
    with pytest.raises(ValueError, match="even Dh"):
        triton_rotary.apply_rotary(torch.randn(2, 4, 3, 7), cos, sin)
    with pytest.raises(ValueError, match="cos must be \\[2 or 1, 3, 4\\]"):
        triton_rotary.apply_rotary(q, cos[:, :2], sin)
    with pytest.raises(ValueError, match="sin must be"):
        triton_rotary.qk_norm_rotary(q, torch.ones(8), 1e-6, cos, sin[:1, :, :3])
    with pytest.raises(ValueError, match="weight must be \\[8\\] \\(the head dim\\)"):
        triton_rotary.qk_norm_rotary(q, torch.ones(4), 1e-6, cos, sin)


def _compile_for_cuda(kernel, constexprs: dict, fp32_pointers: set[str], arch: int = 90) -> str:
    """PTX of ``kernel`` compiled for an sm_``arch`` GPU (no GPU needed), bf16 data pointers."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {}
    for p in kernel.params:
        if p.is_constexpr:
            signature[p.name] = "constexpr"
        elif p.name.isupper():  # pointers are named in capitals
            signature[p.name] = "*fp32" if p.name in fp32_pointers else "*bf16"
        else:
            signature[p.name] = "fp32" if p.name == "eps" else "i32"
    src = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    compiled = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": 4})
    return compiled.asm["ptx"]


def _specialisations():
    if triton is None:
        return []
    rms, rot, swi = triton_rms_norm, triton_rotary, triton_swiglu
    stats = {"W", "RSTD", "DW", "COS", "SIN"}
    cases = []
    for flag in (False, True):
        cases += [
            (rms._rms_norm_fwd, {"HAS_RESIDUAL": flag, "BLOCK": 1024}, stats),
            (rms._rms_norm_bwd, {"ROWS_PER_PROGRAM": 8, "HAS_DS": flag, "BLOCK": 1024}, stats),
            (rot._rotary_fwd, {"HAS_NORM": flag, "BLOCK_H": 16, "BLOCK_D": 64}, stats),
            (
                rot._rotary_bwd,
                {"TOKENS_PER_PROGRAM": 4, "HAS_NORM": flag, "BLOCK_H": 16, "BLOCK_D": 64},
                stats,
            ),
        ]
    cases += [(swi._swiglu_fwd, {"BLOCK": 1024}, set()), (swi._swiglu_bwd, {"BLOCK": 1024}, set())]
    return cases


@needs_triton
def test_kernels_compile_for_a_cuda_gpu():
    """The compiled path (which the interpreter does not exercise) type-checks and lowers to PTX."""
    if _triton.INTERPRETED:
        pytest.skip("triton was imported for the interpreter")
    if "nvidia" not in getattr(triton.backends, "backends", {}):
        pytest.skip("triton's nvidia backend is not installed")
    for kernel, constexprs, fp32_pointers in _specialisations():
        ptx = _compile_for_cuda(kernel, constexprs, fp32_pointers)
        assert ".entry " + kernel.__name__ in ptx, (kernel.__name__, constexprs)


@needs_triton
@pytest.mark.parametrize("where", ["interpreter", "cuda"])
def test_kernel_cases_match_the_references(where, request):
    """Runs ``triton_kernel_cases.py`` in a child process (see its docstring)."""
    markexpr = request.config.getoption("markexpr") or "not slow"
    run_kernel_cases("triton_kernel_cases.py", where, markexpr)
