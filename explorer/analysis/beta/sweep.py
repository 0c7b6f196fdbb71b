"""β sweeps: how a sweep is set up, found again and read from its runs' summaries.

A *sweep* is a set of runs that differ only in β, the weight of the KL term in

    loss = recon + β · KL          (seed eq. 2/13 with a weight; β = 1 is the negative ELBO)

β = 0 drops the KL term: what is left is the reconstruction term alone, the
autoencoder loss of seed eq. 1 (generalised to the model's likelihood), but
with the VAE's noisy encoder. Here: the sweep's settings (:func:`base_config`,
:func:`sweep_configs`), its runs found again by their names (:func:`group_sweep_runs`)
or in ``trained/manifest.json`` (:func:`shipped_sweeps`), and each run's final
numbers (:class:`BetaPoint`, from ``summary.json``) with the rate–distortion geometry.
The measures of a sweep (sharpness, sample quality, the IWAE gap, memorisation) are
in :mod:`explorer.analysis.beta.measures` and :mod:`explorer.analysis.beta.report`,
its reading in words in :mod:`explorer.analysis.beta.reading`.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...config import RunConfig
from ..rd import beta_line, beta_objective, iso_elbo_line  # noqa: F401 - part of the sweep API

DEFAULT_BETAS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
MAX_BETAS = 10
NAME_PREFIX = "β sweep"
_NAME_RE = re.compile(r"^β sweep (?P<tag>[A-Za-z0-9_-]+) · β=(?P<beta>[0-9.eE+-]+)$")


# ================================================================ sweep setup

def parse_betas(text: str) -> list[float]:
    """β values from text such as ``"0, 0.1, 0.5, 1"``: sorted, without duplicates.

    Raises ``ValueError`` with a message a person can act on."""
    parts = [p for p in re.split(r"[,\s;]+", str(text).strip()) if p]
    if not parts:
        raise ValueError("give at least one β value, e.g. 0, 0.1, 0.5, 1, 2, 4, 8")
    values = []
    for p in parts:
        try:
            b = float(p)
        except ValueError:
            raise ValueError(f"{p!r} is not a number; write β values like 0, 0.5, 4") from None
        if not math.isfinite(b) or not 0 <= b <= 1000:
            raise ValueError(f"β = {p} is out of range: each β must lie in [0, 1000]")
        values.append(b)
    values = sorted(set(values))
    if len(values) > MAX_BETAS:
        raise ValueError(f"at most {MAX_BETAS} β values per sweep (got {len(values)})")
    return values


def make_tag() -> str:
    """A short id for a new sweep, e.g. ``0142-3fa1`` (time of day and 4 random hex digits)."""
    return f"{time.strftime('%H%M')}-{secrets.token_hex(2)}"


def run_name(tag: str, beta: float) -> str:
    """The name of a sweep's run: how the page finds the runs of a sweep again."""
    return f"{NAME_PREFIX} {tag} · β={beta:g}"


def parse_run_name(name: str) -> tuple[str, float] | None:
    """``(tag, β)`` of a sweep run's name, or None for any other run."""
    m = _NAME_RE.match(name or "")
    if not m:
        return None
    try:
        return m["tag"], float(m["beta"])
    except ValueError:
        return None


def base_config(dataset: str = "digits", *, subset: int | None = 400, latent_dim: int = 8,
                epochs: int = 150, pixels: str = "binary", sigma: float = 0.1,
                path: str | None = None, hidden: list[int] | None = None) -> RunConfig:
    """The settings a sweep shares. ``pixels``: ``"binary"`` (binarised at 0.5 once, with a
    Bernoulli likelihood: its numbers are true bounds on log p(x)), ``"grey-bernoulli"``
    (grey pixels, Bernoulli: not a bound, see the page) or ``"grey-gaussian"`` (grey
    pixels, a Gaussian of fixed ``sigma``: densities, so numbers can be negative)."""
    if pixels not in PIXELS:
        raise ValueError(f"pixels: {pixels!r} is not one of {', '.join(PIXELS)}")
    model = {"kind": "vae", "latent_dim": int(latent_dim), "sigma": float(sigma),
             "likelihood": "gaussian" if pixels == "grey-gaussian" else "bernoulli"}
    if hidden:
        model["hidden"] = list(hidden)
    return RunConfig.from_dict({
        "data": {"name": dataset, "subset": subset, "path": path,
                 "binarize": "threshold" if pixels == "binary" else "none"},
        "model": model,
        "train": {"epochs": int(epochs), "beta_schedule": "constant", "free_bits": 0.0},
    })


#: how a sweep's pixels are modelled -> what the form says
PIXELS = {"binary": "binarised pixels, Bernoulli (true bounds)",
          "grey-bernoulli": "grey pixels, Bernoulli (not a bound)",
          "grey-gaussian": "grey pixels, Gaussian σ (densities)"}


def sweep_configs(base: RunConfig, betas, tag: str) -> list[RunConfig]:
    """One config per β: the base config with ``train.beta`` set, a VAE, a constant β
    (no schedule), and a name that marks the run as part of sweep ``tag``."""
    return [base.replace(model={"kind": "vae"}, train={"beta": float(b), "beta_schedule": "constant"},
                         name=run_name(tag, b))
            for b in betas]


