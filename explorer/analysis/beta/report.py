"""A sweep's measures, per β, and its report: what the β lab draws and ``sweep-report`` prints.

:func:`make_probe` fixes what every run of a sweep is measured on (equally many training
and validation images, the classifier, the images shown); :func:`measure_run` measures
one run (:mod:`explorer.analysis.beta.measures` defines each number) and returns the
pictures the page shows; :func:`report` turns a sweep's measures into the JSON object
of ``python -m explorer sweep-report``. :func:`save` / :func:`load` keep a measured
sweep beside its runs (shipped sweeps carry theirs, made at pretrain time, so the
page draws them at once).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save as st_save

from ... import store
from ...training import active_units
from .. import stats
from . import classifier as beta_classifier
from . import measures as beta_measures
from .sweep import pick_examples

N_MEASURE = 1000      # images of each split the measures use (fewer when the data have fewer)
N_SAMPLES = 1000      # prior samples per run
IWAE_K = 100          # importance samples of the IWAE bound
N_SHOW = 6            # images of each kind shown per β
SAMPLE_SEED = 0       # the same z ~ N(0, I) for every run of a sweep
PROBE_SEED = 0        # the seeded random subsets of each split that every run is measured on
PROBE_STREAMS = {"train": 1, "val": 2}
MEASURES = "measures.json"
IMAGES = "images.safetensors"

#: the keys of a report row, each with its meaning (``sweep-report --help`` prints these)
ROW_HELP = {
    "beta": "β, the weight of the KL term the run was trained with",
    "recon_sharpness": "the mean sharpness of the reconstructions of validation images ÷ that of "
                       "their inputs (sharpness = the share of an image's spectral energy at "
                       "periods under 5 pixels, its mean removed, so contrast does not count); "
                       "1 = as sharp as the inputs. Higher is better",
    "sample_quality": "prior samples judged by a classifier trained on the sweep's training "
                      "images: the harmonic mean of the samples' precision (share that lie on "
                      "the data: low for decodes of holes in the latent space) and recall (share "
                      "of the data the samples cover: low when they are few blurry averages), in "
                      "the classifier's feature space; 0 to 1. Higher is better",
    "gap_iwae": "train − validation IWAE-k bound, nats per image: overfitting, without most of "
                "the encoder's amortisation gap. Lower is less overfitting",
    "gap_iwae_se": "the standard error of gap_iwae (nats)",
    "val_iwae": "validation IWAE-k bound, nats per image: an estimate of log p(x) from below. "
                "Higher is better",
    "active_units": "latent dimensions whose posterior mean varies across validation images "
                    "(variance > 0.01); the others have collapsed onto the prior",
}
ROW_KEYS = tuple(ROW_HELP)


@dataclass
class Probe:
    """What every run of a sweep is measured on and shown with."""
    x_train: torch.Tensor            # [n] training images
    x_val: torch.Tensor              # [n] validation images
    show: np.ndarray                 # indices into x_val of the images shown
    classifier: beta_classifier.Classifier | None  # None without labels
    val_feats: np.ndarray | None     # the classifier's features of x_val
    val_sharpness: float             # mean sharpness of x_val
    iwae_k: int = IWAE_K
    n_samples: int = N_SAMPLES


def make_probe(x_train, y_train, x_val, y_val, *, n: int = N_MEASURE, iwae_k: int = IWAE_K,
               n_samples: int = N_SAMPLES, classifier: beta_classifier.Classifier | None = None,
               seed: int = 0) -> Probe:
    """The probe of a sweep whose data are ``x_train``/``x_val`` (labels may be None: then
    there is no classifier and no sample quality). The classifier is trained on all of
    ``x_train`` unless one is given; the measures use the first ``n`` images of each split."""
    x_train, x_val = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (x_train, x_val))
    n = min(n, len(x_train), len(x_val))
    if n < 10:
        raise ValueError("a sweep needs at least 10 training and 10 validation images to be measured")
    labelled = y_train is not None and len(np.unique(np.asarray(y_train))) >= 2
    if classifier is None and labelled:
        classifier = beta_classifier.train_classifier(x_train, y_train, seed=seed)
    feats = classifier.read(x_val[:n])[1] if classifier is not None else None
    yv = None if y_val is None else np.asarray(y_val)[:n]
    return Probe(x_train=x_train[:n], x_val=x_val[:n], show=pick_examples(yv, N_SHOW),
                 classifier=classifier, val_feats=feats,
                 val_sharpness=float(beta_measures.sharpness(x_val[:n]).mean()), iwae_k=iwae_k,
                 n_samples=n_samples)


def probe_indices(n_total: int, n: int, split: str, seed: int = PROBE_SEED) -> np.ndarray:
    """The indices of a split's images that a sweep is measured on: a seeded random subset
    (:func:`explorer.analysis.stats.seeded_subset`), never "the first n" (MNIST's validation
    split is the official test file, ordered by writer: its first images are the easier)."""
    return stats.seeded_subset(n_total, n, seed, PROBE_STREAMS[split])


def prior_z(latent_dim: int, n: int, seed: int = SAMPLE_SEED) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def sample_quality(precision: float | None, recall: float | None) -> float | None:
    """The harmonic mean of precision and recall (0 when either is 0)."""
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall <= 0 else 2 * precision * recall / (precision + recall)


@torch.no_grad()
def measure_run(model, probe: Probe, *, beta: float, summary: dict | None = None,
                seed: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """One run's measures (a dict with every :data:`ROW_KEYS` key and more) and the
    pictures shown of it: ``recon`` (of the shown validation images), ``samples`` and
    ``nearest`` (the nearest training image of each shown sample). ``summary`` (the run's
    ``summary.json``) gives the active units and the ELBO gap the run recorded."""
    model.eval()
    xv, xt = probe.x_val, probe.x_train
    mu, _ = model.encode_mean(xv)
    recon = model.decode_mean(mu).cpu()
    samples = model.decode_mean(prior_z(model.latent_dim, probe.n_samples)).cpu()
    out = {"beta": float(beta), "code_radius": float(mu.double().pow(2).sum(1).mean().sqrt()),
           "latent_dim": int(model.latent_dim),
           "recon_sharpness": beta_measures.relative_sharpness(recon, xv),
           "recon_mse": float(((recon.double() - xv.double()) ** 2).mean()),
           "sample_sharpness": float(beta_measures.sharpness(samples).mean()
                                     / max(probe.val_sharpness, 1e-12))}
    prec = rec = probs = None
    if probe.classifier is not None:
        probs, feats = probe.classifier.read(samples)
        prec, rec = beta_measures.precision_recall(probe.val_feats, feats[:len(probe.val_feats)])
        out.update(confidence=float(probs.max(1).mean()),
                   frechet=beta_measures.frechet_distance(feats, probe.val_feats))
    out.update(precision=prec, recall=rec, sample_quality=sample_quality(prec, rec))
    it = beta_measures.iwae_per_image(model, xt, probe.iwae_k, seed=seed)
    iv = beta_measures.iwae_per_image(model, xv, probe.iwae_k, seed=seed + 1)
    gap, se = beta_measures.gap_with_se(it, iv)
    out.update(train_iwae=float(it.mean()), val_iwae=float(iv.mean()), gap_iwae=gap, gap_iwae_se=se,
               iwae_k=probe.iwae_k, n=len(xv))
    mem_r = beta_measures.memorisation(recon, xt, xv, self_in_val=True)
    mem_s = beta_measures.memorisation(samples[:len(xv)], xt, xv)
    out.update(memorised_recon=mem_r["ratio"], memorised_samples=mem_s["ratio"],
               nearer_train_recon=mem_r["share_nearer_train"],
               nearer_train_samples=mem_s["share_nearer_train"])
    val = (summary or {}).get("val") or {}
    out["active_units"] = int(val.get("active_units", active_units(mu)[0]))
    if isinstance(val.get("kl"), (int, float)):
        out["val_kl"] = float(val["kl"])
    if isinstance((summary or {}).get("gap_elbo"), (int, float)):
        out["gap_elbo"] = float(summary["gap_elbo"])
    show = probe.show
    images = {"recon": recon[show].numpy(), "samples": samples[:len(show)].numpy(),
              "nearest": xt[mem_s["nearest_train"][:len(show)]].numpy()}
    if probs is not None:            # the class each shown sample most resembles (its alt text)
        images["sample_class"] = probs[:len(show)].argmax(1).astype(np.float32)
    return out, images


# ================================================================ curves and the report

def val_curve(rows: list[dict]) -> dict:
    """The validation numbers recorded at each epoch end of a run's metrics rows:
    ``{"epoch": [...], "elbo": [...], "recon": [...], "kl": [...]}``."""
    ends = [r for r in rows if isinstance(r.get("val_elbo"), float) and math.isfinite(r["val_elbo"])]
    return {"epoch": [float(r["epoch"]) for r in ends], "elbo": [float(r["val_elbo"]) for r in ends],
            "recon": [float(r.get("val_recon", math.nan)) for r in ends],
            "kl": [float(r.get("val_kl", math.nan)) for r in ends]}


def report(name: str, measures: list[dict]) -> dict:
    """The ``sweep-report`` object: ``{"sweep": name, "rows": [...]}``, one row per run
    with the :data:`ROW_KEYS`, sorted by β."""
    rows = [{k: m.get(k) for k in ROW_KEYS} for m in sorted(measures, key=lambda m: m["beta"])]
    return {"sweep": name, "rows": rows}


def sweet_spot(measures: list[dict]) -> float | None:
    """The β whose samples score best (:func:`sample_quality`), or None without a classifier."""
    have = [m for m in measures if m.get("sample_quality") is not None]
    return max(have, key=lambda m: m["sample_quality"])["beta"] if have else None


# ================================================================ on disk

def save(folder: Path, name: str, measures: list[dict], images: dict[float, dict],
         inputs: np.ndarray, curves: dict[float, dict], about: dict | None = None) -> None:
    """Write a measured sweep into ``folder``: ``measures.json`` (numbers, validation
    curves, what it was measured on) and ``images.safetensors`` (the pictures, float16)."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"inputs": torch.as_tensor(np.asarray(inputs)).half()}
    for b, imgs in images.items():
        for kind, arr in imgs.items():
            tensors[f"{kind}@{b:g}"] = torch.as_tensor(np.asarray(arr)).half().contiguous()
    doc = {"sweep": name, "about": about or {}, "measures": sorted(measures, key=lambda m: m["beta"]),
           "curves": {f"{b:g}": c for b, c in sorted(curves.items())}}
    store.atomic_write_bytes(folder / IMAGES, st_save(tensors))
    store.atomic_write_text(folder / MEASURES, store.dumps(doc))


