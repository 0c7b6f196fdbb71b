"""A run's memory, estimated from its settings and its data before it starts.

Allowed settings can ask for more memory than a machine has: batch size 20,000 × 1,000
samples of z on MNIST is inside every setting's range and needs ~60 GB; the worker grew
to 19.5 GB and the kernel's out-of-memory killer fired machine-wide (issue 25). So every
run is estimated before it is admitted (:func:`estimate`, from :func:`footprint`, which
reads at most a data file's headers) and refused over its budget (:func:`refusal`, naming
the settings to change); while it trains, its worker holds it to the same budget
(:func:`explorer.engine.worker`'s ``RLIMIT_DATA``).

The estimate is the peak of one process: a warmed-up worker (Python, torch, scikit-learn),
the data as loaded (the raw arrays, then the float32 splits), the model with its gradients
and Adam's two moments, and the larger of a training step's tensors and the final
evaluation's. A step holds the decoder's output for batch × samples of z several times
(logits, the repeated images, the log-likelihood terms and their gradients); the factors
below were fitted to measured peaks on this machine (``benchmarks/memory_estimate.py``
prints estimate and measurement side by side).

The budget: ``LATENT_EXPLORER_RUN_MEMORY_MB``, or by default the app server's share
(:func:`server_budget`: three quarters of the machine's memory less 1 GiB for the server,
split between the runs it trains at once) and the CLI's (:func:`cli_budget`: 90% of the
memory available now).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import pathlib
import resource
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from .config import DATASETS_TOY, ModelConfig, RunConfig
from .data import DEFAULT_MAX_BYTES, DEFAULT_MAX_EXAMPLES, DEFAULT_MAX_FEATURES, DataError, Footprint
from .data import inspect_file
from .models import VAE

MB = 2**20
SETTING = "LATENT_EXPLORER_RUN_MEMORY_MB"
WORKER_BYTES = 460 * MB         # a warmed-up worker before its run (measured: 450 MB)
OUT_COPIES = 3.5                # decoder-output-sized tensors a step holds per z sample (fitted)
HIDDEN_COPIES = 2.5             # hidden-layer-sized tensors per z sample in the decoder (fitted)
ENCODER_COPIES = 2.0            # per image in the encoder (input, activations, gradients)
EVAL_COPIES = 3.0               # no-gradient evaluation: output, repeated input, log-likelihood
EVAL_BATCH = 2000               # training.evaluate's batch
IWAE_IMAGES, IWAE_CHUNK = 1000, 500   # training.summarize's IWAE: images, samples at a time
MARGIN = 1.1                    # allocator slack on top of the run's own part ...
SLACK = 64 * MB                 # ... and torch's and the allocator's own, at the first step
SERVER_RESERVE = 1024 * MB      # the app server's own memory in the default budget


@dataclass(frozen=True)
class Estimate:
    """A run's estimated peak memory (bytes), in parts."""
    total: int
    parts: dict = field(default_factory=dict)      # "worker", "data", "model", "step", "evaluation"
    levers: tuple = ()                             # the settings that move the largest part

    @property
    def mb(self) -> float:
        return self.total / MB


# ------------------------------------------------------------------ the data

def footprint(cfg, *, max_bytes: int = DEFAULT_MAX_BYTES, max_features: int = DEFAULT_MAX_FEATURES,
              max_examples: int = DEFAULT_MAX_EXAMPLES) -> Footprint:
    """What ``cfg`` (a :class:`~explorer.config.DataConfig`) will load, read from headers at
    most. Raises :class:`~explorer.data.DataError` for an own file that cannot be used."""
    if cfg.name == "digits":
        return Footprint(1797, (1, 8, 8), 4, True)
    if cfg.name in DATASETS_TOY:
        return Footprint(cfg.n_points, (2,), 8, False)
    if cfg.name in ("mnist", "fashion-mnist"):
        path = pathlib.Path(cfg.path).expanduser() if cfg.path else None
        if path is not None and path.suffix.lower() == ".npz" and path.is_file():
            return inspect_file(path, max_bytes=max_bytes, max_features=max_features,
                                max_examples=max_examples)
        return Footprint(70_000, (1, 28, 28), 1, True)
    return inspect_file(pathlib.Path(cfg.path or ""), max_bytes=max_bytes, max_features=max_features,
                        max_examples=max_examples)


