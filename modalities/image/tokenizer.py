"""Image <-> a grid of VQ codes, through a VQ-GAN fitted by ``uio fit-tokenizer``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from uio.modalities.image.config import ImageConfig
from uio.modalities.image.fit import train_vqgan
from uio.modalities.image.pixels import to_pil, to_tensor, to_uint8
from uio.modalities.image.value import is_history, load_image
from uio.plugins import ProcessContext
from uio.plugins.blocks import tokenizer_state
from uio.plugins.blocks.vqgan import VQGAN
from uio.plugins.blocks.weights import load_saved_state

NOT_FITTED = (
    "image tokenizer is not fitted; run `uio fit-tokenizer CONFIG` (or `uio train`, which fits "
    "missing tokenizers), or set image.tokenizer_weights to a saved tokenizer state"
)
STATE_FORMAT = "uio.image.vqgan"
STATE_VERSION = 1
#: Seed of the VQ-GAN's initial weights, so a fresh tokenizer is the same every time.
INIT_SEED = 0
#: The config fields the weights' shapes and the id grid depend on.
SHAPE_FIELDS = ("codebook_size", "target_size", "vq_num_down", "vq_base_channels", "vq_latent_dim")


class ImageTokenizer:
    """A ``target_size`` image <-> ``grid * grid`` local ids (VQ codes, row-major).

    Wraps :class:`uio.plugins.blocks.vqgan.VQGAN`. The model stays in eval mode
    except while :meth:`fit` trains it. With ``image.tokenizer_weights`` set, the
    saved state is loaded when the tokenizer is built.
    """

    #: Decoding the codes of a picture gives back an approximation (the contract check knows).
    lossy = True

    def __init__(self, config: ImageConfig) -> None:
        self.config = config
        self.vocab_size: int = config.codebook_size
        self.grid: int = config.grid
        self.model = self._fresh_model()
        self._fitted = False
        self._fingerprint: str | None = None
        if config.tokenizer_weights is not None:
            load_saved_state(self, config.tokenizer_weights, "image.tokenizer_weights")

    def _fresh_model(self) -> VQGAN:
        c = self.config
        return tokenizer_state.seeded_module(INIT_SEED, lambda: VQGAN(
            base_channels=c.vq_base_channels,
            num_down=c.vq_num_down,
            latent_dim=c.vq_latent_dim,
            codebook_size=c.codebook_size,
        ))

    def _shape(self) -> dict[str, int]:
        return {name: int(getattr(self.config, name)) for name in SHAPE_FIELDS}

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load_state_dict` (of a fitted state) has run."""
        return self._fitted

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(NOT_FITTED)

    # ------------------------------------------------------------------ codes

    def encode_arrays(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        """Codes ``[B, grid * grid]`` (row-major) of RGB ``uint8`` arrays ``[target_size]^2 x 3``."""
        self._require_fitted()
        device = next(self.model.parameters()).device
        codes = self.model.encode(to_tensor(arrays).to(device))
        return codes.reshape(codes.shape[0], -1).cpu()

    def decode_codes(self, codes: torch.Tensor) -> np.ndarray:
        """RGB ``uint8`` arrays ``[B, S, S, 3]`` of code grids ``[B, grid, grid]``."""
        self._require_fitted()
        device = next(self.model.parameters()).device
        return to_uint8(self.model.decode(codes.to(device)))

    # ------------------------------------------------------------------ Tokenizer protocol

    def encode(self, value: Any) -> list[int]:
        """Local ids of one image value (anything :func:`~.value.load_image` reads), resized
        to ``target_size``: ``grid * grid`` codes, row-major."""
        array = load_image(value, ProcessContext(), side=self.config.target_size, role="target")
        return self.encode_arrays([array])[0].tolist()

    def decode(self, ids: Sequence[int]) -> Image.Image:
        """The ``target_size`` RGB image of local ids.

        The image needs exactly ``grid * grid`` codes: fewer are padded with code 0,
        more are cut off (generation makes exactly that many, so this only affects
        hand-made id lists). An id outside ``[0, vocab_size)`` becomes code 0 rather
        than being dropped, which would shift every later code in the grid.
        """
        n = self.grid * self.grid
        kept = [int(i) if 0 <= int(i) < self.vocab_size else 0 for i in list(ids)[:n]]
        kept += [0] * (n - len(kept))
        codes = torch.tensor(kept, dtype=torch.long).view(1, self.grid, self.grid)
        return to_pil(self.decode_codes(codes)[0])

    def state_dict(self) -> dict[str, Any]:
        """The VQ-GAN's tensors with the sizes they were built for (plain containers only)."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "shape": self._shape(),
            "fitted": self._fitted,
            "weights": tokenizer_state.module_weights(self.model),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; a state saved for other sizes is a clear error."""
        tokenizer_state.require_format(state, STATE_FORMAT, "image tokenizer", "ImageTokenizer")
        saved, mine = state.get("shape", {}), self._shape()
        differ = tokenizer_state.differing_sizes(saved, mine)
        if differ:
            raise ValueError(
                "the image tokenizer state was saved for other sizes: "
                f"{tokenizer_state.describe_differences(saved, mine, differ)}; "
                f"fix: set {', '.join(f'image.{k}={saved.get(k)}' for k in differ)} to match it, or fit a new tokenizer"
            )
        tokenizer_state.load_module_weights(self.model, state, "image tokenizer")
        self._fitted = bool(state.get("fitted", True))
        self._fingerprint = None

    def fingerprint(self) -> str:
        """A short hash of the sizes and every weight (what the ids depend on)."""
        if self._fingerprint is None:
            self._fingerprint = tokenizer_state.fingerprint(self._shape(), self.model)
        return self._fingerprint

    # ------------------------------------------------------------------ fitting

    def fit(self, values: Sequence[Any], out_dir: Path) -> dict[str, float]:
        """Train a fresh VQ-GAN on image values (histories count frame by frame).

        Values are what the processor's ``fit_value`` made (``uint8`` arrays at
        ``target_size``) or any raw image values (relative paths then resolve
        against the working directory). Writes ``out_dir/reconstructions.png``.

        Returns:
            ``{"heldout_psnr": dB, "codebook_usage": share of codes used on the
            held-out images, "steps": training steps}``.
        """
        arrays = []
        for i, value in enumerate(values):
            frames = value if is_history(value) else [value]
            for frame in frames:
                ctx = ProcessContext(example_id=f"fit value #{i}")
                arrays.append(load_image(frame, ctx, side=self.config.target_size, role="target"))
        self.model = self._fresh_model()
        self._fitted = False  # until training finishes
        self._fingerprint = None
        figures = train_vqgan(self.model, to_tensor(arrays), self.config, Path(out_dir))
        self._fitted = True
        return figures
