"""A disentanglement sweep: runs over β and seeds on data with known factors, measured.

A *factor sweep* trains one run per (β, seed), everything else equal, on a dataset whose
generating factors are known (:mod:`explorer.data.shapes`). Its spec lives in
``trained/manifest.json`` under ``"factor_sweeps"`` (:func:`runs_of`); ``python -m explorer
pretrain --factor-sweep shapes`` trains it and measures it (:func:`measure_folders`).

Each run is measured on the same :data:`N_MEASURE` fresh images (drawn from their own
seed, :data:`MEASURE_SEED`, so none was trained on): MIG and DCI of the posterior means
(:mod:`.metrics`), the active dimensions, the factor each dimension holds most, and a
traversal grid (every latent dimension swept over [−2.5, 2.5] from one image's code, the
others held). Per β, the seeds' numbers are summarised as a mean and a standard error
(the seeds' standard deviation ÷ √seeds, the labs' convention in
:mod:`explorer.analysis.stats`): :func:`per_beta`. What the page and
``sweep-report`` show is read back from ``trained/sweeps/<name>/`` (:func:`save`,
:func:`load`) without a model; the run folders themselves are not shipped (only
their numbers and pictures are), and ``pretrain`` rebuilds them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as st_save

from ... import store
from ...config import RunConfig
from ...data import shapes
from ...training import active_units
from .. import stats
from . import metrics
from .keys import ROW_HELP, ROW_KEYS  # noqa: F401 - the lab's API

N_MEASURE = 6000          # fresh images every run of a sweep is measured on
MEASURE_SEED = 90210      # their seed: another stream than any training set's
TRAVERSE = (-2.5, 2.5)    # a traversal's range in each dimension (the prior's ±2.5σ)
STEPS = 9                 # images per traversal row
REFERENCE = (1, 2, 2, 3, 4)   # the traversals start from this image's code: a mid-sized ellipse
MEASURES = "measures.json"
PICTURES = "traversals.safetensors"


# ================================================================ the sweep's runs

def run_id(name: str, beta: float, seed: int) -> str:
    return f"{name}-b{beta:g}-s{seed}"


def runs_of(name: str, spec: dict) -> list[tuple[str, float, int, RunConfig]]:
    """``(run id, β, seed, config)`` for every run of the factor sweep ``spec`` (its entry
    in the manifest: the shared ``config``, the ``betas`` and the ``seeds``)."""
    base = RunConfig.from_dict(spec["config"])
    out = []
    for beta in spec["betas"]:
        for seed in spec["seeds"]:
            cfg = base.replace(train={"beta": float(beta), "seed": int(seed), "beta_schedule": "constant"},
                               name=f"{name} factor sweep · β={beta:g} · seed {seed}")
            out.append((run_id(name, beta, seed), float(beta), int(seed), cfg))
    return out


def shipped_names(manifest_path: Path) -> list[str]:
    """The factor sweeps listed in ``trained/manifest.json`` (under ``"factor_sweeps"``)."""
    try:
        manifest = json.loads(Path(manifest_path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    sweeps = manifest.get("factor_sweeps") if isinstance(manifest, dict) else None
    return [k for k, v in sweeps.items() if isinstance(v, dict)] if isinstance(sweeps, dict) else []


def shipped_folder(name: str) -> Path:
    """Where a shipped factor sweep's measures live: ``trained/sweeps/<name>/``."""
    return store.SHIPPED_ROOT / "sweeps" / store.check_run_id(name)


# ================================================================ one run

def measurement_set(n: int = N_MEASURE) -> tuple[torch.Tensor, np.ndarray]:
    """The images every run is measured on (float32 in [0, 1]) and their factors."""
    x, f = shapes.generate(n, MEASURE_SEED)
    return torch.from_numpy(x.astype(np.float32) / 255), f


def reference_image() -> np.ndarray:
    """The image whose code the traversals start from ([1, H, W] in [0, 1])."""
    return shapes.render(*REFERENCE)[None].astype(np.float32) / 255