# ------------------------------------------------------------------ the estimate

def parameters(config: RunConfig, item_shape: tuple[int, ...]) -> int:
    """The model's parameter count, built on torch's meta device (no memory, no data), once
    per model configuration and data shape: a class's push admits 30 runs that differ only
    in β and seed, and building the model was half of each one's admission."""
    return _parameters(json.dumps(dataclasses.asdict(config.model), sort_keys=True), tuple(item_shape))


@functools.lru_cache(maxsize=256)
def _parameters(model_json: str, item_shape: tuple[int, ...]) -> int:
    with torch.device("meta"):
        model = VAE(ModelConfig(**json.loads(model_json)), item_shape)
    return sum(p.numel() for p in model.parameters())


def _conv_values(item_shape: tuple[int, ...]) -> int:
    """Values of the conv body's feature maps per image (32 at half size, 64 at a quarter)."""
    _, h, w = item_shape
    return 32 * math.ceil(h / 2) * math.ceil(w / 2) + 64 * math.ceil(h / 4) * math.ceil(w / 4)


def split_sizes(config: RunConfig, fp: Footprint) -> tuple[int, int]:
    """(training images, validation images) ``config`` trains on, from the data's footprint
    (MNIST's test file is its validation split; other sets split off ``val_fraction``)."""
    n_val = 10_000 if config.data.name in ("mnist", "fashion-mnist") else max(1, round(fp.n * config.data.val_fraction))
    n_train = max(1, fp.n - n_val)
    if config.data.subset:
        n_train = min(n_train, config.data.subset)
    return n_train, n_val


def estimate(config: RunConfig, fp: Footprint, *, iwae_k: int = 0) -> Estimate:
    """The peak memory of training ``config`` on data of footprint ``fp`` in one process."""
    d = math.prod(fp.item_shape)
    m, t = config.model, config.train
    n_train, n_val = split_sizes(config, fp)
    grey = n_val if config.data.binarize != "none" else 0
    data = fp.n * d * fp.itemsize * 2 + (n_train + n_val + grey) * d * 4
    model = 16 * parameters(config, fp.item_shape)            # weights, gradients, Adam's two moments
    hidden = sum(m.hidden) + (_conv_values(fp.item_shape) if m.body == "conv" else 0)
    batch = min(t.batch_size, n_train)
    samples = t.mc_samples if m.kind == "vae" else 1
    step = 4 * (ENCODER_COPIES * batch * (d + hidden)
                + samples * batch * (HIDDEN_COPIES * hidden + OUT_COPIES * d))
    evaluation = 4 * EVAL_COPIES * min(EVAL_BATCH, max(n_train, n_val)) * (d + hidden)
    if iwae_k and m.kind == "vae":
        evaluation = max(evaluation, 4 * EVAL_COPIES * min(IWAE_IMAGES, n_val) * min(iwae_k, IWAE_CHUNK)
                         * (d + hidden))
    parts = {"worker": WORKER_BYTES, "data": int(data), "model": int(model), "step": int(step),
             "evaluation": int(evaluation)}
    total = WORKER_BYTES + SLACK + MARGIN * (data + model + max(step, evaluation))
    return Estimate(int(total), parts, _levers(config, parts))


def _levers(config: RunConfig, parts: dict) -> tuple[str, ...]:
    """The settings that would shrink the largest part, as the Train page labels them."""
    t = config.train
    biggest = max(("data", "model", "step", "evaluation"), key=parts.get)
    if biggest in ("step", "evaluation"):
        out = [f"Batch size ({t.batch_size:,})"]
        if config.model.kind == "vae" and t.mc_samples > 1:
            out.append(f"L samples of z per image ({t.mc_samples:,})")
        out.append(f"Hidden widths ({', '.join(map(str, config.model.hidden))})")
        return tuple(out)
    if biggest == "model":
        return (f"Hidden widths ({', '.join(map(str, config.model.hidden))})",)
    return ("Training subset", "the dataset")


