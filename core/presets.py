"""Named model sizes, in a registry like timm's ``@register_model``.

A run config says ``model: {preset: NAME}``; the preset fills every model field
the config does not set itself (explicit fields win). Presets are plain dicts of
:class:`uio.core.config.ModelConfig` fields; the config loader validates them.
"""

from __future__ import annotations

import copy
import difflib
import warnings
from typing import Any

_PRESETS: dict[str, dict[str, Any]] = {}


def register_preset(name: str, **fields: Any) -> None:
    """Register (or replace, with a warning) the model preset ``name``."""
    if name in _PRESETS:
        warnings.warn(f"model preset {name!r} is overwritten", UserWarning, stacklevel=2)
    _PRESETS[name] = copy.deepcopy(fields)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of the fields of one preset; ``KeyError`` with a suggestion if unknown."""
    if name not in _PRESETS:
        close = difflib.get_close_matches(name, list(_PRESETS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown model preset {name!r}{hint} (known: {', '.join(list_presets())})")
    return copy.deepcopy(_PRESETS[name])


def list_presets() -> list[str]:
    """Names of every registered preset, in registration order."""
    return list(_PRESETS)


# Every built-in preset uses UIO2's layer recipe, so a preset alone fixes the
# architecture even if the defaults of ModelConfig change.
_RECIPE: dict[str, Any] = {
    "attention": "qk_norm",
    "mlp": "swiglu",
    "rotary": True,
    "z_loss": 1e-4,
}

# Small sizes for experiments on one machine.
register_preset(
    "tiny", d_model=128, n_heads=4, encoder_layers=3, decoder_layers=3, mlp_dim=512, **_RECIPE
)
register_preset(
    "small", d_model=256, n_heads=4, encoder_layers=4, decoder_layers=4, mlp_dim=1024, **_RECIPE
)
register_preset(
    "base", d_model=512, n_heads=8, encoder_layers=6, decoder_layers=6, mlp_dim=2048, **_RECIPE
)

# Unified-IO 2 (Lu et al., arXiv 2312.17172), Table 1 and appendix: encoder-decoder,
# pre-norm RMSNorm, SwiGLU, rotary, 2D rotary for grids, QK-norm, z-loss 1e-4.
# Large ~1.1B, XL ~3.2B, XXL ~6.8B parameters with their tokenizers and encoders.
register_preset(
    "uio2-large",
    d_model=1024,
    n_heads=16,
    head_dim=64,
    encoder_layers=24,
    decoder_layers=24,
    mlp_dim=2816,
    **_RECIPE,
)
register_preset(
    "uio2-xl",
    d_model=2048,
    n_heads=16,
    head_dim=128,
    encoder_layers=24,
    decoder_layers=24,
    mlp_dim=5120,
    **_RECIPE,
)
register_preset(
    "uio2-xxl",
    d_model=3072,
    n_heads=24,
    head_dim=128,
    encoder_layers=24,
    decoder_layers=24,
    mlp_dim=8192,
    **_RECIPE,
)
