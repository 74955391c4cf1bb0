"""Pretraining the image modality's ViT to see the scene world's shapes (an opt-in start).

UIO2 starts from a pretrained ViT; uio can load one (``modalities.image.vit.weights``)
but has no hub to fetch it from. This module makes one here, for the scene world:
the ViT reads pictures of three objects and answers "what shape is the <colour>
object?" through a small readout (one attention layer queried by the colour, then
a linear layer over the six shapes) that is thrown away afterwards. Only
(colour, shape) pairs seen in training scenes are drawn, so the held-out pairs
stay unseen.

Why: from scratch, the default run's ViT does not learn to tell shapes apart in
its 14.5 minutes (``vqa.shape`` stays below chance); started from these weights,
the same run answers shape questions and finds objects far more often (README,
"Images"). The supervision is the scene world's own labels, so these weights
suit scene pictures only; ``configs/experiment/scene_pretrained_vit.yaml`` uses them.

The shipped weights (``assets/scene_vit.safetensors``, for the ``cpu`` preset) were
made on 2 CPU cores in about 2.3 minutes with::

    python -m uio.modalities.scenes.vit_pretrain --steps 2500 --seed 0 \\
        --out modalities/scenes/assets/scene_vit.safetensors
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.encoder import build_vit
from uio.modalities.image.pixels import to_tensor
from uio.modalities.scenes.config import SceneOptions
from uio.modalities.scenes.holdout import holdout_pairs, train_pairs
from uio.modalities.scenes.render import render_scene
from uio.modalities.scenes.world import COLORS, NUM_CELLS, SHAPES, SIZES, SceneObject
from uio.plugins.blocks.progress import progress_bar

#: ``format`` entry of the weight file's metadata.
FORMAT = "uio.scenes.vit/1"
#: Held-out fraction whose pairs are never drawn: the scene datasets' default, so
#: a run with another ``holdout_fraction`` may hold out pairs these weights saw.
HOLDOUT_FRACTION: float = SceneOptions.model_fields["holdout_fraction"].default


def shape_questions(
    count: int, objects: int, seed: int, size: int = 64, *, unseen: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` pictures of ``objects`` objects of distinct colours, from training pairs only.

    With ``unseen`` the asked object is instead of a held-out (colour, shape) pair
    (the others still of training pairs): how far shape reading learnt on
    training pairs carries to colours never seen with that shape.

    Returns pixels ``[count, 3, size, size]`` in ``[-1, 1]`` (as the image
    processor gives them), the index of the asked colour and of its shape.
    """
    if not 1 <= objects <= len(COLORS):
        raise ValueError(f"objects={objects}; expected 1 to {len(COLORS)} (one per colour)")
    rng = random.Random(seed)
    pairs = train_pairs(HOLDOUT_FRACTION)
    held = sorted(holdout_pairs(HOLDOUT_FRACTION))
    pixels, colours, shapes = [], [], []
    for _ in range(count):
        chosen = _distinct_colours(rng, pairs, held if unseen else None, objects)
        cells = rng.sample(range(NUM_CELLS), objects)
        scene = [
            SceneObject(rng.choice(SIZES), colour, shape, cell // 3, cell % 3)
            for (colour, shape), cell in zip(chosen, cells, strict=True)
        ]
        pixels.append(np.asarray(render_scene(scene, size, rng).image))
        asked = scene[0] if unseen else scene[rng.randrange(objects)]
        colours.append(COLORS.index(asked.color))
        shapes.append(SHAPES.index(asked.shape))
    return to_tensor(pixels), torch.tensor(colours), torch.tensor(shapes)


def _distinct_colours(
    rng: random.Random, pairs: list[tuple[str, str]], first_from: list[tuple[str, str]] | None, objects: int
) -> list[tuple[str, str]]:
    """``objects`` pairs of distinct colours from ``pairs``; the first from ``first_from`` if given."""
    while True:
        if first_from is None:
            chosen = rng.sample(pairs, objects)
        else:
            chosen = [rng.choice(first_from), *rng.sample(pairs, objects - 1)]
        if len({colour for colour, _ in chosen}) == objects:
            return chosen


class ShapeReader(nn.Module):
    """The image modality's ViT plus a colour-queried readout naming a shape."""

    def __init__(self, config: ImageConfig) -> None:
        super().__init__()
        self.vit = build_vit(config)
        width = config.vit.width
        self.query = nn.Embedding(len(COLORS), width)
        self.attend = nn.MultiheadAttention(width, config.vit.heads, batch_first=True)
        self.head = nn.Linear(width, len(SHAPES))

    def forward(self, pixels: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
        """Shape logits ``[n, 6]`` for pixels ``[n, 3, S, S]`` and colour indices ``[n]``."""
        patches = self.vit.forward_features(pixels)
        read, _ = self.attend(self.query(colours)[:, None], patches, patches)
        return self.head(read[:, 0])


def fit_step(
    reader: ShapeReader,
    optimizer: torch.optim.Optimizer,
    pixels: torch.Tensor,
    colours: torch.Tensor,
    shapes: torch.Tensor,
) -> float:
    """One optimizer step on a batch of questions; its loss."""
    loss = F.cross_entropy(reader(pixels, colours), shapes)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


@torch.no_grad()
def accuracy(reader: ShapeReader, pixels: torch.Tensor, colours: torch.Tensor, shapes: torch.Tensor) -> float:
    """Share of questions answered right (in eval mode; the training mode is restored)."""
    was_training = reader.training
    reader.eval()
    right = (reader(pixels, colours).argmax(-1) == shapes).float().mean().item()
    reader.train(was_training)
    return right


def pretrain_vit(
    config: ImageConfig,
    steps: int,
    *,
    lr: float = 5e-4,
    batch: int = 32,
    objects: int = 3,
    seed: int = 0,
    test_examples: int = 600,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], float]:
    """Train a fresh ViT of ``config`` on shape questions; its state dict and test accuracy.

    The default rate is the ViT's own: ``benchmarks/vit_learning_rate.py`` shows
    it learning at 0.0005 and not at the trunk's 0.002.
    """
    if steps < 1 or batch < 1:
        raise ValueError(f"steps={steps}, batch={batch}; expected both at least 1")
    torch.manual_seed(seed)
    reader = ShapeReader(config)
    optimizer = torch.optim.AdamW(reader.parameters(), lr=lr)
    test = shape_questions(test_examples, objects, seed=-1 - seed, size=config.input_size)
    with progress_bar("pretraining ViT", "loss {task.fields[loss]:.3f}", disable=not progress) as bar:
        task = bar.add_task("vit", total=steps, loss=float("nan"))
        for step in range(steps):
            pixels, colours, shapes = shape_questions(
                batch, objects, seed=seed * 1_000_003 + step, size=config.input_size
            )
            loss = fit_step(reader, optimizer, pixels, colours, shapes)
            bar.update(task, advance=1, loss=loss)
    return {k: v.detach().clone() for k, v in reader.vit.state_dict().items()}, accuracy(reader, *test)


def main(argv: list[str] | None = None) -> int:
    """``python -m uio.modalities.scenes.vit_pretrain``: pretrain and save the ViT."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", choices=["cpu", "uio2"], default="cpu")
    args = parser.parse_args(argv)
    if args.out.suffix != ".safetensors":
        parser.error(f"--out {args.out}: expected a .safetensors file")
    config = ImageConfig(preset=args.preset)
    state, acc = pretrain_vit(
        config, args.steps, lr=args.lr, batch=args.batch, objects=args.objects, seed=args.seed
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "preset": args.preset, "steps": str(args.steps),
                "seed": str(args.seed), "test_accuracy": f"{acc:.4f}"}
    save_file({k: v.contiguous() for k, v in state.items()}, str(args.out), metadata=metadata)
    print(json.dumps({"out": str(args.out), "test_accuracy": round(acc, 4), "chance": round(1 / len(SHAPES), 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
