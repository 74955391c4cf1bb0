"""The scene classifier (uio.modalities.scenes.classifier) and its augmentations."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from uio.modalities.scenes.augment import degrade
from uio.modalities.scenes.classifier import (
    classify,
    default_weights_path,
    load_classifier,
)
from uio.modalities.scenes.classifier_model import (
    CLASSES,
    NUM_CLASSES,
    SceneClassifier,
    image_tensor,
)
from uio.modalities.scenes.render import render_scene
from uio.modalities.scenes.world import COLORS, SHAPES, SIZES, SceneObject


def random_scene(rng: random.Random) -> list[SceneObject]:
    cells = rng.sample(range(9), rng.randint(0, 4))
    return [
        SceneObject(rng.choice(SIZES), rng.choice(COLORS), rng.choice(SHAPES), c // 3, c % 3)
        for c in cells
    ]


def truth(objects: list[SceneObject]) -> list[tuple[str, str] | None]:
    cells: list[tuple[str, str] | None] = [None] * 9
    for obj in objects:
        cells[3 * obj.row + obj.col] = (obj.color, obj.shape)
    return cells


def test_classes() -> None:
    assert NUM_CLASSES == 37 and CLASSES[0] is None
    assert set(CLASSES[1:]) == {(c, s) for c in COLORS for s in SHAPES}


def test_cli_trains_and_saves_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "weights" / "tiny.safetensors"
    command = [
        sys.executable, "-m", "uio.modalities.scenes.classifier", "--size", "32", "--steps", "4",
        "--batch", "4", "--eval-scenes", "8", "--quiet", "--out", str(out),
    ]
    # From another working directory: nothing may depend on the cwd.
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) >= {"clean_cell_acc", "clean_scene_acc", "degraded_cell_acc", "degraded_scene_acc"}
    assert 0.0 <= report["clean_cell_acc"] <= 1.0
    assert out.is_file() and not list(out.parent.glob(".*.tmp"))
    model = load_classifier(out)
    assert isinstance(model, SceneClassifier) and model.size == 32 and not model.training
    cells = classify([render_scene([], 32).image], model)
    assert len(cells) == 1 and len(cells[0]) == 9
    assert all(c is None or c in CLASSES for c in cells[0])


def test_shipped_weights_read_clean_renders() -> None:
    path = default_weights_path()
    assert path.is_file() and path.stat().st_size < 1024 * 1024
    model = load_classifier()
    assert load_classifier(None) is model and load_classifier(path) is model, "cached per process"
    assert not model.training and next(model.parameters()).device.type == "cpu"
    rng = random.Random("test-shipped-classifier")
    scenes = [random_scene(rng) for _ in range(50)]
    images = [render_scene(objects, model.size, rng).image for objects in scenes]
    predicted = classify(images)
    right = sum(p == t for objects, row in zip(scenes, predicted, strict=True)
                for p, t in zip(row, truth(objects), strict=True))
    assert right / (9 * len(scenes)) >= 0.98


def test_other_sizes_are_resized() -> None:
    objects = [SceneObject("large", "red", "circle", 0, 0), SceneObject("large", "blue", "star", 2, 1)]
    image = render_scene(objects, 64, jitter=False).image
    assert classify([image]) == [truth(objects)]
    assert classify([]) == []


def test_classify_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"images\[0\] is str"):
        classify(["x"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"images\[0\] is 32x16; expected a square"):
        classify([Image.new("RGB", (32, 16))])
    with pytest.raises(FileNotFoundError, match="python -m uio.modalities.scenes.classifier"):
        load_classifier(tmp_path / "missing.safetensors")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(ValueError, match="is not a scene classifier weight file"):
        load_classifier(other)


def test_degrade_is_deterministic_and_keeps_a_clean_share() -> None:
    images = [render_scene(random_scene(random.Random(i)), 32, i).image for i in range(64)]
    pixels = image_tensor(images)
    a = degrade(pixels, torch.Generator().manual_seed(0))
    b = degrade(pixels, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == pixels.shape
    assert a.min() >= 0.0 and a.max() <= 1.0
    unchanged = (a == pixels).flatten(1).all(dim=1).float().mean().item()
    assert 0.1 < unchanged < 0.6
    assert not (degrade(pixels, torch.Generator().manual_seed(0), 0.0) == pixels).flatten(1).all(1).all()
