"""The training loop, one step at a time.

``Trainer.step()`` takes one minibatch, updates the model and returns a
metrics row; a UI (or the engine's workers, :mod:`explorer.engine`) can therefore run, pause,
single-step and stop training between any two steps, and change β or the
learning rate in between ("hot parameters"). The data stay in memory as one
tensor, shuffled once per epoch; a batch is a slice, with no per-sample
Python work.

Reproducible on the CPU: the model's initial weights, the shuffling, the
reparameterisation noise and dynamic binarisation all come from generators
seeded by ``config.train.seed``.
"""
from __future__ import annotations

import math
import time

import torch

from . import objective, store, training_state
from .config import BETA, LR, VAL_SUBSET_DEFAULT, ConfigError, RunConfig
from .data import Dataset
from .models import VAE, build_model
from .rowlog import RowLog
from .schedules import beta_at
from .store.trainer_state import save_trainer_state

GAP_COUNTED_S = 2.0   # a longer wait between two steps is a pause: the time budget counts this much of it
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2015: unit u is active if Cov_x(E_q[z_u]) > 0.01


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, torch.Tensor]:
    """Burda's criterion: the number of dimensions u with ``Cov_x(E_q[z_u|x]) > threshold``,
    and the per-dimension variances. ``mu`` is ``[N, D]``, one row per data point."""
    var = mu.double().var(0, unbiased=True) if len(mu) > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)
    return int((var > threshold).sum()), var


def validation_rows(n_val: int, val_subset: int | None, seed: int) -> torch.Tensor | None:
    """The validation images evaluated at an epoch's end: None (all of them), or a seeded
    random subset, the same at every epoch (``train.val_subset``: None caps a large split at
    :data:`~explorer.config.VAL_SUBSET_DEFAULT`, 0 takes all)."""
    want = VAL_SUBSET_DEFAULT if val_subset is None else val_subset
    if want == 0 or want >= n_val:
        return None
    return torch.randperm(n_val, generator=torch.Generator().manual_seed(seed + 54321))[:want].sort().values


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel (one pass over all tensors), or the foreach one where fused
    is unavailable: on the CPU the default per-tensor loop costs a large share of a small step."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


def _check(limit, name: str, value) -> None:
    """A hot parameter must lie in its setting's range (``explorer.config.LIMITS``)."""
    try:
        limit.check(name, value)
    except ConfigError as e:
        raise ValueError(str(e)) from None


class TrainingDiverged(RuntimeError):
    """The loss or gradient became NaN/inf; the weights are the last good ones."""


# ------------------------------------------------------------------ Trainer

