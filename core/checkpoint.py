"""Atomic checkpoint writes and loading.

A checkpoint is written to a temporary file in the target folder, flushed and
fsynced, then renamed over the target, and the folder is fsynced: a crash or a
full disk mid-write leaves the previous checkpoint intact. Checkpoints hold only
tensors and plain containers, so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

#: Key under which uio keeps its own state (config, manifest, tokenizers) in a checkpoint.
UIO_KEY = "uio"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: missing, unreadable, or from an incompatible run."""


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` via a temp file in the same folder + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = True):
        return load_checkpoint_file(path, map_location or "cpu")


def load_checkpoint_file(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``, with clear errors."""
    path = Path(path)
    if not path.is_file():
        hint = ""
        if path.is_dir():
            found = sorted(path.rglob("*.ckpt"))
            hint = f"; it is a folder: pass a file such as {found[-1]}" if found else "; it is a folder"
        raise CheckpointError(f"checkpoint {path} not found{hint}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if UIO_KEY not in checkpoint:
        raise CheckpointError(f"checkpoint {path} was not written by uio (no {UIO_KEY!r} section)")
    return checkpoint
