"""The ``uio`` command: train, generate, eval, fit-tokenizer, export, plugins, config."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

# emoji=False: key paths such as "exp.yaml:train: ..." must not turn into emoji.
console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)

def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that are the user's to fix: printed as a message, never a traceback."""
    from uio.core.assembly import DataSourceError
    from uio.core.binding import ModalityBuildError
    from uio.core.checkpoint import CheckpointError
    from uio.core.config import ConfigError
    from uio.core.pipeline import ExampleError
    from uio.core.sequence import PackingError
    from uio.core.vocab import VocabularyError
    from uio.plugins.registry import PluginError

    return (
        ConfigError, PluginError, CheckpointError, ExampleError, PackingError, VocabularyError,
        DataSourceError, ModalityBuildError,
    )


# --------------------------------------------------------------------------- helpers


def _resolve(config: str | None, overrides: Sequence[str]):
    from uio.core.config import load_config

    return load_config(config, list(overrides))


def _version_report() -> str:
    from uio.core.lightning import UIO_VERSION
    from uio.plugins.registry import get_registry

    lines = [f"uio {UIO_VERSION}", "plugins:"]
    for p in get_registry().plugins:
        status = "ok" if p.status == "ok" else f"BROKEN: {p.error}"
        lines.append(f"  {p.name} {p.version} ({p.distribution or 'in-process'}) {status}")
    return "\n".join(lines)


def _decoders(loaded) -> dict[str, Any]:
    return {name: bound.decoder for name, bound in loaded.run.bound.items()}


def _shown(value: Any, decoder: Any) -> str:
    """Words for a value: itself when it is a string, else its decoder's one-line rendering."""
    if isinstance(value, str) or decoder is None:
        return str(value)
    try:
        return decoder.render(value)
    except (TypeError, ValueError):
        return str(value)


def _print_results(results: list[dict[str, Any]], limit: int, decoders: dict[str, Any] | None = None) -> None:
    decoders = decoders or {}
    table = Table(title="generations", show_lines=False)
    for col in ("task", "input", "prediction", "reference", "ok"):
        table.add_column(col, overflow="fold")
    for r in results[:limit]:
        ok = all(v >= 1.0 for v in r["scores"].values()) if r["scores"] else None
        table.add_row(
            escape(r["task"]),
            escape(str(r["input"])[-90:]),
            escape(_shown(r["prediction"], decoders.get(r.get("modality")))),
            escape(_shown(r["reference"], decoders.get(r.get("modality")))),
            "[green]yes[/]" if ok else "[red]no[/]",
        )
    console.print(table)


