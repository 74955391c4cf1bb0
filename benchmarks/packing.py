"""Packing against padding on a run's data mixture: density and training speed.

Usage::

    python benchmarks/packing.py                       # configs/experiment/scene_qa.yaml
    python benchmarks/packing.py --set data.decoder_length=16
    python benchmarks/packing.py --quick               # smoke test

The run's tokenizers are fitted into a temporary ``train.out_dir`` (or ``--out-dir``,
where a second run loads them). Both modes read the same stream of examples
(:class:`uio.core.data.TrainStream`, same seed, same ``data.batch_rows``):

* packed (``packing=True``): first-fit-decreasing over a window of ``8 * rows``
  examples into rows of exactly ``data.encoder_length`` / ``data.decoder_length``;
* padded (``packing=False``, the reference): one example per row, padded to the
  longest example of the batch.

Three tables:

1. density of the first ``--batches`` batches: share of encoder, decoder and all
   slots that hold real tokens, and examples per batch;
2. training speed: each mode trains its own copy of the same fresh model
   (``Run.build_model()``) with AdamW and the config's gradient clipping, one step
   per batch; after ``--warmup`` steps, rounds over the batches are timed,
   alternating packed / padded, and the median round is kept. "tokens" are real
   (non-pad) encoder input plus decoder target tokens;
3. packed density for other ``data.decoder_length`` values (no training), to show
   which decoder length keeps both sides dense for this mixture.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from dataclasses import dataclass
from itertools import islice

import torch
from _common import (
    DEFAULT_CONFIG,
    Variant,
    add_common_args,
    environment,
    print_table,
    ratio,
    set_threads,
    spread,
    time_interleaved,
)

from uio.core.assembly import Run, assemble
from uio.core.config import load_config
from uio.core.data import TrainStream
from uio.core.sequence import PackedBatch, PackingError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="run config (data mixture, model)")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (dotlist)"
    )
    parser.add_argument(
        "--out-dir", default=None, help="train.out_dir for the tokenizers (default: temp)"
    )
    parser.add_argument("--batches", type=int, default=6, help="batches per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed training steps per mode")
    parser.add_argument(
        "--decoder-lengths",
        type=int,
        nargs="*",
        default=[8, 12, 16, 20, 24, 32, 64],
        help="data.decoder_length values for the packed-density sweep (none: skip it)",
    )
    add_common_args(parser, default_repeats=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.warmup = min(args.batches, 2), min(args.warmup, 1)
        args.repeats = 1
        args.decoder_lengths = args.decoder_lengths[:3]
        args.set = ["train.tokenizer_fit_examples=1000", *args.set]
    return args


def stream(run: Run, packing: bool, decoder_length: int | None = None) -> TrainStream:
    cfg = run.config
    return TrainStream(
        run.pipeline(),
        run.sources("train"),
        cfg.seed,
        cfg.data.batch_rows,
        cfg.data.encoder_length,
        decoder_length or cfg.data.decoder_length,
        run.modality_index,
        packing=packing,
    )


@dataclass
class Density:
    """Slot counts of a list of batches."""

    batches: int
    examples: int
    enc_real: int
    enc_slots: int
    dec_real: int
    dec_slots: int

    @classmethod
    def of(cls, batches: list[PackedBatch]) -> Density:
        return cls(
            batches=len(batches),
            examples=sum(b.num_examples for b in batches),
            enc_real=sum(int((b.enc_segment_ids > 0).sum()) for b in batches),
            enc_slots=sum(b.enc_segment_ids.numel() for b in batches),
            dec_real=sum(int((b.dec_segment_ids > 0).sum()) for b in batches),
            dec_slots=sum(b.dec_segment_ids.numel() for b in batches),
        )

    @property
    def real_tokens(self) -> int:
        return self.enc_real + self.dec_real

    def row(self) -> list[object]:
        both = self.real_tokens / (self.enc_slots + self.dec_slots)
        return [
            f"{self.examples / self.batches:.1f}",
            f"{self.enc_real / self.enc_slots:.3f}",
            f"{self.dec_real / self.dec_slots:.3f}",
            f"{both:.3f}",
            f"{self.real_tokens / self.batches:,.0f}",
        ]


def shapes(batches: list[PackedBatch]) -> str:
    """Rows x (encoder + decoder length); a range when lengths vary, as with padding."""

    def span(lengths: set[int]) -> str:
        return str(min(lengths)) if len(lengths) == 1 else f"{min(lengths)}-{max(lengths)}"

    enc = span({b.enc_segment_ids.shape[1] for b in batches})
    dec = span({b.dec_segment_ids.shape[1] for b in batches})
    return f"{batches[0].enc_segment_ids.shape[0]} x ({enc} + {dec})"


def trainer(run: Run, model: torch.nn.Module, batches: list[PackedBatch]):
    """A callable doing one optimiser step per batch (forward, backward, clip, AdamW)."""
    cfg = run.config.train
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    model.train()

    def steps(batch_list: list[PackedBatch] = batches) -> None:
        for batch in batch_list:
            loss = model(batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()

    return steps


def decoder_sweep(run: Run, lengths: list[int], count: int) -> list[list[object]]:
    rows = []
    for length in lengths:
        try:
            batches = list(islice(stream(run, True, length), count))
        except PackingError:
            rows.append([length, "an example does not fit", "", "", "", ""])
            continue
        rows.append([length, *Density.of(batches).row()])
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="uio-bench-") as tmp:
        overrides = [f"train.out_dir={args.out_dir or tmp}", *args.set]
        run = assemble(load_config(args.config, overrides))
        run.prepare_tokenizers(log=lambda msg: print(msg, file=sys.stderr))
    cfg = run.config
    modes = {
        "padded (reference)": list(islice(stream(run, False), args.batches)),
        "packed": list(islice(stream(run, True), args.batches)),
    }
    density = {name: Density.of(b) for name, b in modes.items()}

    print_table(
        f"Density of {args.batches} batches of {cfg.data.batch_rows} rows "
        f"(encoder_length {cfg.data.encoder_length}, decoder_length {cfg.data.decoder_length})",
        [
            "mode",
            "rows x (enc + dec)",
            "examples/batch",
            "enc non-pad",
            "dec non-pad",
            "all non-pad",
            "real tokens/batch",
        ],
        [[name, shapes(modes[name]), *d.row()] for name, d in density.items()],
    )

    torch.manual_seed(cfg.seed)
    fresh = run.build_model()
    variants = []
    for name, batches in modes.items():
        steps = trainer(run, copy.deepcopy(fresh), batches)
        if args.warmup:
            steps(batches[: args.warmup])
        variants.append(Variant(name, steps))
    time_interleaved(variants, args.repeats)

    ref_tokens = density[variants[0].name].real_tokens / variants[0].median
    ref_examples = density[variants[0].name].examples / variants[0].median
    rows = []
    for v in variants:
        d = density[v.name]
        tokens_s, examples_s = d.real_tokens / v.median, d.examples / v.median
        rows.append(
            [
                v.name,
                v.median / d.batches,
                spread(v.seconds),
                f"{tokens_s:,.0f}",
                f"{examples_s:,.1f}",
                ratio(tokens_s, ref_tokens),
                ratio(examples_s, ref_examples),
            ]
        )
    shape = fresh.shape
    print_table(
        f"Training steps (forward + backward + AdamW), {args.batches} steps per round",
        [
            "mode",
            "s/step (median)",
            "spread",
            "real tokens/s",
            "examples/s",
            "tokens/s vs padded",
            "examples/s vs padded",
        ],
        rows,
        caption=(
            f"model {cfg.model.preset or 'custom'}: d_model {shape.d_model}, "
            f"{shape.encoder_layers}+{shape.decoder_layers} layers | {args.warmup} warm-up steps, "
            f"{args.repeats} timed rounds per mode, interleaved\n{environment(threads)}"
        ),
    )

    if args.decoder_lengths:
        print_table(
            f"Packed density by data.decoder_length (encoder_length {cfg.data.encoder_length}, "
            f"{args.batches} batches, no training)",
            [
                "decoder_length",
                "examples/batch",
                "enc non-pad",
                "dec non-pad",
                "all non-pad",
                "real tokens/batch",
            ],
            decoder_sweep(run, args.decoder_lengths, args.batches),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