class Trainer:
    """Trains ``config``'s model on ``dataset`` one minibatch at a time.

    >>> tr = Trainer(cfg, dataset)
    >>> while not tr.done:
    ...     row = tr.step()
    """

    def __init__(self, config: RunConfig, dataset: Dataset, *,
                 device: torch.device | str | None = None):
        config.validate()
        self.config = config
        self.dataset = dataset
        t = config.train
        torch.manual_seed(t.seed)  # model initialisation
        self.model: VAE = build_model(config.model, dataset.data_shape, device)
        self.device = self.model.device
        self.optimizer = make_adam(self.model.parameters(), t.lr)
        self.generator = torch.Generator(device=self.device).manual_seed(t.seed + 1)
        self._shuffle_gen = torch.Generator().manual_seed(t.seed + 2)
        self.x_train = dataset.x_train.to(self.device)
        self.n_train = len(self.x_train)
        self.batch_size = min(t.batch_size, self.n_train)
        self.steps_per_epoch = math.ceil(self.n_train / self.batch_size)
        self.total_steps = self.steps_per_epoch * t.epochs
        self.val_rows = validation_rows(len(dataset.x_val), t.val_subset, config.data.split_seed)

        self.beta = float(t.beta)       # base β: the schedule scales it; set_beta changes it
        self.lr = float(t.lr)
        self.step_count = 0
        self.epoch = 0                   # completed epochs
        self.samples_seen = 0
        self.stop_reason: str | None = None  # set when training stops early (divergence)
        self.active_s = 0.0              # seconds spent training (a pause does not count)
        self._last_end: float | None = None
        self.events: list[dict] = []     # β / lr changes: {"step", "param", "value"}
        self.last_val: dict | None = None
        self._perm: torch.Tensor | None = None
        self._pos = 0
        self._img_s = 0.0

    # -------------------------------------------------------- hot params
    def set_beta(self, beta: float) -> None:
        """Change the base β from the next step on (recorded as an event)."""
        _check(BETA, "β", beta)
        if beta != self.beta:
            self.beta = float(beta)
            self.events.append({"step": self.step_count, "param": "beta", "value": self.beta})

    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next step on (recorded as an event)."""
        _check(LR, "learning rate", lr)
        if lr != self.lr:
            self.lr = float(lr)
            for g in self.optimizer.param_groups:
                g["lr"] = self.lr
            self.events.append({"step": self.step_count, "param": "lr", "value": self.lr})

    # ---------------------------------------------------------- progress
    @property
    def done(self) -> bool:
        return self.stop_reason is not None or self.step_count >= self.total_steps or self.out_of_time

    @property
    def out_of_time(self) -> bool:
        """The run's time budget (``train.time_budget_s``) is spent: it finishes now, with the
        epochs it reached (a preset that "keeps its time" on any machine)."""
        budget = self.config.train.time_budget_s
        return bool(budget) and self.active_s >= budget

    @property
    def finish_note(self) -> str | None:
        """Why a finished run ended before its epochs: its time budget, and what fitted in it."""
        if not self.out_of_time or self.step_count >= self.total_steps or self.stop_reason:
            return None
        return (f"finished: its time budget of {self.config.train.time_budget_s:g} s (train.time_budget_s) "
                f"fitted {self.epoch_float:.1f} epochs")

    @property
    def epoch_float(self) -> float:
        return self.step_count / self.steps_per_epoch

    def _next_batch(self) -> torch.Tensor:
        if self._perm is None or self._pos >= self.n_train:
            self._perm = torch.randperm(self.n_train, generator=self._shuffle_gen).to(self.device)
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size]
        x = self.x_train.index_select(0, idx)   # a small gather per batch, no per-sample Python
        self._pos += self.batch_size
        if self.dataset.binarize == "dynamic":
            x = torch.bernoulli(x, generator=self.generator)
        return x

    # -------------------------------------------------------------- step
    def step(self) -> dict:
        """One optimiser step on one minibatch; returns its metrics row.

        Raises :class:`TrainingDiverged` (and sets ``stop_reason``) if the loss
        or the gradient is not finite; the weights are then left as they were
        before this step.
        """
        if self.done:
            raise RuntimeError("training is finished")
        t0 = time.perf_counter()
        t = self.config.train
        x = self._next_batch()
        bs = beta_at(t, self.step_count, self.beta)
        self.model.train()
        terms = objective.vae_loss(self.model, x, beta=bs.beta, samples=t.mc_samples,
                                   capacity=bs.capacity, free_bits=bs.free_bits,
                                   generator=self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        grad_norm_t = self._grad_norm(t.grad_clip)
        # one transfer for all the numbers of the row (each .item() costs a sync and a dispatch)
        loss, recon, kl, penalty, grad_norm = torch.stack(
            [terms.loss.detach(), terms.recon.detach(), terms.kl.detach(), terms.penalty.detach(),
             grad_norm_t]).tolist()
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what = "loss" if not math.isfinite(loss) else "gradient norm"
            self.stop_reason = (f"diverged at step {self.step_count}: the {what} became "
                                f"{loss if what == 'loss' else grad_norm}; kept the last good weights. "
                                f"Try a smaller learning rate (now {self.lr:g}) or gradient clipping.")
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingDiverged(self.stop_reason)
        self.optimizer.step()

        n = len(x)
        self.step_count += 1
        self.samples_seen += n
        if self._pos >= self.n_train:
            self.epoch += 1
        end = time.perf_counter()
        dt = end - t0
        # the budget counts steps and what runs between them (validation, snapshots), not a pause
        gap = 0.0 if self._last_end is None else min(t0 - self._last_end, GAP_COUNTED_S)
        self.active_s += dt + max(0.0, gap)
        self._last_end = end
        rate = n / dt if dt > 0 else 0.0
        self._img_s = rate if self._img_s == 0 else 0.9 * self._img_s + 0.1 * rate
        return {
            "step": self.step_count, "epoch": self.epoch_float, "samples": self.samples_seen,
            "loss": loss, "recon": recon, "kl": kl,
            "beta": bs.beta, "beta_kl": penalty, "lr": self.lr,
            "grad_norm": grad_norm, "img_s": self._img_s,
        }

    def _grad_norm(self, clip: float) -> torch.Tensor:
        """The global gradient norm; gradients are rescaled only when clipping is on
        (``clip_grad_norm_`` with an infinite bound still multiplies every gradient by 1)."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        if clip > 0:
            torch._foreach_mul_(grads, torch.clamp(clip / (norm + 1e-6), max=1.0))
        return norm

    @property
    def at_epoch_end(self) -> bool:
        """True right after the last step of an epoch."""
        return self.step_count > 0 and self.step_count % self.steps_per_epoch == 0

    @property
    def validates_now(self) -> bool:
        """At an epoch's end: every ``train.eval_every`` epochs, and after the last step."""
        epochs = self.step_count // self.steps_per_epoch
        return (self.at_epoch_end and (epochs % self.config.train.eval_every == 0 or self.done)) or self.out_of_time

    # -------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, split: str = "val", max_n: int | None = None, samples: int = 1) -> dict:
        """Per-image averages over a split: recon, KL, ELBO, per-dimension KL, active units.

        Deterministic (its own fixed generator) and does not disturb training's randomness.
        The validation split without ``max_n``: the run's validation subset (:attr:`val_rows`).
        """
        rows = self.val_rows if split == "val" and max_n is None else None
        return evaluate(self.model, self.dataset, split=split, max_n=max_n, samples=samples,
                        seed=self.config.train.seed, rows=rows)


