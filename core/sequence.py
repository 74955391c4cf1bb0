"""Segments -> encoder inputs and decoder targets, and packing rows with many examples.

A :class:`ModelExample` is one example ready for the model (global ids). The
packer places several examples in each row of a batch, first-fit-decreasing
over a window of examples, and records a segment id per token (1, 2, ... for
the examples of a row; 0 for padding) so attention stays within an example.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from uio.core.vocab import EOS_ID, PAD_ID
from uio.plugins.spec import Segment

IGNORE_INDEX = -100


@dataclass
class ModelExample:
    """One example as the model sees it.

    Attributes:
        core_ids: ids the core embeds itself at the start of the encoder input
            (the objective's prefix token).
        inputs: encoder segments (discrete ones hold global ids).
        target_ids: global ids the decoder must produce (no start / end token).
        start_id: the target modality's start token (the decoder's first input).
        task: task name, for metrics.
        resampled_tokens: tokens a compressed segment occupies after resampling.
    """

    core_ids: list[int]
    inputs: list[Segment]
    target_ids: list[int]
    start_id: int
    task: str = ""
    resampled_tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def segment_tokens(self, segment: Segment) -> int:
        """Tokens a segment occupies in the encoder sequence."""
        return self.resampled_tokens if segment.compress else segment.num_tokens

    @property
    def encoder_tokens(self) -> int:
        return len(self.core_ids) + sum(self.segment_tokens(s) for s in self.inputs)

    @property
    def decoder_tokens(self) -> int:
        return len(self.target_ids) + 1  # start token in / eos out


@dataclass
class PackedBatch:
    """Tensors of one packed batch (see :class:`~uio.core.transformer.UIOTransformer`).

    ``enc_modality`` is 0 for the core's own tokens and ``1 + i`` for the i-th
    configured modality. ``enc_slots[m]`` holds the flat indices (into
    ``B * L_enc``) where modality ``m``'s encoder output goes, in the order of
    ``enc_payloads[m]``; ``enc_compress[m]`` lists each payload's token count,
    negated for segments to resample.
    """

    enc_special_ids: torch.Tensor
    enc_modality: torch.Tensor
    enc_positions: torch.Tensor
    enc_segment_ids: torch.Tensor
    enc_payloads: dict[str, list[Any]]
    enc_slots: dict[str, torch.Tensor]
    enc_compress: dict[str, list[int]]
    dec_input_ids: torch.Tensor
    dec_labels: torch.Tensor
    dec_positions: torch.Tensor
    dec_segment_ids: torch.Tensor
    tasks: list[list[str]]
    stream_state: dict[str, Any] | None = None

    @property
    def num_examples(self) -> int:
        return sum(len(r) for r in self.tasks)

    def non_pad_fraction(self) -> float:
        """Share of encoder + decoder slots holding real tokens."""
        real = (self.enc_segment_ids > 0).sum() + (self.dec_segment_ids > 0).sum()
        return float(real) / float(self.enc_segment_ids.numel() + self.dec_segment_ids.numel())


class PackingError(ValueError):
    """An example does not fit in one row."""


def check_fits(example: ModelExample, encoder_length: int, decoder_length: int) -> None:
    """Raise a clear error if an example can never fit a row."""
    if example.encoder_tokens > encoder_length or example.decoder_tokens > decoder_length:
        raise PackingError(
            f"example of task {example.task!r} ({example.meta.get('id', '?')}) needs "
            f"{example.encoder_tokens} encoder and {example.decoder_tokens} decoder tokens, but rows "
            f"hold {encoder_length} and {decoder_length}; raise data.encoder_length / "
            "data.decoder_length or shorten the example"
        )


def pack_rows(
    examples: Sequence[ModelExample], rows: int, encoder_length: int, decoder_length: int
) -> tuple[list[list[ModelExample]], list[ModelExample]]:
    """Place examples into ``rows`` rows; return the rows and the examples left over.

    First-fit-decreasing on each example's larger share of a row (encoder or
    decoder side), so that neither side runs out first when their ratio varies.
    """

    def share(ex: ModelExample) -> float:
        return max(ex.encoder_tokens / encoder_length, ex.decoder_tokens / decoder_length)

    order = sorted(range(len(examples)), key=lambda i: -examples[i].encoder_tokens)
    placed: list[list[ModelExample]] = [[] for _ in range(rows)]
    free_enc = [encoder_length] * rows
    free_dec = [decoder_length] * rows
    leftover_idx = []
    for i in order:
        ex = examples[i]
        fits = [r for r in range(rows) if ex.encoder_tokens <= free_enc[r] and ex.decoder_tokens <= free_dec[r]]
        if not fits:
            leftover_idx.append(i)
            continue
        # Best fit: the row this example fills most tightly.
        r = min(fits, key=lambda r: (free_enc[r] - ex.encoder_tokens) / encoder_length
                + (free_dec[r] - ex.decoder_tokens) / decoder_length)
        placed[r].append(ex)
        free_enc[r] -= ex.encoder_tokens
        free_dec[r] -= ex.decoder_tokens
    leftover_idx.sort()  # keep stream order for what waits
    return [r for r in placed if r], [examples[i] for i in leftover_idx]


def packed_batches(
    stream: Iterable[ModelExample],
    rows: int,
    encoder_length: int,
    decoder_length: int,
    modality_index: dict[str, int],
    window: int | None = None,
    waiting: Iterable[ModelExample] = (),
) -> Iterator[tuple[PackedBatch, list[ModelExample]]]:
    """Pack a stream of examples into batches of ``rows`` rows of fixed lengths.

    ``window`` examples are considered at a time (default ``32 * rows``); those
    that do not fit wait for the next batch. Yields each batch with the examples
    left waiting after it (``waiting`` seeds the buffer, e.g. on resume).
    """
    window = window or 32 * rows
    buffer = list(waiting)
    iterator = iter(stream)
    exhausted = False
    while True:
        while not exhausted and len(buffer) < window:
            try:
                ex = next(iterator)
            except StopIteration:
                exhausted = True
                break
            check_fits(ex, encoder_length, decoder_length)
            buffer.append(ex)
        if not buffer:
            return
        placed, buffer = pack_rows(buffer, rows, encoder_length, decoder_length)
        yield collate_rows(placed, encoder_length, decoder_length, modality_index), buffer


def collate_rows(
    rows: list[list[ModelExample]],
    encoder_length: int,
    decoder_length: int,
    modality_index: dict[str, int],
) -> PackedBatch:
    """Tensors for rows of examples (each row's examples laid end to end)."""
    b = len(rows)
    special = torch.full((b, encoder_length), PAD_ID, dtype=torch.long)
    modality = torch.zeros((b, encoder_length), dtype=torch.long)
    positions = torch.zeros((b, encoder_length, 2), dtype=torch.long)
    enc_seg = torch.zeros((b, encoder_length), dtype=torch.long)
    dec_in = torch.full((b, decoder_length), PAD_ID, dtype=torch.long)
    labels = torch.full((b, decoder_length), IGNORE_INDEX, dtype=torch.long)
    dec_pos = torch.zeros((b, decoder_length, 2), dtype=torch.long)
    dec_seg = torch.zeros((b, decoder_length), dtype=torch.long)
    payloads: dict[str, list[Any]] = {m: [] for m in modality_index}
    slots: dict[str, list[int]] = {m: [] for m in modality_index}
    compress: dict[str, list[int]] = {m: [] for m in modality_index}

    for r, row in enumerate(rows):
        e = d = 0
        for j, ex in enumerate(row, start=1):
            start = e
            for tok in ex.core_ids:
                special[r, e] = tok
                positions[r, e] = e - start
                e += 1
            for seg in ex.inputs:
                n = ex.segment_tokens(seg)
                modality[r, e : e + n] = modality_index[seg.modality]
                if seg.positions is not None and not seg.compress:
                    positions[r, e : e + n] = seg.positions
                else:
                    pos = torch.arange(e - start, e - start + n)
                    positions[r, e : e + n] = pos.unsqueeze(-1)
                payloads[seg.modality].append(seg.ids if seg.ids is not None else seg.features)
                slots[seg.modality].extend(range(r * encoder_length + e, r * encoder_length + e + n))
                compress[seg.modality].append(-seg.num_tokens if seg.compress else seg.num_tokens)
                e += n
            enc_seg[r, start:e] = j
            n_dec = ex.decoder_tokens
            dec_in[r, d : d + n_dec] = torch.tensor([ex.start_id, *ex.target_ids])
            labels[r, d : d + n_dec] = torch.tensor([*ex.target_ids, EOS_ID])
            dec_pos[r, d : d + n_dec] = torch.arange(n_dec).unsqueeze(-1)
            dec_seg[r, d : d + n_dec] = j
            d += n_dec
    return PackedBatch(
        enc_special_ids=special,
        enc_modality=modality,
        enc_positions=positions,
        enc_segment_ids=enc_seg,
        enc_payloads={m: p for m, p in payloads.items() if p},
        enc_slots={m: torch.tensor(s, dtype=torch.long) for m, s in slots.items() if s},
        enc_compress={m: c for m, c in compress.items() if any(n < 0 for n in c)},
        dec_input_ids=dec_in,
        dec_labels=labels,
        dec_positions=dec_pos,
        dec_segment_ids=dec_seg,
        tasks=[[ex.task for ex in row] for row in rows],
    )
