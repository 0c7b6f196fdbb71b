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

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from safetensors import SafetensorError
from safetensors.torch import load_file, save as st_save

from ... import objective, store
from ...training import active_units
from .. import stats
from . import judge as beta_judge
from . import measures as beta_measures
from .keys import NULL_HELP, ROW_HELP, ROW_KEYS, SWEET_HELP  # noqa: F401 - the report's API
from .seeds import (AGGREGATED, POINT_KL, SHARED_ERROR, aggregate, best_beta,  # noqa: F401 - the report's API
                    pointlike, sweet_spot)
from .sweep import pick_examples

N_MEASURE = 1000      # images of each split the measures use (fewer when the data have fewer)
N_SAMPLES = 1000      # prior samples per run (the Fréchet distance; precision and recall use n)
N_DRAWS = 5           # prior-sample draws per run that sample quality is averaged over
IWAE_K = 100          # importance samples of the IWAE bound
N_SHOW = 6            # images of each kind shown per β
SAMPLE_SEED = 0       # the same z ~ N(0, I) for every run of a sweep (the pictures)
PROBE_SEED = 0        # the seeded random subsets of each split that every run is measured on
PROBE_STREAMS = {"train": 1, "val": 2}
NULL_SEED = 7         # the noise images of the null checks
MEASURES = "measures.json"
IMAGES = "images.safetensors"

@dataclass
class Probe:
    """What every run of a sweep is measured on and shown with."""
    x_train: torch.Tensor            # [n] training images (a seeded random subset)
    x_val: torch.Tensor              # [n] validation images (a seeded random subset)
    show: np.ndarray                 # indices into x_val of the images shown
    judge: beta_judge.Judge | None            # None without labels
    val_feats: np.ndarray | None     # the judge's features of x_val
    val_sharpness: float             # mean sharpness of x_val
    null: dict                       # what the judge makes of non-samples (see NULL_HELP)
    iwae_k: int = IWAE_K
    n_samples: int = N_SAMPLES
    n_draws: int = N_DRAWS


def probe_indices(n_total: int, n: int, split: str, seed: int = PROBE_SEED) -> np.ndarray:
    """The indices of a split's images that a sweep is measured on: a seeded random subset
    (:func:`explorer.analysis.stats.seeded_subset`), never "the first n" (MNIST's validation
    split is the official test file, ordered by writer: its first images are the easier)."""
    return stats.seeded_subset(n_total, n, seed, PROBE_STREAMS[split])


def judgeable(x_train, y_pool, y_val) -> bool:
    """Whether a sweep on these data gets a judge: images, with at least two labels."""
    return (y_pool is not None and y_val is not None and np.asarray(x_train).ndim == 4
            and len(np.unique(np.asarray(y_pool))) >= 2)


def judge_classes(y_pool, y_val) -> int:
    """The judge's number of classes (without its "none of these")."""
    return int(max(np.max(np.asarray(y_pool)), np.max(np.asarray(y_val)))) + 1


def make_probe(x_train, y_train, x_val, y_val, *, n: int = N_MEASURE, iwae_k: int = IWAE_K,
               n_samples: int = N_SAMPLES, n_draws: int = N_DRAWS, pool=None,
               judge: beta_judge.Judge | None = None, judge_info: dict | None = None,
               seed: int = 0) -> Probe:
    """The probe of a sweep whose data are ``x_train``/``x_val`` (labels may be None: then
    there is no judge and no sample quality). The measures use a seeded random subset of
    ``n`` images of each split (:func:`probe_indices`). The judge is trained on ``pool``
    (``(x, y)``: the data's whole training split, when the caller has it) or else on
    ``x_train``, unless one is given (with ``judge_info``, what :func:`train_judge` said of it:
    the server trains it in a child process, :mod:`explorer.analysis.offload`)."""
    x_train, x_val = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (x_train, x_val))
    n = min(n, len(x_train), len(x_val))
    if n < 10:
        raise ValueError("a sweep needs at least 10 training and 10 validation images to be measured")
    it = torch.as_tensor(probe_indices(len(x_train), n, "train"))
    iv = torch.as_tensor(probe_indices(len(x_val), n, "val"))
    xt, xv = x_train[it], x_val[iv]
    yv = None if y_val is None else np.asarray(y_val)[iv.numpy()]
    px, py = pool if pool is not None else (x_train, y_train)
    info = dict(judge_info or {})
    if judge is None and judgeable(x_train, py, y_val):
        with beta_judge.one_thread():
            judge, info = beta_judge.train_judge(px, py, seed=seed, n_classes=judge_classes(py, y_val))
    feats, null = None, {}
    if judge is not None:
        probs, feats = judge.read(xv)
        null = null_checks(judge, feats, xt, xv)
        null.update(classifier_ece=beta_judge.expected_calibration_error(probs, yv),
                    classifier_accuracy=float(np.mean(probs.argmax(1) == yv)),
                    temperature=float(judge.temperature), **{f"judge_{k}": v for k, v in info.items()})
    return Probe(x_train=xt, x_val=xv, show=pick_examples(yv, N_SHOW), judge=judge, val_feats=feats,
                 val_sharpness=float(beta_measures.sharpness(xv).mean()), null=null, iwae_k=iwae_k,
                 n_samples=n_samples, n_draws=n_draws)


