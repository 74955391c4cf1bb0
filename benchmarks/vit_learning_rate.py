"""How fast the image modality's from-scratch ViT learns to see shapes, per learning rate.

The default run's ViT must learn from pixels alone what shape each object has.
This script isolates that: the ViT of ``modalities.image`` (the ``cpu`` preset
unless ``--patch-size``/``--stem`` say otherwise) reads rendered scene-world
pictures of three objects and answers "what shape is the <colour> object?"
through a one-layer attention readout queried by the colour (six classes,
chance 1/6; the readout of :mod:`uio.modalities.scenes.vit_pretrain`). Every
learning rate trains on the same batches in this process; the table gives
held-out accuracy after each stage, the ratio to the reference rate (the
default experiment's ``train.lr``) at the last, and accuracy on unseen pairs.

Measured with the defaults (2 CPU cores, 1,500 steps of 32 pictures, 279 s):
held-out accuracy 0.21 at 0.002 (chance 0.17), 0.23 at 0.001, 0.59 at 0.0005
and 0.59 at 0.00025. Hence ``train.lr_scale.input_encoders.image: 0.25`` in
``configs/experiment/default.yaml``.

The last column asks about an object of a held-out (colour, shape) pair
instead (``shape_questions(..., unseen=True)``): composition. With
``--lrs 0.0005 --steps 4000 --stages 4`` (573 s): at 0.0005 seen-pair accuracy
0.48 / 0.70 / 0.92 / 0.96 after 1,000 to 4,000 steps and unseen pairs 0.33 at
4,000; at 0.002, 0.20 and 0.00. The unseen figure rises only once seen pairs
are mastered (0.03 at 2,000 steps, about 0.5 at 4,500, in a separate probe).

    .venv/bin/python benchmarks/vit_learning_rate.py              # ~5 min on 2 cores
    .venv/bin/python benchmarks/vit_learning_rate.py --quick      # smoke test, seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_common_args, environment, print_table, ratio, set_threads  # noqa: E402

from uio.modalities.image.config import ImageConfig  # noqa: E402
from uio.modalities.scenes.vit_pretrain import (  # noqa: E402
    ShapeReader,
    accuracy,
    fit_step,
    shape_questions,
)

#: ``train.lr`` of configs/experiment/default.yaml, the reference row.
REFERENCE_LR = 0.002


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, default_threads=2, default_repeats=1)
    parser.add_argument("--lrs", default="0.002,0.001,0.0005,0.00025", help="comma-separated")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--stages", type=int, default=3, help="evaluations along the way")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--patch-size", type=int, default=None)
    parser.add_argument("--stem", choices=["patch", "conv"], default="patch")
    args = parser.parse_args()
    if args.repeats != 1:
        parser.error("--repeats: this script measures learning, not time; it trains each rate once")
    if args.quick:
        args.lrs, args.steps, args.stages, args.batch = "0.002,0.0005", 6, 2, 4
    threads = set_threads(args.threads)
    lrs = [float(x) for x in args.lrs.split(",")]
    if REFERENCE_LR not in lrs:
        lrs.insert(0, REFERENCE_LR)
    overrides: dict = {"vit": {"stem": args.stem}}
    if args.patch_size:
        overrides["patch_size"] = args.patch_size
    config = ImageConfig(preset="cpu", **overrides)

    readers, optimizers = {}, {}
    for lr in lrs:
        torch.manual_seed(0)  # every rate starts from the same weights
        readers[lr] = ShapeReader(config)
        optimizers[lr] = torch.optim.AdamW(readers[lr].parameters(), lr=lr)
    test = shape_questions(64 if args.quick else 600, args.objects, seed=10**6)
    unseen_test = shape_questions(64 if args.quick else 600, args.objects, seed=10**6 + 1, unseen=True)
    marks = {round(args.steps * (i + 1) / args.stages) for i in range(args.stages)}
    scores: dict[float, list[float]] = {lr: [] for lr in lrs}
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        pixels, colours, shapes = shape_questions(args.batch, args.objects, seed=step)
        for lr in lrs:
            fit_step(readers[lr], optimizers[lr], pixels, colours, shapes)
        if step in marks:
            for lr in lrs:
                scores[lr].append(accuracy(readers[lr], *test))
    unseen = {lr: accuracy(readers[lr], *unseen_test) for lr in lrs}
    seconds = time.perf_counter() - start

    stages = sorted(marks)
    columns = (
        ["ViT lr"] + [f"acc @ {s} steps" for s in stages] + [f"vs {REFERENCE_LR} @ {stages[-1]}"]
        + [f"unseen pairs @ {stages[-1]}"]
    )
    rows = [
        [f"{lr:g}" + (" (reference)" if lr == REFERENCE_LR else "")]
        + scores[lr]
        + [ratio(scores[lr][-1], scores[REFERENCE_LR][-1]), unseen[lr]]
        for lr in lrs
    ]
    print_table(
        f"ViT ({config.vit.stem} stem, patch {config.patch_size}) learning to name shapes, "
        f"{args.objects} objects per picture, batch {args.batch}",
        columns,
        rows,
        caption=f"{environment(threads)} | chance 0.167 | {seconds:.0f} s",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