# --------------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    import lightning.pytorch as pl

    from uio.core.assembly import assemble
    from uio.core.lightning import UIODataModule, UIOModule, build_trainer

    resolved = _resolve(args.config, args.overrides)
    run = assemble(resolved)
    cfg = run.config
    console.print(f"[bold]uio train[/] {resolved.path or ''} -> {run.out_dir}")
    if cfg.train.fit_missing_tokenizers:
        report = run.prepare_tokenizers(log=console.print)
        for name, figures in report.items():
            console.print(f"  fitted {name}: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    else:
        from uio.core.binding import load_tokenizers, unfitted

        load_tokenizers(run.bound, run.tokenizer_dir)
        missing = unfitted(run.bound)
        if missing:
            raise SystemExit(f"tokenizers not fitted: {', '.join(missing)}; run `uio fit-tokenizer`")
    pl.seed_everything(cfg.seed, verbose=False)
    module = UIOModule(run)
    console.print(
        f"model: {sum(p.numel() for p in module.model.parameters()):,} parameters; vocabulary {run.vocab.size:,} ids; "
        f"rows {cfg.data.batch_rows} x ({cfg.data.encoder_length} enc + {cfg.data.decoder_length} dec)"
    )
    if module.compile_problem is not None:
        console.print(
            f"[yellow]train.compile: torch.compile cannot run here, training eager[/] ({escape(module.compile_problem)})"
        )
    elif cfg.train.compile:
        console.print("layers compiled with torch.compile; the first steps include the compile time")
    trainer = build_trainer(run, enable_progress_bar=not args.no_progress)
    ckpt_path = args.resume
    if ckpt_path == "auto":
        last = run.out_dir / "checkpoints" / "last.ckpt"
        ckpt_path = str(last) if last.exists() else None
    trainer.fit(module, datamodule=UIODataModule(run), ckpt_path=ckpt_path)
    final = run.out_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(final, weights_only=False)
    console.print(f"[green]trained {trainer.global_step} steps[/]; checkpoint: {final}")
    _report_skipped(module.stream_state)
    return 0


def _report_skipped(stream_state: dict[str, Any] | None) -> None:
    """Say how many bad examples ``data.skip_bad_examples`` skipped, and why the first ones."""
    skipped = (stream_state or {}).get("skipped", 0)
    if not skipped:
        return
    console.print(f"[yellow]skipped {skipped} bad training example(s)[/] (data.skip_bad_examples); first:")
    for reason in stream_state.get("skipped_reasons", []):
        console.print(f"  - {escape(reason)}")


def cmd_fit_tokenizer(args: argparse.Namespace) -> int:
    from uio.core.assembly import TokenizerChoiceError, assemble

    run = assemble(_resolve(args.config, args.overrides))
    try:
        report = run.prepare_tokenizers(refit=True, only=args.modality, log=console.print)
    except TokenizerChoiceError as e:
        raise SystemExit(f"uio fit-tokenizer: --modality: {e}") from e
    if not report:
        console.print("no configured modality has a trainable tokenizer")
    for name, figures in report.items():
        console.print(f"[green]{name}[/]: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()))
    console.print(f"saved to {run.tokenizer_dir}")
    return 0


def _decode_options(loaded, args: argparse.Namespace):
    from uio.core.generation import DecodeOptions

    names = ("strategy", "max_new_tokens", "num_beams", "top_k", "top_p", "temperature", "guidance_scale")
    overrides = {k: v for k in names
                 if (v := getattr(args, k, None)) is not None}
    if getattr(args, "no_cache", False):
        overrides["use_cache"] = False
    if "guidance_scale" in overrides:  # one weight for every modality, as the flag says
        overrides["guidance_scales"] = {}
    return DecodeOptions.from_config(loaded.run.config.generate, **overrides)


def cmd_eval(args: argparse.Namespace) -> int:
    from uio.core.evaluation import evaluate, guidance_ablation
    from uio.core.inference import load_run

    loaded = load_run(args.checkpoint, args.overrides)
    cfg = loaded.run.config.eval
    split = args.split or cfg.split
    options = _decode_options(loaded, args)
    with console.status(f"evaluating on {split} ...") as status:
        summary, results = evaluate(
            loaded, split, args.max_examples or cfg.max_examples, cfg.batch_size, options,
            progress=lambda done, total: status.update(f"evaluating on {split}: {done}/{total}"),
        )
    ablation = guidance_ablation(loaded, results, cfg.batch_size, options)
    if ablation:
        summary["guidance_ablation"] = ablation
    out = Path(args.out) if args.out else loaded.checkpoint_path.parent.parent / f"eval-{split}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "metrics.json", "w") as f:
        json.dump(summary, f, indent=2)
    _write_generations(loaded, results, out)
    gallery = None
    if not args.no_gallery:
        from uio.core.gallery import write_gallery

        gallery = write_gallery(loaded, results, out / "gallery", title=f"uio: {loaded.run.config.name} on {split}")
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    _print_results(results, cfg.show_examples, _decoders(loaded))
    table = Table(title=f"metrics on the {split} split ({summary['n']} examples)")
    for col in ("task", "n", "metric", "score", "chance"):
        table.add_column(col, justify="right" if col in ("n", "score", "chance") else "left")
    for task, t in summary["tasks"].items():
        for metric, value in t["metrics"].items():
            table.add_row(task, str(t["n"]), metric, f"{value:.3f}", f"{t['chance'][metric]:.3f}")
    for metric, value in summary["overall"].items():
        table.add_row("[bold]overall[/]", str(summary["n"]), metric, f"[bold]{value:.3f}[/]",
                      f"{summary['overall_chance'][metric]:.3f}")
    console.print(table)
    if ablation:
        _print_ablation(ablation)
    console.print(f"metrics: {out / 'metrics.json'}; generations: {out / 'generations.jsonl'}")
    if gallery is not None:
        console.print(f"[bold]gallery:[/] {gallery}")
    return 0


def _print_ablation(ablation: dict[str, Any]) -> None:
    scales = ", ".join(f"{m} {a:g}" for m, a in ablation["guidance_scales"].items())
    table = Table(title=f"classifier-free guidance ({scales}) against none")
    for col in ("task", "n", "metric", "guided", "unguided"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for task, t in ablation["tasks"].items():
        for metric, value in t["guided"].items():
            table.add_row(task, str(t["n"]), metric, f"{value:.3f}", f"{t['unguided'].get(metric, float('nan')):.3f}")
    console.print(table)


def _write_generations(loaded, results: list[dict[str, Any]], out: Path) -> None:
    """``generations.jsonl``, with values a decoder writes to files (PNG, WAV) saved
    under ``out/files`` and named by path."""
    from uio.plugins.spec import FileDecoder

    with open(out / "generations.jsonl", "w") as f:
        for i, r in enumerate(results):
            row = {k: v for k, v in r.items() if k != "raw"}
            decoder = loaded.run.bound[r["modality"]].decoder
            if isinstance(decoder, FileDecoder):
                stem = out / "files" / f"{i:05d}-{r['task']}"
                row["prediction"] = str(decoder.write(r["prediction"], stem.with_suffix(decoder.file_suffix)))
                row["reference"] = decoder.render(r["reference"]) if not isinstance(r["reference"], str) else r["reference"]
            f.write(json.dumps(row, default=str) + "\n")


def cmd_generate(args: argparse.Namespace) -> int:
    from uio.core.inference import load_run

    loaded = load_run(args.checkpoint, args.overrides)
    if args.example:
        raws = [json.loads(e) for e in args.example]
    elif args.examples:
        with open(args.examples) as f:
            raws = [json.loads(line) for line in f if line.strip()]
    else:
        raws = loaded.run.dataset(args.split, args.n)
    results = loaded.generate(raws, _decode_options(loaded, args))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        _write_generations(loaded, results, out)
        console.print(f"generations: {out / 'generations.jsonl'}")
    if args.json:
        for r in results:
            print(json.dumps({k: v for k, v in r.items() if k != "raw"}, default=str))
    else:
        _print_results(results, len(results), _decoders(loaded))
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from uio.plugins.registry import get_registry

    registry = get_registry()
    if args.plugins_command == "show":
        info = registry.plugin(args.name)
        data = dict(info.__dict__)
        data["modality_specs"] = {
            m: {
                "description": registry.modalities[m].description,
                "config": registry.modalities[m].config_model.model_json_schema(),
                "objectives": [o.name for o in registry.modalities[m].objectives],
                "position_dims": registry.modalities[m].position_dims,
            }
            for m in info.modalities if m in registry.modalities
        }
        print(json.dumps(data, indent=2, default=str))
        return 0
    rows = [dict(p.__dict__) for p in registry.plugins]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="uio plugins")
    for col in ("name", "distribution", "version", "provides", "status"):
        table.add_column(col, overflow="fold")
    for p in registry.plugins:
        provides = "; ".join(
            f"{k}: {', '.join(v)}" for k, v in
            (("modalities", p.modalities), ("tasks", p.tasks), ("datasets", p.datasets)) if v
        )
        status = "[green]ok[/]" if p.status == "ok" else f"[red]broken[/]: {escape(p.error)}"
        table.add_row(p.name, p.distribution, p.version, provides, status)
    console.print(table)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    resolved = _resolve(args.config, args.overrides)
    if args.config_command == "validate":
        console.print(f"[green]ok[/]: {args.config} is valid")
        return 0
    from uio.core.assembly import assemble
    from uio.core.config import config_to_yaml
    from uio.core.transformer import count_parameters

    print(config_to_yaml(resolved))
    run = assemble(resolved)
    counts = count_parameters(run.build_model("meta"))
    table = Table(title=f"parameters (vocabulary {run.vocab.size:,} ids)")
    table.add_column("part")
    table.add_column("parameters", justify="right")
    for part, n in counts.items():
        table.add_row(part, f"{n:,}")
    console.print(table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from uio.core.export import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.out)
    console.print(f"exported to {out}")
    return 0


# --------------------------------------------------------------------------- parser


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("overrides", nargs="*", help="dotlist overrides, e.g. train.max_steps=200")


def _add_decoding(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", choices=["greedy", "sample", "beam"])
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--num-beams", type=int)
    p.add_argument("--top-k", type=int)
    p.add_argument("--top-p", type=float)
    p.add_argument("--temperature", type=float)
    p.add_argument("--no-cache", action="store_true", help="decode without the KV cache")
    p.add_argument(
        "--guidance-scale", type=float,
        help="classifier-free guidance weight for every guided modality (0: off); replaces generate.guidance_scales",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="uio", description="Early-fusion multimodal models, modalities as plugins.")
    parser.add_argument("--version", action="store_true", help="print the version and the plugins")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("train", help="train a model from an experiment config")
    p.add_argument("config")
    _add_overrides(p)
    p.add_argument("--resume", help="checkpoint to resume from, or 'auto' for the run's last.ckpt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("fit-tokenizer", help="fit the trainable tokenizers on the experiment's data")
    p.add_argument("config")
    _add_overrides(p)
    p.add_argument("--modality", action="append", metavar="NAME",
                   help="refit only this modality's tokenizer (repeatable); the others are loaded")
    p.set_defaults(func=cmd_fit_tokenizer)

    p = sub.add_parser("eval", help="metrics per task on a held-out split, with chance beside each")
    p.add_argument("checkpoint")
    _add_overrides(p)
    p.add_argument("--split")
    p.add_argument("--max-examples", type=int)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--out", help="folder for metrics.json, generations.jsonl and the gallery")
    p.add_argument("--no-gallery", action="store_true", help="skip the HTML gallery")
    _add_decoding(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="generate outputs for examples")
    p.add_argument("checkpoint")
    _add_overrides(p)
    p.add_argument("--example", action="append", help="a raw example as JSON (repeatable)")
    p.add_argument("--examples", help="a JSON Lines file of raw examples")
    p.add_argument("--split", default="heldout", help="without --example(s): take examples from this split")
    p.add_argument("-n", type=int, default=8, help="how many examples from the split")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--out", help="folder for generations.jsonl and generated files (PNG, WAV)")
    _add_decoding(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("export", help="write safetensors weights, config.json and a model card")
    p.add_argument("checkpoint")
    p.add_argument("out")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("plugins", help="list or show plugins")
    psub = p.add_subparsers(dest="plugins_command", required=True)
    q = psub.add_parser("list")
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("show")
    q.add_argument("name")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("config", help="show or validate a config")
    psub = p.add_subparsers(dest="config_command", required=True)
    for name in ("show", "validate"):
        q = psub.add_parser(name)
        q.add_argument("config")
        _add_overrides(q)
    p.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``uio`` console script."""
    parser = build_parser()
    # Overrides may come after flags (`uio eval CKPT --json a.b=1`): argparse
    # leaves those behind, so they are collected here.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.version:
        print(_version_report())
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except _user_errors() as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        if os.environ.get("UIO_DEBUG"):
            raise
        return 2


if __name__ == "__main__":
    sys.exit(main())
