"""Greedy decoding with the KV cache against without it, at a forced output length.

Usage::

    python benchmarks/generation.py                      # 256 new tokens, batch 1 and 4
    python benchmarks/generation.py --preset small --batch 1 4 8
    python benchmarks/generation.py --quick              # smoke test, a few seconds

What is timed: :func:`uio.core.generation.generate` with ``DecodeOptions(strategy="greedy",
max_new_tokens=N, use_cache=True|False)`` on the same model and the same examples:
one encoder pass, then N decoder steps. Without the cache each step re-runs the
decoder over the whole prefix, so its cost grows with the output length.

Forcing N tokens: ``generate`` stops a row at end-of-sequence, and
``allowed_ids_mask`` always lets EOS through, so a random model would stop at a
random length (often at once). The model is the run's own (``Run.build_model()``,
random weights, the config's shape) with one change: its class is swapped for
:class:`NoEndOfSequence`, a subclass whose ``logits`` sets the EOS column to
``-inf``. It adds no state and no work inside the decoder, and both modes use it,
so both decode exactly N tokens per row; the script checks that (every row has N
ids) and that both modes produce identical tokens, and exits 1 otherwise.

The examples are random ids from the first configured modality's range (no
tokenizer or data is needed), prefixed like a ``prefix_lm`` training example.
"""

from __future__ import annotations

import argparse
import sys

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

from uio.core.assembly import assemble
from uio.core.config import load_config
from uio.core.generation import DecodeOptions, generate
from uio.core.sequence import ModelExample
from uio.core.transformer import UIOTransformer, count_parameters
from uio.core.vocab import EOS_ID
from uio.plugins.spec import Segment


class NoEndOfSequence(UIOTransformer):
    """The same transformer, but end-of-sequence can never be chosen."""

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        out = super().logits(hidden)
        out[..., EOS_ID] = float("-inf")
        return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default=DEFAULT_CONFIG, help="run config giving the model shape"
    )
    parser.add_argument("--preset", default=None, help="model preset (overrides the config's)")
    parser.add_argument("--d-model", type=int, default=None, help="override model.d_model")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens decoded per row")
    parser.add_argument(
        "--batch",
        type=int,
        nargs="+",
        default=[1, 4],
        help="examples decoded together; several values sweep the batch size (default: 1 4)",
    )
    parser.add_argument("--input-tokens", type=int, default=64, help="encoder input length")
    parser.add_argument("--seed", type=int, default=0)
    add_common_args(parser, default_repeats=5)
    args = parser.parse_args(argv)
    if args.quick:
        args.new_tokens = min(args.new_tokens, 48)
        args.batch = args.batch[:1]
        args.repeats = 1
    return args


def build(args: argparse.Namespace):
    """The run (vocabulary, modalities) and its model with EOS masked out."""
    overrides = []
    if args.preset:
        overrides.append(f"model.preset={args.preset}")
    if args.d_model:
        overrides.append(f"model.d_model={args.d_model}")
    run = assemble(load_config(args.config, overrides))
    torch.manual_seed(args.seed)
    model = run.build_model()
    model.__class__ = NoEndOfSequence  # adds no state: only ``logits`` changes
    return run, model.eval()


def make_examples(
    run, batch: int, input_tokens: int, seed: int
) -> tuple[list[ModelExample], list[str]]:
    """``batch`` prompts of random ids from the first modality's range, and their target modality."""
    vocab = run.vocab
    modality = next(iter(run.bound))
    r = vocab.range(modality)
    prefix = next((i for name, i in vocab.prefix_ids.items() if name.endswith("prefix_lm")), None)
    prefix = prefix if prefix is not None else next(iter(vocab.prefix_ids.values()))
    gen = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(batch):
        ids = torch.randint(r.start, r.end, (input_tokens,), generator=gen)
        examples.append(
            ModelExample(
                core_ids=[prefix],
                inputs=[Segment(modality, ids=ids)],
                target_ids=[],
                start_id=vocab.start_ids[modality],
                task="benchmark",
            )
        )
    return examples, [modality] * batch


def measure(run, model, args: argparse.Namespace, batch: int) -> tuple[list[Variant], bool, bool]:
    """Time both modes at one batch size; also whether they agree and decoded full length."""
    examples, targets = make_examples(run, batch, args.input_tokens, args.seed)
    vocab, index = run.vocab, run.modality_index
    outputs: dict[bool, list[list[int]]] = {}

    def decode(use_cache: bool, new_tokens: int = args.new_tokens) -> None:
        opts = DecodeOptions(strategy="greedy", max_new_tokens=new_tokens, use_cache=use_cache)
        outputs[use_cache] = generate(model, examples, targets, vocab, index, opts)

    decode(True, 8)  # warm-up (allocator, SDPA dispatch); outputs are overwritten below
    decode(False, 8)
    variants = [
        Variant("no cache (reference)", lambda: decode(False)),
        Variant("KV cache", lambda: decode(True)),
    ]
    time_interleaved(variants, args.repeats)
    same = outputs[True] == outputs[False]
    full = all(len(row) == args.new_tokens for out in outputs.values() for row in out)
    if not same:
        row, pos = next(
            (b, i)
            for b, (x, y) in enumerate(zip(outputs[True], outputs[False], strict=True))
            for i, (a, c) in enumerate(zip(x, y, strict=False))
            if a != c
        )
        print(
            f"batch {batch}: cached and uncached tokens differ first at row {row}, position {pos}"
        )
    return variants, same, full


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    run, model = build(args)
    rows, checks, ok = [], [], True
    for batch in args.batch:
        variants, same, full = measure(run, model, args, batch)
        ok &= same and full
        produced = batch * args.new_tokens
        reference = variants[0].median
        for v in variants:
            speed = ratio(reference, v.median)
            rows.append(
                [v.name, batch, produced, v.median, spread(v.seconds), produced / v.median, speed]
            )
        checks.append(f"batch {batch}: {'yes' if same else 'NO'}/{'yes' if full else 'NO'}")
    shape = model.shape
    params = count_parameters(model)["total"]
    print_table(
        f"Greedy generation, {args.new_tokens} new tokens per row",
        ["mode", "batch", "tokens", "seconds (median)", "spread", "tokens/s", "speed vs no cache"],
        rows,
        caption=(
            f"model {run.config.model.preset or 'custom'}: d_model {shape.d_model}, "
            f"{shape.encoder_layers}+{shape.decoder_layers} layers, {params / 1e6:.2f}M params, "
            f"vocab {run.vocab.size} | input {args.input_tokens} tokens | {args.repeats} rounds\n"
            f"{environment(threads)}\n"
            f"identical tokens in both modes / every row {args.new_tokens} tokens: {'; '.join(checks)}"
        ),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
