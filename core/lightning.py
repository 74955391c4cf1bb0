"""LightningModule and LightningDataModule of a uio run, and the Trainer built from config."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from uio.core.assembly import Run
from uio.core.checkpoint import UIO_KEY, AtomicCheckpointIO
from uio.core.compilation import compile_layers
from uio.core.data import StreamState, TrainStream

UIO_VERSION = "0.1.0"


class UIOModule(pl.LightningModule):
    """Model + loss + optimiser. Checkpoints carry the resolved config, the vocabulary
    manifest and the tokenizer states, as plain containers and tensors."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.model = run.build_model()
        # Why train.compile fell back to eager (None when compiled or not asked for).
        self.compile_problem = compile_layers(self.model) if run.config.train.compile else None
        self.stream_state: dict[str, Any] | None = None

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch)
        self.stream_state = batch.stream_state
        rows = batch.enc_segment_ids.shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=rows)
        self.log("train/ce", out["ce"], batch_size=rows)
        self.log("train/z_loss", out["z_loss"], batch_size=rows)
        self.log("train/examples", float(batch.num_examples), batch_size=rows, reduce_fx="sum")
        if self.run.config.data.skip_bad_examples:
            self.log("data/skipped_examples", float(batch.stream_state["skipped"]), batch_size=rows)
        return out["loss"]

    def configure_optimizers(self):
        cfg = self.run.config.train
        optimizer = torch.optim.AdamW(param_groups(self.model, cfg), lr=cfg.lr, betas=tuple(cfg.betas))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg, self._time_fraction()))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _time_fraction(self) -> Callable[[], float] | None:
        """The share of ``max_time_minutes`` spent so far (``schedule_over: steps_or_time``).

        Read from Lightning's Timer, which counts from the start of training and keeps
        its count in checkpoints, so a resumed run goes on where the schedule was.
        """
        cfg = self.run.config.train
        if cfg.schedule_over != "steps_or_time":
            return None
        timers = [cb for cb in self.trainer.callbacks if isinstance(cb, Timer)]
        if not timers:
            raise RuntimeError("schedule_over 'steps_or_time' needs a Trainer with max_time set")
        budget_s = cfg.max_time_minutes * 60
        return lambda: timers[0].time_elapsed("train") / budget_s

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[UIO_KEY] = {
            "version": UIO_VERSION,
            "config": self.run.resolved.to_container(),
            "manifest": self.run.manifest(),
            "tokenizers": {n: b.tokenizer.state_dict() for n, b in self.run.bound.items()},
            "stream_state": self.stream_state,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.stream_state = checkpoint.get(UIO_KEY, {}).get("stream_state")


def param_groups(model: torch.nn.Module, cfg) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices (not embeddings, norms or biases), and each
    parameter's learning rate scaled by the longest ``train.lr_scale`` prefix of its name."""
    groups: dict[tuple[bool, float], list[torch.nn.Parameter]] = {}
    prefixes = sorted(cfg.lr_scale, key=len, reverse=True)
    for name, p in model.named_parameters():
        decays = p.dim() >= 2 and "embedding" not in name
        scale = next((cfg.lr_scale[k] for k in prefixes if name.startswith(k)), 1.0)
        groups.setdefault((decays, scale), []).append(p)
    return [
        {"params": params, "weight_decay": cfg.weight_decay if decays else 0.0, "lr": cfg.lr * scale}
        # Decaying groups first: without scales, the two groups of earlier checkpoints.
        for (decays, scale), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1]))
    ]


def warmup_cosine(cfg, time_fraction: Callable[[], float] | None = None):
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` at ``max_steps``, or earlier
    when ``time_fraction`` (the share of the time budget spent) runs ahead of the steps.

    A plain function, not a callable object, so LambdaLR keeps it out of checkpoints.
    """

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / max(1, cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
        if time_fraction is not None:
            progress = max(progress, min(1.0, time_fraction()))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class UIODataModule(pl.LightningDataModule):
    """The resumable training stream of a run."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def train_dataloader(self) -> DataLoader:
        cfg = self.run.config
        # On resume the module's on_load_checkpoint has restored the stream position.
        module = self.trainer.lightning_module if self.trainer is not None else None
        start = StreamState.from_dict(module.stream_state if module is not None else None)
        stream = TrainStream(
            self.run.pipeline(),
            self.run.sources("train"),
            cfg.seed,
            cfg.data.batch_rows,
            cfg.data.encoder_length,
            cfg.data.decoder_length,
            self.run.modality_index,
            packing=cfg.data.packing,
            start=start,
            rank=self.trainer.global_rank if self.trainer is not None else 0,
            skip_bad_examples=cfg.data.skip_bad_examples,
        )
        return DataLoader(stream, batch_size=None, num_workers=0)


def build_trainer(run: Run, *, max_steps: int | None = None, enable_progress_bar: bool = True) -> pl.Trainer:
    """A Lightning Trainer from the run's ``train`` section."""
    cfg = run.config.train
    out = Path(cfg.out_dir)
    logger = (
        TensorBoardLogger(out, name="logs", version="")
        if cfg.logger == "tensorboard"
        else CSVLogger(out, name="logs", version="")
    )
    callbacks = [
        ModelCheckpoint(
            dirpath=out / "checkpoints",
            filename="step{step}",
            auto_insert_metric_name=False,
            every_n_train_steps=cfg.checkpoint_every_n_steps,
            save_top_k=1,
            monitor="step",
            mode="max",
            save_last=True,
        ),
        LearningRateMonitor(logging_interval="step"),
    ]
    if enable_progress_bar:
        callbacks.append(TQDMProgressBar(refresh_rate=10))
    return pl.Trainer(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        precision=cfg.precision,
        strategy=cfg.strategy,
        max_steps=max_steps if max_steps is not None else cfg.max_steps,
        max_time={"minutes": cfg.max_time_minutes} if cfg.max_time_minutes else None,
        gradient_clip_val=cfg.grad_clip or None,
        log_every_n_steps=cfg.log_every_n_steps,
        logger=logger,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=out,
        deterministic=False,
    )
