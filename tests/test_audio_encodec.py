"""The EnCodec audio codec: id layout, fitting, state and weight files (tiny settings, seconds)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file

from uio.modalities.audio.encodec_tokenizer import (
    FIGURES_FILE,
    EncodecSettings,
    EncodecTokenizer,
    RevivingCodebook,
)
from uio.modalities.audio.features import MelSettings

RATE = 8000
SEGMENT = 2048  # 8 frames of 256 samples
TINY = dict(n_filters=4, dimension=16, codebook_size=64, lstm=1, fit_steps=20, fit_batch=4)


def tiny(**overrides) -> EncodecSettings:
    return EncodecSettings(**{**TINY, **overrides})


def tones(count: int = 12, samples: int = SEGMENT) -> list[np.ndarray]:
    """Sine tones (some with a second partial) at varied pitches and loudness."""
    rng = np.random.default_rng(0)
    t = np.arange(samples) / RATE
    out = []
    for _ in range(count):
        f = rng.uniform(150, 2000)
        wave = np.sin(2 * np.pi * f * t) + rng.uniform(0, 0.5) * np.sin(2 * np.pi * 2 * f * t)
        out.append((rng.uniform(0.2, 0.6) * wave / 1.5).astype(np.float32))
    return out


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread on the small shared machine (see test_image_modality.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[EncodecTokenizer, dict[str, float], Path]:
    tokenizer = EncodecTokenizer(tiny(), RATE, SEGMENT)
    out_dir = tmp_path_factory.mktemp("fit")
    values = [{"waveform": w, "sample_rate": RATE} for w in tones()]
    return tokenizer, tokenizer.fit(values, out_dir), out_dir


# --------------------------------------------------------------------------- layout


def test_default_preset_sizes() -> None:
    tokenizer = EncodecTokenizer(EncodecSettings(), 8000, 8192)
    assert (tokenizer.hop_length, tokenizer.frames, tokenizer.num_codebooks) == (256, 32, 2)
    assert (tokenizer.output_length, tokenizer.vocab_size) == (64, 512)
    assert tokenizer.model.bandwidth == pytest.approx(2 * 8 * 32 / 1000)  # 2 levels x 8 bits x 32 Hz


@pytest.mark.parametrize("samples", [2048, 2049, 8000, 8192, 300])
def test_output_length_is_encodecs_frame_count(samples: int) -> None:
    tokenizer = EncodecTokenizer(tiny(num_codebooks=3), RATE, samples)
    with torch.no_grad():
        frames = tokenizer.model.encoder(torch.zeros(1, 1, samples)).shape[-1]
    assert frames == math.ceil(samples / 256) == tokenizer.frames
    assert tokenizer.output_length == 3 * frames


def test_figure_spectrogram_follows_the_rate_or_the_caller() -> None:
    assert EncodecTokenizer(tiny(), 8000, SEGMENT).figure_mel == MelSettings(8000, 256, 128, 32)
    assert EncodecTokenizer(tiny(), 16000, SEGMENT).figure_mel == MelSettings(16000, 512, 256, 64)
    theirs = MelSettings(16000, 1024, 256, 128)
    assert EncodecTokenizer(tiny(), 16000, SEGMENT, figure_mel=theirs).figure_mel == theirs


@pytest.mark.parametrize("levels", [1, 2, 3, 5])
def test_target_bandwidth_selects_num_codebooks(levels: int) -> None:
    model = EncodecTokenizer(tiny(num_codebooks=levels, quantizer_layers=8), RATE, SEGMENT).model
    assert len(model.quantizer.vq.layers) == 8
    assert model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, model.bandwidth) == levels


def test_ids_are_frame_major_with_level_offsets() -> None:
    tokenizer = EncodecTokenizer(tiny(), RATE, SEGMENT)
    codes = torch.arange(16).view(1, 2, 8) % 64  # level 0: 0..7, level 1: 8..15
    ids = tokenizer.codes_to_ids(codes)[0].tolist()
    assert ids[:6] == [0, 64 + 8, 1, 64 + 9, 2, 64 + 10]
    assert torch.equal(tokenizer.ids_to_codes(ids), codes[0])


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValidationError, match="codebook_size=100 is not a power of 2"):
        EncodecSettings(codebook_size=100)
    with pytest.raises(ValidationError, match="quantizer_layers=1 is below num_codebooks=2"):
        EncodecSettings(quantizer_layers=1)


def test_dead_codes_are_restarted_from_the_batch() -> None:
    """encodec 0.1.1's expiry is undone by the EMA step that follows it; ours sticks."""
    torch.manual_seed(0)
    codebook = RevivingCodebook(dim=4, codebook_size=8, kmeans_init=False, threshold_ema_dead_code=1.0)
    codebook.train()
    data = torch.randn(1, 64, 4) * 0.1 + 5  # far from every initial code
    for _ in range(3):
        codebook(data)
    assert (codebook.embed - 5).abs().max() < 1
    assert (codebook.cluster_size >= 0.9).all()