def prior_z(latent_dim: int, n: int, seed: int = SAMPLE_SEED) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def draw_seed(run_seed: int, draw: int) -> int:
    """The seed of a run's ``draw``-th set of prior samples: draw 0 of seed 0 is the pictures' z."""
    return SAMPLE_SEED + 1000 * int(run_seed) + int(draw)


def sample_quality(precision: float | None, recall: float | None) -> float | None:
    """The harmonic mean of precision and recall (0 when either is 0)."""
    if precision is None or recall is None:
        return None
    return 0.0 if precision + recall <= 0 else 2 * precision * recall / (precision + recall)


def judged(judge: beta_judge.Judge, real_feats: np.ndarray, images) -> dict:
    """Sample quality of ``images`` against the real images whose judge features are
    ``real_feats`` (as many images as real ones are used): precision counts each image on
    the real manifold by the judge's probability that it is an image of the data."""
    probs, feats = judge.read(np.asarray(images)[:len(real_feats)])
    real = 1.0 - probs[:, judge.none]
    prec, rec = beta_measures.precision_recall(real_feats, feats, weights=real)
    return {"precision": prec, "recall": rec, "sample_quality": sample_quality(prec, rec),
            "none_share": float(probs[:, judge.none].mean()),
            "confidence": float(probs.max(1).mean())}


def null_checks(judge: beta_judge.Judge, val_feats: np.ndarray, x_train: torch.Tensor, x_val: torch.Tensor) -> dict:
    """What the quality measure makes of images that are not samples of the data: uniform
    noise, the mean training image, blurred validation images; and of real training images."""
    gen = torch.Generator().manual_seed(NULL_SEED)
    n = len(val_feats)
    noise = torch.rand((n,) + tuple(x_val.shape[1:]), generator=gen)
    mean = x_train.mean(0, keepdim=True).expand(n, *x_val.shape[1:])
    blurred = beta_judge.gaussian_blur(x_val, beta_judge.BLUR_NULL)
    return {f"{k}_quality": judged(judge, val_feats, v)["sample_quality"]
            for k, v in (("uniform_noise", noise), ("mean_image", mean), ("blurred", blurred),
                         ("real_images", x_train))}


