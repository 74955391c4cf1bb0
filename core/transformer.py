"""The encoder-decoder trunk, in UIO2's recipe (arXiv 2312.17172, sec. 3-4).

Pre-norm RMSNorm, SwiGLU MLP, 1D/2D rotary positions, one learned embedding per
modality, QK-norm or scaled-cosine attention with float32 logits, a token
embedding tied with the output (logits = h @ E.T / sqrt(d)), z-loss, and a
perceiver resampler for segments that ask to be compressed. The trunk knows no
modality: it gets a dict of input encoders built by the plugins' factories.
Every op goes through :func:`uio.core.kernels.get_op`, where fused kernels plug in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from uio.core.kernels import get_op
from uio.core.kernels.flex_attention import flex_attention, pick_backend
from uio.core.kv_cache import KVBuffer
from uio.core.masks import SegmentMask
from uio.plugins.spec import EncoderContext


@dataclass(frozen=True)
class TrunkShape:
    """The dimensions and switches the trunk reads from ``ModelConfig``."""

    d_model: int
    n_heads: int
    head_dim: int
    encoder_layers: int
    decoder_layers: int
    mlp_dim: int
    dropout: float = 0.0
    mlp: str = "swiglu"
    attention: str = "qk_norm"
    rotary: bool = True
    rotary_base: float = 10000.0
    modality_embeddings: bool = True
    float32_attention_logits: bool = True
    z_loss: float = 1e-4
    logit_scale: str = "rsqrt_d"
    kernels: str = "auto"
    attention_backend: str = "auto"
    resampler_enabled: bool = False
    resampler_latents: int = 32
    resampler_layers: int = 2
    resampler_heads: int = 4

    @classmethod
    def from_config(cls, cfg) -> TrunkShape:
        """Build from a ``ModelConfig`` (``uio.core.config``)."""
        return cls(
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            head_dim=cfg.head_dim or cfg.d_model // cfg.n_heads,
            encoder_layers=cfg.encoder_layers,
            decoder_layers=cfg.decoder_layers,
            mlp_dim=cfg.mlp_dim,
            dropout=cfg.dropout,
            mlp=cfg.mlp,
            attention=cfg.attention,
            rotary=cfg.rotary,
            rotary_base=cfg.rotary_base,
            modality_embeddings=cfg.modality_embeddings,
            float32_attention_logits=cfg.float32_attention_logits,
            z_loss=cfg.z_loss,
            logit_scale=cfg.logit_scale,
            kernels=cfg.kernels,
            attention_backend=cfg.attention_backend,
            resampler_enabled=cfg.resampler.enabled,
            resampler_latents=cfg.resampler.latents,
            resampler_layers=cfg.resampler.layers,
            resampler_heads=cfg.resampler.heads,
        )


def _dropout(p: float) -> nn.Module:
    # Without dropout, skip the module's per-call work (it adds up in one-token decoding).
    return nn.Dropout(p) if p > 0 else nn.Identity()


def _op(name: str, shape: TrunkShape, x: torch.Tensor) -> Callable:
    return get_op(name, shape.kernels, x.device.type)


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned scale (no bias, as in UIO2/T5)."""

    def __init__(self, dim: int, kernels: str = "auto", eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps
        self.kernels = kernels

    def forward(
        self, x: torch.Tensor, residual: torch.Tensor | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``norm(x)``; with ``residual``, ``(x + residual, norm(x + residual))`` as one op."""
        if residual is None:
            return get_op("rms_norm", self.kernels, x.device.type)(x, self.weight, self.eps)
        op = get_op("add_rms_norm", self.kernels, x.device.type)
        return op(x, residual, self.weight, self.eps)


class MLP(nn.Module):
    """SwiGLU (``wi_0``, ``wi_1``, ``wo`` as in UIO2) or GELU feed-forward, no biases."""

    def __init__(self, shape: TrunkShape) -> None:
        super().__init__()
        self.shape = shape
        self.wi_0 = nn.Linear(shape.d_model, shape.mlp_dim, bias=False)
        self.wi_1 = nn.Linear(shape.d_model, shape.mlp_dim, bias=False) if shape.mlp == "swiglu" else None
        self.wo = nn.Linear(shape.mlp_dim, shape.d_model, bias=False)
        self.dropout = _dropout(shape.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.wi_1 is not None:
            h = _op("swiglu", self.shape, x)(self.wi_0(x), self.wi_1(x))
        else:
            h = F.gelu(self.wi_0(x))
        return self.wo(self.dropout(h))


class Attention(nn.Module):
    """Multi-head attention with QK-norm / scaled-cosine, rotary and an optional KV cache."""

    def __init__(self, shape: TrunkShape, *, cross: bool = False, heads: int | None = None) -> None:
        super().__init__()
        self.shape = shape
        self.cross = cross
        self.n_heads = heads or shape.n_heads
        self.head_dim = shape.head_dim if heads is None else shape.d_model // heads
        inner = self.n_heads * self.head_dim
        self.wq = nn.Linear(shape.d_model, inner, bias=False)
        self.wk = nn.Linear(shape.d_model, inner, bias=False)
        self.wv = nn.Linear(shape.d_model, inner, bias=False)
        self.wo = nn.Linear(inner, shape.d_model, bias=False)
        if shape.attention == "qk_norm":
            self.q_norm = RMSNorm(self.head_dim, shape.kernels)
            self.k_norm = RMSNorm(self.head_dim, shape.kernels)
        if shape.attention == "scaled_cosine":
            # Swin v2 (arXiv 2111.09883): cosine similarity over a learned temperature.
            self.log_scale = nn.Parameter(torch.full((self.n_heads, 1, 1), math.log(10.0)))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)

    def _normalise(
        self, t: torch.Tensor, which: str, rotary: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        """QK-norm or cosine normalisation, then rotary (QK-norm + rotary is one op)."""
        if self.shape.attention == "qk_norm":
            norm = self.q_norm if which == "q" else self.k_norm
            if rotary is not None:
                return _op("qk_norm_rotary", self.shape, t)(t, norm.weight, norm.eps, *rotary)
            return norm(t)
        if self.shape.attention == "scaled_cosine":
            t = F.normalize(t.float(), dim=-1).to(t.dtype)
        if rotary is not None:
            t = _op("apply_rotary", self.shape, t)(t, *rotary)
        return t

    def project_kv(
        self, source: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``[B, H, L, Dh]`` of a source sequence (cacheable)."""
        k = self._normalise(self._heads(self.wk(source)), "k", rotary)
        return k, self._heads(self.wv(source))

    def forward(
        self,
        x: torch.Tensor,
        mask: SegmentMask | torch.Tensor | None,
        q_rotary: tuple[torch.Tensor, torch.Tensor] | None,
        *,
        source: torch.Tensor | None = None,
        cache: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Attend from ``x`` to itself, or to ``source`` (cross-attention).

        ``cache`` (a dict owned by the caller) holds keys/values: for
        self-attention new ones are appended (see :meth:`_step_qkv`); for
        cross-attention they are computed once and reused.
        """
        if self.cross:
            q = self._normalise(self._heads(self.wq(x)), "q", q_rotary)
            if cache is not None and "k" in cache:
                k, v = cache["k"], cache["v"]
            else:
                k, v = self.project_kv(source, None)
                if cache is not None:
                    cache["k"], cache["v"] = k, v
        elif cache is not None:
            q, k, v = self._step_qkv(x, q_rotary, cache)
        else:
            q = self._normalise(self._heads(self.wq(x)), "q", q_rotary)
            k, v = self.project_kv(x, q_rotary)
        if self.shape.attention == "scaled_cosine":
            q = q * self.log_scale.clamp(max=math.log(100.0)).exp().to(q.dtype)
            scale = 1.0
        else:
            scale = 1.0 / math.sqrt(self.head_dim)
        out = self._attend(q, k, v, mask, scale)
        b, _, n, _ = out.shape
        return self.wo(out.transpose(1, 2).reshape(b, n, self.n_heads * self.head_dim))

    def _step_qkv(
        self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None, cache: dict
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, and every cached key and value, of a decoding step.

        q, k and v come from one matmul: a decoding step is so small that each
        call's overhead outweighs its arithmetic. Weights cannot change during
        one generation, so their concatenation is kept in the cache.
        """
        weight = cache.get("qkv_weight")
        if weight is None:
            weight = cache["qkv_weight"] = torch.cat([self.wq.weight, self.wk.weight, self.wv.weight])
        q, k, v = (self._heads(t) for t in F.linear(x, weight).chunk(3, dim=-1))
        q, k = self._normalise(q, "q", rotary), self._normalise(k, "k", rotary)
        k, v = cache.setdefault("buffer", KVBuffer()).append(k, v)
        return q, k, v

    def _attend(self, q, k, v, mask: SegmentMask | torch.Tensor | None, scale: float) -> torch.Tensor:
        float32_logits = self.shape.float32_attention_logits
        if isinstance(mask, SegmentMask):
            if mask.block is not None:
                return flex_attention(q, k, v, mask.block, scale, float32_logits)
            mask = mask.as_dense()
        op = "attention_math" if self.shape.attention_backend == "eager" else "attention"
        return _op(op, self.shape, q)(q, k, v, mask, scale, float32_logits)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + MLP."""

    def __init__(self, shape: TrunkShape) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(shape.d_model, shape.kernels)
        self.attn = Attention(shape)
        self.mlp_norm = RMSNorm(shape.d_model, shape.kernels)
        self.mlp = MLP(shape)
        self.dropout = _dropout(shape.dropout)

    def forward(self, x, mask, rotary):
        # mlp_norm also does the residual add before it (one fused op).
        x, h = self.mlp_norm(self.dropout(self.attn(self.attn_norm(x), mask, rotary)), residual=x)
        return x + self.dropout(self.mlp(h))


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention + cross-attention + MLP."""

    def __init__(self, shape: TrunkShape) -> None:
        super().__init__()
        self.self_norm = RMSNorm(shape.d_model, shape.kernels)
        self.self_attn = Attention(shape)
        self.cross_norm = RMSNorm(shape.d_model, shape.kernels)
        self.cross_attn = Attention(shape, cross=True)
        self.mlp_norm = RMSNorm(shape.d_model, shape.kernels)
        self.mlp = MLP(shape)
        self.dropout = _dropout(shape.dropout)

    def forward(self, x, enc, self_mask, cross_mask, rotary, cache=None):
        self_cache = cache.setdefault("self", {}) if cache is not None else None
        cross_cache = cache.setdefault("cross", {}) if cache is not None else None
        # Each next norm also does the residual add before it (one fused op).
        update = self.self_attn(self.self_norm(x), self_mask, rotary, cache=self_cache)
        x, h = self.cross_norm(self.dropout(update), residual=x)
        # No rotary in cross-attention: decoder steps and encoder tokens live in
        # unrelated position spaces, so a relative angle between them is noise.
        update = self.cross_attn(h, cross_mask, None, source=enc, cache=cross_cache)
        x, h = self.mlp_norm(self.dropout(update), residual=x)
        return x + self.dropout(self.mlp(h))


class PerceiverResampler(nn.Module):
    """Compresses ``[n, d]`` features to ``[latents, d]`` (Flamingo, arXiv 2204.14198).

    Latents attend to the concatenation of the inputs and themselves, then pass
    an MLP, for ``layers`` rounds. UIO2 uses 32 latents per frame of visual
    history and 16 per segment of sound history.
    """

    def __init__(self, shape: TrunkShape) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(shape.resampler_latents, shape.d_model) * 0.02)
        plain = TrunkShape(**{**shape.__dict__, "attention": "qk_norm", "rotary": False})
        self.layers = nn.ModuleList()
        for _ in range(shape.resampler_layers):
            self.layers.append(
                nn.ModuleDict(
                    {
                        "norm_x": RMSNorm(shape.d_model, shape.kernels),
                        "norm_l": RMSNorm(shape.d_model, shape.kernels),
                        "attn": Attention(plain, cross=True, heads=shape.resampler_heads),
                        "mlp_norm": RMSNorm(shape.d_model, shape.kernels),
                        "mlp": MLP(plain),
                    }
                )
            )
        self.norm = RMSNorm(shape.d_model, shape.kernels)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[n, d]`` or ``[B, n, d]`` -> ``[latents, d]`` or ``[B, latents, d]``."""
        squeeze = features.dim() == 2
        x = features.unsqueeze(0) if squeeze else features
        lat = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)
        for layer in self.layers:
            src = torch.cat([layer["norm_x"](x), layer["norm_l"](lat)], dim=1)
            lat = lat + layer["attn"](layer["norm_l"](lat), None, None, source=src)
            lat = lat + layer["mlp"](layer["mlp_norm"](lat))
        out = self.norm(lat)
        return out.squeeze(0) if squeeze else out


class UIOTransformer(nn.Module):
    """Encoder-decoder over the unified vocabulary.

    Args:
        shape: dimensions and switches.
        vocab_size: size of the unified vocabulary (rows of the tied embedding).
        encoder_factories: ``modality -> factory(EncoderContext) -> nn.Module``;
            the order fixes each modality's embedding index (1-based; 0 is the
            core's own tokens, such as objective prefixes).
    """

    def __init__(
        self,
        shape: TrunkShape,
        vocab_size: int,
        encoder_factories: dict[str, Callable[[EncoderContext], nn.Module]],
    ) -> None:
        super().__init__()
        self.shape = shape
        self.vocab_size = vocab_size
        self.modality_names = list(encoder_factories)
        self.token_embedding = nn.Embedding(vocab_size, shape.d_model)
        nn.init.normal_(self.token_embedding.weight, std=1.0)
        self.modality_embedding = (
            nn.Embedding(len(self.modality_names) + 1, shape.d_model)
            if shape.modality_embeddings
            else None
        )
        if self.modality_embedding is not None:
            nn.init.normal_(self.modality_embedding.weight, std=0.02)
        ctx = EncoderContext(d_model=shape.d_model, embed_ids=self.embed_ids)
        self.input_encoders = nn.ModuleDict({m: f(ctx) for m, f in encoder_factories.items()})
        self.resampler = PerceiverResampler(shape) if shape.resampler_enabled else None
        self.encoder_layers = nn.ModuleList(EncoderLayer(shape) for _ in range(shape.encoder_layers))
        self.encoder_norm = RMSNorm(shape.d_model, shape.kernels)
        self.decoder_layers = nn.ModuleList(DecoderLayer(shape) for _ in range(shape.decoder_layers))
        self.decoder_norm = RMSNorm(shape.d_model, shape.kernels)
        self.logit_scale = 1.0 / math.sqrt(shape.d_model) if shape.logit_scale == "rsqrt_d" else 1.0
        self._init_linear()

    def _init_linear(self) -> None:
        # The trunk's own layers only: input encoders initialise themselves, and may
        # have loaded pretrained weights (a ViT) that must not be overwritten here.
        plugin_modules = {id(m) for m in self.input_encoders.modules()}
        for module in self.modules():
            if id(module) in plugin_modules:
                continue
            if isinstance(module, nn.Linear) and module.weight.device.type != "meta":
                nn.init.normal_(module.weight, std=module.in_features**-0.5)

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Look global ids up in the shared (tied) token embedding."""
        return self.token_embedding(ids)

    def rotary(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """cos/sin tables for ``[B, L, 2]`` positions, or None when rotary is off."""
        if not self.shape.rotary:
            return None
        return get_op("rotary_tables", self.shape.kernels, positions.device.type)(
            positions, self.shape.head_dim, self.shape.rotary_base
        )

    def embed_inputs(self, batch) -> torch.Tensor:
        """Encoder input embeddings ``[B, L, d]`` of a :class:`~uio.core.sequence.PackedBatch`."""
        b, n = batch.enc_modality.shape
        flat = self.embed_ids(batch.enc_special_ids.reshape(-1))
        core_token = (batch.enc_modality.reshape(-1) == 0).unsqueeze(-1)
        flat = flat * core_token.to(flat.dtype)
        for modality, payloads in batch.enc_payloads.items():
            if not payloads:
                continue
            emb = self.input_encoders[modality](payloads)
            emb = self._compress(emb, batch.enc_compress.get(modality))
            flat = flat.index_copy(0, batch.enc_slots[modality], emb.to(flat.dtype))
        x = flat.view(b, n, -1)
        if self.modality_embedding is not None:
            x = x + self.modality_embedding(batch.enc_modality)
        return x

    def _compress(self, emb: torch.Tensor, plan: list[int] | None) -> torch.Tensor:
        """Resample the segments marked for compression; ``plan`` lists each segment's tokens,
        negative for a segment to compress."""
        if not plan or all(n >= 0 for n in plan):
            return emb
        if self.resampler is None:
            raise RuntimeError("a segment asks for compression but model.resampler.enabled is false")
        parts, start = [], 0
        for n in plan:
            size = abs(n)
            chunk = emb[start : start + size]
            parts.append(self.resampler(chunk) if n < 0 else chunk)
            start += size
        return torch.cat(parts, dim=0)

    def segment_mask(self, q_segments: torch.Tensor, k_segments: torch.Tensor, causal: bool) -> SegmentMask:
        """The packed-row mask in the form this model's attention backend uses on the device."""
        backend = pick_backend(self.shape.attention_backend, self.shape.kernels, q_segments.device.type)
        return SegmentMask.build(q_segments, k_segments, causal, backend)

    def encode(self, batch) -> torch.Tensor:
        """Encoder states ``[B, L, d]``; attention stays within each packed example."""
        x = self.embed_inputs(batch)
        mask = self.segment_mask(batch.enc_segment_ids, batch.enc_segment_ids, causal=False)
        rotary = self.rotary(batch.enc_positions)
        for layer in self.encoder_layers:
            x = layer(x, mask, rotary)
        return self.encoder_norm(x)

    def decode(
        self,
        dec_ids: torch.Tensor,
        dec_positions: torch.Tensor,
        enc: torch.Tensor,
        self_mask: SegmentMask | torch.Tensor | None,
        cross_mask: SegmentMask | torch.Tensor,
        cache: list[dict] | None = None,
        rotary: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Decoder hidden states ``[B, T, d]`` (before the output projection).

        ``rotary``: cos/sin tables of ``dec_positions`` when the caller already has
        them (step-by-step decoding reuses one table); computed here otherwise.
        """
        x = self.embed_ids(dec_ids)
        if rotary is None:
            rotary = self.rotary(dec_positions)
        for i, layer in enumerate(self.decoder_layers):
            layer_cache = cache[i] if cache is not None else None
            x = layer(x, enc, self_mask, cross_mask, rotary, layer_cache)
        return self.decoder_norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Output logits over the unified vocabulary (tied embedding, float32)."""
        return (hidden @ self.token_embedding.weight.t()).float() * self.logit_scale

    def forward(self, batch) -> dict[str, torch.Tensor]:
        """Training loss of a packed batch: cross-entropy + z-loss over target tokens."""
        enc = self.encode(batch)
        self_mask = self.segment_mask(batch.dec_segment_ids, batch.dec_segment_ids, causal=True)
        cross_mask = self.segment_mask(batch.dec_segment_ids, batch.enc_segment_ids, causal=False)
        hidden = self.decode(batch.dec_input_ids, batch.dec_positions, enc, self_mask, cross_mask)
        ce, z = get_op("linear_cross_entropy", self.shape.kernels, hidden.device.type)(
            hidden.reshape(-1, hidden.shape[-1]),
            self.token_embedding.weight,
            batch.dec_labels.reshape(-1),
            logit_scale=self.logit_scale,
            z_loss=self.shape.z_loss,
        )
        return {"loss": ce + z, "ce": ce.detach(), "z_loss": z.detach()}


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts split into trunk, embeddings, resampler and each input encoder."""
    counts: dict[str, int] = {}
    for name in getattr(model, "input_encoders", {}):
        counts[f"encoder:{name}"] = 0

    def add(key: str, n: int) -> None:
        counts[key] = counts.get(key, 0) + n

    for name, p in model.named_parameters():
        n = p.numel()
        if name.startswith("input_encoders."):
            add("encoder:" + name.split(".")[1], n)
        elif name.startswith(("token_embedding", "modality_embedding")):
            add("embeddings", n)
        elif name.startswith("resampler"):
            add("resampler", n)
        elif name.startswith(("encoder_layers", "encoder_norm")):
            add("trunk:encoder", n)
        else:
            add("trunk:decoder", n)
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
