"""Training the scene classifier on freshly rendered scenes (see :mod:`.classifier` for the CLI)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import torch

from uio.modalities.scenes.augment import degrade
from uio.modalities.scenes.classifier_model import (
    SceneClassifier,
    cell_labels,
    image_tensor,
    loss_fn,
)
from uio.modalities.scenes.render import render_scene
from uio.modalities.scenes.world import COLORS, NUM_CELLS, SHAPES, SIZES, SceneObject
from uio.plugins.blocks.progress import progress_bar
from uio.plugins.blocks.weights import save_tagged_safetensors

#: ``format`` entry of the weight file's metadata.
FORMAT = "uio.scenes.classifier/1"
MAX_OBJECTS = 4


def random_scene(rng: random.Random) -> list[SceneObject]:
    """0 to 4 objects in distinct cells, any of the 36 pairs (repeats allowed), any size."""
    cells = rng.sample(range(NUM_CELLS), rng.randint(0, MAX_OBJECTS))
    return [
        SceneObject(rng.choice(SIZES), rng.choice(COLORS), rng.choice(SHAPES), c // 3, c % 3)
        for c in cells
    ]


def render_batch(rng: random.Random, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` jittered random scenes: pixels ``[n, 3, size, size]`` and labels ``[n, 9]``."""
    scenes = [random_scene(rng) for _ in range(n)]
    images = [render_scene(objects, size, rng).image for objects in scenes]
    return image_tensor(images), torch.tensor([cell_labels(s) for s in scenes])


@torch.no_grad()
def evaluate(
    model: SceneClassifier, pixels: torch.Tensor, labels: torch.Tensor
) -> dict[str, float]:
    """``cell_acc`` (share of cells right) and ``scene_acc`` (share of images with all 9 right)."""
    model.eval()
    right = torch.cat([model.predict(p) for p in pixels.split(256)]) == labels
    return {"cell_acc": right.float().mean().item(), "scene_acc": right.all(dim=1).float().mean().item()}


def fit_classifier(
    size: int = 32,
    steps: int = 6000,
    seed: int = 0,
    out_path: str | Path | None = None,
    *,
    batch: int = 32,
    lr: float = 3e-3,
    width: int = 32,
    eval_scenes: int = 1000,
    progress: bool = True,
) -> dict[str, float]:
    """Train a :class:`SceneClassifier` for images of side ``size`` and save its weights.

    Every step renders ``batch`` new random scenes (0 to 4 objects, all 36
    pairs, jitter on) and degrades most of them (:func:`~.augment.degrade`).
    Afterwards it measures per-cell and whole-scene accuracy on ``eval_scenes``
    scenes of a separate random stream, clean and degraded. Deterministic in its
    arguments (on one thread).

    Returns:
        ``clean_cell_acc``, ``clean_scene_acc``, ``degraded_cell_acc``,
        ``degraded_scene_acc``, ``loss`` (mean of the last 100 steps) and
        ``parameters``.
    """
    if steps < 1 or batch < 1:
        raise ValueError(f"steps ({steps}) and batch ({batch}) must be positive")
    torch.manual_seed(seed)
    model = SceneClassifier(size, width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = min(100, steps // 10 + 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)),
    )
    rng = random.Random(f"scene-classifier-train-{seed}")
    gen = torch.Generator().manual_seed(seed)
    recent: list[float] = []
    status = "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.3f}"
    with progress_bar("[bold]scene classifier[/] {task.description}", status, disable=not progress) as bar:
        task = bar.add_task(f"{size}px", total=steps, loss=float("nan"), acc=float("nan"))
        for _ in range(steps):
            model.train()
            pixels, labels = render_batch(rng, batch, size)
            logits = model(degrade(pixels, gen))
            loss = loss_fn(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            recent = (recent + [loss.item()])[-100:]
            acc = (logits.argmax(-1) == labels).float().mean().item()
            bar.update(task, advance=1, loss=sum(recent) / len(recent), acc=acc)

    eval_rng = random.Random(f"scene-classifier-eval-{seed}")
    pixels, labels = render_batch(eval_rng, eval_scenes, size)
    clean = evaluate(model, pixels, labels)
    degraded = evaluate(model, degrade(pixels, torch.Generator().manual_seed(seed + 1), 0.0), labels)
    metrics = {
        **{f"clean_{k}": v for k, v in clean.items()},
        **{f"degraded_{k}": v for k, v in degraded.items()},
        "loss": sum(recent) / len(recent),
        "parameters": float(sum(p.numel() for p in model.parameters())),
    }
    if out_path is not None:
        save_classifier(model, out_path, {"steps": steps, "seed": seed, "batch": batch, **metrics})
    return metrics


def save_classifier(model: SceneClassifier, path: str | Path, info: dict[str, Any]) -> Path:
    """Write the weights as safetensors, with size, width and ``info`` in the metadata.

    Written to a temporary file and renamed, so a crash never leaves a torn file.
    """
    metadata = {
        "format": FORMAT,
        "size": str(model.size),
        "width": str(model.width),
        "info": json.dumps(info, sort_keys=True),
    }
    return save_tagged_safetensors(model, path, metadata)