@dataclass
class Measured:
    """A measured sweep read back from disk."""
    name: str
    about: dict
    measures: list[dict]
    curves: dict[float, dict]
    inputs: np.ndarray
    images: dict[float, dict[str, np.ndarray]]

    @property
    def betas(self) -> list[float]:
        return [m["beta"] for m in self.measures]


def load(folder: Path) -> Measured | None:
    """The measured sweep in ``folder``, or None when it has none (or it is unreadable)."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / MEASURES).read_text("utf-8"))
        tensors = load_file(str(folder / IMAGES))
    except (OSError, ValueError, SafetensorError):
        return None
    images: dict[float, dict] = {}
    for key, t in tensors.items():
        if "@" in key:
            kind, b = key.split("@", 1)
            images.setdefault(float(b), {})[kind] = t.float().numpy()
    return Measured(name=str(doc.get("sweep", folder.name)), about=doc.get("about", {}),
                    measures=list(doc.get("measures", [])),
                    curves={float(b): c for b, c in (doc.get("curves") or {}).items()},
                    inputs=tensors["inputs"].float().numpy(), images=images)


# ================================================================ a sweep of run folders

def measure_folders(runs: dict[float, Path], ds, *, n: int = N_MEASURE, iwae_k: int = IWAE_K,
                    on_run=None) -> tuple[list[dict], dict[float, dict], np.ndarray, dict[float, dict]]:
    """Measure a sweep's finished run folders (β -> folder) on their dataset ``ds``:
    ``(measures, images, inputs, curves)`` as :func:`save` takes them. ``on_run(β, m)``
    is called after each run."""
    probe = make_probe(ds.x_train, ds.y_train, ds.x_val, ds.y_val, n=n, iwae_k=iwae_k)
    measures, images, curves = [], {}, {}
    for beta in sorted(runs):
        folder = Path(runs[beta])
        model = store.load_model(folder, device="cpu")
        m, imgs = measure_run(model, probe, beta=beta, summary=store.read_summary(folder))
        measures.append(m)
        images[beta] = imgs
        curves[beta] = val_curve(store.read_metrics(folder))
        if on_run:
            on_run(beta, m)
    return measures, images, probe.x_val[probe.show].numpy(), curves


def shipped_folder(name: str) -> Path:
    """Where a shipped sweep's measures live: ``trained/sweeps/<name>/``."""
    return store.SHIPPED_ROOT / "sweeps" / store.check_run_id(name)
