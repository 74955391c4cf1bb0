"""``train.compile``: compile the transformer layers, or say why this machine cannot."""

from __future__ import annotations

import torch

from uio.core.transformer import UIOTransformer


def compile_problem() -> str | None:
    """Why ``torch.compile`` cannot run here, or None when it can.

    Inductor on CPU needs a working C++ compiler and fails only at the first call,
    deep inside a training step; compiling and running a one-line function first
    turns that into a clear choice before training starts.
    """
    try:
        torch.compile(_probe)(torch.ones(4))
    except Exception as exc:  # any backend failure means "train eager"
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first_line}"[:300]
    return None


def _probe(x: torch.Tensor) -> torch.Tensor:
    return x * 2 + 1


def compile_layers(model: UIOTransformer) -> str | None:
    """``torch.compile`` every encoder and decoder layer in place; return None, or why not.

    Per layer, as torchtitan compiles per transformer block: the layers share one
    compiled graph, and the input encoders (whose payload lists change from batch
    to batch and would force recompiles) and the chunked loss stay eager.
    ``Module.compile`` keeps parameter names, so checkpoints are unchanged. When
    :func:`compile_problem` finds that compiling cannot work here, the model is left
    eager and the reason is returned for the caller to show.
    """
    problem = compile_problem()
    if problem is not None:
        return problem
    for layer in (*model.encoder_layers, *model.decoder_layers):
        layer.compile()
    return None
