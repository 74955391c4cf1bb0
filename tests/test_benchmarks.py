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


def test_audio_attribute_transfer_reads_variants():
    """``--variants`` items set audio fields and ViT fields; malformed items are refused by name."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import audio_attribute_transfer as bench
    finally:
        sys.path.remove(str(BENCHMARKS))
    overrides = bench.parse_overrides("n_mels=64,vit.stem=conv")
    assert overrides == {"n_mels": 64, "vit": {"stem": "conv"}}
    config = bench.variant_config(overrides)
    assert (config.n_mels, config.vit.stem) == (64, "conv")
    assert config.vit.width == bench.variant_config({}).vit.width  # the preset's other ViT fields stay
    for bad in ("n_mels", "window.size=3", "n_mels=6.4"):
        with pytest.raises(ValueError, match="variant item"):
            bench.parse_overrides(bad)