@torch.no_grad()
def measure_run(model, probe: Probe, *, beta: float, seed: int = 0,
                summary: dict | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """One run's measures (every :data:`AGGREGATED` key, with the standard errors that one
    run can give) and the pictures shown of it: ``recon`` (of the shown validation images),
    ``samples`` and ``nearest`` (the nearest training image of each shown sample).
    ``seed`` is the run's training seed (it picks the prior draws). Everything is measured
    on the probe, so every run (and every seed) of a sweep is measured on the same images."""
    model.eval()
    xv, xt = probe.x_val, probe.x_train
    mu, _ = model.encode_mean(xv)
    recon = model.decode_mean(mu).cpu()
    samples = model.decode_mean(prior_z(model.latent_dim, probe.n_samples, draw_seed(seed, 0))).cpu()
    rs, rs_se = stats.ratio_se(beta_measures.sharpness(recon), beta_measures.sharpness(xv))
    out = {"beta": float(beta), "seed": int(seed), "latent_dim": int(model.latent_dim),
           "code_radius": float(mu.double().pow(2).sum(1).mean().sqrt()),
           "recon_sharpness": rs, "recon_sharpness_se": rs_se,
           "recon_mse": float(((recon.double() - xv.double()) ** 2).mean()),
           **_mean_and_se("sample_sharpness", beta_measures.sharpness(samples) / max(probe.val_sharpness, 1e-12))}
    if probe.judge is not None:
        n = len(probe.val_feats)
        draws = [judged(probe.judge, probe.val_feats, samples if d == 0 else model.decode_mean(
            prior_z(model.latent_dim, n, draw_seed(seed, d))).cpu()) for d in range(probe.n_draws)]
        for k in draws[0]:
            out[k], out[f"{k}_se"], _ = stats.mean_se([d[k] for d in draws])
        out["frechet"] = beta_measures.frechet_distance(probe.judge.read(samples)[1], probe.val_feats)
    else:
        out.update(precision=None, recall=None, sample_quality=None, sample_quality_se=None)
    it = beta_measures.iwae_per_image(model, xt, probe.iwae_k, seed=2 * seed)
    iv = beta_measures.iwae_per_image(model, xv, probe.iwae_k, seed=2 * seed + 1)
    gap, se = beta_measures.gap_with_se(it, iv)
    out.update(train_iwae=float(it.mean()), val_iwae=float(iv.mean()),
               val_iwae_se=float(iv.std(ddof=1) / np.sqrt(len(iv))), gap_iwae=gap, gap_iwae_se=se,
               iwae_k=probe.iwae_k, n=len(xv))
    mem_r = beta_measures.memorisation(recon, xt, xv, self_in_val=True)
    mem_s = beta_measures.memorisation(samples[:len(xv)], xt, xv)
    out.update(memorised_recon=mem_r["ratio"],
               memorised_recon_se=stats.ratio_se(mem_r["dist_val"], mem_r["dist_train"])[1],
               memorised_samples=mem_s["ratio"], nearer_train_recon=mem_r["share_nearer_train"],
               nearer_train_samples=mem_s["share_nearer_train"])
    gen = torch.Generator(device=model.device).manual_seed(seed)
    terms = {s: objective.per_image_terms(model, x.to(model.device), generator=gen)
             for s, x in (("train", xt), ("val", xv))}
    gap_elbo, gap_elbo_se = beta_measures.gap_with_se(terms["train"]["elbo"].double().cpu().numpy(),
                                          terms["val"]["elbo"].double().cpu().numpy())
    out.update(active_units=int(active_units(mu)[0]), val_kl=float(terms["val"]["kl"].double().mean()),
               gap_elbo=gap_elbo, gap_elbo_se=gap_elbo_se)
    show = probe.show
    images = {"recon": recon[show].numpy(), "samples": samples[:len(show)].numpy(),
              "nearest": xt[mem_s["nearest_train"][:len(show)]].numpy()}
    if probe.judge is not None:      # the class each shown sample most resembles (its alt text)
        probs, _ = probe.judge.read(samples[:len(show)])
        images["sample_class"] = probs[:, :probe.judge.none].argmax(1).astype(np.float32)
    return out, images


def _mean_and_se(key: str, values) -> dict:
    mean, se, _ = stats.mean_se(values)
    return {key: mean, f"{key}_se": se}


def val_curve(rows: list[dict]) -> dict:
    """The validation numbers recorded at each epoch end of a run's metrics rows:
    ``{"epoch": [...], "elbo": [...], "recon": [...], "kl": [...]}``."""
    ends = [r for r in rows if isinstance(r.get("val_elbo"), float) and math.isfinite(r["val_elbo"])]
    return {"epoch": [float(r["epoch"]) for r in ends], "elbo": [float(r["val_elbo"]) for r in ends],
            "recon": [float(r.get("val_recon", math.nan)) for r in ends],
            "kl": [float(r.get("val_kl", math.nan)) for r in ends]}


def report(name: str, measured: "Measured | list[dict]", null: dict | None = None) -> dict:
    """The ``sweep-report`` object: ``{"sweep": name, "rows": [...], "sweet_spot": [β, …],
    "null": {...}}``, one row per β with the :data:`ROW_KEYS`, sorted by β."""
    if isinstance(measured, Measured):
        measures, null = measured.measures, measured.null
    else:
        measures = measured
    rows = []
    for m in sorted(measures, key=lambda m: m["beta"]):
        row = {k: m.get(k) for k in ROW_KEYS}
        row["seeds"] = int(m.get("seeds") or 1)
        row["point_posterior"] = pointlike(m)
        rows.append(row)
    null = null or {}
    return {"sweep": name, "rows": rows, "sweet_spot": sweet_spot(measures),
            "null": {k: null.get(k) for k in NULL_HELP}}


# ================================================================ on disk

@dataclass
class Measured:
    """A measured sweep: per-β rows (means and standard errors over seeds), the per-run
    measures they come from, the pictures (of each β's first seed), the validation curves
    (``curves``: each β's first seed; ``seed_curves``: every seed's) and the null checks."""
    name: str
    about: dict
    measures: list[dict]
    curves: dict[float, dict]
    inputs: np.ndarray
    images: dict[float, dict[str, np.ndarray]]
    runs: list[dict] = field(default_factory=list)
    seed_curves: dict[float, dict[int, dict]] = field(default_factory=dict)
    null: dict = field(default_factory=dict)

    @property
    def betas(self) -> list[float]:
        return [m["beta"] for m in self.measures]

    @property
    def sweet(self) -> list[float]:
        return sweet_spot(self.measures)


def save(folder: Path, measured: Measured) -> None:
    """Write a measured sweep into ``folder``: ``measures.json`` (numbers, validation
    curves, what it was measured on) and ``images.safetensors`` (the pictures, float16)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {"inputs": torch.as_tensor(np.asarray(measured.inputs)).half()}
    for b, imgs in measured.images.items():
        for kind, arr in imgs.items():
            tensors[f"{kind}@{b:g}"] = torch.as_tensor(np.asarray(arr)).half().contiguous()
    first = {b: next((s for s, c in sorted(cs.items()) if c == measured.curves.get(b)), None)
             for b, cs in measured.seed_curves.items()}       # the seed whose curve is in ``curves``
    first = {b: s for b, s in first.items() if s is not None}
    doc = {"sweep": measured.name, "about": measured.about or {},
           "measures": sorted(measured.measures, key=lambda m: m["beta"]),
           "null": measured.null,
           "runs": sorted(measured.runs, key=lambda m: (m["beta"], m.get("seed", 0))),
           "curves": {f"{b:g}": c for b, c in sorted(measured.curves.items())},
           "seed_curves": {f"{b:g}": {str(s): _slim(c) for s, c in sorted(cs.items()) if s != first.get(b)}
                           for b, cs in sorted(measured.seed_curves.items())},
           "curves_seed": {f"{b:g}": s for b, s in sorted(first.items())}}
    store.atomic_write_bytes(folder / IMAGES, st_save(tensors))
    store.atomic_write_text(folder / MEASURES, store.dumps(doc))


def _slim(curve: dict) -> dict:
    """The part of another seed's validation curve the reading tests (the ELBO by epoch)."""
    return {"epoch": list(curve.get("epoch", [])), "elbo": [round(float(v), 4) for v in curve.get("elbo", [])]}


def _seed_curves(doc: dict) -> dict[float, dict[int, dict]]:
    """Every seed's validation curve per β: the other seeds' from ``seed_curves``, the
    first seed's from ``curves`` (stored once)."""
    out = {float(b): {int(s): c for s, c in cs.items()} for b, cs in (doc.get("seed_curves") or {}).items()}
    for b, seed in (doc.get("curves_seed") or {}).items():
        if b in (doc.get("curves") or {}):
            out.setdefault(float(b), {})[int(seed)] = doc["curves"][b]
    return out


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
    runs = list(doc.get("runs") or [])
    measures = list(doc.get("measures", []))
    if not runs and measures and "seeds" not in measures[0]:     # measured before seeds counted
        runs, measures = measures, aggregate(measures)
    return Measured(name=str(doc.get("sweep", folder.name)), about=doc.get("about", {}),
                    measures=measures, runs=runs, null=dict(doc.get("null") or {}),
                    curves={float(b): c for b, c in (doc.get("curves") or {}).items()},
                    seed_curves=_seed_curves(doc),
                    inputs=tensors["inputs"].float().numpy(), images=images)


# ================================================================ a sweep of run folders

def pool_config(data_cfg):
    """The data config whose training split teaches the judge: the sweep's, without its
    training subset (a judge is better for more data; it is the same for every run)."""
    return dataclasses.replace(data_cfg, subset=None)


def measure_folders(runs: dict, ds, *, name: str = "", n: int = N_MEASURE, iwae_k: int = IWAE_K,
                    pool=None, on_run=None, about: dict | None = None) -> Measured:
    """Measure a sweep's finished run folders on their dataset ``ds``: ``runs`` maps β to a
    folder, or β to ``{training seed: folder}``. ``pool``: ``(x, y)`` to train the judge on
    (default: ``ds``'s training split). ``on_run(β, seed, m)`` is called after each run."""
    probe = make_probe(ds.x_train, ds.y_train, ds.x_val, ds.y_val, n=n, iwae_k=iwae_k, pool=pool)
    per_run, images, curves, seed_curves = [], {}, {}, {}
    for beta in sorted(runs):
        folders = runs[beta] if isinstance(runs[beta], dict) else {None: runs[beta]}
        for seed, folder in sorted(folders.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
            folder = Path(folder)
            if seed is None:
                seed = store.read_config(folder).train.seed
            model = store.load_model(folder, device="cpu")
            with beta_judge.one_thread():
                m, imgs = measure_run(model, probe, beta=beta, seed=seed)
            per_run.append(m)
            curve = val_curve(store.read_metrics(folder))
            seed_curves.setdefault(beta, {})[seed] = curve
            if beta not in images:
                images[beta], curves[beta] = imgs, curve
            if on_run:
                on_run(beta, seed, m)
    return Measured(name=name, about=dict(about or {}), measures=aggregate(per_run), runs=per_run,
                    curves=curves, seed_curves=seed_curves, null=probe.null,
                    inputs=probe.x_val[probe.show].numpy(), images=images)


def shipped_folder(name: str) -> Path:
    """Where a shipped sweep's measures live: ``trained/sweeps/<name>/``."""
    return store.SHIPPED_ROOT / "sweeps" / store.check_run_id(name)