# --------------------------------------------------------------------------- fitted


def test_unfitted_encode_is_refused() -> None:
    tokenizer = EncodecTokenizer(tiny(), RATE, SEGMENT)
    assert not tokenizer.is_fitted
    with pytest.raises(RuntimeError, match="uio fit-tokenizer"):
        tokenizer.encode(tones(1)[0])


def test_fit_lowers_heldout_log_mel_l1(fitted) -> None:
    tokenizer, figures, out_dir = fitted
    assert tokenizer.is_fitted
    assert figures["log_mel_l1"] < figures["initial_log_mel_l1"] - 0.3
    assert 0 < figures["codebook_usage"] <= 1
    assert np.isfinite(figures["spectral_snr_db"]) and figures["steps"] == 20
    assert [p.name for p in out_dir.iterdir()] == [FIGURES_FILE]


def test_encode_decode_shapes_and_ranges(fitted) -> None:
    tokenizer, _, _ = fitted
    wave = tones(1)[0]
    ids = tokenizer.encode(wave)
    assert len(ids) == tokenizer.output_length == 16
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert [i // 64 for i in ids] == [p % 2 for p in range(16)]
    assert tokenizer.encode({"waveform": wave, "sample_rate": RATE}) == ids
    out = tokenizer.decode(ids)
    assert out.shape == (SEGMENT,) and out.dtype == np.float32 and np.isfinite(out).all()
    batch = tokenizer.encode_batch(np.stack(tones(3)))
    assert batch.shape == (3, 16) and batch[0].tolist() == ids


def test_decode_reads_codes_modulo_and_refuses_bad_ids(fitted) -> None:
    tokenizer, _, _ = fitted
    ids = tokenizer.encode(tones(1)[0])
    other_level = [(i + 64) % 128 for i in ids]  # each code named at the other level
    assert np.array_equal(tokenizer.decode(other_level), tokenizer.decode(ids))
    with pytest.raises(ValueError, match="got 15 ids, expected exactly 16"):
        tokenizer.decode(ids[:-1])
    with pytest.raises(ValueError, match="got 17 ids, expected exactly 16"):
        tokenizer.decode([*ids, 0])
    with pytest.raises(ValueError, match=r"id 128 at position 3 is outside \[0, 128\)"):
        tokenizer.decode(ids[:3] + [128] + ids[4:])
    with pytest.raises(ValueError, match="expected a mono waveform of 2048 samples"):
        tokenizer.encode(np.zeros(2000, np.float32))


def test_state_dict_round_trip_gives_identical_codes(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    torch.save(tokenizer.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    fresh = EncodecTokenizer(tiny(), RATE, SEGMENT)
    assert fresh.fingerprint() != tokenizer.fingerprint()
    fresh.load_state_dict(state)
    assert fresh.is_fitted and fresh.fingerprint() == tokenizer.fingerprint()
    waves = np.stack(tones(4))
    assert torch.equal(fresh.encode_batch(waves), tokenizer.encode_batch(waves))
    with pytest.raises(ValueError, match=r"codebook_size=64 \(config: 32\)"):
        EncodecTokenizer(tiny(codebook_size=32), RATE, SEGMENT).load_state_dict(state)
    with pytest.raises(ValueError, match=r"sample_rate=8000 \(config: 16000\)"):
        EncodecTokenizer(tiny(), 16000, SEGMENT).load_state_dict(state)


def test_same_seed_same_weights(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    assert EncodecTokenizer(tiny(), RATE, SEGMENT).fingerprint() == EncodecTokenizer(tiny(), RATE, SEGMENT).fingerprint()
    again = EncodecTokenizer(tiny(), RATE, SEGMENT)
    again.fit(tones(), tmp_path)  # bare arrays are accepted too
    assert again.fingerprint() == tokenizer.fingerprint()


# --------------------------------------------------------------------------- weight files


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_file_of_a_fitted_model_loads(fitted, tmp_path: Path, suffix: str) -> None:
    tokenizer, _, _ = fitted
    path = tmp_path / f"encodec{suffix}"
    weights = {k: v.contiguous() for k, v in tokenizer.model.state_dict().items()}
    save_file(weights, str(path)) if suffix == ".safetensors" else torch.save(weights, path)
    loaded = EncodecTokenizer(tiny(weights=str(path)), RATE, SEGMENT)
    assert loaded.is_fitted and loaded.fingerprint() == tokenizer.fingerprint()
    waves = np.stack(tones(3))
    assert torch.equal(loaded.encode_batch(waves), tokenizer.encode_batch(waves))


def test_tokenizer_state_file_loads_as_weights(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    path = tmp_path / "tokenizer.pt"
    torch.save(tokenizer.state_dict(), path)
    assert EncodecTokenizer(tiny(weights=str(path)), RATE, SEGMENT).fingerprint() == tokenizer.fingerprint()
    with pytest.raises(ValueError, match=f"{path}.*n_filters=4 \\(config: 8\\)"):
        EncodecTokenizer(tiny(weights=str(path), n_filters=8), RATE, SEGMENT)


def test_mismatched_weights_file_is_refused_naming_it(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    path = tmp_path / "encodec.pt"
    torch.save(tokenizer.model.state_dict(), path)
    with pytest.raises(ValueError, match=f"{path}.*does not fit the configured EnCodec.*mis-shaped: .*\\[") as err:
        EncodecTokenizer(tiny(weights=str(path), dimension=8), RATE, SEGMENT)
    assert "quantizer.vq.layers.0._codebook.embed [64, 16] (model: [64, 8])" in str(err.value)
    with pytest.raises(ValueError, match="4 missing: quantizer.vq.layers.2._codebook.cluster_size"):
        EncodecTokenizer(tiny(weights=str(path), quantizer_layers=3), RATE, SEGMENT)
    with pytest.raises(FileNotFoundError, match="no such file"):
        EncodecTokenizer(tiny(weights=str(tmp_path / "nope.pt")), RATE, SEGMENT)


@pytest.mark.filterwarnings("ignore:.*weight_norm.*deprecated:FutureWarning")
def test_published_24khz_architecture_loads(tmp_path: Path) -> None:
    """encodec's published 24 kHz files are plain EncodecModel state dicts of this architecture."""
    from encodec.model import EncodecModel

    path = tmp_path / "encodec_24khz.pt"
    torch.save(EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), path)
    settings = EncodecSettings(
        weights=str(path), n_filters=32, dimension=128, ratios=[8, 5, 4, 2], causal=True,
        codebook_size=1024, quantizer_layers=32, num_codebooks=2,
    )
    tokenizer = EncodecTokenizer(settings, 24000, 24000)
    assert tokenizer.is_fitted and tokenizer.output_length == 75 * 2
    assert len(tokenizer.encode(np.zeros(24000, np.float32))) == 150
