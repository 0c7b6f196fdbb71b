"""Before the lesson: how long each preset takes for N students on this server. The estimate
is pure (rounds of runs over the workers, a time budget per run, a twin per Start); the
calibration measures each preset's training steps in a child process, here at small size."""
from __future__ import annotations

import math
import os

import pytest

from explorer.engine import calibration
from explorer.engine.calibration import Timing
from explorer.presets import PRESETS


def test_the_estimate_counts_rounds_of_runs_over_the_workers():
    # one epoch: 10 steps of 0.01 s, and a 0.5 s validation every 2nd epoch -> 0.35 s; 40 epochs
    t = Timing("plain", s_per_step=0.01, val_s=0.5, steps_per_epoch=10, epochs=40, eval_every=2)
    (e,) = calibration.estimate([t], students=5, workers=2)
    assert (e.runs, e.rounds, e.by_budget, e.epochs) == (5, 3, False, 40.0)
    assert e.run_s == pytest.approx(14.0) and e.total_s == pytest.approx(42.0)
    assert calibration.estimate([t], students=4, workers=2)[0].total_s == pytest.approx(28.0)
    assert calibration.estimate([t], students=1, workers=8)[0].total_s == pytest.approx(14.0)


def test_a_time_budget_is_a_runs_length_when_its_epochs_take_longer():
    slow = Timing("budget", s_per_step=0.01, val_s=0.0, steps_per_epoch=100, epochs=100, budget_s=60.0)
    (e,) = calibration.estimate([slow], students=30, workers=4)
    assert e.by_budget and e.run_s == 60.0 and e.epochs == pytest.approx(60.0)      # 1 s an epoch
    assert (e.rounds, e.total_s) == (8, 480.0)
    quick = Timing("budget", s_per_step=0.01, val_s=0.0, steps_per_epoch=10, epochs=10, budget_s=60.0)
    (q,) = calibration.estimate([quick], students=2, workers=1)
    assert not q.by_budget and q.run_s == pytest.approx(1.0) and q.total_s == pytest.approx(2.0)


def test_a_preset_with_a_twin_starts_two_runs_per_student():
    twin = Timing("AE vs VAE", s_per_step=0.01, val_s=0.0, steps_per_epoch=10, epochs=10, runs_per_student=2)
    (e,) = calibration.estimate([twin], students=3, workers=2)
    assert (e.runs, e.rounds) == (6, 3) and e.total_s == pytest.approx(3.0)
    with pytest.raises(ValueError):
        calibration.estimate([twin], students=0, workers=2)


def test_durations_read_as_a_person_says_them():
    assert [calibration.duration(s) for s in (8.4, 60, 75, 3600, 3720)] == \
        ["8 s", "1 min", "1 min 15 s", "1 h", "1 h 2 min"]


def test_steps_per_epoch_and_validation_images_come_from_the_preset():
    mnist = PRESETS["2-minute MNIST"].config          # a 20,000-image subset, batches of 128
    ds, steps, n_eval = calibration._random_data(mnist)
    assert steps == math.ceil(20_000 / 128) and n_eval == 2000          # the fixed validation subset
    assert tuple(ds.x_train.shape[1:]) == (1, 28, 28) and ds.binarize == "dynamic"
    overfit = PRESETS["overfit demo"].config          # 150 digits, batches of 32
    _, steps, n_eval = calibration._random_data(overfit)
    assert steps == math.ceil(150 / 32) and n_eval == round(1797 * 0.2)


def test_a_small_calibration_measures_each_preset_in_another_process():
    cal = calibration.calibrate(["overfit demo", "AE vs VAE"], steps=2, warmup=1)
    assert cal.pid != os.getpid() and cal.threads == 1 and cal.steps == 2
    overfit, ae = cal.timings
    assert (overfit.preset, overfit.steps_per_epoch, overfit.epochs, overfit.runs_per_student) == \
        ("overfit demo", 5, 600, 1)
    assert (ae.preset, ae.runs_per_student) == ("AE vs VAE", 2)
    assert all(t.s_per_step > 0 and t.val_s > 0 for t in cal.timings)
    est = calibration.estimate(cal.timings, students=3, workers=2)
    assert [e.runs for e in est] == [3, 6]
    assert est[0].total_s == pytest.approx(2 * 600 * (5 * overfit.s_per_step + overfit.val_s))


def test_a_failed_calibration_says_why():
    with pytest.raises(calibration.CalibrationError, match="the measurement failed: .*no such preset"):
        calibration.calibrate(["no such preset"], steps=1, warmup=0)
