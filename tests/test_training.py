"""Trainer: steps, metrics rows, schedules, hot parameters, reproducibility, divergence."""
import math

import pytest
import torch

from explorer import data
from explorer.config import RunConfig, TrainConfig
from explorer.training import (Trainer, TrainingDiverged, active_units, beta_at, evaluate, fit)

ROW_KEYS = {"step", "epoch", "samples", "loss", "recon", "kl", "beta", "beta_kl", "lr",
            "grad_norm", "img_s"}


@pytest.fixture(scope="module")
def digits():
    return data.load(RunConfig().data)


def small_cfg(**train):
    t = {"epochs": 2, "batch_size": 64, "lr": 1e-3, "seed": 3, "beta_schedule": "constant"}
    t.update(train)
    return RunConfig.from_dict({"model": {"hidden": [32], "latent_dim": 2}, "train": t})


def test_step_row_and_epochs(digits):
    tr = Trainer(small_cfg(), digits, device="cpu")
    row = tr.step()
    assert ROW_KEYS <= set(row)
    assert row["step"] == 1 and row["samples"] == 64
    assert row["loss"] == pytest.approx(row["recon"] + row["beta_kl"], rel=1e-5)
    assert row["beta_kl"] == pytest.approx(row["beta"] * row["kl"], rel=1e-5)
    while not tr.done:
        tr.step()
    assert tr.step_count == tr.total_steps == 2 * math.ceil(len(digits.x_train) / 64)
    assert tr.epoch == 2
    with pytest.raises(RuntimeError):
        tr.step()


def test_training_lowers_loss_and_evaluates(digits):
    cfg = small_cfg(epochs=8)
    tr0 = Trainer(cfg, digits, device="cpu")
    before = tr0.evaluate()
    tr, rows, summary = fit(cfg, digits)
    after = tr.evaluate()
    assert after["elbo"] > before["elbo"] + 5
    assert summary["val"]["elbo"] == pytest.approx(after["elbo"])
    assert len(after["kl_per_dim"]) == 2
    assert sum(after["kl_per_dim"]) == pytest.approx(after["kl"], rel=1e-6)
    assert after["active_units"] == 2
    val_rows = [r for r in rows if "val_elbo" in r]
    assert len(val_rows) == 8                      # one per epoch


def test_same_seed_same_metrics(digits):
    a = [Trainer(small_cfg(), digits, device="cpu") for _ in range(2)]
    ra = [a[0].step()["loss"] for _ in range(15)]
    rb = [a[1].step()["loss"] for _ in range(15)]
    assert ra == rb
    c = Trainer(small_cfg(seed=4), digits, device="cpu")
    assert [c.step()["loss"] for _ in range(15)] != ra


def test_hot_beta_and_lr(digits):
    tr = Trainer(small_cfg(), digits, device="cpu")
    tr.step()
    tr.set_beta(4.0)
    tr.set_lr(1e-4)
    row = tr.step()
    assert row["beta"] == 4.0 and row["lr"] == 1e-4
    assert tr.optimizer.param_groups[0]["lr"] == 1e-4
    assert tr.events == [{"step": 1, "param": "beta", "value": 4.0},
                         {"step": 1, "param": "lr", "value": 1e-4}]
    with pytest.raises(ValueError):
        tr.set_beta(-1)
    with pytest.raises(ValueError):
        tr.set_lr(float("nan"))


def test_beta_schedules():
    t = TrainConfig(beta_schedule="constant", warmup_steps=100, cycle_steps=100, cycle_ratio=0.5,
                    capacity_max=10, capacity_steps=50, free_bits=0.25)
    assert beta_at(t, 30, 2.0).beta == 2.0
    t.beta_schedule = "warmup"
    assert [beta_at(t, s, 2.0).beta for s in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]
    t.beta_schedule = "cyclical"
    assert [beta_at(t, s, 1.0).beta for s in (0, 25, 50, 99, 100, 125)] == [0, 0.5, 1, 1, 0, 0.5]
    t.beta_schedule = "capacity"
    assert beta_at(t, 25, 1.0).capacity == 5.0 and beta_at(t, 500, 1.0).capacity == 10.0
    t.beta_schedule = "free_bits"
    assert beta_at(t, 0, 1.0).free_bits == 0.25


