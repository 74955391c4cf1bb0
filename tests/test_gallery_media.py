"""The gallery plays values whose decoder names an HTML media element, and only those."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from uio.core.gallery import _Page


class _ToneDecoder:
    """A FileDecoder whose files are WAVs played in the page."""

    file_suffix = ".wav"
    html_media = "audio"

    def decode(self, ids):
        return list(ids)

    def score(self, prediction, reference):
        return {}

    def render(self, value: Any) -> str:
        return "tone"

    def picture(self, value: Any):
        return None

    def write(self, value: Any, path: Path) -> Path:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of samples, got {type(value).__name__}")
        with wave.open(str(path), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(8000)
            f.writeframes(bytes(2 * len(value)))
        return path


class _PictureDecoder(_ToneDecoder):
    html_media = None


def test_a_media_decoder_gets_a_player_whose_file_exists(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    tag = _Page(tmp_path).player(_ToneDecoder(), [0] * 80, "clip-0")
    assert tag.startswith('<audio controls preload="none" src="media/clip-0.wav">')
    with wave.open(str(tmp_path / "media" / "clip-0.wav")) as f:
        assert f.getnframes() == 80


def test_no_player_without_html_media_or_for_a_value_the_decoder_refuses(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    page = _Page(tmp_path)
    assert page.player(_PictureDecoder(), [0] * 80, "a") == ""
    assert page.player(_ToneDecoder(), "not samples", "b") == ""
    assert not list((tmp_path / "media").iterdir())
