"""Helpers of the Train page that need no widgets: settings → RunConfig, progress text,
the posterior-collapse alarm, and a final snapshot for runs reloaded from disk.

Kept apart from ``pages/1_Train.py`` so tests can call them directly.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import DATASETS_TOY, ConfigError, RunConfig

DATASET_LABELS = {
    "digits": "Digits 8×8 (offline, fast)", "mnist": "MNIST 28×28", "fashion-mnist": "Fashion-MNIST 28×28",
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


def build_config(v: dict) -> RunConfig:
    """A validated RunConfig from the page's setting values (a flat dict; see the page).
    Raises ConfigError with a message a person can act on."""
    data = {"name": v["dataset"], "val_fraction": float(v.get("val_fraction", 0.2)),
            "subset": int(v["subset"]) if v.get("subset") else None}
    if v["dataset"] in ("mnist", "fashion-mnist", "file"):
        data["path"] = (v.get("data_path") or "").strip() or None
    if v["dataset"] in ("mnist", "fashion-mnist", "file") and v.get("binarize"):
        data["binarize"] = v["binarize"]
    if v["dataset"] in DATASETS_TOY:
        data["n_points"] = int(v.get("n_points", 4000))
        data["noise"] = float(v.get("noise", 0.05))
    if v["dataset"] == "file" and not data.get("path"):
        raise ConfigError("own data: upload a file (.npz, .npy or .csv) first")
    model = {"kind": v["kind"], "body": v["body"], "hidden": parse_widths(v["hidden"]),
             "latent_dim": int(v["latent_dim"]), "likelihood": v["likelihood"],
             "sigma": float(v.get("sigma", 0.1))}
    train = {"epochs": int(v["epochs"]), "batch_size": int(v["batch_size"]), "lr": float(v["lr"]),
             "seed": int(v["seed"]), "beta": float(v["beta"]), "beta_schedule": v["beta_schedule"],
             "mc_samples": int(v["mc_samples"])}
    for k in ("warmup_steps", "cycle_steps", "capacity_steps"):
        if v.get(k) is not None:
            train[k] = int(v[k])
    for k in ("cycle_ratio", "capacity_max", "free_bits"):
        if v.get(k) is not None:
            train[k] = float(v[k])
    if v["kind"] == "ae" and v["beta_schedule"] != "constant":
        raise ConfigError("β schedule: an autoencoder has no KL term; use 'constant'")
    name = (v.get("name") or "").strip()
    if name:                                   # the same rule as renaming a run
        from ..store import StoreError, check_run_name
        try:
            check_run_name(name)
        except StoreError as e:
            raise ConfigError(f"run name: {e}") from None
    return RunConfig.from_dict({"data": data, "model": model, "train": train, "name": name})


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


def progress_line(p: dict) -> tuple[float, str]:
    """The progress bar's fraction and its text: epoch, step, images/s, ETA."""
    total = max(1, int(p.get("total_steps") or 1))
    step = int(p.get("step") or 0)
    text = (f"epoch {float(p.get('epoch') or 0):.1f} / {p.get('epochs', '?')} · "
            f"step {step:,} / {total:,} · {float(p.get('img_s') or 0):,.0f} images/s · "
            f"ETA {fmt_duration(p.get('eta_s'))}")
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
    from .. import data
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


def snapshot_from_disk(run_dir: Path, config: RunConfig, model, n: int = 2000) -> dict | None:
    """For a run reloaded from disk (no live snapshot): the probe set's posterior means with the
    saved weights, from the run's probe file or, for digits and the 2-D sets, from the data."""
    import torch

    from .. import data, objective, store
    from ..training import active_units
    probe = store.load_probe(run_dir)
    if probe is not None:
        x, y, names = probe
    elif config.data.name == "digits" or config.data.is_toy:
        ds = data.load(config.data)
        x, y, names = ds.x_val, ds.y_val, ds.class_names
    else:
        return None
    x, y = x[:n], None if y is None else y[:n]
    with torch.no_grad():
        mu, logvar = model.encode_mean(x)
        kl = (objective.kl_std_normal_per_dim(mu, logvar).mean(0) if model.kind == "vae"
              else torch.zeros(mu.shape[1]))
    au, var = active_units(mu)
    out = {"mu": mu.numpy(), "labels": None if y is None else y.numpy(), "class_names": names,
           "kl_per_dim": kl.numpy().astype(np.float64), "mu_var": var.numpy(), "active_units": au}
    if x.ndim == 4:
        out["originals"] = x[:16].numpy()
        out["recon"] = model.reconstruct(x[:16]).numpy()
    return out
