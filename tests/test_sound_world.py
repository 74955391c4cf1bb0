"""The sound world (uio.modalities.sounds): synthesis, held-out split, tasks, classifier and scores."""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from safetensors.torch import save_file

from uio.modalities.sounds import plugin as sounds_plugin
from uio.modalities.sounds.classifier import classify, default_weights_path, load_classifier
from uio.modalities.sounds.classifier_model import MEL, SoundClassifier
from uio.modalities.sounds.config import SOUND_TASKS, SoundsConfig
from uio.modalities.sounds.dataset import build_sounds
from uio.modalities.sounds.degrade import griffin_lim_roundtrip
from uio.modalities.sounds.holdout import holdout_pairs, train_pairs
from uio.modalities.sounds.synth import synthesize
from uio.modalities.sounds.tasks import PROMPTS, QUESTIONS, sound_tasks
from uio.modalities.sounds.world import KINDS, PITCHES, Sound, caption, read_attributes
from uio.plugins import TaskExample
from uio.plugins.registry import load_registry

RATE, SAMPLES = 8000, 8192
SPECS = {spec.name: spec for spec in sound_tasks()}
# Written out here rather than imported, so that a bug in the world fails them.
CAPTION = re.compile(
    r"a (quiet|loud) (short|long) (low|mid|high) (?:(pure|buzzy) )?"
    r"(tone|chord|rising chirp|falling chirp|noise burst|rhythm)"
)
PITCHED = ("tone", "chord", "rising chirp", "falling chirp", "rhythm")


def clip(kind: str, pitch: str = "mid", loudness: str = "loud", duration: str = "long",
         timbre: str | None = "pure", seed: int = 0, jitter: bool = True) -> np.ndarray:
    sound = Sound(kind, pitch, loudness, duration, None if kind == "noise burst" else timbre)
    return synthesize(sound, RATE, SAMPLES, seed, jitter)


def power_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(len(x), 1 / RATE), np.abs(np.fft.rfft(x)) ** 2


def median_frequency(x: np.ndarray) -> float:
    """The frequency below which half the power lies."""
    freqs, power = power_spectrum(x)
    return float(freqs[np.searchsorted(np.cumsum(power), power.sum() / 2)])


def sounding(x: np.ndarray) -> np.ndarray:
    """Samples of the sound itself (above -50 dB of full scale in 4 ms windows)."""
    window = np.convolve(x**2, np.ones(32) / 32, mode="same")
    return window > 1e-5


def span(x: np.ndarray) -> float:
    on = np.flatnonzero(sounding(x))
    return (on[-1] - on[0]) / len(x)


def built(raw: dict, seed: int = 0) -> TaskExample:
    return SPECS[raw["task"]].build(raw, random.Random(seed))


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return build_sounds(SoundsConfig(train_examples=600), "train", 0)


@pytest.fixture(scope="module")
def heldout() -> list[dict]:
    return build_sounds(SoundsConfig(heldout_examples=300), "heldout", 0)


# --------------------------------------------------------------------------- synthesis


def test_synthesis_is_deterministic_by_seed() -> None:
    for kind in KINDS:
        a, b = clip(kind, seed=5), clip(kind, seed=5)
        assert a.dtype == np.float32 and a.shape == (SAMPLES,)
        assert np.array_equal(a, b), kind
        assert not np.array_equal(a, clip(kind, seed=6)), f"{kind}: no jitter between seeds"
        assert np.abs(a).max() <= 1.0 and np.isfinite(a).all()
        # Without jitter the clip is a function of the attributes alone.
        assert np.array_equal(clip(kind, seed=1, jitter=False), clip(kind, seed=2, jitter=False))


def test_pitch_classes_are_distinct_and_ordered() -> None:
    for kind in KINDS:
        for seed in range(4):
            medians = [median_frequency(clip(kind, pitch, seed=seed)) for pitch in PITCHES]
            assert medians[0] * 1.7 < medians[1] and medians[1] * 1.7 < medians[2], (kind, medians)
            assert medians[2] < 0.6 * RATE / 2, f"{kind}: high pitch too near Nyquist"
    freqs, power = power_spectrum(clip("tone", "high", timbre="buzzy"))
    assert power[freqs > 0.47 * RATE].sum() < 1e-6 * power.sum(), "buzzy harmonics must not alias"


def sounding_rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x[sounding(x)] ** 2)))


def upper_share(x: np.ndarray) -> float:
    """Share of the power above 1.8 times the strongest frequency (harmonics of a buzzy sound)."""
    freqs, power = power_spectrum(x)
    fundamental = freqs[np.argmax(power * (freqs > 100))]
    return float(power[freqs > 1.8 * fundamental].sum() / power.sum())