def test_free_bits_keeps_kl_up(digits):
    """With a large β, free bits keep each dimension's KL near its floor instead of collapsing."""
    plain = fit(small_cfg(epochs=6, beta=20.0), digits)[0].evaluate()
    fb = fit(small_cfg(epochs=6, beta=20.0, beta_schedule="free_bits", free_bits=1.0), digits)[0].evaluate()
    assert fb["kl"] > plain["kl"] + 0.5


def test_divergence_stops_with_reason_and_keeps_weights(digits):
    tr = Trainer(small_cfg(), digits, device="cpu")
    tr.step()
    good = {k: v.clone() for k, v in tr.model.state_dict().items()}
    with torch.no_grad():
        tr.model.head.weight[0, 0] = float("nan")      # poison: the next loss is NaN
    bad_weight = tr.model.head.weight.clone()
    with pytest.raises(TrainingDiverged, match="diverged"):
        tr.step()
    assert tr.done and "learning rate" in tr.stop_reason
    # the optimiser did not step: every other tensor is as before
    for k, v in tr.model.state_dict().items():
        if k != "head.weight":
            assert torch.equal(v, good[k]), k
    assert torch.equal(tr.model.head.weight[1:], bad_weight[1:])


def test_fit_reports_divergence_and_saves_last_good_weights(digits, tmp_path):
    import dataclasses

    from explorer import store
    poisoned = dataclasses.replace(digits, x_train=digits.x_train.clone())
    poisoned.x_train[:] = float("nan")           # every batch gives a NaN loss
    cfg = small_cfg()
    tr, rows, summary = fit(cfg, poisoned, tmp_path / "run")
    assert summary["status"] == "diverged" and "diverged at step 0" in summary["reason"]
    assert tr.step_count == 0 and rows == []
    initial = Trainer(cfg, digits, device="cpu").model.state_dict()   # same seed, same init
    saved = store.load_model(tmp_path / "run", device="cpu").state_dict()
    for k, v in initial.items():
        assert torch.equal(saved[k], v), k


def test_active_units_criterion():
    mu = torch.zeros(100, 3)
    mu[:, 0] = torch.linspace(-1, 1, 100)       # variance ~0.34: active
    mu[:, 1] = torch.linspace(-0.05, 0.05, 100)  # variance ~0.0008: inactive
    n, var = active_units(mu)
    assert n == 1 and var[0] > 0.01 and var[1] < 0.01


def test_ae_trains_with_zero_kl(digits):
    cfg = small_cfg()
    cfg.model.kind = "ae"
    tr, rows, summary = fit(cfg, digits)
    assert all(r["kl"] == 0.0 for r in rows)
    assert summary["val"]["kl"] == 0.0


def test_mc_samples_and_dynamic_binarisation(digits):
    cfg = small_cfg(mc_samples=4)
    cfg.data.binarize = "dynamic"
    ds = data.load(cfg.data)
    tr = Trainer(cfg, ds, device="cpu")
    x = tr._next_batch()
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    row = tr.step()
    assert math.isfinite(row["loss"])


def test_evaluate_train_split(digits):
    tr = Trainer(small_cfg(), digits, device="cpu")
    ev = evaluate(tr.model, digits, split="train", max_n=100)
    assert ev["n"] == 100 and math.isfinite(ev["elbo"])


def test_a_time_budget_finishes_the_run_with_its_epochs_counted():
    """``train.time_budget_s``: the run finishes (not "stopped") once its training time is
    spent, however many epochs were asked for, and says how many fitted."""
    cfg = RunConfig().replace(data={"name": "moons", "n_points": 512}, model={"hidden": [16]},
                              train={"epochs": 100_000, "batch_size": 64, "time_budget_s": 0.5})
    trainer, rows, summary = fit(cfg, data.load(cfg.data))
    assert summary["status"] == "finished" and trainer.out_of_time
    assert 0 < trainer.step_count < trainer.total_steps and trainer.active_s >= 0.5
    assert f"fitted {trainer.epoch_float:.1f} epochs" in summary["reason"] and "time_budget_s" in summary["reason"]
    assert "val_recon" in rows[-1]                          # the last step was validated
    with pytest.raises(Exception, match="time_budget_s"):
        cfg.replace(train={"time_budget_s": -1.0})
