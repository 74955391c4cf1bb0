"""The built-in audio modality: config presets, value loading (files, resampling, downmixing,
cropping, errors), spectrogram patches, the ViT encoder, the spectrogram VQ tokenizer and
Griffin-Lim, masked denoising, WAV output, pictures and registration."""

from __future__ import annotations

import json
import math
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from pydantic import ValidationError

from uio.core.cli import main
from uio.modalities.audio import (
    DIRECT,
    MASKED_DENOISING,
    AudioConfig,
    AudioInputEncoder,
    AudioOutputDecoder,
    AudioProcessor,
    AudioTokenizer,
    grid_waveform,
    load_audio,
    log_mel_score,
    spectrogram_grid,
)
from uio.modalities.audio.decoder import MAX_SNR_DB
from uio.modalities.audio.features import stft_magnitude
from uio.modalities.audio.fit import RECONSTRUCTIONS_FILE, SOUNDS_DIR, sound_figures
from uio.modalities.audio.plugin import AUDIO_SPEC
from uio.modalities.audio.spectrogram import normalise
from uio.plugins import (
    EncoderContext,
    FileDecoder,
    FitValueProcessor,
    FixedLengthDecoder,
    ObjectiveContext,
    ObjectiveExample,
    ProcessContext,
    Segment,
    TrainableTokenizer,
)
from uio.plugins.registry import reset_registry

pytest_plugins = ["uio.plugins.testing"]

RATE = 8000
#: A tiny config: 0.256 s at 8 kHz (2,048 samples), a 16 x 32 spectrogram in 2 x 4
#: patches, a 4 x 8 grid of 32 codes; fits in a few seconds.
TINY = {
    "sample_rate": RATE,
    "n_fft": 128,
    "hop_length": 64,
    "n_mels": 16,
    "segment_seconds": 0.256,
    "frames": 32,
    "patch_size": 8,
    "vit": {"width": 16, "depth": 1, "heads": 2},
    "codebook_size": 32,
    "vq_num_down": 2,
    "vq_base_channels": 8,
    "vq_latent_dim": 8,
    "griffin_lim_iters": 16,
    "fit_steps": 60,
    "fit_batch_size": 8,
    "fit_adversarial_start": 40,
    "fit_device": "cpu",
}
SAMPLES = 2048
CTX = ProcessContext(example_id="ex-1")
D_MODEL = 12


def tiny(**overrides) -> AudioConfig:
    return AudioConfig(**{**TINY, **overrides})


