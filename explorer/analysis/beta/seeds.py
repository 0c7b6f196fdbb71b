"""A β sweep's runs read per β: means and standard errors over training seeds
(:func:`aggregate`, the convention of :mod:`explorer.analysis.stats`), the sweet spot as
the set of β within error of the best samples (:func:`sweet_spot`), and the test for a
run whose q(z|x) shrank to a point (:func:`pointlike`). Used by the report and the
reading (:mod:`.report`, :mod:`.reading`)."""
from __future__ import annotations

from .. import stats

#: the per-run numbers averaged over seeds; those with an error over the images that every
#: seed shares (the same probe images) carry it into the standard error
AGGREGATED = ("code_radius", "recon_sharpness", "recon_mse", "sample_sharpness", "precision",
              "recall", "sample_quality", "none_share", "confidence", "frechet", "train_iwae",
              "val_iwae", "gap_iwae", "memorised_recon", "memorised_samples", "nearer_train_recon",
              "nearer_train_samples", "active_units", "val_kl", "gap_elbo")
SHARED_ERROR = ("recon_sharpness", "val_iwae", "gap_iwae", "gap_elbo", "memorised_recon")


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per β from the measures of its runs (one per training seed): the mean of each
    :data:`AGGREGATED` key and its standard error ``<key>_se`` (:func:`stats.combine_se`:
    over the seeds, plus the images' error where every seed shares it; with one seed, that
    run's own error where it has one), and ``seeds``."""
    out = []
    for beta in sorted({float(r["beta"]) for r in runs}):
        group = sorted((r for r in runs if float(r["beta"]) == beta), key=lambda r: r.get("seed", 0))
        row = {"beta": beta, "seeds": len(group), "latent_dim": group[0].get("latent_dim"),
               "iwae_k": group[0].get("iwae_k"), "n": group[0].get("n")}
        for key in AGGREGATED:
            vals = [r.get(key) for r in group]
            if all(v is None for v in vals):
                row[key], row[f"{key}_se"] = None, None
                continue
            own = [r.get(f"{key}_se") for r in group]
            if len(group) > 1 and key not in SHARED_ERROR:
                own = None
            row[key], row[f"{key}_se"], _ = stats.combine_se(vals, own)
        out.append(row)
    return out


POINT_KL = 50.0     # nats per latent dimension: beyond this q(z|x) is a point, and IWAE reads the prior


def pointlike(m: dict) -> bool:
    """A run whose posterior shrank to a point (β = 0: nothing holds the codes near the
    prior): its log p(x) mostly says how far out in the prior's tails a code lands."""
    d = m.get("latent_dim") or 0
    return bool(d) and m.get("val_kl") is not None and m["val_kl"] > POINT_KL * d


def sweet_spot(measures: list[dict]) -> list[float]:
    """The β values whose sample quality is within error of the best one's (two standard
    errors of the difference, :func:`stats.within_error_of_best`): a set, not one star.
    Empty without a judge."""
    ms = sorted(measures, key=lambda m: m["beta"])
    idx = stats.within_error_of_best([m.get("sample_quality") for m in ms],
                                     [m.get("sample_quality_se") for m in ms])
    return [ms[i]["beta"] for i in idx]


def best_beta(measures: list[dict]) -> float | None:
    """The β whose mean sample quality is highest (one member of :func:`sweet_spot`)."""
    have = [m for m in measures if m.get("sample_quality") is not None]
    return max(have, key=lambda m: m["sample_quality"])["beta"] if have else None


# ================================================================ curves and the report
