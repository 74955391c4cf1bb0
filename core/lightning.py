"""LightningModule and LightningDataModule of a uio run, and the Trainer built from config."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader

from uio.core.assembly import Run
from uio.core.checkpoint import UIO_KEY, AtomicCheckpointIO
from uio.core.data import StreamState, TrainStream
from uio.core.transformer import UIOTransformer

UIO_VERSION = "0.1.0"


class UIOModule(pl.LightningModule):
    """Model + loss + optimiser. Checkpoints carry the resolved config, the vocabulary
    manifest and the tokenizer states, as plain containers and tensors."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run
        self.model = run.build_model()
        if run.config.train.compile:
            compile_layers(self.model)
        self.stream_state: dict[str, Any] | None = None

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch)
        self.stream_state = batch.stream_state
        rows = batch.enc_segment_ids.shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=rows)
        self.log("train/ce", out["ce"], batch_size=rows)
        self.log("train/z_loss", out["z_loss"], batch_size=rows)
        self.log("train/examples", float(batch.num_examples), batch_size=rows, reduce_fx="sum")
        return out["loss"]

    def configure_optimizers(self):
        cfg = self.run.config.train
        decay, no_decay = [], []
        for name, p in self.model.named_parameters():
            (decay if p.dim() >= 2 and "embedding" not in name else no_decay).append(p)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr,
            betas=tuple(cfg.betas),
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(cfg))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

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


def compile_layers(model: UIOTransformer) -> None:
    """``torch.compile`` every encoder and decoder layer in place (``train.compile``).

    Per layer, as torchtitan compiles per transformer block: the layers share one
    compiled graph, and the input encoders (whose payload lists change from batch
    to batch and would force recompiles) and the chunked loss stay eager.
    ``Module.compile`` keeps parameter names, so checkpoints are unchanged.
    """
    for layer in (*model.encoder_layers, *model.decoder_layers):
        layer.compile()


def warmup_cosine(cfg):
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` at ``max_steps``."""

    def factor(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / max(1, cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
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