def val_row(ev: dict) -> dict:
    """The validation columns added to a metrics row at an epoch end."""
    return {"val_recon": ev["recon"], "val_kl": ev["kl"], "val_elbo": ev["elbo"],
            "val_active_units": ev["active_units"]}


@torch.no_grad()
def evaluate(model: VAE, dataset: Dataset, *, split: str = "val", max_n: int | None = None,
             samples: int = 1, seed: int = 0, batch: int = 2000, rows: torch.Tensor | None = None) -> dict:
    """Average per-image recon, KL and ELBO (nats) over ``split`` ("train" or "val"), or its
    ``rows``, plus ``kl_per_dim`` (list), ``active_units`` and ``mu_var`` (Burda's per-dimension variances)."""
    x = dataset.x_train if split == "train" else dataset.x_val
    if rows is not None:
        x = x[rows]
    if max_n is not None:
        x = x[:max_n]
    if len(x) == 0:
        raise ValueError(f"the {split} split is empty")
    gen = torch.Generator(device=model.device).manual_seed(seed + 12345)
    if split == "train" and dataset.binarize == "dynamic":
        x = torch.bernoulli(x.to(model.device), generator=gen)
    was_training = model.training
    model.eval()
    sums = {"recon": 0.0, "kl": 0.0, "elbo": 0.0}
    kl_dims = torch.zeros(model.latent_dim, dtype=torch.float64)
    mus = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(model.device)
        terms = objective.per_image_terms(model, xb, samples=samples, generator=gen)
        for k in sums:
            sums[k] += float(terms[k].double().sum())
        kl_dims += terms["kl_per_dim"].double().sum(0).cpu()
        mus.append(terms["mu"].cpu())
    model.train(was_training)
    n = len(x)
    au, var = active_units(torch.cat(mus))
    out = {k: v / n for k, v in sums.items()}
    out.update(kl_per_dim=(kl_dims / n).tolist(), active_units=au, mu_var=var.tolist(), n=n)
    return out


# ------------------------------------------------------------ the run loop

class LoopHooks:
    """What a caller adds to :func:`run_loop`. The defaults train to the end, with no
    controls: :func:`fit` uses them; the engine's worker overrides them to obey pause, step
    and stop, to publish rows and snapshots and to checkpoint."""

    def before_step(self, trainer: "Trainer") -> None:
        """Called before every step (the worker applies controls here)."""

    def end_reason(self, trainer: "Trainer") -> tuple[str, str | None] | None:
        """``(status, reason)`` when the run must end now, else None."""
        return ("finished", trainer.finish_note) if trainer.done else None

    def may_step(self, trainer: "Trainer") -> bool:
        """False to take no step now (paused); the loop then asks again."""
        return True

    def on_row(self, trainer: "Trainer", row: dict) -> None:
        """A step's metrics row (with validation columns at an epoch end)."""

    def on_epoch_end(self, trainer: "Trainer") -> None:
        """After an epoch's last step and its evaluation, unless training is done."""


def run_loop(trainer: "Trainer", hooks: LoopHooks | None = None) -> tuple[str, str | None]:
    """Train step by step until ``hooks.end_reason`` says stop, or divergence; returns the
    final ``(status, reason)``. The one training loop: :func:`fit` and the engine's workers
    both run it. At an epoch's end (every ``train.eval_every`` epochs, and the last) the
    validation subset is evaluated and its numbers join that step's row (:func:`val_row`)."""
    hooks = hooks or LoopHooks()
    while True:
        hooks.before_step(trainer)
        end = hooks.end_reason(trainer)
        if end:
            return end
        if not hooks.may_step(trainer):
            continue
        try:
            row = trainer.step()
        except TrainingDiverged as e:
            return "diverged", str(e)
        if trainer.validates_now:
            trainer.last_val = trainer.evaluate()
            row.update(val_row(trainer.last_val))
        hooks.on_row(trainer, row)
        if trainer.at_epoch_end and not trainer.done:
            hooks.on_epoch_end(trainer)


# -------------------------------------------------------- runs on disk

MAX_DISK_ROWS = 20_000      # rows kept for metrics.csv (thinned evenly beyond this)
_SUMMARY_SPLIT_KEYS = ("recon", "kl", "elbo", "active_units")


