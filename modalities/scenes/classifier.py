"""The scene classifier: which (colour, shape) pair, if any, each grid cell of an image holds.

It judges generated pictures (``scene.text_to_image``, ``scene.inpaint``): a
small CNN (:class:`~.classifier_model.SceneClassifier`, about 40k parameters)
reads each of the 9 cells and picks one of 37 classes, empty or one of the
6 x 6 colour-shape pairs; object sizes are ignored. It trains on fresh renders
degraded to look generated (:mod:`.augment`), so blur, colour shifts and blocky
patches do not fool it.

The shipped weights (``assets/scene_classifier.safetensors``, for 32 px images)
were made on one CPU thread with::

    python -m uio.modalities.scenes.classifier --size 32 --steps 6000 --seed 0 \\
        --out modalities/scenes/assets/scene_classifier.safetensors

Should the image target size change, the same command with the new ``--size``
makes matching weights; until then :func:`classify` resizes images to the
size the weights were trained for.
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from uio.modalities.scenes.classifier_model import CLASSES, Pair, SceneClassifier, image_tensor
from uio.modalities.scenes.classifier_train import FORMAT, fit_classifier
from uio.plugins.blocks.weights import load_frozen_module

DEFAULT_WEIGHTS = "scene_classifier.safetensors"

__all__ = [
    "DEFAULT_WEIGHTS",
    "SceneClassifier",
    "classify",
    "default_weights_path",
    "fit_classifier",
    "load_classifier",
    "main",
]


def default_weights_path() -> Path:
    """The shipped weights, found through the package (works from any working directory)."""
    resource = importlib.resources.files("uio.modalities.scenes").joinpath("assets", DEFAULT_WEIGHTS)
    return Path(str(resource))


def load_classifier(path_or_default: str | Path | None = None) -> SceneClassifier:
    """A classifier in eval mode on the CPU, from a weight file (``None``: the shipped one).

    Cached per process and path: every call with the same path returns the same
    module, so do not train it in place.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it is not a scene-classifier weight file.
    """
    path = default_weights_path() if path_or_default is None else Path(path_or_default)
    return _load(str(path.resolve()))


@functools.lru_cache(maxsize=8)
def _load(path: str) -> SceneClassifier:
    return load_frozen_module(
        path, FORMAT, "scene classifier", f"python -m uio.modalities.scenes.classifier --size 32 --out {path}",
        lambda metadata: SceneClassifier(int(metadata["size"]), int(metadata["width"])),
    )


@torch.no_grad()
def classify(
    images: Sequence[Image.Image], classifier: SceneClassifier | None = None
) -> list[list[Pair | None]]:
    """Per image, the content of its 9 cells (row-major): ``(colour, shape)`` or ``None``.

    Images of another side than the classifier's are resized to it (bilinear).

    Raises:
        TypeError: if an item is not a ``PIL.Image.Image``.
        ValueError: if an image is not square.
    """
    model = classifier if classifier is not None else load_classifier()
    prepared = []
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise TypeError(f"images[{i}] is {type(image).__name__}; expected a PIL.Image.Image")
        if image.width != image.height:
            raise ValueError(f"images[{i}] is {image.width}x{image.height}; expected a square image")
        if image.width != model.size:
            image = image.convert("RGB").resize((model.size, model.size), Image.Resampling.BILINEAR)
        prepared.append(image)
    if not prepared:
        return []
    classes = model.predict(image_tensor(prepared))
    return [[CLASSES[int(c)] for c in row] for row in classes]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m uio.modalities.scenes.classifier``: train and save a scene classifier."""
    parser = argparse.ArgumentParser(
        prog="python -m uio.modalities.scenes.classifier",
        description="Train the scene classifier on rendered scenes and save its weights.",
    )
    parser.add_argument("--size", type=int, default=32, help="image side in pixels (default 32)")
    parser.add_argument("--steps", type=int, default=6000, help="training steps (default 6000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32, help="scenes per step (default 32)")
    parser.add_argument("--width", type=int, default=32, help="CNN channels (default 32)")
    parser.add_argument("--eval-scenes", type=int, default=1000, help="held-out scenes to measure on")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="weight file to write (.safetensors)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    metrics = fit_classifier(
        args.size, args.steps, args.seed, args.out,
        batch=args.batch, width=args.width, eval_scenes=args.eval_scenes, progress=not args.quiet,
    )
    size_kb = args.out.stat().st_size / 1024
    print(json.dumps({**metrics, "weights": str(args.out), "kib": round(size_kb, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
