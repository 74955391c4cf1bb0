"""The learning-rate schedule: warm-up, cosine decay, and ending it by a time budget."""

from __future__ import annotations

import math

import pytest
from run_fixtures import write_tiny_experiment

from uio.core.assembly import assemble
from uio.core.config import TrainConfig, load_config
from uio.core.lightning import UIOModule, build_trainer, warmup_cosine


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(max_steps=110, warmup_steps=10, min_lr_ratio=0.1, **kw)


def test_warmup_then_cosine_to_the_floor_by_steps():
    factor = warmup_cosine(_cfg())
    assert factor(0) == pytest.approx(0.1)  # (0 + 1) / 10
    assert factor(9) == pytest.approx(1.0)
    assert factor(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half way down the cosine
    assert factor(110) == pytest.approx(0.1)
    assert factor(500) == pytest.approx(0.1)


def test_time_budget_ends_the_decay_when_it_runs_ahead_of_the_steps():
    spent = {"share": 0.0}
    cfg = _cfg(max_time_minutes=1.0, schedule_over="steps_or_time")
    factor = warmup_cosine(cfg, lambda: spent["share"])
    assert factor(60) == pytest.approx(0.55)  # no time spent: the step schedule
    spent["share"] = 0.75
    assert factor(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.75)))
    spent["share"] = 1.3  # past the budget: the floor, never below it
    assert factor(60) == pytest.approx(0.1)
    spent["share"] = 0.2  # behind the steps: the steps lead
    assert factor(60) == pytest.approx(0.55)
    assert factor(5) == pytest.approx(0.6)  # warm-up is counted in steps only


@pytest.mark.parametrize("schedule_over", ["steps", "steps_or_time"])
def test_module_reads_lightnings_timer(tmp_path, schedule_over):
    cfg = write_tiny_experiment(tmp_path, steps=100)
    run = assemble(
        load_config(cfg, ["train.max_time_minutes=2", f"train.schedule_over={schedule_over}"])
    )
    module = UIOModule(run)
    trainer = build_trainer(run, enable_progress_bar=False)
    module.trainer = trainer
    scheduler = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    (timer,) = [cb for cb in trainer.callbacks if type(cb).__name__ == "Timer"]
    timer._offset = 90.0  # 1.5 of the 2 minutes spent (the count a resumed run restores)
    step_factor = warmup_cosine(run.config.train)(50)
    expected = (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.75))
        if schedule_over == "steps_or_time"
        else step_factor
    )
    assert scheduler.lr_lambdas[0](50) == pytest.approx(expected)
    assert all(
        fn is None for fn in scheduler.state_dict()["lr_lambdas"]
    )  # nothing of it in checkpoints


def test_lr_scale_sets_the_rate_of_parameters_by_name_prefix():
    from types import SimpleNamespace

    from core_fixtures import tiny_model, tiny_vocab

    from uio.core.lightning import param_groups

    model = tiny_model(tiny_vocab())
    cfg = SimpleNamespace(lr=0.01, weight_decay=0.1, lr_scale={"encoder_layers": 0.5, "encoder_layers.0.mlp": 0.1})
    groups = param_groups(model, cfg)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert rate[id(named["encoder_layers.1.mlp.wo.weight"])] == 0.005
    assert rate[id(named["encoder_layers.0.mlp.wo.weight"])] == 0.001  # the longest prefix wins
    assert rate[id(named["decoder_layers.0.mlp.wo.weight"])] == 0.01
    assert sum(len(g["params"]) for g in groups) == len(named)
    plain = param_groups(model, SimpleNamespace(lr=0.01, weight_decay=0.1, lr_scale={}))
    assert [g["weight_decay"] for g in plain] == [0.1, 0.0]  # the two groups of old checkpoints
