"""Decoding with a KV cache, constrained to the target modality's id range.

Strategies: greedy, sampling (temperature, top-k, top-p) and beam search. The
uncached path re-runs the decoder over the whole prefix at each step; it exists
to check the cache (same tokens, greedy) and to measure what the cache saves.

Rows may have a fixed output length (a code grid): they never end early and end
exactly there. Rows may be guided (classifier-free guidance, Ho & Salimans 2022,
arXiv 2207.12598, as UIO2 uses it for its generated pictures and sounds): the same example with an
empty prompt runs beside it, and the next token is chosen from
``(1 + a) * logp(x | prompt) - a * logp(x | empty)``, both normalised over the
target modality's allowed ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch

from uio.core.sequence import ModelExample, collate_rows
from uio.core.transformer import UIOTransformer
from uio.core.vocab import EOS_ID, PAD_ID, Vocabulary


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode (mirrors ``GenerateConfig``)."""

    strategy: str = "greedy"
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 4
    use_cache: bool = True
    seed: int = 0
    guidance_scale: float = 0.0
    guidance_scales: Mapping[str, float] = field(default_factory=dict)
    """Per target modality, overriding ``guidance_scale``."""

    @classmethod
    def from_config(cls, cfg, **overrides) -> DecodeOptions:
        fields = {k: getattr(cfg, k) for k in cls.__dataclass_fields__ if hasattr(cfg, k)}
        return cls(**{**fields, **overrides})

    def scale_for(self, modality: str) -> float:
        """The guidance weight of rows whose target is ``modality``."""
        return self.guidance_scales.get(modality, self.guidance_scale)

    def unguided(self) -> DecodeOptions:
        """The same options with guidance off for every modality."""
        return replace(self, guidance_scale=0.0, guidance_scales={})


def allowed_ids_mask(vocab: Vocabulary, modalities: list[str], device: torch.device) -> torch.Tensor:
    """``[B, V]`` booleans: the target modality's range plus end-of-sequence."""
    mask = torch.zeros(len(modalities), vocab.size, dtype=torch.bool, device=device)
    for i, m in enumerate(modalities):
        r = vocab.range(m)
        mask[i, r.start : r.end] = True
        mask[i, EOS_ID] = True
    return mask


def _filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        cumulative = probs.cumsum(-1)
        drop = cumulative - probs > top_p  # keep the smallest prefix reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


