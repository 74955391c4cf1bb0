"""The training stream: a deterministic, resumable sequence of packed batches.

Example ``k`` of the stream is a pure function of ``(seed, k)``: which source,
which raw example, which phrasing and which objective. A batch records the
stream position after it (the next ``k`` and the examples left waiting by the
packer), so a resumed run rebuilds exactly the batches it would have seen.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import IterableDataset

from uio.core.pipeline import ExamplePipeline
from uio.core.sequence import ModelExample, check_fits, collate_rows, pack_rows


@dataclass
class StreamState:
    """Where the stream stands: the next example index and those waiting to be packed."""

    next_index: int = 0
    waiting: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"next_index": self.next_index, "waiting": list(self.waiting)}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> StreamState:
        return cls(**d) if d else cls()


class TrainStream(IterableDataset):
    """An endless iterable of packed batches (the DataLoader uses ``batch_size=None``)."""

    def __init__(
        self,
        pipeline: ExamplePipeline,
        sources: list[tuple[list[dict[str, Any]], float]],
        seed: int,
        rows: int,
        encoder_length: int,
        decoder_length: int,
        modality_index: dict[str, int],
        packing: bool = True,
        start: StreamState | None = None,
        window: int | None = None,
        rank: int = 0,
    ) -> None:
        if not sources:
            raise ValueError("the data mixture has no training examples")
        self.pipeline = pipeline
        self.sources = sources
        self.weights = [w for _, w in sources]
        self.seed = seed
        self.rows = rows
        self.encoder_length = encoder_length
        self.decoder_length = decoder_length
        self.modality_index = modality_index
        self.packing = packing
        self.start = start or StreamState()
        # Examples the packer chooses from: wide enough that the last gaps of a
        # row find a short example (measured by benchmarks/packing.py).
        self.window = window or 32 * rows
        # Data-parallel ranks draw different streams from the same seed.
        self.rank = rank

    def example(self, k: int) -> ModelExample:
        """Example ``k`` of the stream."""
        rng = random.Random(f"{self.seed}:{k}" if self.rank == 0 else f"{self.seed}:rank{self.rank}:{k}")
        (examples, _), = rng.choices(self.sources, weights=self.weights, k=1)
        raw = examples[rng.randrange(len(examples))]
        ex = self.pipeline(raw, rng)
        ex.meta["k"] = k
        check_fits(ex, self.encoder_length, self.decoder_length)
        return ex

    def __iter__(self) -> Iterator:
        state = self.start
        buffer = [self.example(k) for k in state.waiting]
        k = state.next_index
        window = self.window if self.packing else self.rows
        batch_index = 0
        while True:
            while len(buffer) < window:
                buffer.append(self.example(k))
                k += 1
            if self.packing:
                rows, buffer = pack_rows(buffer, self.rows, self.encoder_length, self.decoder_length)
                enc, dec = self.encoder_length, self.decoder_length
            else:
                rows, buffer = [[ex] for ex in buffer], []
                enc = max(ex.encoder_tokens for r in rows for ex in r)
                dec = max(ex.decoder_tokens for r in rows for ex in r)
            batch = collate_rows(rows, enc, dec, self.modality_index, batch_index)
            batch.stream_state = StreamState(k, [ex.meta["k"] for ex in buffer]).to_dict()
            batch_index += 1
            yield batch
