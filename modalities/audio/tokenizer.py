"""Audio clip <-> local ids, through one of two codecs fitted by ``uio fit-tokenizer``.

- ``spectrogram_vq`` (UIO2's way, arXiv 2312.17172 sec. 3.1): a VQ-GAN over the
  clip's normalised log-mel grid (:mod:`~uio.modalities.audio.spectrogram`); the
  ids are its code grid, mel-band rows by time columns, flattened row-major
  (as image codes). Decoding goes back through Griffin-Lim.
- ``encodec``: EnCodec's residual VQ over the waveform
  (:class:`~uio.modalities.audio.encodec_tokenizer.EncodecTokenizer`).

Either way :meth:`AudioTokenizer.decode` returns the raw audio value
``{"waveform": float32 [segment_samples], "sample_rate": int}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from uio.modalities.audio.config import AudioConfig
from uio.modalities.audio.encodec_tokenizer import EncodecTokenizer
from uio.modalities.audio.fit import train_spectrogram_vq
from uio.modalities.audio.spectrogram import grid_waveform, spectrogram_grid
from uio.modalities.audio.value import load_audio
from uio.plugins import ProcessContext
from uio.plugins.blocks import tokenizer_state
from uio.plugins.blocks.vqgan import VQGAN
from uio.plugins.blocks.weights import load_saved_state

NOT_FITTED = (
    "audio tokenizer is not fitted; run `uio fit-tokenizer CONFIG` (or `uio train`, which fits "
    "missing tokenizers), or set audio.tokenizer_weights to a saved tokenizer state"
)
STATE_FORMAT = "uio.audio.tokenizer"
STATE_VERSION = 1
#: Seed of the VQ-GAN's initial weights, so a fresh tokenizer is the same every time.
INIT_SEED = 0
#: The config fields the spectrogram VQ's weights and ids depend on.
SHAPE_FIELDS = (
    "sample_rate", "n_fft", "hop_length", "n_mels", "segment_samples", "frames",
    "codebook_size", "vq_num_down", "vq_base_channels", "vq_latent_dim",
)


class AudioTokenizer:
    """A ``segment_samples`` clip <-> ``output_length`` local ids.

    ``vocab_size`` is the codec's id range (:attr:`AudioConfig.vocab_size`). With
    ``audio.tokenizer_weights`` set, the saved state is loaded when the tokenizer
    is built. The spectrogram VQ-GAN stays in eval mode except while :meth:`fit`
    trains it.
    """

    #: Decoding gives back an approximation (the contract check knows).
    lossy = True

    def __init__(self, config: AudioConfig) -> None:
        self.config = config
        self.codec = config.codec
        self.vocab_size: int = config.vocab_size
        self.model: VQGAN | None = None
        self.encodec: EncodecTokenizer | None = None
        if self.codec == "encodec":
            self.encodec = EncodecTokenizer(config.encodec, config.sample_rate, config.segment_samples)
            self.output_length: int = int(self.encodec.output_length)
        else:
            self.model = self._fresh_model()
            rows, cols = config.code_grid
            self.output_length = rows * cols
        self._fitted = False
        self._fingerprint: str | None = None
        if config.tokenizer_weights is not None:
            load_saved_state(self, config.tokenizer_weights, "audio.tokenizer_weights")

    def _fresh_model(self) -> VQGAN:
        c = self.config
        return tokenizer_state.seeded_module(INIT_SEED, lambda: VQGAN(
            in_channels=1,
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
        if self.encodec is not None:
            return self.encodec.is_fitted
        return self._fitted

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(NOT_FITTED)

    # ------------------------------------------------------------------ codes

    def encode_waveforms(self, waveforms: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Local ids ``[B, output_length]`` of float32 clips ``[B, segment_samples]``."""
        self._require_fitted()
        clips = torch.as_tensor(np.asarray(waveforms, dtype=np.float32))
        if clips.dim() != 2 or clips.shape[1] != self.config.segment_samples:
            raise ValueError(
                f"audio clips of shape {tuple(clips.shape)}; expected [batch, {self.config.segment_samples}]"
            )
        if self.encodec is not None:
            return torch.tensor([self.encodec.encode(clip.numpy()) for clip in clips], dtype=torch.long)
        device = next(self.model.parameters()).device
        codes = self.model.encode(spectrogram_grid(clips.to(device), self.config))
        return codes.reshape(codes.shape[0], -1).cpu()

    def decode_ids(self, ids: torch.Tensor) -> np.ndarray:
        """Float32 clips ``[B, segment_samples]`` of local ids ``[B, output_length]`` (in range)."""
        self._require_fitted()
        if self.encodec is not None:
            return np.stack([np.asarray(self.encodec.decode(row.tolist()), dtype=np.float32) for row in ids])
        rows, cols = self.config.code_grid
        device = next(self.model.parameters()).device
        grids = self.model.decode(ids.reshape(-1, rows, cols).to(device)).float().cpu()
        return grid_waveform(grids, self.config).numpy().astype(np.float32)

    # ------------------------------------------------------------------ Tokenizer protocol

    def encode(self, value: Any) -> list[int]:
        """Local ids of one audio value (anything :func:`~.value.load_audio` reads)."""
        clip = load_audio(value, ProcessContext(), self.config, role="value")
        return self.encode_waveforms(clip[None])[0].tolist()

    def decode(self, ids: Sequence[int]) -> dict[str, Any]:
        """The clip of local ids: ``{"waveform": float32 [segment_samples], "sample_rate": int}``.

        A clip needs exactly ``output_length`` ids: fewer are padded with id 0,
        more are cut off (generation makes exactly that many, so this only affects
        hand-made id lists). An id outside ``[0, vocab_size)`` becomes 0 rather
        than being dropped, which would shift every later code.
        """
        n = self.output_length
        kept = [int(i) if 0 <= int(i) < self.vocab_size else 0 for i in list(ids)[:n]]
        kept += [0] * (n - len(kept))
        waveform = self.decode_ids(torch.tensor([kept], dtype=torch.long))[0]
        return {"waveform": waveform, "sample_rate": self.config.sample_rate}

    def state_dict(self) -> dict[str, Any]:
        """The codec's tensors with the sizes they were built for (plain containers only)."""
        state: dict[str, Any] = {"format": STATE_FORMAT, "version": STATE_VERSION, "codec": self.codec}
        if self.encodec is not None:
            return {**state, "encodec": self.encodec.state_dict()}
        return {
            **state,
            "shape": self._shape(),
            "fitted": self._fitted,
            "weights": tokenizer_state.module_weights(self.model),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; a state of another codec or size is a clear error."""
        tokenizer_state.require_format(state, STATE_FORMAT, "audio tokenizer", "AudioTokenizer")
        if state.get("codec") != self.codec:
            raise ValueError(
                f"the audio tokenizer state is of codec {state.get('codec')!r} but audio.codec is "
                f"{self.codec!r}; fix: set audio.codec={state.get('codec')}, or fit a new tokenizer"
            )
        self._fingerprint = None
        if self.encodec is not None:
            self.encodec.load_state_dict(state["encodec"])
            return
        saved, mine = state.get("shape", {}), self._shape()
        differ = tokenizer_state.differing_sizes(saved, mine)
        if differ:
            raise ValueError(
                "the audio tokenizer state was saved for other sizes: "
                f"{tokenizer_state.describe_differences(saved, mine, differ)}; "
                f"fix: set {', '.join(f'audio.{k}={saved.get(k)}' for k in differ)} to match it "
                f"(segment_samples = segment_seconds * sample_rate), or fit a new tokenizer"
            )
        tokenizer_state.load_module_weights(self.model, state, "audio tokenizer")
        self._fitted = bool(state.get("fitted", True))

    def fingerprint(self) -> str:
        """A short hash of the codec, the sizes and every weight (what the ids depend on)."""
        if self._fingerprint is None:
            head = f"{STATE_FORMAT}:{self.codec}"
            if self.encodec is not None:
                digest = hashlib.sha256((head + self.encodec.fingerprint()).encode())
                self._fingerprint = digest.hexdigest()[:16]
            else:
                sizes = json.dumps(self._shape(), sort_keys=True)
                self._fingerprint = tokenizer_state.fingerprint(head + sizes, self.model)
        return self._fingerprint

    # ------------------------------------------------------------------ fitting

    def fit(self, values: Sequence[Any], out_dir: Path) -> dict[str, float]:
        """Train the codec afresh on audio values.

        Values are what the processor's ``fit_value`` made (``{"waveform",
        "sample_rate"}`` dicts at the configured rate and length) or any raw audio
        values (relative paths then resolve against the working directory). A tenth
        of the clips (at least one) is held out.

        Returns:
            Held-out ``log_mel_l1`` and ``spectral_snr_db`` (the clip through the
            codec and, for the spectrogram VQ, Griffin-Lim), ``codebook_usage`` and
            ``steps``, plus what the codec adds (see
            :func:`~uio.modalities.audio.fit.train_spectrogram_vq`).
        """
        clips = np.zeros((len(values), self.config.segment_samples), np.float32)
        for i, value in enumerate(values):
            clips[i] = load_audio(value, ProcessContext(example_id=f"fit value #{i}"), self.config, role="target")
        self._fingerprint = None
        if self.encodec is not None:
            return dict(self.encodec.fit(list(clips), Path(out_dir)))
        self.model = self._fresh_model()
        self._fitted = False  # until training finishes
        figures = train_spectrogram_vq(self.model, torch.from_numpy(clips), self.config, Path(out_dir))
        self._fitted = True
        return figures