def refusal(est: Estimate, budget_bytes: int, setting: str = SETTING) -> str | None:
    """Why a run of this estimate may not start under ``budget_bytes``, or None."""
    if est.total <= budget_bytes:
        return None
    return (f"this run would need about {_size(est.total)} of memory (data {_size(est.parts['data'])}, "
            f"a training step {_size(max(est.parts['step'], est.parts['evaluation']))}), more than the "
            f"{_size(budget_bytes)} a run may use here (setting {setting}). Lower "
            + _or(est.levers))


def _or(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / MB:.0f} MB"


# ------------------------------------------------------------------ the budget

def machine_memory() -> tuple[int, int]:
    """(total, available) bytes of this machine's memory, from /proc/meminfo (elsewhere: the
    physical pages, both)."""
    values = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
        return values["MemTotal"], values.get("MemAvailable", values["MemTotal"])
    except (OSError, KeyError, ValueError, IndexError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return total, total


def server_budget(setting_mb: int | None, runs_at_once: int) -> int:
    """Bytes a run may use on an app server: the setting, or (three quarters of the machine
    less ``SERVER_RESERVE``) / the runs it trains at once."""
    if setting_mb:
        return setting_mb * MB
    return max(512 * MB, int((0.75 * _total_memory() - SERVER_RESERVE) / max(1, runs_at_once)))


@functools.lru_cache(maxsize=1)
def _total_memory() -> int:
    """The machine's memory, read once (every run's admission asks for it)."""
    return machine_memory()[0]


def cli_budget(setting_mb: int | None) -> int:
    """Bytes a run of the command line may use: the setting, or 90% of what is available now."""
    if setting_mb:
        return setting_mb * MB
    return max(512 * MB, int(0.9 * machine_memory()[1]))


def check(config: RunConfig, budget_bytes: int, *, iwae_k: int = 0, setting: str = SETTING,
          **limits) -> Estimate | None:
    """The estimate of ``config``, or None when its data cannot be looked at (the run then
    fails on its data, with that message); raises ``MemoryError`` with :func:`refusal`'s
    message when it is over ``budget_bytes``."""
    try:
        fp = footprint(config.data, **limits)
    except (DataError, OSError):
        return None
    est = estimate(config, fp, iwae_k=iwae_k)
    why = refusal(est, budget_bytes, setting)
    if why:
        raise BudgetExceeded(why)
    return est


class BudgetExceeded(MemoryError):
    """A run would need more memory than its budget; the message names the settings."""


# ------------------------------------------------------------------ enforcement

@contextmanager
def held_to(budget_bytes: int | None):
    """Hold this process to ``budget_bytes`` while the block runs: the soft ``RLIMIT_DATA``
    (private writable memory: the heap and torch's buffers; measured here it tracks the
    resident size within a few percent), so an allocation past it fails in that process,
    as ``MemoryError`` or torch's "can't allocate memory", instead of the kernel's
    out-of-memory killer choosing a victim machine-wide. Restored afterwards."""
    if not budget_bytes:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    want = budget_bytes if hard == resource.RLIM_INFINITY else min(budget_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def over_budget(e: BaseException) -> bool:
    """Whether ``e`` is an allocation that failed (past :func:`held_to`'s limit)."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and "can't allocate memory" in str(e))


def exceeded_message(config: RunConfig, budget_bytes: int, setting: str = SETTING) -> str:
    """The reason of a run stopped at its budget, naming the settings that would shrink it."""
    est = estimate_or_none(config)
    levers = est.levers if est is not None else (f"Batch size ({config.train.batch_size:,})",)
    return (f"memory budget exceeded: the run needed more than the {_size(budget_bytes)} a run may use "
            f"here (setting {setting}); lower {_or(levers)}")


def estimate_or_none(config: RunConfig, **limits) -> Estimate | None:
    try:
        return estimate(config, footprint(config.data, **limits))
    except (DataError, OSError):
        return None