@torch.no_grad()
def traversals(model, x_ref, *, steps: int = STEPS, span=TRAVERSE) -> np.ndarray:
    """``[D, steps, *image]`` decoded means: row j sweeps dimension j of μ(x_ref) over ``span``,
    every other dimension held at μ(x_ref)."""
    model.eval()
    mu, _ = model.encode_mean(torch.as_tensor(np.asarray(x_ref, np.float32))[None])
    d = model.latent_dim
    z = mu.repeat(d * steps, 1).view(d, steps, d).clone()
    values = torch.linspace(span[0], span[1], steps)
    for j in range(d):
        z[j, :, j] = values
    return model.decode_mean(z.view(-1, d)).view(d, steps, *model.data_shape).cpu().numpy()


@torch.no_grad()
def measure_run(model, x: torch.Tensor, factors: np.ndarray, *, beta: float, seed: int,
                summary: dict | None = None) -> tuple[dict, np.ndarray]:
    """One run's measures on images ``x`` with known ``factors``, and its traversal grid
    (uint8, ``[D, STEPS, H, W]``)."""
    model.eval()
    mu, _ = model.encode_mean(x)
    codes = mu.double().cpu().numpy()
    n_active, var = active_units(mu)
    active = (var > 0.01).tolist()
    m = metrics.mig(codes, factors)
    d = metrics.dci(codes, factors, seed=seed)
    val = (summary or {}).get("val") or {}
    out = {"beta": float(beta), "seed": int(seed), "latent_dim": int(model.latent_dim),
           "mig": m["mig"], "mig_per_factor": m["per_factor"], "mi": m["mi"], "entropy": m["entropy"],
           "dci": d["disentanglement"], "completeness": d["completeness"],
           "informativeness": d["informativeness"], "importance": d["importance"],
           "active_units": int(n_active), "active": active, "mu_var": var.tolist(),
           "factor_of_dim": metrics.factor_of_dimension(m["mi"], m["entropy"], shapes.FACTORS, active),
           "kl_per_dim": list(val.get("kl_per_dim") or []), "n": int(len(x))}
    for k in ("recon", "kl", "elbo"):
        if isinstance(val.get(k), (int, float)):
            out[f"val_{k}"] = float(val[k])
    grid = traversals(model, reference_image())
    return out, np.clip(np.round(grid[:, :, 0] * 255), 0, 255).astype(np.uint8)


def measure_folders(runs: dict[tuple[float, int], Path], *, n: int = N_MEASURE,
                    on_run=None) -> tuple[list[dict], dict[tuple[float, int], np.ndarray]]:
    """Measure a factor sweep's run folders (``(β, seed)`` -> folder): per-run measures and
    traversal grids, as :func:`save` takes them. ``on_run((β, seed), m)`` after each run."""
    x, factors = measurement_set(n)
    measures, grids = [], {}
    for key in sorted(runs):
        folder = Path(runs[key])
        model = store.load_model(folder, device="cpu")
        m, grid = measure_run(model, x, factors, beta=key[0], seed=key[1], summary=store.read_summary(folder))
        measures.append(m)
        grids[key] = grid
        if on_run:
            on_run(key, m)
    return measures, grids


# ================================================================ per β

def per_beta(measures: list[dict]) -> list[dict]:
    """One row per β (sorted): every :data:`ROW_KEYS` number as the seeds' mean with its
    standard error, plus each seed's own value (``mig_seeds``, ``dci_seeds``) and the mean
    MIG of each factor (``mig_per_factor``, ``mig_per_factor_se``)."""
    rows = []
    for beta in sorted({m["beta"] for m in measures}):
        group = sorted((m for m in measures if m["beta"] == beta), key=lambda m: m["seed"])
        row = {"beta": beta, "n_seeds": len(group)}
        for key in ("mig", "dci", "completeness", "informativeness", "active_units", "val_recon", "val_kl"):
            mean, se, _ = stats.mean_se(m.get(key) for m in group)
            row[key], row[f"{key}_se"] = mean, se
        row["seeds"] = [m["seed"] for m in group]
        row["mig_seeds"] = [m["mig"] for m in group]
        row["dci_seeds"] = [m["dci"] for m in group]
        per = np.array([m["mig_per_factor"] for m in group], dtype=np.float64)
        row["mig_per_factor"] = per.mean(0).tolist()
        row["mig_per_factor_se"] = (per.std(0, ddof=1) / math.sqrt(len(per))).tolist() if len(per) > 1 else None
        rows.append(row)
    return rows