def tone(freq: float, rate: int = RATE, seconds: float = 0.256, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def clips(count: int = 24) -> list[dict]:
    """Tones, chirps and noise bursts of varied pitch, 0.256 s at 8 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLES) / RATE
    out = []
    for i in range(count):
        f = rng.uniform(150, 2400)
        if i % 3 == 0:
            w = 0.5 * np.sin(2 * np.pi * f * t)
        elif i % 3 == 1:
            w = 0.5 * np.sin(2 * np.pi * (f * t + rng.uniform(-200, 400) * t * t))
        else:
            w = 0.2 * rng.standard_normal(SAMPLES) * (t < rng.uniform(0.05, 0.25))
        out.append({"waveform": np.clip(w, -1, 1).astype(np.float32), "sample_rate": RATE})
    return out


def peak_hz(waveform: np.ndarray | torch.Tensor, rate: int) -> float:
    """The frequency of the largest FFT bin of a Hann-windowed clip."""
    w = np.asarray(waveform, dtype=np.float64)
    spectrum = np.abs(np.fft.rfft(w * np.hanning(len(w))))
    return float(np.argmax(spectrum)) * rate / len(w)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread while this module runs (the machine is small and shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def fitted(one_thread, tmp_path_factory) -> tuple[AudioTokenizer, dict[str, float], Path]:
    tokenizer = AudioTokenizer(tiny())
    out_dir = tmp_path_factory.mktemp("fit")
    figures = tokenizer.fit(clips(), out_dir)
    return tokenizer, figures, out_dir


def encoder_ctx() -> EncoderContext:
    return EncoderContext(d_model=D_MODEL, embed_ids=torch.nn.Embedding(8, D_MODEL))


# --------------------------------------------------------------------------- config


def test_presets_fill_what_the_user_did_not_set() -> None:
    cpu = AudioConfig()
    assert (cpu.sample_rate, cpu.n_fft, cpu.hop_length, cpu.n_mels) == (8000, 256, 128, 32)
    assert (cpu.segment_samples, cpu.frames, cpu.patch_grid, cpu.num_patches) == (8192, 64, (4, 8), 32)
    assert (cpu.code_grid, cpu.codebook_size, cpu.vocab_size) == ((4, 8), 256, 256)
    assert (cpu.vit.width, cpu.vit.depth, cpu.vit.heads, cpu.vit.trainable) == (128, 2, 4, True)
    uio2 = AudioConfig(preset="uio2")
    assert (uio2.sample_rate, uio2.n_fft, uio2.hop_length, uio2.n_mels) == (16000, 1024, 256, 128)
    assert (uio2.segment_samples, uio2.frames, uio2.patch_grid) == (65280, 256, (8, 16))
    rows, cols = uio2.code_grid
    assert rows * cols == 512 and uio2.vocab_size == 8192
    assert (uio2.vit.width, uio2.vit.depth, uio2.vit.heads, uio2.vit.trainable) == (768, 12, 12, False)
    assert AudioConfig(preset="uio2", vit={"depth": 2}).vit.width == 768
    assert AUDIO_SPEC.vocab_size_for(uio2) == 8192
    encodec = AudioConfig(codec="encodec", encodec={"num_codebooks": 2, "codebook_size": 128})
    assert AUDIO_SPEC.vocab_size_for(encodec) == 256


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"frames": 72}, r"audio.frames=72 is more than the 65 spectrogram frames"),
        ({"patch_size": 12}, "audio.n_mels=32 is not a multiple of audio.patch_size=12"),
        ({"vq_num_down": 6}, r"audio.n_mels=32 is not divisible by 2\*\*audio.vq_num_down=64"),
        ({"n_mels": 256}, "audio.n_mels=256 is more than the 129 frequency bins"),
        ({"vit": {"width": 30, "heads": 4}}, "audio.vit.width=30 is not divisible by audio.vit.heads=4"),
        ({"codec": "mp3"}, "codec"),
        ({"preset": "huge"}, "preset"),
        ({"n_mel": 32}, "n_mel"),  # extra="forbid" catches typos
    ],
)
def test_bad_config_is_named(fields, message) -> None:
    with pytest.raises(ValidationError, match=message):
        AudioConfig(**fields)


# --------------------------------------------------------------------------- values


def test_a_mono_clip_at_the_rate_is_kept_sample_for_sample() -> None:
    clip = tone(440)
    out = load_audio({"waveform": clip, "sample_rate": RATE}, CTX, tiny(), "input")
    assert out.dtype == np.float32 and out.shape == (SAMPLES,)
    assert np.array_equal(out, clip)
    as_tensor = load_audio({"waveform": torch.from_numpy(clip), "sample_rate": np.int64(RATE)}, CTX, tiny())
    assert np.array_equal(as_tensor, clip)


def test_stereo_is_averaged_into_mono() -> None:
    left, right = tone(300), tone(1100, amplitude=0.25)
    out = load_audio({"waveform": np.stack([left, right], axis=1), "sample_rate": RATE}, CTX, tiny())
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


def test_long_clips_keep_their_start_and_short_ones_are_zero_padded() -> None:
    ramp = (np.arange(3 * SAMPLES) / (3 * SAMPLES)).astype(np.float32)
    out = load_audio({"waveform": ramp, "sample_rate": RATE}, CTX, tiny())
    assert np.array_equal(out, ramp[:SAMPLES])
    short = ramp[:500]
    out = load_audio({"waveform": short, "sample_rate": RATE}, CTX, tiny())
    assert np.array_equal(out[:500], short) and not out[500:].any()


def test_other_rates_are_resampled_keeping_pitch_and_level() -> None:
    source = tone(1000, rate=44100, seconds=0.5)  # twice the segment: cropped after resampling
    out = load_audio({"waveform": source, "sample_rate": 44100}, CTX, tiny())
    assert out.shape == (SAMPLES,)
    assert abs(peak_hz(out, RATE) - 1000) <= RATE / SAMPLES
    rms = float(np.sqrt(np.mean(out[100:-100] ** 2)))
    assert abs(rms - 0.5 / math.sqrt(2)) < 0.01
    # Reading only the start of a long clip gives what resampling all of it gives.
    whole = torch.from_numpy(source)
    import torchaudio

    expected = torchaudio.functional.resample(whole, 44100, RATE)[:SAMPLES].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_int16_arrays_are_scaled_like_soundfile_does() -> None:
    pcm = (tone(500) * 32767).astype(np.int16)
    out = load_audio({"waveform": pcm, "sample_rate": RATE}, CTX, tiny())
    np.testing.assert_allclose(out, pcm / 32768.0, atol=1e-7)


@pytest.mark.parametrize(("rate", "fmt", "subtype"), [(44100, "WAV", "PCM_16"), (8000, "WAV", "FLOAT"), (44100, "FLAC", "PCM_16"), (8000, "FLAC", "PCM_24")])
def test_wav_and_flac_files_are_read(tmp_path: Path, rate: int, fmt: str, subtype: str) -> None:
    stereo = np.stack([tone(600, rate=rate, seconds=0.3), tone(600, rate=rate, seconds=0.3)], axis=1)
    (tmp_path / "clips").mkdir()
    name = f"clips/a.{fmt.lower()}"
    soundfile.write(tmp_path / name, stereo, rate, format=fmt, subtype=subtype)
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-1")
    out = load_audio(name, ctx, tiny(), "input")
    assert out.dtype == np.float32 and out.shape == (SAMPLES,)
    assert abs(peak_hz(out, RATE) - 600) <= RATE / SAMPLES
    if rate == RATE:  # no resampling: the file's samples, up to its quantisation
        np.testing.assert_allclose(out, stereo[:SAMPLES, 0], atol=2.0**-15)
    assert np.array_equal(load_audio(tmp_path / name, CTX, tiny()), out)  # absolute path


BAD_VALUES = [
    ({"waveform": np.zeros(0, np.float32), "sample_rate": RATE}, r"audio input is empty \(waveform of shape 0\)"),
    ({"waveform": np.array([0.1, np.nan], np.float32), "sample_rate": RATE}, "holds 1 NaN or infinite samples"),
    ({"waveform": np.array([0.1, np.inf, -np.inf], np.float32), "sample_rate": RATE}, "holds 2 NaN or infinite"),
    ({"waveform": np.zeros((4, 2, 2), np.float32), "sample_rate": RATE}, r"shape 4 x 2 x 2 \(3 dimensions\); expected \[samples\]"),
    ({"waveform": np.zeros((2, 4000), np.float32), "sample_rate": RATE}, r"looks like \[channels, samples\].*waveform.T"),
    ({"waveform": tone(440), "sample_rate": 0}, "sample_rate 0; expected a positive integer"),
    ({"waveform": tone(440), "sample_rate": -8000}, "sample_rate -8000; expected a positive integer"),
    ({"waveform": tone(440), "sample_rate": 8000.5}, "sample_rate 8000.5; expected a positive integer"),
    ({"waveform": tone(440), "sample_rate": "8000"}, "sample_rate '8000'; expected a positive integer"),
    ({"waveform": tone(440) * 3, "sample_rate": RATE}, r"peaks at 1.5, beyond full scale.*divide them by 32768"),
    ({"waveform": np.zeros(8, np.uint8), "sample_rate": RATE}, "dtype uint8; expected floats"),
    ({"waveform": [0.0, 0.1], "sample_rate": RATE}, "waveform of type list; expected a numpy array"),
    ({"samples": tone(440), "rate": RATE}, r"dict without 'waveform' and 'sample_rate'"),
    (12, "audio input is a int; expected a WAV or FLAC file path"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VALUES)
def test_bad_values_name_the_example_and_the_role(value, message) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        load_audio(value, CTX, tiny(), "input")
    assert str(caught.value).startswith("example 'ex-1': audio input")


def test_missing_unreadable_and_empty_files_name_the_path(tmp_path: Path) -> None:
    ctx = ProcessContext(base_dir=tmp_path, example_id="ex-1")
    with pytest.raises(ValueError, match=rf"example 'ex-1': audio target file {tmp_path / 'gone.wav'} does not exist \(relative"):
        load_audio("gone.wav", ctx, tiny(), "target")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file")
    with pytest.raises(ValueError, match=rf"audio target file {tmp_path / 'junk.wav'} cannot be read as audio \(expected WAV or FLAC"):
        load_audio("junk.wav", ctx, tiny(), "target")
    soundfile.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), RATE)
    with pytest.raises(ValueError, match=r"empty.wav is empty \(0 samples\)"):
        load_audio("empty.wav", ctx, tiny(), "target")


# --------------------------------------------------------------------------- processor


def test_input_segment_shapes_positions_and_orientation() -> None:
    config = tiny()
    processor = AudioProcessor(config, AudioTokenizer(config))
    segment = processor.input_segment({"waveform": tone(200), "sample_rate": RATE}, CTX)
    assert segment.modality == "audio" and segment.num_tokens == 8 and not segment.compress
    grid = segment.features["spectrogram"]
    assert grid.shape == (1, 1, 16, 32) and grid.dtype == torch.float32
    assert segment.features["mask"] is None and segment.features["mask_ratio"] == 0.75
    assert segment.positions.tolist() == [[r, c] for r in range(2) for c in range(4)]
    # Row 0 holds the lowest mel bands: a low tone is loudest there, a high one at the top.
    assert grid[0, 0].mean(dim=1).argmax() < 4
    high = processor.input_segment({"waveform": tone(3000), "sample_rate": RATE}, CTX)
    assert high.features["spectrogram"][0, 0].mean(dim=1).argmax() > 11
    # Normalised: silence is -1, a full-scale sine's band about +1.
    silent = processor.input_segment({"waveform": np.zeros(100, np.float32), "sample_rate": RATE}, CTX)
    assert torch.allclose(silent.features["spectrogram"], torch.tensor(-1.0))
    loud = processor.input_segment({"waveform": tone(1000, amplitude=1.0), "sample_rate": RATE}, CTX)
    assert 0.9 < float(loud.features["spectrogram"].max()) < 1.1


def test_fit_value_is_the_loaded_clip_and_lists_are_refused() -> None:
    config = tiny()
    processor = AudioProcessor(config, AudioTokenizer(config))
    value = processor.fit_value({"waveform": tone(440, rate=16000), "sample_rate": 16000}, CTX)
    assert set(value) == {"waveform", "sample_rate"} and value["sample_rate"] == RATE
    assert value["waveform"].dtype == np.float32 and value["waveform"].shape == (SAMPLES,)
    with pytest.raises(ValueError, match="example 'ex-1': audio input is a list of 2 values; expected one clip"):
        processor.input_segment([clips(1)[0], clips(1)[0]], CTX)
    with pytest.raises(RuntimeError, match="example 'ex-1': audio tokenizer is not fitted"):
        processor.target_ids(clips(1)[0], CTX)
    assert pickle.loads(pickle.dumps(processor)).config == config


# --------------------------------------------------------------------------- encoder


def test_encoder_shapes_masks_gradients_and_keys() -> None:
    config = tiny()
    processor = AudioProcessor(config, AudioTokenizer(config))
    encoder = AudioInputEncoder(config, encoder_ctx())
    a = processor.input_segment(clips(1)[0], CTX).features
    b = processor.input_segment({"waveform": tone(900), "sample_rate": RATE}, CTX).features
    out = encoder([a, b])
    assert out.shape == (16, D_MODEL) and torch.isfinite(out).all()
    masked = {**a, "mask": torch.tensor([True, False, False, False, False, False, False, True])}
    out_masked = encoder([masked])
    assert not torch.allclose(out_masked[0], out[0])
    out_masked.sum().backward()
    assert encoder.mask_embedding.grad is not None and encoder.vit.patch_embed.proj.weight.grad is not None
    assert encoder.vit.patch_embed.proj.in_channels == 1
    assert {k.split(".")[0] for k in encoder.state_dict()} == {"vit", "proj", "mask_embedding"}
    with pytest.raises(ValueError, match=r"audio payload 0: spectrogram of shape \[1, 1, 16, 16\]; expected \[frames, 1, 16, 32\]"):
        encoder([{"spectrogram": torch.zeros(1, 1, 16, 16), "mask": None}])
    with pytest.raises(ValueError, match="a mask of 3 entries for 8 patches"):
        encoder([{**a, "mask": torch.ones(3, dtype=torch.bool)}])


def test_frozen_vit_gets_no_gradients_and_weights_load(tmp_path: Path) -> None:
    config = tiny(vit={"width": 16, "depth": 1, "heads": 2, "trainable": False})
    encoder = AudioInputEncoder(config, encoder_ctx())
    encoder.train()
    assert not encoder.vit.training and encoder.proj.training
    encoder([{"spectrogram": torch.rand(1, 1, 16, 32), "mask": None}]).sum().backward()
    assert all(p.grad is None for p in encoder.vit.parameters()) and encoder.proj.weight.grad is not None
    torch.save(encoder.vit.state_dict(), tmp_path / "vit.pt")
    loaded = AudioInputEncoder(tiny(vit={**TINY["vit"], "weights": str(tmp_path / "vit.pt")}), encoder_ctx())
    assert torch.equal(loaded.vit.pos_embed, encoder.vit.pos_embed)
    with pytest.raises(ValueError, match=r"audio.vit.weights=.*does not fit the configured ViT"):
        AudioInputEncoder(tiny(n_mels=32, vit={**TINY["vit"], "weights": str(tmp_path / "vit.pt")}), encoder_ctx())


# --------------------------------------------------------------------------- objectives


def test_masked_denoising_masks_a_share_of_the_target_input() -> None:
    config = tiny(mask_ratio=0.5)
    target_input = AudioProcessor(config, AudioTokenizer(config)).input_segment(clips(1)[0], CTX)
    target = Segment("audio", ids=torch.arange(32) + 100)
    example = ObjectiveExample(inputs=[Segment("text", ids=torch.tensor([5]))], target=target, target_input=target_input)
    ctx = ObjectiveContext(sentinel_ids=(1, 2), modality_ranges={"audio": (100, 132)})
    out = MASKED_DENOISING.apply(example, random.Random(0), ctx)
    assert MASKED_DENOISING.name == "audio.masked_denoising" and MASKED_DENOISING.prefix == "R"
    assert MASKED_DENOISING.needs_target_input and len(out.inputs) == 2
    mask = out.inputs[1].features["mask"]
    assert mask.dtype == torch.bool and int(mask.sum()) == 4 and target_input.features["mask"] is None
    assert AudioInputEncoder(config, encoder_ctx())([out.inputs[1].features]).shape == (8, D_MODEL)
    with pytest.raises(ValueError, match="audio.masked_denoising needs ObjectiveExample.target_input"):
        MASKED_DENOISING.apply(ObjectiveExample(inputs=[], target=target), random.Random(0), ctx)
    assert DIRECT.name == "audio.direct" and DIRECT.prefix == "S"
    assert pickle.loads(pickle.dumps(MASKED_DENOISING)).name == "audio.masked_denoising"


# --------------------------------------------------------------------------- Griffin-Lim


@pytest.mark.parametrize("freq", [250.0, 440.0, 1200.0])
def test_griffin_lim_keeps_the_pitch_of_a_pure_tone(freq: float) -> None:
    config = AudioConfig()  # the cpu preset: 31.25 Hz per STFT bin
    clip = torch.from_numpy(tone(freq, seconds=1.024))
    rebuilt = grid_waveform(spectrogram_grid(clip[None], config), config)[0]
    assert rebuilt.shape == (config.segment_samples,) and float(rebuilt.abs().max()) <= 1.0
    bin_hz = config.sample_rate / config.n_fft
    found = float(stft_magnitude(rebuilt, config.mel).mean(-1).argmax()) * bin_hz
    assert abs(found - freq) <= 2 * bin_hz
    assert torch.equal(rebuilt, grid_waveform(spectrogram_grid(clip[None], config), config)[0])  # seeded


def test_normalisation_maps_silence_and_full_scale() -> None:
    mel = AudioConfig().mel
    assert float(normalise(torch.tensor(math.log(1e-5)), mel)) == pytest.approx(-1.0)
    assert float(normalise(torch.tensor(2 * math.log(64)), mel)) == pytest.approx(1.0)


# --------------------------------------------------------------------------- tokenizer


def test_fit_beats_an_untrained_tokenizer_and_writes_examples(fitted) -> None:
    tokenizer, figures, out_dir = fitted
    assert tokenizer.is_fitted and isinstance(tokenizer, TrainableTokenizer)
    assert {"log_mel_l1", "spectral_snr_db", "codebook_usage", "initial_log_mel_l1", "seconds"} <= set(figures)
    assert figures["steps"] == 60 and 0 < figures["codebook_usage"] <= 1
    assert figures["griffin_lim_log_mel_l1"] < figures["log_mel_l1"] < 0.5 * figures["initial_log_mel_l1"]
    held = torch.from_numpy(np.stack([c["waveform"] for c in clips()[:6]]))
    untrained = sound_figures(AudioTokenizer(tiny())._fresh_model(), held, tiny())
    trained = sound_figures(tokenizer.model, held, tiny())
    assert trained["log_mel_l1"] < 0.5 * untrained["log_mel_l1"]
    assert trained["spectral_snr_db"] > untrained["spectral_snr_db"]
    assert (out_dir / RECONSTRUCTIONS_FILE).is_file()
    written = sorted(p.name for p in (out_dir / SOUNDS_DIR).iterdir())
    assert written[:2] == ["heldout_0_original.wav", "heldout_0_reconstruction.wav"]


def test_encode_decode_lengths_padding_and_determinism(fitted) -> None:
    tokenizer, _, _ = fitted
    ids = tokenizer.encode(clips()[0])
    assert len(ids) == tokenizer.output_length == 32 and all(0 <= i < 32 for i in ids)
    clip = tokenizer.decode(ids)
    assert set(clip) == {"waveform", "sample_rate"} and clip["sample_rate"] == RATE
    assert clip["waveform"].dtype == np.float32 and clip["waveform"].shape == (SAMPLES,)
    assert np.array_equal(tokenizer.decode(ids)["waveform"], clip["waveform"])
    assert np.array_equal(tokenizer.decode(ids + [1, 2])["waveform"], clip["waveform"])
    assert np.array_equal(tokenizer.decode(ids[:5])["waveform"], tokenizer.decode(ids[:5] + [0] * 27)["waveform"])
    assert np.array_equal(tokenizer.decode([99] + ids[1:])["waveform"], tokenizer.decode([0] + ids[1:])["waveform"])
    processor = AudioProcessor(tokenizer.config, tokenizer)
    assert processor.target_ids(clips()[0], CTX) == ids


def test_state_round_trip_and_tokenizer_weights(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    torch.save(tokenizer.state_dict(), tmp_path / "audio.pt")
    state = torch.load(tmp_path / "audio.pt", weights_only=True)
    fresh = AudioTokenizer(tiny())
    assert not fresh.is_fitted and fresh.fingerprint() != tokenizer.fingerprint()
    fresh.load_state_dict(state)
    assert fresh.is_fitted and fresh.fingerprint() == tokenizer.fingerprint()
    assert fresh.encode(clips()[3]) == tokenizer.encode(clips()[3])
    loaded = AudioTokenizer(tiny(tokenizer_weights=str(tmp_path / "audio.pt")))
    assert loaded.is_fitted and loaded.fingerprint() == tokenizer.fingerprint()
    with pytest.raises(ValueError, match=r"saved for other sizes: hop_length=64 \(config: 32\)"):
        AudioTokenizer(tiny(hop_length=32, frames=32)).load_state_dict(state)
    with pytest.raises(ValueError, match="not an audio tokenizer state"):
        fresh.load_state_dict({"format": "uio.image.vqgan"})


# --------------------------------------------------------------------------- decoder


def test_decoder_writes_a_wav_scores_renders_and_draws(fitted, tmp_path: Path) -> None:
    tokenizer, _, _ = fitted
    decoder = AudioOutputDecoder(tokenizer.config, tokenizer)
    assert isinstance(decoder, FixedLengthDecoder) and isinstance(decoder, FileDecoder)
    assert decoder.output_length == 32 and decoder.file_suffix == ".wav" and decoder.html_media == "audio"
    clip = decoder.decode(tokenizer.encode(clips()[0]))
    written = decoder.write(clip, tmp_path / "out" / "sample")
    assert written == tmp_path / "out" / "sample.wav"
    info = soundfile.info(written)
    assert (info.format, info.subtype, info.samplerate, info.channels, info.frames) == ("WAV", "PCM_16", RATE, 1, SAMPLES)
    back, _ = soundfile.read(written, dtype="float32")
    np.testing.assert_allclose(back, clip["waveform"], atol=1.0 / 32768)
    assert decoder.render(clip) == "<audio 0.26 s at 8000 Hz>" and decoder.render(str(written)) == "<audio sample.wav>"

    assert decoder.score(clip, clip) == {"log_mel_score": 1.0, "spectral_snr_db": MAX_SNR_DB}
    scores = decoder.score(clip, clips()[0])
    assert 0.0 < scores["log_mel_score"] < 1.0 and -20 < scores["spectral_snr_db"] < MAX_SNR_DB
    unrelated = decoder.score(clip, {"waveform": tone(3500), "sample_rate": RATE})
    assert unrelated["log_mel_score"] < scores["log_mel_score"]
    assert decoder.score(clip, str(written))["log_mel_score"] > 0.99  # the file, up to PCM rounding
    assert decoder.score(clip, str(tmp_path / "missing.wav")) == {}
    assert log_mel_score(0.0) == 1.0 and log_mel_score(1.0) == pytest.approx(math.exp(-1))

    low = np.asarray(decoder.picture({"waveform": tone(200), "sample_rate": RATE}).convert("L"), dtype=float)
    assert low.shape == (128, 256)  # 16 x 32 cells, 8 pixels each
    assert low[-32:].mean() > low[:32].mean() + 50  # low frequencies at the bottom


# --------------------------------------------------------------------------- codecs, contract, registry


def test_encodec_codec_delegates_to_the_encodec_tokenizer(tmp_path: Path) -> None:
    settings = {"num_codebooks": 2, "codebook_size": 16, "ratios": [4, 4], "n_filters": 4, "dimension": 8,
                "lstm": 0, "fit_steps": 2, "fit_batch": 2}
    try:
        tokenizer = AudioTokenizer(tiny(codec="encodec", encodec=settings))
    except NotImplementedError:
        pytest.skip("EncodecTokenizer is not written yet")
    assert tokenizer.vocab_size == 32 and tokenizer.output_length == 2 * math.ceil(SAMPLES / 16)
    assert not tokenizer.is_fitted
    figures = tokenizer.fit(clips(4), tmp_path)
    assert tokenizer.is_fitted and {"log_mel_l1", "spectral_snr_db", "codebook_usage"} <= set(figures)
    ids = tokenizer.encode(clips()[0])
    assert len(ids) == tokenizer.output_length and all(0 <= i < 32 for i in ids)
    clip = tokenizer.decode(ids[:3])  # padded to a full clip
    assert clip["waveform"].shape == (SAMPLES,) and clip["sample_rate"] == RATE
    state = tokenizer.state_dict()
    fresh = AudioTokenizer(tiny(codec="encodec", encodec=settings))
    fresh.load_state_dict(state)
    assert fresh.is_fitted and fresh.fingerprint() == tokenizer.fingerprint()
    with pytest.raises(ValueError, match="state is of codec 'encodec' but audio.codec is 'spectrogram_vq'"):
        AudioTokenizer(tiny()).load_state_dict(state)


#: Enough to check the contract, not to learn anything.
CONTRACT_CONFIG = {**TINY, "fit_steps": 2, "fit_batch_size": 4}


def test_contract(uio_contract) -> None:
    uio_contract(AUDIO_SPEC, config=CONTRACT_CONFIG, sample_values=clips(4))


def test_implements_the_optional_protocols(fitted) -> None:
    tokenizer, _, _ = fitted
    assert isinstance(AudioProcessor(tokenizer.config, tokenizer), FitValueProcessor)


def test_registers_through_its_entry_point(uio_isolated_registry) -> None:
    registry = uio_isolated_registry.use_builtin("audio")
    assert registry.plugin("audio").status == "ok"
    spec = registry.modalities["audio"]
    assert spec.guidance and spec.position_dims == 2
    assert [o.name for o in registry.objectives_for("audio")] == ["audio.direct", "audio.masked_denoising"]


def test_listed_by_uio_plugins_list(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("UIO_LOAD_PLUGINS", "audio")
    reset_registry()
    try:
        capsys.readouterr()
        assert main(["plugins", "list", "--json"]) == 0
        rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    finally:
        reset_registry()
    assert rows["audio"]["status"] == "ok" and "audio" in json.dumps(rows["audio"]["modalities"])
