"""Saving, checking and fingerprinting a learned tokenizer's state (VQ-GAN, EnCodec, ...).

A learned tokenizer saves ``{"format", "version", ..., "fitted", "weights"}``: plain
containers and tensors, so it loads with ``torch.load(weights_only=True)``. It
records the sizes its weights and ids depend on, and refuses a state saved for
other sizes, naming each one. Its fingerprint hashes those sizes and every
weight, so a checkpoint's vocabulary manifest notices a different tokenizer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def seeded_module(seed: int, build: Callable[[], ModuleT]) -> ModuleT:
    """``build()`` under ``seed`` without touching the global random state, in eval mode
    (a fresh tokenizer has the same weights every time)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build()
    return module.eval()


def module_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state dict."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def require_format(state: Any, expected: str, what: str, owner: str) -> None:
    """Refuse anything but a dict whose ``format`` is ``expected``.

    Raises:
        ValueError: naming ``what`` (e.g. "image tokenizer"), the format found
            and ``owner`` (the class whose ``state_dict`` makes one).
    """
    if not isinstance(state, dict) or state.get("format") != expected:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"not an {what} state (format {found!r}, expected {expected!r}); "
            f"save one with {owner}.state_dict() or `uio fit-tokenizer`"
        )


def differing_sizes(saved: dict[str, Any], mine: dict[str, Any]) -> list[str]:
    """The names in ``mine`` whose value ``saved`` records differently, in ``mine``'s order."""
    return [name for name in mine if saved.get(name) != mine[name]]


def describe_differences(saved: dict[str, Any], mine: dict[str, Any], names: list[str]) -> str:
    """``"n_mels=64 (config: 32); ..."`` for the differing ``names``."""
    return "; ".join(f"{name}={saved.get(name)} (config: {mine[name]})" for name in names)


def load_module_weights(module: nn.Module, state: dict[str, Any], what: str) -> None:
    """Load ``state["weights"]`` into ``module`` strictly, then put it on the CPU in eval mode.

    Raises:
        ValueError: the weights are missing or do not fit, naming ``what``.
    """
    try:
        module.load_state_dict(state["weights"])
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"the {what} state's weights do not fit the model: {exc}") from None
    module.cpu().eval()


def fingerprint(head: Any, module: nn.Module) -> str:
    """16 hex digits of SHA-256 over ``head`` (JSON, or a string as is) and every tensor of ``module``."""
    text = head if isinstance(head, str) else json.dumps(head, sort_keys=True)
    digest = hashlib.sha256(text.encode())
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