class Decoder:
    """Runs the decoder one step at a time over encoded examples."""

    def __init__(self, model: UIOTransformer, examples: list[ModelExample], modality_index: dict[str, int]):
        self.model = model
        bare = [replace(ex, target_ids=[]) for ex in examples]
        enc_len = max(ex.encoder_tokens for ex in bare)
        device = next(model.parameters()).device
        batch = collate_rows([[ex] for ex in bare], enc_len, 1, modality_index)
        batch = _to_device(batch, device)
        self.enc = model.encode(batch)
        self.cross_mask = (batch.enc_segment_ids > 0)[:, None, None, :]
        self.device = device
        self._tables: tuple[torch.Tensor, torch.Tensor] | None = None

    def _step_rotary(self, position: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """cos/sin of one decoding position ``[1, 1, Dh/2]`` (shared by every row), sliced
        from a table built once (and doubled when outgrown) rather than every step."""
        if not self.model.shape.rotary:
            return None
        if self._tables is None or self._tables[0].shape[1] <= position:
            length = max(64, 2 * (position + 1))
            grid = torch.arange(length, device=self.device)[None, :, None].expand(1, length, 2)
            self._tables = self.model.rotary(grid)
        cos, sin = self._tables
        step = slice(position, position + 1)
        return cos[:, step], sin[:, step]

    def expand(self, times: int) -> None:
        """Repeat every example ``times`` times (beam search)."""
        self.enc = self.enc.repeat_interleave(times, 0)
        self.cross_mask = self.cross_mask.repeat_interleave(times, 0)

    def step_logits(self, tokens: torch.Tensor, cache: list[dict] | None) -> torch.Tensor:
        """Logits ``[B, V]`` for the next token after ``tokens [B, T]``."""
        t = tokens.shape[1]
        if cache is not None:
            new = tokens[:, -1:]
            pos = torch.full((tokens.shape[0], 1, 2), t - 1, device=self.device)
            rotary = self._step_rotary(t - 1)
            hidden = self.model.decode(new, pos, self.enc, None, self.cross_mask, cache, rotary)
        else:
            pos = torch.arange(t, device=self.device)[None, :, None].expand(tokens.shape[0], t, 2)
            causal = torch.ones(t, t, dtype=torch.bool, device=self.device).tril()[None, None]
            hidden = self.model.decode(tokens, pos, self.enc, causal, self.cross_mask)
        return self.model.logits(hidden[:, -1])


def _to_device(batch, device):
    from lightning.fabric.utilities.apply_func import move_data_to_device

    return move_data_to_device(batch, device)


class StepMasks:
    """Which ids each row may take at each step: its modality's range, with the end
    token forbidden before a fixed length and the only choice once it is reached."""

    def __init__(self, allowed: torch.Tensor, lengths: list[int | None] | None, max_new_tokens: int) -> None:
        b = allowed.shape[0]
        lengths = lengths or [None] * b
        if len(lengths) != b:
            raise ValueError(f"got {len(lengths)} output lengths for {b} examples")
        device = allowed.device
        self.fixed = torch.tensor([n is not None for n in lengths], device=device)
        self.length = torch.tensor([n if n is not None else max_new_tokens for n in lengths], device=device)
        self.free = allowed
        self.no_end = allowed.clone()
        self.no_end[:, EOS_ID] = False
        self.only_end = torch.zeros_like(allowed)
        self.only_end[:, EOS_ID] = True
        self.max_new_tokens = max_new_tokens
        # Fixed rows take their length plus the end token; free rows stop at max_new_tokens.
        self.steps = max([max_new_tokens, *(n + 1 for n in lengths if n is not None)])

    def blocked(self, step: int) -> torch.Tensor:
        """``[B, V]``: True where an id is forbidden at decoding step ``step`` (0-based)."""
        before = (self.fixed & (step < self.length))[:, None]
        at_end = (self.fixed & (step >= self.length))[:, None]
        return ~torch.where(before, self.no_end, torch.where(at_end, self.only_end, self.free))

    def out_of_steps(self, step: int) -> torch.Tensor:
        """``[B]``: free rows that have used up ``max_new_tokens`` after step ``step``."""
        return ~self.fixed & (step + 1 >= self.max_new_tokens)


@torch.inference_mode()
def generate(
    model: UIOTransformer,
    examples: list[ModelExample],
    target_modalities: list[str],
    vocab: Vocabulary,
    modality_index: dict[str, int],
    options: DecodeOptions = DecodeOptions(),
    *,
    lengths: list[int | None] | None = None,
    unconditional: list[ModelExample | None] | None = None,
) -> list[list[int]]:
    """Generate global ids (without start and end tokens) for each example.

    Args:
        lengths: per example, the exact number of ids to generate (``None``: up to
            ``options.max_new_tokens``, ending at the end token).
        unconditional: per example, its empty-prompt twin to guide it with
            ``options.guidance_scale`` (``None``: unguided). Greedy and sampling only.
    """
    if not examples:
        return []
    guided = [
        i for i, u in enumerate(unconditional or [])
        if u is not None and options.scale_for(target_modalities[i]) > 0
    ]
    if guided and options.strategy == "beam":
        raise ValueError(
            "classifier-free guidance (generate.guidance_scale or guidance_scales > 0) works with "
            "generate.strategy greedy or sample, not beam"
        )
    scales = [options.scale_for(target_modalities[i]) for i in guided]
    was_training = model.training
    model.eval()
    try:
        twins = [unconditional[i] for i in guided]  # type: ignore[index]
        dec = Decoder(model, [*examples, *twins], modality_index)
        allowed = allowed_ids_mask(vocab, target_modalities, dec.device)
        masks = StepMasks(allowed, lengths, options.max_new_tokens)
        starts = torch.tensor([ex.start_id for ex in examples], device=dec.device)
        if options.strategy == "beam":
            return _beam_search(dec, starts, masks, options)
        return _sample(dec, starts, masks, options, guided, scales)
    finally:
        model.train(was_training)


def _guide(
    logits: torch.Tensor, blocked: torch.Tensor, index: torch.Tensor, scale: float | torch.Tensor
) -> torch.Tensor:
    """Masked logits of the first ``B`` rows, the rows in ``index`` mixed with their
    empty-prompt twins (the last ``len(index)`` rows of ``logits``) with weight ``scale``
    (one number, or ``[len(index), 1]``: one per guided row)."""
    b = blocked.shape[0]
    cond = logits[:b].masked_fill(blocked, float("-inf"))
    if index.numel() == 0:
        return cond
    uncond = logits[b:].masked_fill(blocked[index], float("-inf")).log_softmax(-1)
    mixed = (1 + scale) * cond[index].log_softmax(-1) - scale * uncond
    # -inf - -inf is nan on forbidden ids: keep them forbidden.
    mixed = mixed.masked_fill(blocked[index], float("-inf"))
    return cond.index_copy(0, index, mixed)


def _sample(
    dec: Decoder,
    starts: torch.Tensor,
    masks: StepMasks,
    options: DecodeOptions,
    guided: list[int],
    scales: list[float],
) -> list[list[int]]:
    b = starts.shape[0]
    tokens = starts[:, None]
    twin_rows = torch.tensor(guided, dtype=torch.long, device=dec.device)
    row_scales = torch.tensor(scales, dtype=torch.float32, device=dec.device).unsqueeze(-1)
    cache = [{} for _ in dec.model.decoder_layers] if options.use_cache else None
    done = torch.zeros(b, dtype=torch.bool, device=dec.device)
    generator = torch.Generator(device=dec.device).manual_seed(options.seed)
    for step in range(masks.steps):
        every_row = torch.cat([tokens, tokens[twin_rows]]) if guided else tokens
        logits = _guide(dec.step_logits(every_row, cache), masks.blocked(step), twin_rows, row_scales)
        if options.strategy == "greedy":
            nxt = logits.argmax(-1)
        else:
            logits = _filter_logits(logits / max(options.temperature, 1e-5), options.top_k, options.top_p)
            nxt = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD_ID), nxt)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        done |= (nxt == EOS_ID) | masks.out_of_steps(step)
        if bool(done.all()):
            break
    return [_strip(row[1:].tolist()) for row in tokens]


