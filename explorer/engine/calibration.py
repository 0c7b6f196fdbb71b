"""Before a lesson: how long each preset takes for N students on this server, from a short
measured calibration.

* :func:`calibrate` measures, in a child process (:func:`explorer.processes.run_in`, forked as
  the engine's workers are) at the workers' nice (+10) and torch threads, never in the app
  server's process: for each preset (and its twin), the preset's model and trainer on random
  images of the preset's data shape (the data themselves are not needed: a step costs the
  same on any pixels), a few warm-up steps, then ``steps`` timed training steps, and one
  timed validation pass over as many images as the run validates at an epoch's end. Steps per epoch come from the
  configuration and the data's size (:func:`explorer.memory.split_sizes`), without loading it.
* :func:`estimate` is pure: one run is its epochs × (steps per epoch × s/step + a validation
  every ``eval_every`` epochs), or its time budget when it has one and the epochs would take
  longer; N students start N runs (twice that for a preset that trains a twin), and W
  workers train W at once, so the class takes ⌈runs / W⌉ rounds of one run.

What it leaves out, and the page says so: each run's start (loading its data), its saves and
live snapshots, and its final evaluation; and W runs sharing fewer than W cores.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import memory, processes
from ..config import RunConfig
from ..data import Dataset
from ..presets import PRESETS
from ..training import Trainer, validation_rows
from .worker import WORKER_NICE

STEPS, WARMUP = 30, 5           # timed steps per preset, after the warm-up ones
TIMEOUT_S = 300                 # far above the few seconds it takes


class CalibrationError(RuntimeError):
    """The measurement could not be made; the message says why."""


@dataclass(frozen=True)
class Timing:
    """One preset measured on this server: its runs' size and the measured times."""
    preset: str
    s_per_step: float               # a training step, measured (the slowest of the preset's runs)
    val_s: float                    # one validation pass at an epoch's end, measured
    steps_per_epoch: int
    epochs: int
    eval_every: int = 1
    budget_s: float = 0.0           # train.time_budget_s (0: none)
    runs_per_student: int = 1       # Start trains the preset's twin as well (AE vs VAE: 2)


@dataclass(frozen=True)
class Calibration:
    """A calibration's timings, when and where it was measured."""
    timings: tuple[Timing, ...]
    measured_at: float              # time.time() when it ended
    threads: int                    # torch threads of the measuring process (as a worker's)
    pid: int                        # the measuring process (never the app server's)
    steps: int                      # timed steps per preset


@dataclass(frozen=True)
class PresetTime:
    """How long a preset takes for the class (:func:`estimate`)."""
    preset: str
    runs: int                       # runs the class starts
    rounds: int                     # ⌈runs / workers⌉
    run_s: float                    # one run
    total_s: float                  # the whole class: rounds × one run
    epochs: float                   # epochs one run trains (what fits in its budget)
    by_budget: bool                 # its time budget ends it


# ------------------------------------------------------------------ the estimate (pure)

def run_seconds(t: Timing) -> tuple[float, float, bool]:
    """(seconds one run trains, epochs it trains, whether its time budget ends it)."""
    epoch_s = t.steps_per_epoch * t.s_per_step + t.val_s / max(1, t.eval_every)
    full = t.epochs * epoch_s
    if t.budget_s and t.budget_s < full:
        return t.budget_s, t.budget_s / epoch_s if epoch_s > 0 else float(t.epochs), True
    return full, float(t.epochs), False


def estimate(timings, students: int, workers: int) -> list[PresetTime]:
    """How long each preset takes for ``students`` students when ``workers`` runs train at
    once: every student presses Start (or the teacher pushes it to all), so the class's runs
    go through the workers in ⌈runs / workers⌉ rounds of one run each."""
    if students < 1 or workers < 1:
        raise ValueError("students and workers must be at least 1")
    out = []
    for t in timings:
        run_s, epochs, by_budget = run_seconds(t)
        runs = students * t.runs_per_student
        rounds = math.ceil(runs / workers)
        out.append(PresetTime(t.preset, runs, rounds, run_s, rounds * run_s, epochs, by_budget))
    return out


