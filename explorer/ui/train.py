"""Helpers of the Train page that need no widgets: the hidden-widths parser, progress text,
the posterior-collapse alarm, the data preview and a final snapshot for runs read from disk.

Kept apart from ``pages/1_Train.py`` so tests can call them directly.
"""
from __future__ import annotations

import math
from pathlib import Path

from .. import data, store
from ..config import ConfigError, RunConfig
from ..probe import RECON_N, snapshot

DATASET_LABELS = {
    "digits": "Digits 8×8 (offline, fast)", "mnist": "MNIST 28×28", "fashion-mnist": "Fashion-MNIST 28×28",
    "shapes": "Shapes 32×32 (offline; known factors: shape, scale, rotation, x, y)",
    "moons": "2-D: two moons", "circles": "2-D: circles", "swissroll": "2-D: swiss roll",
    "pinwheel": "2-D: pinwheel", "gaussians": "2-D: Gaussian mixture", "file": "Your own file",
}
LR_CHOICES = [1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2, 1e-1]
COLLAPSE_KL = 0.05          # nats per image: below this the code carries (almost) nothing


def parse_widths(text: str) -> list[int]:
    """'256, 128' -> [256, 128]; anything else raises ConfigError with an example."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        widths = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"hidden widths: {text!r} is not a list of whole numbers; "
                          f"write e.g. 256, 128") from None
    if not widths:
        raise ConfigError("hidden widths: give at least one width, e.g. 256, 128")
    return widths


def batch_note(batch_size: int, n_train: int | None) -> str | None:
    """A warning when the batch size exceeds the training set (the trainer then uses the
    whole set as one batch, see ``training.Trainer``); None otherwise or when unknown."""
    if n_train is None or batch_size <= n_train:
        return None
    return (f"Batch size {batch_size:,} is larger than the {n_train:,} training examples: each "
            f"step will use all {n_train:,} of them (one step per epoch).")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


def progress_line(p) -> tuple[float, str]:
    """The progress bar's fraction and its text: epoch, step, images/s, ETA (``p``: a
    :class:`~explorer.runs.Progress`)."""
    total = max(1, int(p.total_steps or 1))
    step = int(p.step or 0)
    text = (f"epoch {float(p.epoch or 0):.1f} / {p.epochs or '?'} · "
            f"step {step:,} / {total:,} · {float(p.img_s or 0):,.0f} images/s · "
            f"ETA {fmt_duration(p.eta_s)}")
    return min(1.0, step / total), text


def collapse_alarm(kind: str, kl: float | None, active_units: int | None, latent_dim: int,
                   epoch: float) -> str | None:
    """A one-line explanation when a VAE's posterior collapsed (KL ≈ 0, or no active unit),
    with the usual fixes; None when all is well, for autoencoders, and in the first epoch."""
    if kind != "vae" or epoch < 1 or kl is None:
        return None
    if kl < COLLAPSE_KL or (active_units is not None and active_units == 0):
        return (f"Posterior collapse: KL is {kl:.3f} nats and {active_units or 0} of {latent_dim} "
                f"latent dimensions are active, so q(z|x) ≈ p(z) and the decoder ignores z — every "
                f"image decodes to about the same average. Usual fixes: a smaller β, a β warm-up "
                f"(schedule 'warmup') or free bits, a higher learning rate early on, or a "
                f"weaker decoder.")
    return None


def data_preview(data_cfg, max_bytes: int, n: int = 32) -> dict:
    """Load a (small) dataset once, as the worker will, and summarise it for the sidebar:
    :func:`explorer.data.describe` plus the first ``n`` training items. Raises DataError
    with the reason when the data cannot be used."""
    ds = data.load(data_cfg, max_bytes=max_bytes)
    out = data.describe(ds)
    out["samples"] = ds.x_train[:n].numpy()
    return out


def describe_line(d: dict) -> str:
    """'1,437 training / 360 validation images of 1×8×8, values 0.00–1.00'."""
    what = "images" if d["is_image"] else "points"
    shape = "×".join(str(s) for s in d["shape"])
    lo, hi = d["value_range"]
    return (f"{d['n_train']:,} training / {d['n_val']:,} validation {what} of {shape}, "
            f"values {lo:.2f}–{hi:.2f}" + (f", {d['n_classes']} classes" if d["n_classes"] else ""))


def snapshot_from_disk(run_dir: Path, config: RunConfig, model, n: int = 2000):
    """For a run read back from disk (no live snapshot): the probe set seen through the saved
    weights (:func:`explorer.probe.snapshot`), from the run's probe file or, for digits and the
    2-D sets, from the data. Returns ``(snapshot, labels, class names, originals)`` or None."""
    probe = store.load_probe(run_dir)
    if probe is not None:
        x, y, names = probe
        shown = store.load_probe_display(run_dir)           # grey, for binarised data
    elif config.data.name == "digits" or config.data.is_toy:
        ds = data.load(config.data)
        x, y, names = ds.x_val, ds.y_val, ds.class_names
        shown = ds.val_display(RECON_N)
    else:
        return None
    x, y = x[:n], None if y is None else y[:n]
    snap = snapshot(model, x, x[:RECON_N] if x.ndim == 4 else None)
    originals = shown[:RECON_N] if x.ndim == 4 else None
    return snap, None if y is None else y.numpy(), names, None if originals is None else originals.numpy()
