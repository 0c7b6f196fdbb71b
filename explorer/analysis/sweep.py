"""β sweeps: the measurements behind the β lab.

A *sweep* is a set of runs that differ only in β, the weight of the KL term in

    loss = recon + β · KL          (seed eq. 2/13 with a weight; β = 1 is the negative ELBO)

β = 0 drops the KL term: what is left is the reconstruction term alone, the
autoencoder loss of seed eq. 1 (generalised to the model's likelihood), but
with the VAE's noisy encoder. Everything here is plain numpy/torch and works
on what the runs record (``summary.json``: per-image averages in nats) or on a
loaded model, so every number the page shows is computed and tested here:

* the **blur score** of a set of images (:func:`edge_strength`, :func:`blur_score`);
* the **generalisation gap** between training and validation (:func:`generalisation_gap`);
* the **rate–distortion** geometry (from :mod:`explorer.analysis.rd`);
* per-run images and latent means (:func:`look_at_model`);
* the **plain-language reading**, sentences built from the measured numbers (:func:`reading`).

Which blur score, and why: the *mean gradient magnitude* (the average length of
the finite-difference gradient between neighbouring pixels). Blur is the loss
of edges: averaging neighbouring pixels, as a decoder that is unsure between
several digits does, shrinks the differences between them. The measure is in
intensity units per pixel, has no parameter, and is robust on 8×8 images. The
variance of the Laplacian, the usual camera focus measure, is a second
derivative: on tiny images it is dominated by single-pixel noise and by the
border. The score is reported relative to the data's own edge strength:
``blur = 1 − edges(images) / edges(data)``, so the data score 0, a uniform grey
image scores 1, and 0.25 means "a quarter of the data's edge strength is lost".
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
import torch

from ..config import RunConfig
from . import latent as L
from .rd import beta_line, beta_objective, iso_elbo_line  # noqa: F401 - part of the sweep API

DEFAULT_BETAS = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0)
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
                epochs: int = 150, likelihood: str | None = None, sigma: float = 0.1,
                path: str | None = None) -> RunConfig:
    """The settings a sweep shares. Default likelihood: Gaussian with σ = 0.1 for the
    grey 8×8 digits (as the shipped digits models), Bernoulli for MNIST-style images."""
    if likelihood is None:
        likelihood = "gaussian" if dataset == "digits" else "bernoulli"
    return RunConfig.from_dict({
        "data": {"name": dataset, "subset": subset, "path": path, "binarize": "none"},
        "model": {"kind": "vae", "latent_dim": int(latent_dim), "likelihood": likelihood,
                  "sigma": float(sigma)},
        "train": {"epochs": int(epochs), "beta_schedule": "constant"},
    })


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


# ================================================================ blur

def edge_strength(images) -> np.ndarray:
    """Mean gradient magnitude of each image (intensity per pixel), ``[N]``.

    Forward differences between neighbouring pixels, on the (H−1)×(W−1) grid where both
    exist: ``g = sqrt((x[i, j+1] − x[i, j])² + (x[i+1, j] − x[i, j])²)``, averaged over
    pixels and channels. Images are ``N×C×H×W`` or ``N×H×W`` in [0, 1]."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError("edge_strength needs images (N×C×H×W or N×H×W, at least 2×2 pixels)")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return np.sqrt(dx ** 2 + dy ** 2).mean(axis=(1, 2, 3))


def blur_score(images, reference) -> float:
    """``1 − mean edge strength(images) / mean edge strength(reference)``: the share of the
    reference's (the data's) edge strength that ``images`` lose. 0 = as sharp as the data,
    1 = no edges at all; negative = sharper than the data."""
    ref = float(edge_strength(reference).mean())
    if ref <= 0:
        raise ValueError("the reference images have no edges (all pixels equal)")
    return 1.0 - float(edge_strength(images).mean()) / ref


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


# ================================================================ images and latents