def duration(seconds: float) -> str:
    """``75`` → "1 min 15 s", ``3720`` → "1 h 2 min", ``8.4`` → "8 s"."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")


# ------------------------------------------------------------------ the measurement

def _random_data(config: RunConfig) -> tuple[Dataset, int, int]:
    """Random images of the preset's data shape (a step's cost does not depend on the pixels),
    enough for timed batches and one validation pass; with the run's steps per epoch and the
    images it validates on."""
    fp = memory.footprint(config.data)
    n_train, n_val = memory.split_sizes(config, fp)
    rows = validation_rows(n_val, config.train.val_subset, config.data.split_seed)
    n_eval = n_val if rows is None else len(rows)
    batch = min(config.train.batch_size, n_train)
    g = torch.Generator().manual_seed(0)
    pool = min(n_train, 4 * batch)
    ds = Dataset(name=config.data.name, x_train=torch.rand((pool, *fp.item_shape), generator=g),
                 y_train=None, x_val=torch.rand((n_eval, *fp.item_shape), generator=g), y_val=None,
                 class_names=None, image_shape=tuple(fp.item_shape) if fp.is_image else None,
                 checksum="calibration", binarize=config.data.binarize)
    return ds, math.ceil(n_train / batch), n_eval


def measure(config: RunConfig, steps: int = STEPS, warmup: int = WARMUP) -> tuple[float, float, int]:
    """(s per training step, s per validation pass, steps per epoch) of ``config`` here."""
    ds, steps_per_epoch, _ = _random_data(config)
    trainer = Trainer(config.replace(train={"time_budget_s": 0.0}), ds, device="cpu")
    for _ in range(warmup):
        trainer.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    s_step = (time.perf_counter() - t0) / steps
    t0 = time.perf_counter()
    trainer.evaluate()
    return s_step, time.perf_counter() - t0, steps_per_epoch


def measure_presets(names=None, steps: int = STEPS, warmup: int = WARMUP) -> list[Timing]:
    """Each preset (``names``: some of them) measured in this process: :func:`measure` of its
    run, and of its twin's (the slower counts)."""
    out = []
    for name in names or list(PRESETS):
        p = PRESETS[name]
        configs = [p.config] + ([p.twin] if p.twin is not None else [])
        measured = [measure(c, steps, warmup) for c in configs]
        t = p.config.train
        out.append(Timing(name, max(m[0] for m in measured), max(m[1] for m in measured), measured[0][2],
                          t.epochs, t.eval_every, float(t.time_budget_s or 0.0), len(configs)))
    return out


def calibrate(names=None, *, steps: int = STEPS, warmup: int = WARMUP, threads: int = 1) -> Calibration:
    """:func:`measure_presets` in a child process at the workers' nice and ``threads`` torch
    threads (the app server's thread only waits); :class:`CalibrationError` says why not."""
    args = {"names": list(names) if names else None, "steps": int(steps), "warmup": int(warmup),
            "threads": int(threads)}
    with tempfile.TemporaryDirectory(prefix="le-calibration-") as folder:
        d = Path(folder)
        try:
            processes.run_in(d, _child, (args,), name="calibration", timeout=TIMEOUT_S)
        except TimeoutError:
            raise CalibrationError(f"the measurement took more than {TIMEOUT_S} s") from None
        except processes.ChildError as e:
            raise CalibrationError(f"the measurement failed: {e}") from None
        out = json.loads((d / "out.json").read_text("utf-8"))
    return Calibration(tuple(Timing(**t) for t in out["timings"]), time.time(), out["threads"], out["pid"],
                       int(steps))


def _child(folder: Path, args: dict) -> None:
    """The child (:func:`explorer.processes.run_in`): the measurements as JSON in ``out.json``."""
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):      # no nice() here, or not permitted: measure anyway
        pass
    torch.set_num_threads(max(1, int(args.get("threads") or 1)))
    timings = measure_presets(args.get("names"), int(args["steps"]), int(args["warmup"]))
    (folder / "out.json").write_text(json.dumps({"timings": [asdict(t) for t in timings],
                                                 "threads": torch.get_num_threads(), "pid": os.getpid()}))
