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

from uio.core.pipeline import ExampleError, ExamplePipeline
from uio.core.sequence import ModelExample, collate_rows, packed_batches


@dataclass
class StreamState:
    """Where the stream stands: the next example index and those waiting to be packed."""

    next_index: int = 0
    waiting: list[int] = field(default_factory=list)
    skipped: int = 0
    """Bad examples skipped so far (``data.skip_bad_examples``)."""
    skipped_reasons: list[str] = field(default_factory=list)
    """The first few skipped examples' errors."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "next_index": self.next_index,
            "waiting": list(self.waiting),
            "skipped": self.skipped,
            "skipped_reasons": list(self.skipped_reasons),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> StreamState:
        return cls(**d) if d else cls()


#: Skipped examples whose errors a run keeps, to report.
MAX_REASONS = 5
#: Consecutive bad examples after which skipping stops: the data is broken, not noisy.
MAX_CONSECUTIVE_BAD = 1000


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
        skip_bad_examples: bool = False,
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
        self.skip_bad_examples = skip_bad_examples
        self.skipped = self.start.skipped
        self.skipped_reasons = list(self.start.skipped_reasons)

    def example(self, k: int) -> ModelExample:
        """Example ``k`` of the stream (raises :class:`ExampleError` on a bad one)."""
        rng = random.Random(f"{self.seed}:{k}" if self.rank == 0 else f"{self.seed}:rank{self.rank}:{k}")
        (examples, _), = rng.choices(self.sources, weights=self.weights, k=1)
        raw = examples[rng.randrange(len(examples))]
        ex = self.pipeline(raw, rng)
        ex.meta["k"] = k
        return ex

    def _good_example(self, k: int) -> ModelExample | None:
        """Example ``k``, or ``None`` when it is bad and bad examples are skipped (counted)."""
        if not self.skip_bad_examples:
            return self.example(k)
        try:
            return self.example(k)
        except ExampleError as exc:
            self.skipped += 1
            if len(self.skipped_reasons) < MAX_REASONS:
                self.skipped_reasons.append(str(exc))
            return None

    def __iter__(self) -> Iterator:
        next_index = self.start.next_index

        def examples() -> Iterator[ModelExample]:
            nonlocal next_index
            misses = 0
            while True:
                ex = self._good_example(next_index)
                next_index += 1
                if ex is not None:
                    misses = 0
                    yield ex
                    continue
                misses += 1
                if misses >= MAX_CONSECUTIVE_BAD:
                    raise ExampleError(
                        f"{misses} bad examples in a row (data.skip_bad_examples is on); the data looks "
                        f"broken rather than noisy. First errors: {'; '.join(self.skipped_reasons[:3])}"
                    )

        waiting = [self.example(k) for k in self.start.waiting]
        if self.packing:
            batches = packed_batches(
                examples(), self.rows, self.encoder_length, self.decoder_length,
                self.modality_index, self.window, waiting,
            )
        else:
            batches = self._padded(examples(), waiting)
        for batch, left in batches:
            batch.stream_state = StreamState(
                next_index, [ex.meta["k"] for ex in left], self.skipped, self.skipped_reasons
            ).to_dict()
            yield batch

    def _padded(self, stream: Iterator[ModelExample], waiting: list[ModelExample]):
        """One example per row, padded to the longest of the batch (the no-packing baseline)."""
        while True:
            rows = [*waiting, *(next(stream) for _ in range(self.rows - len(waiting)))]
            waiting = []
            enc = max(ex.encoder_tokens for ex in rows)
            dec = max(ex.decoder_tokens for ex in rows)
            yield collate_rows([[ex] for ex in rows], enc, dec, self.modality_index), []