@dataclass
class RunLook:
    """What a page shows of one run: reconstructions of the first validation images, prior
    samples, the encoded means on a plane, and their blur measures."""
    recon: np.ndarray                # [n_show, *data_shape]
    samples: np.ndarray              # [n_show, *data_shape]
    plane: np.ndarray                # [N, 2] posterior means on the plane
    axis_titles: tuple[str, str]
    edge_recon: float                # mean edge strength of all reconstructions
    edge_samples: float              # ... of the prior samples
    blur_recon: float
    blur_samples: float
    rms_radius: float                # sqrt(mean ||mu||^2) over the probe images


def plane_of(mu) -> tuple[np.ndarray, tuple[str, str]]:
    """Posterior means on a plane that keeps the prior's circles round: the two latent
    dimensions themselves when D ≤ 2, else the two principal directions of the means
    through the origin (:func:`explorer.analysis.latent.pca_plane`)."""
    proj = L.pca_plane(mu, through_origin=True)
    return proj.transform(mu), proj.axis_titles


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


@torch.no_grad()
def look_at_model(model, x, *, show=None, n_samples: int = 500, seed: int = 0) -> RunLook:
    """Reconstructions (decoder mean at z = μ(x)), prior samples (decoder mean at
    z ~ N(0, I), seeded: the same z for every model of the same latent dimension) and the
    plane of posterior means for the images ``x``. ``show`` (indices, default the first 8)
    picks the reconstructions kept for display, and as many samples are kept; the blur
    scores use all of ``x`` and ``n_samples`` samples, against ``x`` itself."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    show = np.arange(min(8, len(x))) if show is None else np.asarray(show, dtype=np.int64)
    mu, _ = L.encode(model, x)
    recon = L.decode(model, mu)
    _, samples = L.prior_samples(model, max(n_samples, len(show)), seed=seed)
    plane, titles = plane_of(mu)
    xs = x.numpy()
    return RunLook(
        recon=recon[show], samples=samples[:len(show)], plane=plane, axis_titles=titles,
        edge_recon=float(edge_strength(recon).mean()), edge_samples=float(edge_strength(samples).mean()),
        blur_recon=blur_score(recon, xs), blur_samples=blur_score(samples, xs),
        rms_radius=float(np.sqrt((mu.astype(np.float64) ** 2).sum(1).mean())))


# ================================================================ the reading

def _fmt(v: float) -> str:
    return f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def _trend(values: np.ndarray) -> str:
    """'steadily' if the values move one way at every step, else 'overall'."""
    d = np.diff(values)
    return "steadily" if (np.all(d > 0) or np.all(d < 0)) else "overall"


def _move(values: np.ndarray, up: str = "rises", down: str = "falls") -> str:
    first, last = float(values[0]), float(values[-1])
    if math.isclose(first, last, rel_tol=1e-3, abs_tol=1e-3):
        return "stays at about"
    word = up if last > first else down
    return f"{word} {_trend(values)} from {_fmt(first)} to"


def reading(points, looks: dict | None = None, *, data_edge: float | None = None,
            latent_dim: int | None = None) -> list[str]:
    """Sentences that read the sweep's measured numbers in plain language.

    ``points`` are finished runs (:class:`BetaPoint`); ``looks`` maps β to its
    :class:`RunLook` (optional); ``data_edge`` is the data's mean edge strength. Every
    number and every direction word comes from the arguments: nothing is canned."""
    pts = sort_points(points)
    if len(pts) < 2:
        return ["Two or more finished runs with different β are needed to read a trend."]
    b = [p.beta for p in pts]
    lo, hi = f"{b[0]:g}", f"{b[-1]:g}"
    out = []

    kl_v = series(pts, "val", "kl")
    rec_t, rec_v = series(pts, "train", "recon"), series(pts, "val", "recon")
    out.append(f"As β goes from {lo} to {hi}, the KL (the rate: nats spent describing each image "
               f"in z) on validation images {_move(kl_v)} {_fmt(kl_v[-1])} nats, and the "
               f"reconstruction error (the distortion) on the training images "
               f"{_move(rec_t)} {_fmt(rec_t[-1])} nats.")
    best_v = int(np.argmin(rec_v))
    out.append(f"On validation images the reconstruction error {_move(rec_v)} {_fmt(rec_v[-1])} nats; "
               f"it is lowest at β = {b[best_v]:g} ({_fmt(rec_v[best_v])}).")

    gap = series(pts, "gap", "elbo")
    g_max, g_min = int(np.argmax(gap)), int(np.argmin(gap))
    n = pts[0].n_train
    s = (f"Overfitting, the gap training ELBO − validation ELBO: {_fmt(gap[g_max])} nats at "
         f"β = {b[g_max]:g} (the largest) and {_fmt(gap[g_min])} at β = {b[g_min]:g} (the smallest).")
    if gap.max() <= 0:
        s += " No run does better on its training images than on new ones: no overfitting to see."
    elif gap[0] > gap[-1]:
        s += (f" A larger β shrank the gap here: the KL term keeps the model from memorising its "
              f"{n} training images." if n else
              " A larger β shrank the gap here: the KL term acts as a regulariser.")
    else:
        s += " Here a larger β did not shrink the gap."
    out.append(s)

    elbo_v = series(pts, "val", "elbo")
    k = int(np.argmax(elbo_v))
    out.append(f"The best validation ELBO (the β = 1 objective, a lower bound on log p(x)) is "
               f"{_fmt(elbo_v[k])} nats per image, at β = {b[k]:g}.")

    if looks and data_edge:
        have = [p.beta for p in pts if p.beta in looks]
        if len(have) >= 2:
            r0, r1 = looks[have[0]], looks[have[-1]]
            out.append(
                f"Blur: reconstructions keep {100 * r0.edge_recon / data_edge:.0f}% of the data's "
                f"edge strength at β = {have[0]:g} and {100 * r1.edge_recon / data_edge:.0f}% at "
                f"β = {have[-1]:g}; prior samples keep {100 * r0.edge_samples / data_edge:.0f}% and "
                f"{100 * r1.edge_samples / data_edge:.0f}%.")
            if latent_dim:
                out.append(_spread_sentence(have[0], looks[have[0]].rms_radius,
                                            have[-1], looks[have[-1]].rms_radius, latent_dim))

    au = [int(p.val.get("active_units", 0)) for p in pts]
    d = latent_dim or max(len(p.kl_per_dim) for p in pts) or max(au)
    out.append(_active_units_sentence(b, au, d))
    return out


def _spread_sentence(b0: float, r0: float, b1: float, r1: float, latent_dim: int) -> str:
    """Where the encoded means lie compared with the prior: E||z||² = D under N(0, I)."""
    prior = math.sqrt(latent_dim)
    s = (f"The encoded means spread to an RMS radius of {r0:.1f} at β = {b0:g} and {r1:.1f} at "
         f"β = {b1:g}; samples of the prior have RMS radius √{latent_dim} = {prior:.1f}.")
    if r0 > 1.5 * prior:
        s += (f" At β = {b0:g} the means lie {r0 / prior:.1f}× farther out than the prior's "
              f"samples: most prior samples land between them, where the decoder saw no image "
              f"(holes).")
    if r1 < 0.8 * prior:
        s += (f" At β = {b1:g} they huddle inside the prior's radius: each q(z|x) is wide and "
              f"overlaps its neighbours', so z tells less about which image it came from.")
    return s


def _active_units_sentence(betas: list[float], au: list[int], d: int) -> str:
    what = "(active: the posterior mean varies across images, Var > 0.01)"
    top = max(au)
    if all(a == au[0] for a in au):
        return f"{au[0]} of {d} latent dimensions are active at every β tried {what}."
    # the smallest β from which on every run has fewer active dimensions than the most seen
    start = None
    for i in range(len(au) - 1, -1, -1):
        if au[i] < top:
            start = i
        else:
            break
    s = f"Active dimensions {what}: {au[0]} of {d} at β = {betas[0]:g}, {au[-1]} at β = {betas[-1]:g}."
    if start is not None:
        s += (f" From β = {betas[start]:g} on, fewer than {top} are active: the others have "
              f"collapsed onto the prior (their KL ≈ 0), so they carry nothing about the image.")
    return s
