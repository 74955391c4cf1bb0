"""EnCodec as the audio modality's second codec: waveform segments <-> residual VQ codes.

The model is built from the ``encodec`` package's own classes (``EncodecModel``,
``SEANetEncoder`` / ``SEANetDecoder``, ``ResidualVectorQuantizer``; Défossez et al.
2022, arXiv 2210.13438), CPU-sized by default: 8 base filters, 32-dimensional
latents, ratios ``[8, 8, 4]`` (hop 256), 2 codebooks of 256 codes. No weights are
downloaded: :meth:`EncodecTokenizer.fit` trains the model here (``uio
fit-tokenizer``), or ``audio.encodec.weights`` names a local state dict.

Ids. A segment of ``S`` samples gives ``frames = ceil(S / hop)`` frames (EnCodec's
convolutions pad the end so the last window is full) and ``num_codebooks`` codes per
frame, one per residual level. Codebook ``q``'s code ``c`` is local id
``q * codebook_size + c``, laid out frame-major::

    [f0 q0, f0 q1, ..., f0 q(K-1), f1 q0, f1 q1, ..., f(T-1) q(K-1)]

so ``output_length = frames * num_codebooks`` and ``vocab_size = num_codebooks *
codebook_size``. At the cpu preset (8 kHz, 8,192 samples) that is 32 frames x 2
codebooks = 64 ids out of 512. Decoding reads the code at a position of level ``q``
as ``id % codebook_size`` whatever level the id names, so a generated sequence that
puts another level's id there still decodes (to that code of level ``q``).

Bandwidth. EnCodec picks how many residual levels to use from a target bandwidth:
``n_q = floor(bandwidth / (log2(bins) * frame_rate / 1000))``, with ``frame_rate =
ceil(sample_rate / hop)``. The model's ``target_bandwidths`` are ``k`` levels'
worth for ``k = 1 .. quantizer_layers``, and the one set is ``num_codebooks``'
(0.512 kb/s at the cpu preset). EnCodec's per-clip volume normalisation
(``normalize``) is off: its scale would need ids of its own.

Training (:meth:`EncodecTokenizer.fit`) departs from encodec 0.1.1 in two places, each
explained where it is made: dead codes are really restarted (:class:`RevivingCodebook`),
and fresh convolutions get unit-norm filters. Held-out figures use
:func:`figure_mel_settings` (n_fft 256, hop 128, 32 mels at 8 kHz).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from encodec.model import EncodecModel
from encodec.modules import SEANetDecoder, SEANetEncoder
from encodec.quantization import ResidualVectorQuantizer
from encodec.quantization.core_vq import EuclideanCodebook
from pydantic import BaseModel, ConfigDict, Field, model_validator

from uio.modalities.audio.encodec_fit import octaves_above_8k, train_encodec
from uio.modalities.audio.features import MelSettings, reconstruction_figures
from uio.plugins.blocks import tokenizer_state
from uio.plugins.blocks.vqgan_fit import fit_device, split_heldout
from uio.plugins.blocks.weights import load_state_file, resolve_weights, state_mismatch

NOT_FITTED = (
    "the EnCodec audio tokenizer is not fitted; run `uio fit-tokenizer CONFIG` (or `uio train`, "
    "which fits missing tokenizers), or set audio.encodec.weights to a saved EnCodec state dict"
)
STATE_FORMAT = "uio.audio.encodec"
STATE_VERSION = 1
#: Seed of the initial weights, so a fresh tokenizer is the same every time.
INIT_SEED = 0
#: Seed of the held-out split and the training crops.
FIT_SEED = 0
FIGURES_FILE = "encodec_fit.json"
#: The settings the weights' shapes and the id layout depend on.
ARCH_FIELDS = (
    "num_codebooks", "quantizer_layers", "codebook_size", "ratios", "n_filters", "dimension",
    "n_residual_layers", "lstm", "causal", "norm",
)
#: A code is dead when its moving average use falls below this share of an even split of
#: one step's latent frames over the codebook; it is then restarted from a batch frame.
DEAD_CODE_SHARE = 0.1
#: Figures' spectrogram at 8 kHz (32 ms window, half overlap, 32 mel bins), doubled with the rate.
FIGURE_N_FFT_8K = 256


class EncodecSettings(BaseModel):
    """``modalities.audio.encodec`` section: the EnCodec model built with the ``encodec`` package."""

    model_config = ConfigDict(extra="forbid")

    weights: str | None = Field(None, description="a local EnCodec state dict to load instead of fitting")
    num_codebooks: int = Field(2, ge=1)
    codebook_size: int = Field(256, ge=2)
    ratios: list[int] = Field(default_factory=lambda: [8, 8, 4])
    n_filters: int = Field(8, ge=1)
    dimension: int = Field(32, ge=1)
    fit_steps: int = Field(1500, ge=1)
    fit_batch: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    quantizer_layers: int | None = Field(
        None, ge=1,
        description="residual VQ layers in the model (EnCodec's n_q; 32 in the published 24 kHz "
        "model); the target bandwidth uses the first num_codebooks. None: num_codebooks.",
    )
    n_residual_layers: int = Field(1, ge=1, description="SEANet residual blocks per scale")
    lstm: int = Field(2, ge=0, description="LSTM layers at the SEANet bottleneck")
    causal: bool = Field(False, description="causal convolutions (the published 24 kHz model's)")
    norm: Literal["weight_norm", "time_group_norm"] = "weight_norm"
    fit_crop: float = Field(0.5, gt=0, le=1, description="share of a segment each training crop takes")
    fit_device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when available")

    @model_validator(mode="after")
    def _consistent(self) -> EncodecSettings:
        errors = []
        if self.codebook_size & (self.codebook_size - 1):
            errors.append(f"codebook_size={self.codebook_size} is not a power of 2 (EnCodec needs whole bits)")
        if not self.ratios or min(self.ratios) < 1:
            errors.append(f"ratios={self.ratios} must be a non-empty list of positive strides")
        if self.quantizer_layers is not None and self.quantizer_layers < self.num_codebooks:
            errors.append(f"quantizer_layers={self.quantizer_layers} is below num_codebooks={self.num_codebooks}")
        if self.causal and self.norm == "time_group_norm":
            errors.append("norm=time_group_norm does not support causal=true")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def layers(self) -> int:
        """Residual VQ layers in the model."""
        return self.quantizer_layers or self.num_codebooks

    @property
    def hop_length(self) -> int:
        """Samples per latent frame (the product of the ratios)."""
        return math.prod(self.ratios)


def figure_mel_settings(sample_rate: int) -> MelSettings:
    """The spectrogram the held-out figures are computed on: n_fft 256, hop 128, 32 mels at
    8 kHz (32 ms windows, half overlap), all doubled per octave of sample rate."""
    n_fft = FIGURE_N_FFT_8K * 2 ** octaves_above_8k(sample_rate)
    return MelSettings(sample_rate, n_fft, n_fft // 2, n_fft // 8)


class RevivingCodebook(EuclideanCodebook):
    """EnCodec's EMA codebook whose dead-code expiry takes effect.

    encodec 0.1.1's ``replace_`` rewrites only ``embed``, which the EMA step right
    after recomputes as ``embed_avg / cluster_size``, so expired codes were never
    replaced. Restarting their moving averages at the new vector makes it stick.
    """

    def replace_(self, samples: torch.Tensor, mask: torch.Tensor) -> None:
        super().replace_(samples, mask)
        self.cluster_size.data[mask] = self.threshold_ema_dead_code
        self.embed_avg.data[mask] = self.embed.data[mask] * self.threshold_ema_dead_code


def build_encodec(settings: EncodecSettings, sample_rate: int, dead_code_threshold: float = 0.0) -> EncodecModel:
    """A fresh EnCodec model for ``settings`` (weights drawn from the torch RNG), in eval mode,
    with its target bandwidth set so the quantizer uses exactly ``num_codebooks`` levels."""
    s = settings
    seanet = dict(
        channels=1, dimension=s.dimension, n_filters=s.n_filters, n_residual_layers=s.n_residual_layers,
        ratios=list(s.ratios), norm=s.norm, causal=s.causal, lstm=s.lstm,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*deprecated", category=FutureWarning)
        encoder, decoder = SEANetEncoder(**seanet), SEANetDecoder(**seanet)
    quantizer = ResidualVectorQuantizer(
        dimension=s.dimension, n_q=s.layers, bins=s.codebook_size, threshold_ema_dead_code=dead_code_threshold,  # type: ignore[arg-type]
    )
    for layer in quantizer.vq.layers:
        old = layer._codebook
        layer._codebook = RevivingCodebook(
            dim=s.dimension, codebook_size=s.codebook_size, kmeans_init=True, kmeans_iters=old.kmeans_iters,
            decay=old.decay, epsilon=old.epsilon, threshold_ema_dead_code=dead_code_threshold,  # type: ignore[arg-type]
        )
    frame_rate = math.ceil(sample_rate / s.hop_length)
    per_level = quantizer.get_bandwidth_per_quantizer(frame_rate)
    bandwidths = [_bandwidth_for(quantizer, frame_rate, k * per_level, k) for k in range(1, s.layers + 1)]
    model = EncodecModel(encoder, decoder, quantizer, bandwidths, sample_rate, channels=1, normalize=False)
    model.set_target_bandwidth(bandwidths[s.num_codebooks - 1])
    for module in model.modules():
        if hasattr(module, "weight_g"):
            # Unit-norm filters keep the signal's variance through the layers; torch's default
            # init (filter norm ~0.58) shrank it some 60x through the encoder, so a fresh
            # decoder saw nearly the same latents for every clip and learned their average.
            module.weight_g.data.fill_(1.0)
    return model.eval()


def _bandwidth_for(quantizer: ResidualVectorQuantizer, frame_rate: int, bandwidth: float, levels: int) -> float:
    # EnCodec floors bandwidth / per-level bandwidth: nudge up past a rounding error below `levels`.
    while quantizer.get_num_quantizers_for_bandwidth(frame_rate, bandwidth) < levels:
        bandwidth = math.nextafter(bandwidth, math.inf)
    return bandwidth


class EncodecTokenizer:
    """Mono waveforms of ``segment_samples`` at ``sample_rate`` <-> local ids.

    ``vocab_size = num_codebooks * codebook_size``; codebook ``q``'s code ``c`` is
    local id ``q * codebook_size + c``; ids are laid out frame-major
    (frame 0: q0 q1 ..., frame 1: q0 q1 ...); ``output_length = frames * num_codebooks``
    with ``frames = ceil(segment_samples / hop_length)``. The model stays in eval mode
    on the CPU except while :meth:`fit` trains it. With ``settings.weights`` set, the
    file is loaded when the tokenizer is built.
    """

    #: Decoding a segment's codes gives back an approximation (the contract check knows).
    lossy = True

    def __init__(
        self, settings: EncodecSettings, sample_rate: int, segment_samples: int, *, figure_mel: MelSettings | None = None
    ) -> None:
        """``figure_mel``: the spectrogram of :meth:`fit`'s held-out figures (default
        :func:`figure_mel_settings`); pass the other codec's to compare the two."""
        if sample_rate < 1 or segment_samples < 1:
            raise ValueError(f"sample_rate={sample_rate} and segment_samples={segment_samples} must be positive")
        self.settings = settings
        self.sample_rate = int(sample_rate)
        self.segment_samples = int(segment_samples)
        self.figure_mel = figure_mel or figure_mel_settings(self.sample_rate)
        self.num_codebooks = settings.num_codebooks
        self.codebook_size = settings.codebook_size
        self.hop_length = settings.hop_length
        self.frames = math.ceil(self.segment_samples / self.hop_length)
        self.vocab_size: int = self.num_codebooks * self.codebook_size
        self.output_length: int = self.frames * self.num_codebooks
        self.crop_samples = max(1, round(settings.fit_crop * self.segment_samples))
        crop_vectors = settings.fit_batch * math.ceil(self.crop_samples / self.hop_length)
        self.dead_code_threshold = DEAD_CODE_SHARE * crop_vectors / self.codebook_size
        self.model = self._fresh_model()
        self._fitted = False
        self._fingerprint: str | None = None
        if settings.weights is not None:
            self._load_weights_file(settings.weights)

    def _fresh_model(self) -> EncodecModel:
        return tokenizer_state.seeded_module(
            INIT_SEED, lambda: build_encodec(self.settings, self.sample_rate, self.dead_code_threshold)
        )

    def _shape(self) -> dict[str, Any]:
        shape = {name: getattr(self.settings, name) for name in ARCH_FIELDS}
        shape["quantizer_layers"] = self.settings.layers
        shape["sample_rate"] = self.sample_rate
        return shape

    def _describe(self) -> str:
        s = self.settings
        return (
            f"n_filters {s.n_filters}, dimension {s.dimension}, ratios {s.ratios}, {s.layers} RVQ "
            f"layers of {s.codebook_size} codes, lstm {s.lstm}, causal {s.causal}, norm {s.norm}"
        )

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit`, a weights file or :meth:`load_state_dict` (of a fitted state) has run."""
        return self._fitted

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise RuntimeError(NOT_FITTED)

    # ------------------------------------------------------------------ ids

    def codes_to_ids(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, num_codebooks, frames]`` -> local ids ``[B, output_length]`` (frame-major)."""
        offsets = torch.arange(self.num_codebooks, device=codes.device).view(1, -1, 1) * self.codebook_size
        return (codes.long() + offsets).transpose(1, 2).reshape(codes.shape[0], -1)

    def ids_to_codes(self, ids: Sequence[int]) -> torch.Tensor:
        """Local ids of one segment -> codes ``[num_codebooks, frames]``.

        Raises:
            ValueError: not exactly ``output_length`` ids, or an id outside ``[0, vocab_size)``.
        """
        if isinstance(ids, torch.Tensor):
            flat = ids.detach().cpu().long().reshape(-1)
        else:
            flat = torch.as_tensor(np.asarray(list(ids), dtype=np.int64)).reshape(-1)
        if flat.numel() != self.output_length:
            raise ValueError(
                f"EnCodec audio ids: got {flat.numel()} ids, expected exactly {self.output_length} "
                f"({self.frames} frames x {self.num_codebooks} codebooks)"
            )
        bad = ((flat < 0) | (flat >= self.vocab_size)).nonzero()
        if bad.numel():
            at = int(bad[0])
            raise ValueError(
                f"EnCodec audio ids: id {int(flat[at])} at position {at} is outside [0, {self.vocab_size})"
            )
        return (flat % self.codebook_size).view(self.frames, self.num_codebooks).t()

    # ------------------------------------------------------------------ Tokenizer protocol

    def encode(self, waveform: np.ndarray) -> list[int]:
        """Local ids (``output_length`` of them, frame-major) of a ``[segment_samples]`` waveform
        (a bare array or a ``{"waveform", "sample_rate"}`` dict)."""
        return self.encode_batch(self._waveform(waveform, "the waveform")[None])[0].tolist()

    def encode_batch(self, waveforms: np.ndarray) -> torch.Tensor:
        """Local ids ``[B, output_length]`` of float waveforms ``[B, segment_samples]``."""
        self._require_fitted()
        x = torch.as_tensor(np.asarray(waveforms, dtype=np.float32))
        if x.dim() != 2 or x.shape[1] != self.segment_samples:
            raise ValueError(f"expected waveforms [B, {self.segment_samples}], got {tuple(x.shape)}")
        return self.codes_to_ids(_encode_codes(self.model, x)).cpu()

    def decode(self, ids: Sequence[int]) -> np.ndarray:
        """The ``[segment_samples]`` float32 waveform of exactly ``output_length`` local ids.

        The code at a position of level ``q`` is ``id % codebook_size`` (see the module
        docstring). Raises ``ValueError`` for another number of ids or an id outside the vocabulary.
        """
        codes = self.ids_to_codes(ids)
        self._require_fitted()
        return self.decode_codes(codes[None])[0]

    def decode_codes(self, codes: torch.Tensor) -> np.ndarray:
        """Float32 waveforms ``[B, segment_samples]`` of codes ``[B, num_codebooks, frames]``."""
        self._require_fitted()
        device = next(self.model.parameters()).device
        with torch.no_grad():
            out = self.model.decode([(codes.to(device), None)])
        return out[:, 0, : self.segment_samples].float().cpu().numpy()

    def state_dict(self) -> dict[str, Any]:
        """The model's tensors with the settings they were built for (plain containers only)."""
        return {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "sample_rate": self.sample_rate,
            "segment_samples": self.segment_samples,
            "fitted": self._fitted,
            "weights": tokenizer_state.module_weights(self.model),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; a state saved for another architecture or sample
        rate is refused, naming each differing setting."""
        tokenizer_state.require_format(state, STATE_FORMAT, "EnCodec audio tokenizer", "EncodecTokenizer")
        saved_settings = EncodecSettings.model_validate(state.get("settings", {}))
        saved = {name: getattr(saved_settings, name) for name in ARCH_FIELDS}
        saved["quantizer_layers"] = saved_settings.layers
        saved["sample_rate"] = state.get("sample_rate")
        mine = self._shape()
        differ = tokenizer_state.differing_sizes(saved, mine)
        if differ:
            raise ValueError(
                f"the EnCodec audio tokenizer state was saved for other settings: "
                f"{tokenizer_state.describe_differences(saved, mine, differ)}; "
                f"set audio.encodec (and the sample rate) to match it, or fit a new tokenizer"
            )
        tokenizer_state.load_module_weights(self.model, state, "EnCodec")
        self._fitted = bool(state.get("fitted", True))
        self._fingerprint = None

    def _load_weights_file(self, spec: str) -> None:
        """Load ``spec`` (a path or ``pkg://package/file``): this tokenizer's own state, or a plain
        ``EncodecModel`` state dict, as encodec's published checkpoints are, loaded strictly."""
        path = resolve_weights(spec)
        state = load_state_file(path)
        where = f"audio.encodec.weights={spec!r} ({path})"
        if state.get("format") == STATE_FORMAT:
            try:
                self.load_state_dict(state)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            return
        mismatch = state_mismatch(self.model.state_dict(), state)
        if mismatch:
            raise ValueError(f"{where} does not fit the configured EnCodec ({self._describe()}): {mismatch}")
        self.model.load_state_dict(state, strict=True)
        self.model.cpu().eval()
        self._fitted = True
        self._fingerprint = None

    def fingerprint(self) -> str:
        """A short hash of the settings the ids depend on and every weight."""
        if self._fingerprint is None:
            head = {**self._shape(), "segment_samples": self.segment_samples}
            self._fingerprint = tokenizer_state.fingerprint(head, self.model)
        return self._fingerprint

    # ------------------------------------------------------------------ fitting

    def _waveform(self, value: Any, name: str) -> np.ndarray:
        if isinstance(value, dict):
            rate = value.get("sample_rate", self.sample_rate)
            if int(rate) != self.sample_rate:
                raise ValueError(f"{name} has sample rate {rate}; the EnCodec tokenizer expects {self.sample_rate}")
            value = value.get("waveform")
        array = np.asarray(value, dtype=np.float32)
        if array.ndim == 2 and array.shape[0] == 1:
            array = array[0]
        if array.shape != (self.segment_samples,):
            raise ValueError(f"{name} has shape {array.shape}; expected a mono waveform of {self.segment_samples} samples")
        return array

    def fit(self, waveforms: Sequence[Any], out_dir: Path) -> dict[str, float]:
        """Train a fresh model on ``[segment_samples]`` waveforms (bare arrays or
        ``{"waveform", "sample_rate"}`` dicts); a tenth (at least one) is held out.

        Loss: waveform L1 (weight 0.1) + multi-scale log-mel L1 (:class:`~uio.modalities.audio.encodec_fit.MultiScaleMelLoss`;
        the paper's mel term is L1 + L2 on linear mels) + the quantizer's commitment loss,
        no adversary; AdamW on ``fit_steps`` batches of ``fit_batch`` random crops of
        ``fit_crop`` of a segment. Codebooks start from k-means on the first batch and are
        EMA-updated, with dead codes restarted (:class:`RevivingCodebook`). Starts from the
        fresh model even when ``weights`` were loaded. Writes only ``out_dir/encodec_fit.json``.

        Returns:
            Held-out ``log_mel_l1`` and ``spectral_snr_db`` (through encode and decode, on
            ``figure_mel``), ``initial_log_mel_l1`` (the fresh model's),
            ``codebook_usage`` (share of codes used on the held-out clips, averaged over
            codebooks), ``steps`` and ``seconds``.
        """
        if len(waveforms) < 2:  # checked before the loaded model is replaced, so it survives
            raise ValueError(f"fitting the EnCodec tokenizer needs at least 2 clips (one is held out), got {len(waveforms)}")
        clips = torch.from_numpy(np.stack([self._waveform(v, f"fit value #{i}") for i, v in enumerate(waveforms)]))
        self.model = self._fresh_model()
        self._fitted = False  # until training finishes
        self._fingerprint = None
        started = time.perf_counter()
        device = fit_device(self.settings.fit_device, "audio.encodec.fit_device")
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(FIT_SEED)
            generator = torch.Generator().manual_seed(FIT_SEED)
            train_index, held_index = split_heldout(clips.shape[0], generator, "EnCodec tokenizer", "clips")
            train, held = clips[train_index], clips[held_index]
            self.model.to(device)
            initial = self._heldout_figures(held)
            train_encodec(self.model, train, self.settings, self.sample_rate, self.crop_samples, generator, device)
            figures = self._heldout_figures(held)
        self.model.cpu().eval()
        self._fitted = True
        figures = {
            "log_mel_l1": figures["log_mel_l1"],
            "spectral_snr_db": figures["spectral_snr_db"],
            "codebook_usage": figures["codebook_usage"],
            "initial_log_mel_l1": initial["log_mel_l1"],
            "steps": float(self.settings.fit_steps),
            "seconds": time.perf_counter() - started,
        }
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / FIGURES_FILE).write_text(json.dumps(figures, indent=2) + "\n")
        return figures

    def _heldout_figures(self, held: torch.Tensor) -> dict[str, float]:
        codes, recon = [], []
        for chunk in held.split(self.settings.fit_batch):
            c = _encode_codes(self.model, chunk)
            codes.append(c.cpu())
            with torch.no_grad():
                recon.append(self.model.decode([(c, None)])[:, 0, : self.segment_samples].float().cpu())
        all_codes = torch.cat(codes)
        usage = [all_codes[:, q].unique().numel() / self.codebook_size for q in range(self.num_codebooks)]
        figures = reconstruction_figures(held, torch.cat(recon), self.figure_mel)
        return {**figures, "codebook_usage": float(np.mean(usage))}


def _encode_codes(model: EncodecModel, waveforms: torch.Tensor) -> torch.Tensor:
    """Codes ``[B, num_codebooks, frames]`` of waveforms ``[B, samples]`` (one EnCodec frame)."""
    device = next(model.parameters()).device
    with torch.no_grad():
        frames = model.encode(waveforms.to(device).unsqueeze(1))
    return frames[0][0]