def report(name: str, rows: list[dict]) -> dict:
    """The ``sweep-report`` object: ``{"sweep", "kind": "factors", "factors", "rows"}``, each
    row with the :data:`ROW_KEYS` and the seeds' own values."""
    keep = ROW_KEYS + ("seeds", "mig_seeds", "dci_seeds", "mig_per_factor", "mig_per_factor_se")
    return {"sweep": name, "kind": "factors", "factors": list(shapes.FACTORS),
            "rows": [{k: r.get(k) for k in keep} for r in rows]}


# ================================================================ on disk

def save(folder: Path, name: str, measured, about: dict | None = None) -> dict:
    """Write a measured factor sweep into ``folder`` (``measures.json``: every run's numbers
    and the rows per β; ``traversals.safetensors``: the grids, uint8) and return its
    :func:`report`."""
    measures, grids = measured
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"reference": torch.from_numpy(np.round(reference_image() * 255).astype(np.uint8))}
    for (beta, seed), grid in grids.items():
        tensors[f"{beta:g}/{seed}"] = torch.from_numpy(np.ascontiguousarray(grid))
    rows = per_beta(measures)
    doc = {"sweep": name, "about": about or {}, "factors": list(shapes.FACTORS),
           "levels": {k: list(v) for k, v in shapes.LEVELS.items()}, "traverse": list(TRAVERSE),
           "runs": sorted(measures, key=lambda m: (m["beta"], m["seed"])), "rows": rows}
    store.atomic_write_bytes(folder / PICTURES, st_save(tensors))
    store.atomic_write_text(folder / MEASURES, store.dumps(doc))
    return report(name, rows)


@dataclass
class FactorSweep:
    """A measured factor sweep read back from disk."""
    name: str
    about: dict
    factors: list[str]
    runs: list[dict]                                  # one per (β, seed)
    rows: list[dict]                                  # one per β (:func:`per_beta`)
    grids: dict[tuple[float, int], np.ndarray]        # (β, seed) -> [D, STEPS, H, W] uint8
    reference: np.ndarray
    traverse: tuple[float, float] = TRAVERSE

    @property
    def betas(self) -> list[float]:
        return [r["beta"] for r in self.rows]

    def seeds(self, beta: float) -> list[int]:
        return sorted(m["seed"] for m in self.runs if m["beta"] == beta)

    def run(self, beta: float, seed: int) -> dict | None:
        return next((m for m in self.runs if m["beta"] == beta and m["seed"] == seed), None)


def load(folder: Path) -> FactorSweep | None:
    """The measured factor sweep in ``folder``, or None when it has none (or it is unreadable)."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / MEASURES).read_text("utf-8"))
        tensors = load_file(str(folder / PICTURES))
    except (OSError, ValueError, SafetensorError):
        return None
    grids = {}
    for key, t in tensors.items():
        if "/" in key:
            b, s = key.split("/", 1)
            grids[(float(b), int(s))] = t.numpy()
    return FactorSweep(name=str(doc.get("sweep", folder.name)), about=doc.get("about", {}),
                       factors=list(doc.get("factors", [])), runs=list(doc.get("runs", [])),
                       rows=list(doc.get("rows", [])), grids=grids,
                       reference=tensors["reference"].numpy(),
                       traverse=tuple(doc.get("traverse", TRAVERSE)))
