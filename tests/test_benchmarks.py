"""The benchmark scripts run and check what they claim (quick settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    "script",
    [
        "generation.py", "packing.py", "rms_norm.py", "rotary.py", "swiglu.py",
        "linear_cross_entropy.py", "attention.py", "train_step.py", "vit_learning_rate.py",
        "audio_attribute_transfer.py",
    ],
)
def test_benchmark_runs_quick(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "vs" in result.stdout  # the ratio column against the reference run


@pytest.mark.slow
def test_kernel_benchmark_runs_torch_compile(tmp_path):
    """The torch.compile variant (left out of --quick on CPU: its first compile takes ~30 s)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "swiglu.py"), "--quick", "--compile", "on"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert any("torch.compile" in line and "│" in line for line in result.stdout.splitlines())