def test_loud_and_quiet_differ_in_level() -> None:
    for kind in KINDS:
        loud = [sounding_rms(clip(kind, loudness="loud", seed=s)) for s in range(6)]
        quiet = [sounding_rms(clip(kind, loudness="quiet", seed=s)) for s in range(6)]
        assert min(loud) > 2.5 * max(quiet), (kind, loud, quiet)


def test_short_and_long_differ_in_sounding_length() -> None:
    for kind in KINDS:
        short = [span(clip(kind, duration="short", seed=s)) for s in range(6)]
        long = [span(clip(kind, duration="long", seed=s)) for s in range(6)]
        assert max(short) < 0.32 and min(long) > 0.55, (kind, short, long)
        assert sounding(clip(kind, seed=0))[:100].sum() == 0, "a margin of silence comes first"


def test_buzzy_sounds_have_harmonics_and_pure_ones_do_not() -> None:
    for kind in ("tone", "chord", "rhythm"):
        for pitch in PITCHES:
            pure = upper_share(clip(kind, pitch, timbre="pure", seed=3))
            buzzy = upper_share(clip(kind, pitch, timbre="buzzy", seed=3))
            assert pure < 0.01 and buzzy > 0.1, (kind, pitch, pure, buzzy)


def test_chirps_rise_and_fall_and_rhythms_pulse() -> None:
    for seed in range(3):
        for kind, sign in (("rising chirp", 1), ("falling chirp", -1)):
            x = clip(kind, seed=seed)
            on = np.flatnonzero(sounding(x))
            first, last = x[on[0] : on[len(on) // 3]], x[on[-len(on) // 3] : on[-1]]
            assert sign * (median_frequency(last) - median_frequency(first)) > 150, kind
        pulses = np.diff(sounding(clip("rhythm", seed=seed)).astype(int))
        assert (pulses == 1).sum() >= 4, "a long rhythm has several beeps"
        assert (np.diff(sounding(clip("tone", seed=seed)).astype(int)) == 1).sum() == 1


def test_synthesis_errors() -> None:
    with pytest.raises(ValueError, match="sample_rate is 4000; expected at least 8000"):
        synthesize(Sound("tone", "low", "loud", "long", "pure"), 4000, 4096)
    with pytest.raises(ValueError, match="timbre is None"):
        Sound("tone", "low", "loud", "long", None)
    with pytest.raises(ValueError, match="a noise burst has no timbre"):
        Sound("noise burst", "low", "loud", "long", "pure")
    with pytest.raises(ValueError, match=r"pitch is 'shrill'; expected one of \['low', 'mid', 'high'\]"):
        Sound("tone", "shrill", "loud", "long", "pure")


# --------------------------------------------------------------------------- dataset


def test_deterministic_and_seeded_per_split() -> None:
    options = SoundsConfig(train_examples=200, heldout_examples=100)
    state = random.getstate()
    data = build_sounds(options, "train", 3)
    assert random.getstate() == state, "the builder must not touch the global RNG"
    assert build_sounds(options, "train", 3) == data
    assert build_sounds(options.model_dump(), "train", 3) == data
    assert build_sounds(options, "train", 4) != data
    held = build_sounds(options, "heldout", 3)
    assert build_sounds(options.model_copy(update={"train_examples": 900}), "heldout", 3) == held
    assert len({e["_seed"] for e in data}) > 190, "every example has a seed of its own"
    with pytest.raises(ValueError, match="sounds has no split 'test'"):
        build_sounds(None, "test", 0)


def test_heldout_pairs_never_in_train(train: list[dict], heldout: list[dict]) -> None:
    held = holdout_pairs(0.33)
    assert len(held) == 6
    # One pitch of every kind held out, every kind and pitch still trained.
    assert Counter(k for k, _ in held) == Counter(KINDS)
    trained = set(train_pairs(0.33))
    assert {k for k, _ in trained} == set(KINDS) and {p for _, p in trained} == set(PITCHES)
    train_seen = {(e["sound"]["kind"], e["sound"]["pitch"]) for e in train}
    assert not train_seen & held and train_seen == trained
    assert {(e["sound"]["kind"], e["sound"]["pitch"]) for e in heldout} == set(held)
    assert holdout_pairs(0.33) == holdout_pairs(0.33) and len(holdout_pairs(0.5)) == 9


def test_examples_are_well_formed_and_balanced(train: list[dict]) -> None:
    counts = Counter(e["task"] for e in train)
    assert set(counts) == set(SOUND_TASKS) and max(counts.values()) - min(counts.values()) <= 1
    for e in train:
        assert set(e) >= {"task", "id", "sound", "_seed", "_sample_rate", "_seconds"}
        assert CAPTION.fullmatch(caption(Sound.from_dict(e["sound"])))
        if e["task"] == "sound.question":
            assert e["group"] == f"sound.question.{e['attribute']}"
            assert e["attribute"] in e["sound"], "only attributes the sound has are asked"
    groups = Counter(e["group"] for e in train if e["task"] == "sound.question")
    assert len(groups) == 5 and max(groups.values()) - min(groups.values()) <= 1
    for attribute in ("loudness", "duration", "timbre"):
        assert len({e["sound"].get(attribute) for e in train} - {None}) == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tasks": ["sound.sing"]}, "tasks"),
        ({"tasks": []}, "tasks"),
        ({"tasks": ["sound.caption", "sound.caption"]}, "tasks"),
        ({"holdout_fraction": 0.9}, "holdout_fraction"),
        ({"holdout_fraction": 0.0}, "holdout_fraction"),
        ({"sample_rate": 4000}, "sample_rate"),
        ({"seconds": 0.1}, "seconds"),
        ({"train_examples": -1}, "train_examples"),
        ({"train_exmples": 3}, "train_exmples"),
    ],
)
def test_bad_options_name_the_field(options: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        SoundsConfig(**options)
    assert [err["loc"][0] for err in info.value.errors()] == [field]


# --------------------------------------------------------------------------- tasks


def test_caption_task(train: list[dict]) -> None:
    example = next(e for e in train if e["task"] == "sound.caption")
    task = built(example)
    (m0, prompt), (m1, audio) = task.inputs
    assert (m0, m1) == ("text", "audio") and prompt in PROMPTS["sound.caption"]
    assert set(audio) == {"waveform", "sample_rate"} and audio["sample_rate"] == RATE
    assert audio["waveform"].dtype == np.float32 and audio["waveform"].shape == (SAMPLES,)
    # The input clip is the example's own jittered clip, the same every time.
    assert np.array_equal(audio["waveform"], built(example, seed=9).inputs[1][1]["waveform"])
    assert task.target[0] == "text"
    match = CAPTION.fullmatch(task.target[1])
    assert match and (match[5], match[3]) == (example["sound"]["kind"], example["sound"]["pitch"])


def test_text_to_audio_targets_the_nominal_clip(train: list[dict]) -> None:
    examples = [e for e in train if e["task"] == "sound.text_to_audio"][:2]
    task = built(examples[0])
    assert [m for m, _ in task.inputs] == ["text"]
    assert caption(Sound.from_dict(examples[0]["sound"])) in task.inputs[0][1]
    modality, audio = task.target
    assert modality == "audio" and audio["waveform"].shape == (SAMPLES,) and audio["sample_rate"] == RATE
    # Same attributes, another seed: the same target (a function of the text alone).
    twin = {**examples[0], "_seed": examples[0]["_seed"] + 1}
    assert np.array_equal(built(twin).target[1]["waveform"], audio["waveform"])
    other = {**examples[0], "sound": {**examples[0]["sound"], "duration": "short"}}
    if examples[0]["sound"]["duration"] == "short":
        other["sound"]["duration"] = "long"
    assert not np.array_equal(built(other).target[1]["waveform"], audio["waveform"])


def test_question_task(train: list[dict]) -> None:
    for example in [e for e in train if e["task"] == "sound.question"][:20]:
        task = built(example)
        (m0, question), (m1, _) = task.inputs
        assert (m0, m1) == ("text", "audio") and question in QUESTIONS[example["attribute"]]
        assert task.target == ("text", example["sound"][example["attribute"]])
    noise = {"task": "sound.question", "id": "n", "attribute": "timbre",
             "sound": {"kind": "noise burst", "pitch": "low", "loudness": "loud", "duration": "long"}}
    with pytest.raises(ValueError, match="example 'n' of task sound.question: a noise burst has no timbre"):
        built(noise)
    with pytest.raises(ValueError, match="field 'attribute' is 'colour'"):
        built({**noise, "attribute": "colour"})


def test_phrasings_vary_with_the_rng(train: list[dict]) -> None:
    for task in SOUND_TASKS:
        example = next(e for e in train if e["task"] == task)
        prompts = {built(example, seed).inputs[0][1] for seed in range(40)}
        assert len(prompts) >= 3, task
    assert sum(len(p) for p in PROMPTS.values()) + sum(len(q) for q in QUESTIONS.values()) >= 25


def test_errors_name_the_example_and_field() -> None:
    raw = {"task": "sound.caption", "id": "x7"}
    with pytest.raises(ValueError, match="example 'x7' of task sound.caption: field 'sound'"):
        built(raw)
    raw["sound"] = {"kind": "tone", "pitch": "low", "loudness": "loud", "duration": "long", "timbre": "pure",
                    "colour": "red"}
    with pytest.raises(ValueError, match=r"unknown sound attribute\(s\) \['colour'\]"):
        built(raw)
    raw["sound"].pop("colour")
    with pytest.raises(ValueError, match="field '_seed' must be an int"):
        built({**raw, "_seed": "seven"})
    with pytest.raises(ValueError, match="field '_sample_rate' must be an int >= 8000"):
        built({**raw, "_sample_rate": 4000})
    # Hand-written examples may leave the clip settings out.
    assert built(raw).inputs[1][1]["waveform"].shape == (SAMPLES,)


def test_read_attributes_and_caption_score() -> None:
    sound = Sound("rising chirp", "high", "loud", "short", "buzzy")
    text = caption(sound)
    assert text == "a loud short high buzzy rising chirp"
    assert read_attributes(text) == sound.attributes()
    assert read_attributes("a loud quiet noise burst") == {"kind": "noise burst"}
    raw = {"task": "sound.caption", "id": "c", "sound": sound.attributes()}
    score = SPECS["sound.caption"].score
    assert score(raw, text, text) == {"attribute_accuracy": 1.0}
    assert score(raw, "a loud short low buzzy falling chirp", text) == {"attribute_accuracy": 0.6}
    assert score(raw, "", text) == {"attribute_accuracy": 0.0}


# --------------------------------------------------------------------------- classifier and scores


def test_shipped_classifier_reads_clean_clips() -> None:
    path = default_weights_path()
    assert path.is_file() and path.stat().st_size < 1024 * 1024
    model = load_classifier()
    assert load_classifier(None) is model and load_classifier(path) is model, "cached per process"
    assert not model.training
    rng = random.Random("test-shipped-sound-classifier")
    sounds = []
    for _ in range(48):
        kind = rng.choice(KINDS)
        timbre = None if kind == "noise burst" else rng.choice(["pure", "buzzy"])
        sounds.append(Sound(kind, rng.choice(PITCHES), rng.choice(["quiet", "loud"]),
                            rng.choice(["short", "long"]), timbre))
    clips = [{"waveform": synthesize(s, RATE, SAMPLES, rng.getrandbits(31)), "sample_rate": RATE} for s in sounds]
    heard = classify(clips)
    for attribute in ("kind", "pitch", "loudness", "duration", "timbre"):
        pairs = [(h.get(attribute), s.attributes()[attribute]) for h, s in zip(heard, sounds, strict=True)
                 if attribute in s.attributes()]
        accuracy = sum(a == b for a, b in pairs) / len(pairs)
        assert accuracy >= 0.9, (attribute, accuracy)
    assert all(("timbre" in h) == (h["kind"] != "noise burst") for h in heard)


def test_every_text_to_audio_target_scores_full_marks() -> None:
    score = SPECS["sound.text_to_audio"].score
    combos = [
        {"kind": k, "pitch": p, "loudness": lo, "duration": d, **({} if k == "noise burst" else {"timbre": t})}
        for k in KINDS for p in PITCHES for lo in ("quiet", "loud") for d in ("short", "long")
        for t in (("pure",) if k == "noise burst" else ("pure", "buzzy"))
    ]
    assert len(combos) == 132
    missed = []
    for sound in combos:
        example = {"task": "sound.text_to_audio", "id": "t", "sound": sound}
        target = built(example).target[1]
        if score(example, target, target)["sound_match"] != 1.0:
            missed.append(sound)
    assert not missed


def test_text_to_audio_score_rewards_the_right_sound_only(train: list[dict]) -> None:
    score = SPECS["sound.text_to_audio"].score
    for example in [e for e in train if e["task"] == "sound.text_to_audio"][:6]:
        target = built(example).target[1]
        assert score(example, target, target) == {"attribute_accuracy": 1.0, "sound_match": 1.0}
        # A bare waveform (taken at the example's rate) and a torch tensor are read the same.
        assert score(example, target["waveform"], target)["sound_match"] == 1.0
        assert score(example, {**target, "waveform": torch.from_numpy(target["waveform"])}, target)["sound_match"] == 1.0
    example = {"task": "sound.text_to_audio", "id": "w",
               "sound": {"kind": "tone", "pitch": "low", "loudness": "loud", "duration": "long", "timbre": "pure"}}
    wrong = built({**example, "sound": {**example["sound"], "pitch": "high", "duration": "short"}}).target[1]
    metrics = score(example, wrong, None)
    assert metrics["sound_match"] == 0.0 and metrics["attribute_accuracy"] <= 0.6
    silence = {"waveform": np.zeros(SAMPLES, dtype=np.float32), "sample_rate": RATE}
    assert score(example, silence, None)["sound_match"] == 0.0
    # Another rate is resampled: the same sound at 16 kHz is still heard right.
    at_16k = synthesize(Sound.from_dict(example["sound"]), 16000, 2 * SAMPLES, jitter=False)
    assert score(example, {"waveform": at_16k, "sample_rate": 16000}, None)["sound_match"] == 1.0
    with pytest.raises(TypeError, match="example 'w' of task sound.text_to_audio: the prediction is str"):
        score(example, "a sound", None)


def test_illustration_shows_both_spectrograms(train: list[dict]) -> None:
    example = next(e for e in train if e["task"] == "sound.text_to_audio")
    target = built(example).target[1]
    picture = SPECS["sound.text_to_audio"].illustrate(example, target, target)
    assert isinstance(picture, Image.Image) and picture.width > 2 * picture.height
    left, right = np.asarray(picture)[:, : picture.width // 2 - 8], np.asarray(picture)[:, -(picture.width // 2 - 8):]
    assert np.array_equal(left, right), "the true clip drawn beside itself"
    assert SPECS["sound.text_to_audio"].illustrate(example, "no audio", target) is None


def test_classifier_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"clips\[0\] is str"):
        classify(["x"])
    with pytest.raises(TypeError, match="a dict without 'waveform'"):
        classify([{"samples": [0.0]}])
    assert classify([]) == []
    with pytest.raises(FileNotFoundError, match="python -m uio.modalities.sounds.classifier"):
        load_classifier(tmp_path / "missing.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="is not a sound classifier weight file"):
        load_classifier(other)


def test_cli_trains_and_saves_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "weights" / "tiny.safetensors"
    command = [
        sys.executable, "-m", "uio.modalities.sounds.classifier", "--steps", "3", "--batch", "8",
        "--eval-clips", "8", "--quiet", "--out", str(out),
    ]
    # From another working directory: nothing may depend on the cwd.
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for prefix in ("clean", "griffin_lim", "nominal"):
        for attribute in ("kind", "pitch", "loudness", "duration", "timbre", "all"):
            assert 0.0 <= report[f"{prefix}_{attribute}"] <= 1.0
    assert out.is_file() and not list(out.parent.glob(".*.tmp"))
    model = load_classifier(out)
    assert isinstance(model, SoundClassifier) and not model.training
    heard = classify([clip("tone")], model)
    assert len(heard) == 1 and set(heard[0]) <= {"kind", "pitch", "loudness", "duration", "timbre"}


def test_shipped_classifier_reads_griffin_lim_clips() -> None:
    rng = random.Random("test-griffin-lim")
    sounds, waves = [], []
    for _ in range(120):
        kind = rng.choice(KINDS)
        sound = Sound(kind, rng.choice(PITCHES), rng.choice(["quiet", "loud"]), rng.choice(["short", "long"]),
                      None if kind == "noise burst" else rng.choice(["pure", "buzzy"]))
        sounds.append(sound)
        waves.append(synthesize(sound, RATE, SAMPLES, rng.getrandbits(31)))
    torch.manual_seed(0)
    rebuilt = griffin_lim_roundtrip(torch.from_numpy(np.stack(waves)), MEL, n_iter=32)
    heard = classify(list(rebuilt.numpy()))
    right = sum(h == s.attributes() for h, s in zip(heard, sounds, strict=True))
    assert right / len(sounds) >= 0.9


# --------------------------------------------------------------------------- plugin


def test_plugin_registers_and_pickles() -> None:
    registry = load_registry([("sounds", sounds_plugin)], use_entry_points=False, strict=True)
    dataset = registry.dataset("sounds")
    assert dataset.config_model is SoundsConfig and dataset.splits == ["train", "heldout"]
    assert set(SOUND_TASKS) <= set(registry.tasks)
    assert registry.tasks["sound.text_to_audio"].target_modality == "audio"
    for name in SOUND_TASKS:
        spec = registry.tasks[name]
        for fn in (spec.build, spec.score, spec.illustrate):
            if fn is not None:
                pickle.loads(pickle.dumps(fn))
    options = dataset.config_model.model_validate({"train_examples": 7})
    assert len(dataset.build(options, "train", 0)) == 7
