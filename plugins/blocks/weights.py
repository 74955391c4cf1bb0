"""Finding and reading weight files that a modality's config names.

A config names weights either as a filesystem path or as a file shipped inside
an installed Python package::

    vit.weights: checkpoints/vit_small.safetensors       # relative to the working directory
    vit.weights: pkg://my_plugin.weights/vit.safetensors # inside the package, from any cwd

Weight files hold tensors only: ``.safetensors`` files, or ``torch.save`` files
(``.pt``, ``.pth``, ``.ckpt``) read with ``weights_only=True``, so opening one
never runs code from it.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

#: Prefix of a weight spec that names a file inside an installed package.
PACKAGE_SCHEME = "pkg://"

TORCH_SUFFIXES = (".pt", ".pth", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"


def _package_file(spec: str) -> Path:
    rest = spec[len(PACKAGE_SCHEME) :]
    package, _, relative = rest.partition("/")
    if not package or not relative:
        raise ValueError(
            f"weights {spec!r}: expected {PACKAGE_SCHEME}<python.package>/<relative/file>, "
            f"e.g. {PACKAGE_SCHEME}my_plugin.weights/vit.safetensors"
        )
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise FileNotFoundError(
            f"weights {spec!r}: package {package!r} is not installed ({exc})"
        ) from None
    resource = root.joinpath(relative)
    # A package imported from a zip has no file on disk to hand out; uio installs
    # packages as folders (pip's default), so this is the case that matters.
    path = Path(str(resource))
    if not resource.is_file() or not path.is_file():
        raise FileNotFoundError(
            f"weights {spec!r}: no file {relative!r} in package {package!r} (looked at {path})"
        )
    return path


def resolve_weights(spec: str | Path) -> Path:
    """The file a weight spec names.

    Args:
        spec: ``"pkg://<python.package>/<relative/file>"`` for a file inside an
            installed package (resolved through ``importlib.resources``, so it
            works from any working directory); anything else is a filesystem
            path, relative ones to the current working directory.

    Raises:
        FileNotFoundError: no such file; the message names the spec and the
            path it resolved to.
        ValueError: a malformed ``pkg://`` spec.
    """
    text = str(spec)
    if text.startswith(PACKAGE_SCHEME):
        return _package_file(text)
    path = Path(text).expanduser()
    resolved = path if path.is_absolute() else Path.cwd() / path
    if not resolved.is_file():
        raise FileNotFoundError(
            f"weights {text!r}: no such file {resolved}"
            + (" (relative paths are taken from the working directory)" if not path.is_absolute() else "")
        )
    return resolved


def load_state_file(path: str | Path) -> dict[str, Any]:
    """The dict stored in a weight file, on the CPU.

    ``.safetensors`` files are read with ``safetensors.torch.load_file``; ``.pt``,
    ``.pth`` and ``.ckpt`` files with ``torch.load(weights_only=True)`` (tensors and
    plain containers only).

    Raises:
        ValueError: another suffix, a file that does not hold a dict, or one that
            cannot be read as its suffix says.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != SAFETENSORS_SUFFIX and suffix not in TORCH_SUFFIXES:
        raise ValueError(
            f"weight file {path} has suffix {path.suffix!r}; expected "
            f"{SAFETENSORS_SUFFIX} or one of {', '.join(TORCH_SUFFIXES)}"
        )
    try:
        if suffix == SAFETENSORS_SUFFIX:
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is reported with the file
        raise ValueError(f"cannot read weight file {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"weight file {path} holds a {type(state).__name__}; expected a dict")
    return state


def load_tagged_safetensors(
    path: str | Path, expected_format: str, what: str, remake: str
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a ``.safetensors`` file whose metadata ``format`` must be
    ``expected_format`` (how shipped weights say what they are, e.g. ``"uio.scenes.classifier/1"``).

    Raises:
        FileNotFoundError: no file at ``path``; the message gives ``remake``, the command
            that makes one.
        ValueError: the file is of another format; ``what`` names the expected kind.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} weights at {path}; make them with `{remake}`")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != expected_format:
        raise ValueError(
            f"{path} is not a {what} weight file (metadata format "
            f"{metadata.get('format')!r}, expected {expected_format!r})"
        )
    return load_file(str(path)), metadata


def load_frozen_module(
    path: str | Path,
    expected_format: str,
    what: str,
    remake: str,
    build: Callable[[dict[str, str]], torch.nn.Module],
) -> torch.nn.Module:
    """A module read from a tagged ``.safetensors`` file, in eval mode with gradients off.

    ``build`` makes the empty module from the file's metadata (its sizes); the
    tensors must then fit it exactly. The other arguments are those of
    :func:`load_tagged_safetensors`, whose errors this raises.
    """
    state, metadata = load_tagged_safetensors(path, expected_format, what, remake)
    module = build(metadata)
    module.load_state_dict(state)
    module.eval()
    module.requires_grad_(False)
    return module


def load_saved_state(target: Any, spec: str | Path, field: str) -> None:
    """``target.load_state_dict`` of the state saved at ``spec`` (a path or ``pkg://``);
    a refusal is re-raised naming the config ``field`` (e.g. ``"image.tokenizer_weights"``),
    the value given and the file it resolved to."""
    path = resolve_weights(spec)
    try:
        target.load_state_dict(load_state_file(path))
    except ValueError as exc:
        raise ValueError(f"{field}={spec!r} ({path}): {exc}") from None


def state_mismatch(own: dict[str, Any], state: dict[str, Any], owner: str = "model", shown: int = 5) -> str | None:
    """What keeps ``state`` from loading strictly into a module whose state dict is ``own``:
    ``"2 missing: a, b; 1 mis-shaped: c [3] (model: [4])"`` (at most ``shown`` keys of each
    kind), or ``None`` when it fits."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(
        f"{k} {list(getattr(state[k], 'shape', []))} ({owner}: {list(own[k].shape)})"
        for k in set(own) & set(state)
        if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape
    )
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", wrong)):
        if keys:
            more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:shown])}{more}")
    return "; ".join(parts) or None


def save_tagged_safetensors(module: torch.nn.Module, path: str | Path, metadata: dict[str, str]) -> Path:
    """Write ``module``'s weights as ``.safetensors`` with ``metadata`` (its ``format`` tag
    included; :func:`load_tagged_safetensors` reads it back), atomically: to a temporary
    file in the same folder, then renamed, so a crash never leaves a torn file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path
