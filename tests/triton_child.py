"""Run a file of Triton kernel cases in a child pytest process.

Triton decides at import whether ``@triton.jit`` targets its CPU interpreter
(``TRITON_INTERPRET=1``) or the GPU, so each mode needs a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent


def run_kernel_cases(cases_file: str, where: str, markexpr: str = "not slow") -> None:
    """Run ``tests/<cases_file>`` under the interpreter (``where="interpreter"``) or
    compiled on CUDA (``where="cuda"``); fail with its output unless every case passed."""
    env = dict(os.environ)
    if where == "interpreter":
        if torch.cuda.is_available():
            pytest.skip("CUDA is present: the cases run compiled instead")
        env["TRITON_INTERPRET"] = "1"
    else:
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        env.pop("TRITON_INTERPRET", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(TESTS / cases_file), "-q", "-m", markexpr,
         "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=300, env=env, cwd=TESTS.parent,
    )
    summary = result.stdout.strip().splitlines()[-1:] or [""]
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "passed" in summary[0] and "skipped" not in summary[0], summary[0]