def _strip(ids: list[int]) -> list[int]:
    out = []
    for i in ids:
        if i in (EOS_ID, PAD_ID):
            break
        out.append(i)
    return out


def _beam_search(dec: Decoder, starts: torch.Tensor, masks: StepMasks, options: DecodeOptions) -> list[list[int]]:
    """Beam search with length-normalised scores (sum of log-probs / length)."""
    b, k = starts.shape[0], options.num_beams
    dec.expand(k)
    tokens = starts.repeat_interleave(k, 0)[:, None]
    scores = torch.full((b, k), float("-inf"), device=dec.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    scores = scores.view(-1)
    lengths = torch.zeros(b * k, device=dec.device)
    done = torch.zeros(b * k, dtype=torch.bool, device=dec.device)
    cache = [{} for _ in dec.model.decoder_layers] if options.use_cache else None
    for step in range(masks.steps):
        blocked = masks.blocked(step).repeat_interleave(k, 0)
        logp = dec.step_logits(tokens, cache).masked_fill(blocked, float("-inf")).log_softmax(-1)
        # A finished beam only extends with padding, at no cost.
        logp[done] = float("-inf")
        logp[done, PAD_ID] = 0.0
        total = (scores[:, None] + logp).view(b, -1)
        top_scores, top_idx = total.topk(k, dim=-1)
        beam = top_idx // logp.shape[-1]
        token = top_idx % logp.shape[-1]
        origin = (torch.arange(b, device=dec.device)[:, None] * k + beam).view(-1)
        tokens = torch.cat([tokens[origin], token.view(-1, 1)], dim=1)
        scores = top_scores.view(-1)
        was_done = done[origin]
        lengths = lengths[origin] + (~was_done).float()
        done = was_done | (token.view(-1) == EOS_ID) | masks.out_of_steps(step).repeat_interleave(k, 0)
        if cache is not None:
            for layer in cache:
                layer["self"]["buffer"].reorder(origin)
        if bool(done.all()):
            break
    normalised = (scores / lengths.clamp(min=1)).view(b, k)
    best = normalised.argmax(-1)
    rows = tokens.view(b, k, -1)[torch.arange(b), best]
    return [_strip(row[1:].tolist()) for row in rows]
