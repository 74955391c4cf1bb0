"""The one rule of the architecture: the core knows no modality by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from uio.core.cli import main

CORE = Path(__file__).resolve().parents[1] / "core"
MODALITY_WORDS = re.compile(
    r"(?<![A-Za-z])(image|images|audio|text|texts|box|boxes|bbox|action|actions|vqgan|vq-gan|"
    r"spectrogram|sentencepiece|encodec|pixel|pixels|mel)(?![A-Za-z])",
    re.IGNORECASE,
)
ALLOWED = re.compile(r"action=['\"]|rich\.text|import .*\bText\b|\bText\(")


def test_core_names_no_modality():
    hits = []
    for path in sorted(CORE.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if MODALITY_WORDS.search(line) and not ALLOWED.search(line):
                hits.append(f"{path.relative_to(CORE.parent)}:{n}: {line.strip()}")
    assert not hits, "core/ names a modality:\n" + "\n".join(hits)


def test_core_imports_no_modality_package():
    for path in CORE.rglob("*.py"):
        assert "uio.modalities" not in path.read_text(), path


@pytest.mark.parametrize(
    "preset,trunk_encoder,trunk_decoder",
    [("uio2-large", 308_334_592, 409_025_536)],
)
def test_config_show_splits_parameters(preset, trunk_encoder, trunk_decoder, capsys):
    config = Path(__file__).resolve().parents[1] / "configs" / "experiment" / "default.yaml"
    assert main(["config", "show", str(config), f"model.preset={preset}"]) == 0
    out = capsys.readouterr().out
    assert f"{trunk_encoder:,}" in out
    assert f"{trunk_decoder:,}" in out
    assert "encoder:text" in out and "embeddings" in out