def group_sweep_runs(entries) -> dict[str, list[tuple[float, object]]]:
    """The sweeps among a list of runs (:class:`~explorer.runs.RunEntry`, found by their
    names): tag -> ``(β, entry)`` pairs ordered by β."""
    out: dict[str, list[tuple[float, object]]] = {}
    for e in entries:
        parsed = parse_run_name(e.name)
        if parsed is None:
            continue
        tag, beta = parsed
        out.setdefault(tag, []).append((beta, e))
    return {t: sorted(v, key=lambda p: p[0]) for t, v in out.items()}


def shipped_sweeps(manifest_path: Path) -> dict[str, list[str]]:
    """The shipped sweeps listed in ``trained/manifest.json``: sweep name -> run ids,
    ordered by β. Entries without a ``"sweep"`` key are ordinary shipped runs."""
    try:
        manifest = json.loads(Path(manifest_path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    out: dict[str, list[tuple[float, str]]] = {}
    for e in manifest.get("runs", []) if isinstance(manifest, dict) else []:
        if not isinstance(e, dict) or not isinstance(e.get("sweep"), str):
            continue
        beta = float(((e.get("config") or {}).get("train") or {}).get("beta", 1.0))
        out.setdefault(e["sweep"], []).append((beta, str(e.get("id"))))
    return {k: [rid for _, rid in sorted(v)] for k, v in out.items()}


# ================================================================ per-β numbers

def generalisation_gap(train: dict, val: dict) -> dict:
    """How much better the model does on its training images than on validation images,
    per image in nats; positive = overfitting.

    * ``elbo``: train ELBO − validation ELBO (the ELBO is a log-likelihood bound: higher is better);
    * ``recon``: validation recon − train recon (recon is an error: lower is better);
    * ``kl``: validation KL − train KL.
    """
    return {"elbo": train["elbo"] - val["elbo"], "recon": val["recon"] - train["recon"],
            "kl": val["kl"] - train["kl"]}


@dataclass
class BetaPoint:
    """One finished run of a sweep: its β and its final per-image numbers (nats)."""
    beta: float
    train: dict                      # recon, kl, elbo, active_units
    val: dict                        # recon, kl, elbo, active_units, kl_per_dim
    run_id: str = ""
    n_train: int | None = None

    @property
    def gap(self) -> dict:
        return generalisation_gap(self.train, self.val)

    @property
    def kl_per_dim(self) -> np.ndarray:
        return np.asarray(self.val.get("kl_per_dim") or [], dtype=np.float64)


_KEYS = ("recon", "kl", "elbo")


def point_from_summary(summary: dict | None, *, beta: float | None = None,
                       run_id: str = "") -> BetaPoint | None:
    """A :class:`BetaPoint` from a run's ``summary.json`` (or the engine's summary);
    None while the run has no final train and validation numbers."""
    if not summary:
        return None
    tr, va = summary.get("train"), summary.get("val")
    if not isinstance(tr, dict) or not isinstance(va, dict):
        return None
    if any(not isinstance(d.get(k), (int, float)) or not math.isfinite(d[k])
           for d in (tr, va) for k in _KEYS):
        return None
    b = float(summary.get("beta", 1.0)) if beta is None else float(beta)
    return BetaPoint(beta=b, train=dict(tr), val=dict(va), run_id=run_id,
                     n_train=summary.get("n_train"))


def sort_points(points) -> list[BetaPoint]:
    return sorted((p for p in points if p is not None), key=lambda p: p.beta)


def series(points, split: str, key: str) -> np.ndarray:
    """One number per point, in the points' order: ``series(points, "val", "kl")``;
    ``split="gap"`` gives the generalisation gap of ``key``."""
    if split == "gap":
        return np.array([p.gap[key] for p in points], dtype=np.float64)
    return np.array([float(getattr(p, split)[key]) for p in points], dtype=np.float64)


# ================================================================ rate–distortion

def iso_elbo_levels(points, n: int = 5) -> np.ndarray:
    """``n`` values of c = recon + KL (= −ELBO) evenly spanning the runs' training and
    validation points, for drawing iso-ELBO lines."""
    cs = np.concatenate([series(points, s, "recon") + series(points, s, "kl")
                         for s in ("train", "val")]) if points else np.zeros(1)
    lo, hi = float(cs.min()), float(cs.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    return np.linspace(lo, hi, n)


# ================================================================ examples

def pick_examples(labels, n: int) -> np.ndarray:
    """Indices of ``n`` images to show: the first image of each class in turn (so the
    columns show different digits), or simply the first ``n`` without labels."""
    if labels is None or len(labels) == 0:
        return np.arange(n)
    labels = np.asarray(labels)
    picked: list[int] = []
    used = np.zeros(len(labels), bool)
    while len(picked) < min(n, len(labels)):
        for c in np.unique(labels):                    # classes in increasing order
            free = np.nonzero((labels == c) & ~used)[0]
            if len(free) and len(picked) < n:
                picked.append(int(free[0]))
                used[free[0]] = True
    return np.array(picked, dtype=np.int64)