def summarize(trainer: Trainer, status: str, elapsed_s: float, *, final: bool = True,
              iwae_k: int = 0, eval_max_n: int | None = 10_000, extra: dict | None = None) -> dict:
    """The ``summary.json`` of a run (per image, nats). ``final`` evaluates both splits
    afresh (and IWAE-k when asked); otherwise (an epoch checkpoint) it holds the latest
    validation numbers only. ``extra`` (owner, run id, reason...) is added as is."""
    ds = trainer.dataset
    s = {
        "status": status, "reason": trainer.stop_reason or trainer.finish_note,
        "steps": trainer.step_count, "epochs": trainer.epoch_float, "samples": trainer.samples_seen,
        "elapsed_s": elapsed_s, "beta": trainer.beta, "lr": trainer.lr, "events": trainer.events,
        "data_shape": list(ds.data_shape), "dataset_checksum": ds.checksum,
        "n_train": len(ds.x_train), "n_val": len(ds.x_val),
    }
    if final:
        val = trainer.evaluate("val", max_n=eval_max_n)
        train = trainer.evaluate("train", max_n=min(len(ds.x_train), eval_max_n or len(ds.x_train)))
        s["train"] = {k: train[k] for k in _SUMMARY_SPLIT_KEYS}
        s["val"] = {k: val[k] for k in _SUMMARY_SPLIT_KEYS + ("kl_per_dim",)}
        s["gap_elbo"] = s["train"]["elbo"] - s["val"]["elbo"]
        if iwae_k and trainer.model.kind == "vae":
            x = ds.x_val[:min(len(ds.x_val), 1000)].to(trainer.device)
            gen = torch.Generator(device=trainer.device).manual_seed(0)
            trainer.model.eval()
            with torch.no_grad():        # no graph: k samples of 1,000 images (a conv body: GBs)
                s["val"]["iwae"] = float(objective.iwae_bound(trainer.model, x, iwae_k, generator=gen).mean())
            s["val"]["iwae_k"] = iwae_k
    elif trainer.last_val:
        s["val"] = {k: trainer.last_val[k] for k in _SUMMARY_SPLIT_KEYS + ("kl_per_dim",)}
    s.update(extra or {})
    return s


def checkpoint(trainer: Trainer, run_dir, rows: list[dict], status: str, elapsed_s: float,
               *, final: bool = False, iwae_k: int = 0, extra: dict | None = None) -> dict:
    """Write the run folder (weights, metrics, summary, config) through :mod:`explorer.store`;
    returns the summary written (see :func:`summarize`)."""
    summary = summarize(trainer, status, elapsed_s, final=final, iwae_k=iwae_k, extra=extra)
    # epoch checkpoints survive a killed process (atomic renames); the final one is also fsynced.
    # The trainer's state first: the summary written after the weights says which step they hold.
    save_trainer_state(run_dir, *training_state.capture(trainer), durable=final)
    store.save_run(run_dir, trainer.config, trainer.model, rows, summary, durable=final)
    return summary


class _FitHooks(LoopHooks):
    """:func:`fit`'s additions to the loop: a row log, a callback, epoch checkpoints."""

    def __init__(self, run_dir, on_row, t0: float):
        self.run_dir, self.callback, self.t0 = run_dir, on_row, t0
        self.rows = None                  # a RowLog, made at the first row

    def on_row(self, trainer, row):
        if self.rows is None:
            self.rows = RowLog(MAX_DISK_ROWS, trainer.config.train.log_every)
        self.rows.add(row)
        if self.callback:
            self.callback(row, trainer)

    def on_epoch_end(self, trainer):
        if self.run_dir is not None:
            checkpoint(trainer, self.run_dir, self.rows.rows, "running", time.perf_counter() - self.t0)


def fit(config: RunConfig, dataset: Dataset, run_dir=None, *, on_row=None, iwae_k: int = 0,
        device=None) -> tuple[Trainer, list[dict], dict]:
    """Train to the end (or divergence) with :func:`run_loop`, checkpointing ``run_dir`` at
    every epoch end. ``on_row(row, trainer)`` is called after every step.
    Returns (trainer, rows, summary)."""
    t0 = time.perf_counter()
    trainer = Trainer(config, dataset, device=device)
    hooks = _FitHooks(run_dir, on_row, t0)
    status, _ = run_loop(trainer, hooks)
    rows = hooks.rows.rows if hooks.rows else []
    elapsed = time.perf_counter() - t0
    summary = (checkpoint(trainer, run_dir, rows, status, elapsed, final=True, iwae_k=iwae_k)
               if run_dir is not None else summarize(trainer, status, elapsed, iwae_k=iwae_k))
    return trainer, rows, summary
