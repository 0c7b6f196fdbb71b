"""Resume a run from its last checkpoint, exactly: ``python -m explorer resume RUN``.

Every checkpoint (each epoch's end, and the end) writes the trainer's state beside the
weights (:mod:`explorer.training_state`). :func:`resume` rebuilds the trainer from the run's
config and data, puts the weights and that state back, and trains on with the same loop
(:func:`explorer.training.run_loop`) into the same folder: the losses of the steps after
the checkpoint are those of a run that never stopped. A run that ended (finished or
stopped) goes on when given more epochs (``--epochs``).
"""
from __future__ import annotations

import time
from pathlib import Path

from . import data, store, training_state
from .rowlog import RowLog
from .store.trainer_state import load_trainer_state
from .training import MAX_DISK_ROWS, LoopHooks, Trainer, checkpoint, run_loop

_KEPT = ("owner", "owner_name", "run_id", "created", "imported", "resumed")   # summary keys carried on


class _ResumeHooks(LoopHooks):
    """Rows on top of the run's, epoch checkpoints that keep the run's own summary keys."""

    def __init__(self, run_dir: Path, rows: RowLog, on_row, extra: dict, elapsed_before: float):
        self.run_dir, self.rows, self.callback, self.extra = run_dir, rows, on_row, extra
        self.t0 = time.perf_counter() - elapsed_before

    def on_row(self, trainer, row):
        self.rows.add(row)
        if self.callback:
            self.callback(row, trainer)

    def on_epoch_end(self, trainer):
        checkpoint(trainer, self.run_dir, self.rows.rows, "running", self.elapsed, extra=self.extra)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def _row_log(rows: list[dict], log_every: int) -> RowLog:
    """The run's rows, thinned as before (the stride their spacing shows)."""
    steps = [int(r["step"]) for r in rows if "val_elbo" not in r and "step" in r]
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    log = RowLog(MAX_DISK_ROWS, max([log_every] + ([min(gaps)] if gaps else [])))
    log.rows = list(rows)
    return log


def prepare(run_dir: Path, *, epochs: int | None = None, data_path: str | None = None,
            device=None) -> tuple[Trainer, dict, list[dict]]:
    """The trainer of ``run_dir`` as its last checkpoint left it, the run's summary and rows.
    Raises :class:`~explorer.store.StoreError` or ValueError saying why it cannot resume."""
    run = store.open_run(Path(run_dir))
    cfg, summary = run.config, run.summary
    if data_path:
        cfg.data.path = data_path
    if epochs is not None:
        cfg = cfg.replace(train={"epochs": epochs})
    tensors, meta = load_trainer_state(run.path)
    if meta.get("step_count") != summary.get("steps"):
        raise store.StoreError(f"{run.path}: its trainer state (step {meta.get('step_count')}) and its "
                               f"weights (step {summary.get('steps')}) are of different checkpoints; "
                               f"it cannot resume exactly")
    ds = data.load(cfg.data)
    if summary.get("dataset_checksum") and ds.checksum != summary["dataset_checksum"]:
        raise ValueError(f"the data at {cfg.data.path or cfg.data.name} are not the run's (their checksum "
                         f"differs); give the run's own data with --data-path")
    trainer = Trainer(cfg, ds, device=device)
    store.load_weights(run.path / store.WEIGHTS, trainer.model)
    training_state.restore(trainer, tensors, meta)
    if trainer.done:
        raise ValueError(f"the run has done all its {cfg.train.epochs} epochs: give it more to go on, "
                         f"e.g. --epochs {cfg.train.epochs + 10} (Python: epochs=...)")
    return trainer, summary, store.read_metrics(run.path)


def resume(run_dir: Path, *, epochs: int | None = None, data_path: str | None = None, device=None,
           on_row=None, on_start=None, iwae_k: int = 0) -> tuple[Trainer, list[dict], dict]:
    """Train ``run_dir`` on from its last checkpoint to its (new) number of epochs, in place.
    ``on_start(trainer)`` is called once it is ready, ``on_row(row, trainer)`` after every
    step. Returns (trainer, rows, summary)."""
    run_dir = Path(run_dir)
    trainer, before, rows = prepare(run_dir, epochs=epochs, data_path=data_path, device=device)
    if on_start:
        on_start(trainer)
    extra = {k: before[k] for k in _KEPT if k in before}
    extra["resumed"] = list(before.get("resumed") or []) + [
        {"step": trainer.step_count, "at": time.strftime("%Y-%m-%d %H:%M:%S")}]
    hooks = _ResumeHooks(run_dir, _row_log(rows, trainer.config.train.log_every), on_row, extra,
                         float(before.get("elapsed_s") or 0.0))
    status, _ = run_loop(trainer, hooks)
    summary = checkpoint(trainer, run_dir, hooks.rows.rows, status, hooks.elapsed, final=True,
                         iwae_k=iwae_k, extra=extra)
    return trainer, hooks.rows.rows, summary
