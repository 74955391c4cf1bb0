"""One training step of a run, eager against ``train.compile`` (compiled layers); MFU on CUDA.

Usage::

    python benchmarks/train_step.py                     # configs/experiment/scene_qa.yaml
    python benchmarks/train_step.py --set data.batch_rows=16 --threads 2
    python benchmarks/train_step.py --quick             # smoke test (no compile)

The run's tokenizers are fitted into a temporary ``train.out_dir`` (as in
``benchmarks/packing.py``) and ``--batches`` packed batches are read from its
``TrainStream``. Two copies of one fresh model (``Run.build_model()``) train on
them with AdamW and the config's gradient clipping:

* **eager (reference)**: the model as built;
* **compiled**: the same after :func:`uio.core.lightning.compile_layers`, what
  ``train.compile: true`` does (skipped by ``--quick`` and ``--no-compile``:
  the first compile takes a minute or more on CPU).

The first ``--warmup`` steps are untimed ("first step s" is the first of them,
compile included). Then rounds over the batches alternate between the variants
and the median round is kept; fwd / bwd / full are the median round's
forward, backward and whole step (forward + backward + clip + AdamW) per
batch. "tokens" are real (non-pad) encoder input plus decoder target tokens.
Peak memory: one more step, tensor memory beyond what was live before it
(``benchmarks/_memory.py``).

On CUDA a second table trains a UIO2-Large-shaped model (preset
``uio2-large``, vocabulary 65,536, bf16 autocast, longer rows; see
``--large-set``) and reports model FLOPs utilisation: torchtitan's
``6 * params + 12 * layers * heads * head_dim * seq`` FLOPs per token, over
989 TFLOP/s (H100 SXM bf16 dense; ``--peak-tflops``); see :func:`step_flops`.
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice

import torch
from _common import DEFAULT_CONFIG, add_common_args, environment, print_table, set_threads, spread
from _memory import mib, peak_of_call
from lightning.fabric.utilities.apply_func import move_data_to_device

from uio.core.assembly import Run, assemble
from uio.core.config import load_config
from uio.core.data import TrainStream
from uio.core.lightning import compile_layers
from uio.core.sequence import PackedBatch
from uio.core.transformer import UIOTransformer, count_parameters

REFERENCE = "eager (reference)"
LARGE_SET = [
    "model.preset=uio2-large",
    "model.vocab_size=65536",
    "model.float32_attention_logits=false",
    "data.batch_rows=8",
    "data.encoder_length=2048",
    "data.decoder_length=176",
]
"""UIO2-Large on the default mixture's examples, rows about 14:1 encoder to decoder like
them. Attention logits stay bf16: the float32 upcast would run attention off the bf16
tensor cores the MFU is counted against."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="run config (data mixture, model)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--batches", type=int, default=4, help="batches per round (default 4)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (default 3)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variant")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--large-set", nargs="*", default=LARGE_SET, metavar="KEY=VALUE",
                        help="overrides of the CUDA UIO2-Large table (default: %(default)s)")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="the accelerator's bf16 dense peak for MFU (default 989, H100 SXM)")
    add_common_args(parser, default_repeats=3)
    args = parser.parse_args(argv)
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.quick:
        args.batches, args.warmup, args.repeats, args.no_compile = 2, 1, 1, True
        args.set = [
            "train.tokenizer_fit_examples=300", "data.batch_rows=2", "data.encoder_length=128",
            "data.decoder_length=16", *args.set,
        ]
    return args


def load_run(config: str, overrides: list[str]) -> Run:
    with tempfile.TemporaryDirectory(prefix="uio-bench-") as tmp:
        run = assemble(load_config(config, [f"train.out_dir={tmp}", *overrides]))
        run.prepare_tokenizers(log=lambda msg: print(msg, file=sys.stderr))
    return run


def read_batches(run: Run, count: int) -> list[PackedBatch]:
    cfg = run.config
    stream = TrainStream(
        run.pipeline(), run.sources("train"), cfg.seed, cfg.data.batch_rows,
        cfg.data.encoder_length, cfg.data.decoder_length, run.modality_index, packing=cfg.data.packing,
    )
    return list(islice(stream, count))


@dataclass
class Trainer:
    """One variant: a model, its optimiser, and its timed rounds."""

    name: str
    model: UIOTransformer
    optimizer: torch.optim.Optimizer
    grad_clip: float
    autocast: torch.dtype | None
    rounds: list[tuple[float, float, float]] = field(default_factory=list)
    first_step_s: float = 0.0

    def step(self, batch: PackedBatch) -> tuple[float, float, float]:
        """Forward, backward and whole-step seconds of one training step."""
        device = next(self.model.parameters()).device
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.type, self.autocast or torch.float32, enabled=self.autocast is not None):
            loss = self.model(batch)["loss"]
        _sync(device)
        mid = time.perf_counter()
        loss.backward()
        _sync(device)
        end_bwd = time.perf_counter()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        _sync(device)
        return mid - start, end_bwd - mid, time.perf_counter() - start

    def run_round(self, batches: list[PackedBatch]) -> None:
        times = [self.step(b) for b in batches]
        self.rounds.append(tuple(sum(t[i] for t in times) / len(batches) for i in range(3)))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def trainers(run: Run, args: argparse.Namespace, autocast: torch.dtype | None) -> tuple[list[Trainer], dict]:
    cfg = run.config.train
    torch.manual_seed(run.config.seed)
    fresh = run.build_model(args.device)
    found, skipped = [], {}
    names = [REFERENCE] + ([] if args.no_compile else ["compiled"])
    if args.no_compile:
        skipped["compiled"] = "--no-compile or --quick (the first compile takes a minute or more on CPU)"
    for name in names:
        model = copy.deepcopy(fresh)
        if name == "compiled":
            compile_layers(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                      weight_decay=cfg.weight_decay)
        found.append(Trainer(name, model, optimizer, cfg.grad_clip, autocast))
    return found, skipped


def step_flops(model: UIOTransformer, batch: PackedBatch) -> float:
    """Model FLOPs of one training step (forward + backward) on ``batch``.

    torchtitan's count (``get_num_flop_per_token``): ``6 * params`` per token for
    the matmuls (2 forward, 4 backward) plus ``12 * layers * heads * head_dim *
    seq`` per token for attention, padding and packing sparsity not discounted;
    embedding tables are not counted. Adapted to the encoder-decoder: encoder
    layers run on every encoder slot; decoder layers on every decoder slot,
    except the cross-attention key/value projections, which run on encoder
    slots; decoder attention spans ``dec + enc`` keys (self + cross); the tied
    output projection adds ``6 * vocab * d`` per decoder slot. Input encoders
    are not counted.
    """
    shape = model.shape
    rows, enc = batch.enc_segment_ids.shape
    dec = batch.dec_segment_ids.shape[1]
    counts = count_parameters(model)
    inner = shape.n_heads * shape.head_dim
    cross_kv = shape.decoder_layers * 2 * shape.d_model * inner
    attn = 12 * shape.n_heads * shape.head_dim
    per_row = (
        enc * (6 * counts["trunk:encoder"] + attn * shape.encoder_layers * enc)
        + enc * 6 * cross_kv
        + dec * (6 * (counts["trunk:decoder"] - cross_kv) + attn * shape.decoder_layers * (dec + enc))
        + dec * 6 * model.vocab_size * shape.d_model
    )
    return float(rows * per_row)


def measure(run: Run, args: argparse.Namespace, autocast: torch.dtype | None) -> tuple[list, dict, dict]:
    """Train every variant; returns them, skip reasons, and facts for the table."""
    batches = [move_data_to_device(b, args.device) for b in read_batches(run, args.batches)]
    found, skipped = trainers(run, args, autocast)
    for t in found:
        for i in range(args.warmup):
            seconds = t.step(batches[i % len(batches)])[2]
            if i == 0:
                t.first_step_s = seconds
    for _ in range(args.repeats):
        for t in found:
            t.run_round(batches)
    peaks = {t.name: peak_of_call(functools.partial(t.step, batches[0]), args.device) for t in found}
    facts = {
        "tokens": sum(int((b.enc_segment_ids > 0).sum() + (b.dec_labels != -100).sum()) for b in batches)
        / len(batches),
        "flops": statistics.mean(step_flops(found[0].model, b) for b in batches),
        "shape": f"{tuple(batches[0].enc_segment_ids.shape)} enc + {tuple(batches[0].dec_segment_ids.shape)} dec",
        "params": sum(p.numel() for p in found[0].model.parameters()),
        "peaks": peaks,
    }
    return found, skipped, facts


def table(title: str, found: list[Trainer], skipped: dict, facts: dict, args, threads: int,
          mfu: bool, extra: list[str]) -> None:
    def median_round(t: Trainer) -> tuple[float, float, float]:
        return sorted(t.rounds, key=lambda r: r[2])[len(t.rounds) // 2]

    ref = median_round(found[0])
    peaks = facts["peaks"]
    rows = []
    for t in found:
        fwd, bwd, full = median_round(t)
        tokens_s = facts["tokens"] / full
        row = [
            t.name, t.first_step_s, fwd, bwd, full, spread([r[2] for r in t.rounds]),
            f"{tokens_s:,.0f}", f"{ref[2] / full:.2f}x", mib(peaks[t.name]),
            f"{peaks[t.name] / peaks[REFERENCE]:.1%}" if peaks[REFERENCE] else "-",
        ]
        if mfu:
            row.append(f"{facts['flops'] / full / (args.peak_tflops * 1e12):.1%}")
        rows.append(row)
    columns = ["variant", "first step s", "fwd s", "bwd s", "full s", "spread", "real tokens/s",
               "speed vs eager", "peak MiB", "memory vs eager"] + (["MFU"] if mfu else [])
    print_table(
        title, columns, rows,
        caption="\n".join([
            f"batch {facts['shape']}, {facts['tokens']:,.0f} real tokens/batch, "
            f"{facts['params'] / 1e6:,.1f}M params, {facts['flops'] / 1e12:,.2f} TFLOP/step (torchtitan count) | "
            f"{args.warmup} warm-up steps, median of {args.repeats} interleaved rounds of {args.batches} steps",
            *extra,
            *(f"{name}: skipped, {why}" for name, why in skipped.items()),
            environment(threads),
        ]),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    run = load_run(args.config, args.set)
    found, skipped, facts = measure(run, args, None)
    shape = found[0].model.shape
    table(
        f"Training step of {run.config.name} (forward + backward + clip + AdamW), {args.device.type}",
        found, skipped, facts, args, threads, mfu=args.device.type == "cuda",
        extra=[f"model {run.config.model.preset or 'custom'}: d_model {shape.d_model}, "
               f"{shape.encoder_layers}+{shape.decoder_layers} layers, float32"],
    )
    if args.device.type != "cuda":
        print("UIO2-Large step with MFU: skipped, needs a CUDA device (bf16 peak of an H100)")
        return 0
    del found
    large = load_run(args.config, [*args.set, *args.large_set])
    found, skipped, facts = measure(large, args, torch.bfloat16)
    table(
        f"UIO2-Large-shaped training step, bf16 autocast, {torch.cuda.get_device_name(args.device)}",
        found, skipped, facts, args, threads, mfu=True,
        extra=[f"overrides: {' '.join(args.large_set)} | MFU over {args.peak_tflops:g} TFLOP/s"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
