"""The β lab's words: a reading of a sweep's measured numbers, and the steps of its tour.

Every number and every direction word comes from the arguments (the measures of
:mod:`explorer.analysis.beta.report`, the validation curves, the runs' summaries):
nothing is canned, so the words cannot contradict the pictures, which are drawn from
the same runs. A claim (holes at small β, blur at large β, a shrinking gap) is made
only when the numbers show it; otherwise the sentence says what they show instead.
"""
from __future__ import annotations

import math

import numpy as np

from ...config import DATASETS_TOY


def pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def fmt(v: float) -> str:
    return f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def _trend(values) -> str:
    d = np.diff(np.asarray(values, float))
    return "steadily" if (np.all(d > 0) or np.all(d < 0)) else "overall"


def move(values, show=fmt) -> str:
    """``"falls steadily from 0.9 to"`` (or rises / overall / stays at about)."""
    first, last = float(values[0]), float(values[-1])
    if math.isclose(first, last, rel_tol=1e-3, abs_tol=1e-3):
        return "stays at about"
    word = "rises" if last > first else "falls"
    return f"{word} {_trend(values)} from {show(first)} to"


def _col(measures, key) -> np.ndarray:
    return np.array([float(m[key]) if m.get(key) is not None else np.nan for m in measures])


def best_epochs(curves: dict[float, dict]) -> dict[float, tuple[float, float, float]]:
    """β -> (best epoch, best validation ELBO, how much lower the last one is)."""
    out = {}
    for b, c in curves.items():
        v = np.asarray(c.get("elbo", []), float)
        if len(v) and np.isfinite(v).any():
            i = int(np.nanargmax(v))
            out[b] = (float(c["epoch"][i]), float(v[i]), float(v[i] - v[-1]))
    return out


# ================================================================ the reading

def sharpness_sentence(ms: list[dict]) -> str:
    rs = _col(ms, "recon_sharpness")
    lo, hi = ms[0]["beta"], ms[-1]["beta"]
    return (f"Sharpness: reconstructions keep {pct(rs[0])} of their inputs' fine detail at β = {lo:g} "
            f"and {pct(rs[-1])} at β = {hi:g} (it {move(rs, pct)} {pct(rs[-1])}); the larger β, "
            f"the less z may say about each image, and the decoder fills the rest with an average."
            if rs[-1] < rs[0] else
            f"Sharpness: reconstructions keep {pct(rs[0])} of their inputs' fine detail at β = {lo:g} "
            f"and {pct(rs[-1])} at β = {hi:g}: here a larger β did not blur them.")


def samples_sentences(ms: list[dict]) -> list[str]:
    """Where the samples are best; holes at small β (claimed only when the codes lie far
    outside the prior and the samples score lower), blur at large β (when they keep less
    fine detail or cover less of the data)."""
    q = _col(ms, "sample_quality")
    if not np.isfinite(q).any():
        return ["Sample quality needs labels (a classifier is trained on them): this data has none."]
    i = int(np.nanargmax(q))
    b = [m["beta"] for m in ms]
    p, r, ss = _col(ms, "precision"), _col(ms, "recall"), _col(ms, "sample_sharpness")
    conf, rad = _col(ms, "confidence"), _col(ms, "code_radius")
    out = [f"Samples (decodes of z ~ N(0, I)) score best at β = {b[i]:g}: quality {q[i]:.2f}, "
           f"with {pct(p[i])} of them on the data (precision) and {pct(r[i])} of the data covered "
           f"(recall)."]
    d = ms[0].get("latent_dim")
    if i > 0 and q[0] < q[i]:
        s = f"At β = {b[0]:g} they score {q[0]:.2f}, covering {pct(r[0])} of the data"
        if conf[0] < conf[i]:
            s += f", and the classifier is less sure of them ({pct(conf[0])} against {pct(conf[i])})"
        if d and np.isfinite(rad[0]) and rad[0] > 1.5 * math.sqrt(d):
            s += (f": the codes of the images lie at an RMS radius of {fmt(rad[0])}, the prior's "
                  f"samples at {fmt(math.sqrt(d))}, so most samples land in the holes between "
                  f"the codes, where the decoder never saw an image")
        out.append(s + ".")
    if i < len(b) - 1 and (ss[-1] < ss[i] or r[-1] < r[i]):
        out.append(f"At β = {b[-1]:g} the samples keep {pct(ss[-1])} of the data's fine detail "
                   f"(against {pct(ss[i])} at β = {b[i]:g}) and cover {pct(r[-1])} of it: "
                   f"{'blurry averages' if ss[-1] < ss[i] else 'too alike'}.")
    if i in (0, len(b) - 1):
        out.append(f"The best samples come from the {'smallest' if i == 0 else 'largest'} β tried: "
                   f"the sweet spot may lie beyond this sweep's range.")
    return out


POINT_KL = 50.0     # nats per latent dimension: beyond this q(z|x) is a point, and IWAE reads the prior


def pointlike(m: dict) -> bool:
    """A run whose posterior shrank to a point (β = 0: nothing holds the codes near the
    prior): its log p(x) mostly says how far out in the prior's tails a code lands."""
    d = m.get("latent_dim") or 0
    return bool(d) and m.get("val_kl") is not None and m["val_kl"] > POINT_KL * d


def gap_sentences(ms: list[dict], k: int | None = None) -> list[str]:
    name = f"IWAE-{k}" if k else "IWAE"
    out = []
    points = [m for m in ms if pointlike(m)]
    for m in points:
        out.append(f"At β = {m['beta']:g} the {name} gap is {fmt(m['gap_iwae'])} ± "
                   f"{fmt(m['gap_iwae_se'])} nats, but it does not measure overfitting: with no "
                   f"weight on the KL term each q(z|x) shrank to a point far out in the prior's tails "
                   f"(KL {fmt(m['val_kl'])} nats per image), so log p(x) there says mostly how far "
                   f"out an image's code lands, not how well the image is fitted.")
    rest = [m for m in ms if not pointlike(m)]
    g, se = _col(rest, "gap_iwae"), _col(rest, "gap_iwae_se")
    if len(rest) < 2 or not np.isfinite(g).all():
        return out
    b = [m["beta"] for m in rest]
    s = (f"Overfitting: from β = {b[0]:g} to β = {b[-1]:g} the train − validation {name} gap "
         f"{move(g)} {fmt(g[-1])} nats per image (±{fmt(se[0])} and ±{fmt(se[-1])}, one "
         f"standard error).")
    if g[-1] < g[0] - 2 * math.hypot(se[0], se[-1]):
        s += " The KL term limits how much each image can write into z, and so how much it can memorise."
    elif g[0] > 0:
        s += " Within its standard errors, a larger β did not shrink it here."
    out.append(s)
    e = _col(rest, "gap_elbo")
    if np.isfinite(e).all():
        out.append(f"The ELBO gap, which also counts the encoder's amortisation gap (an encoder fits "
                   f"its training images better), is {fmt(e[0])} at β = {b[0]:g} and {fmt(e[-1])} "
                   f"at β = {b[-1]:g}.")
    v = _col(rest, "val_iwae")
    j = int(np.nanargmax(v))
    if j != len(b) - 1:
        out.append(f"A small gap alone is no virtue: at β = {b[-1]:g} the validation {name} is "
                   f"{fmt(v[-1])} nats, against {fmt(v[j])} at β = {b[j]:g}, the best: the model "
                   f"underfits.")
    return out


def memorisation_sentence(ms: list[dict]) -> str | None:
    """How much nearer reconstructions and samples lie to the training images than to new
    ones (mean distance to the nearest validation image ÷ to the nearest training image)."""
    mr, msamp = _col(ms, "memorised_recon"), _col(ms, "memorised_samples")
    if not np.isfinite(mr).all():
        return None
    b = [m["beta"] for m in ms]
    i = int(np.nanargmax(mr))

    def closer(v):
        return f"{100 * (v - 1):.0f}% closer" if v >= 1 else f"{100 * (1 - v):.0f}% farther"
    return (f"Memorisation: reconstructions of validation images lie {closer(mr[i])} to their nearest "
            f"training image than to their nearest other validation image at β = {b[i]:g} (the most), "
            f"{closer(mr[-1])} at β = {b[-1]:g}; prior samples {closer(msamp[i])} and "
            f"{closer(msamp[-1])}. A model that did not memorise would be as close to both.")


def curves_sentence(curves: dict[float, dict], skip=()) -> str | None:
    """Which runs got worse on validation images after their best epoch (``skip``: the β
    of runs left out, whose q(z|x) is a point)."""
    be = {b: v for b, v in best_epochs(curves).items() if b not in set(skip)}
    if len(be) < 2:
        return None
    worse = [b for b in sorted(be) if be[b][2] > 1.0]
    lo = min(be)
    e, _, drop = be[lo]
    s = (f"Validation curves: at β = {lo:g} the validation ELBO was best at epoch {e:.0f} and "
         f"ended {fmt(drop)} nats lower.")
    if worse:
        s += (f" It got worse by more than 1 nat after its best epoch at β = "
              f"{', '.join(f'{b:g}' for b in worse)}: those runs overfit as training went on.")
    else:
        s += " No run's validation ELBO fell more than 1 nat below its best."
    return s


def active_units_sentence(betas: list[float], au: list[int], d: int) -> str:
    what = "(active: the posterior mean varies across images, Var > 0.01)"
    top = max(au)
    if all(a == au[0] for a in au):
        return f"{au[0]} of {d} latent dimensions are active at every β tried {what}."
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


def reading(measures: list[dict], curves: dict[float, dict] | None = None, *,
            latent_dim: int | None = None) -> list[str]:
    """Sentences that read a sweep's measures in plain language, smallest β first."""
    ms = sorted(measures, key=lambda m: m["beta"])
    if len(ms) < 2:
        return ["Two or more finished runs with different β are needed to read a trend."]
    out = [sharpness_sentence(ms)] + samples_sentences(ms)
    out += gap_sentences(ms, ms[0].get("iwae_k"))
    skip = [m["beta"] for m in ms if pointlike(m)]
    for s in (memorisation_sentence(ms), curves_sentence(curves or {}, skip)):
        if s:
            out.append(s)
    au = [int(m.get("active_units", 0)) for m in ms]
    out.append(active_units_sentence([m["beta"] for m in ms], au, latent_dim or max(au)))
    return out


# ================================================================ the tour

def tour_steps(measures: list[dict], curves: dict[float, dict] | None = None) -> list[dict]:
    """The "show me" walk through a sweep: a list of ``{"title", "text", "show", "betas"}``;
    ``show`` names what the page draws with the step ("pictures", "sharpness", "gap",
    "quality", "curves"), ``betas`` the runs it picks (smallest, sweet spot, largest)."""
    ms = sorted(measures, key=lambda m: m["beta"])
    if len(ms) < 2:
        return []
    q = _col(ms, "sample_quality")
    i = int(np.nanargmax(q)) if np.isfinite(q).any() else len(ms) // 2
    picks = sorted({ms[0]["beta"], ms[i]["beta"], ms[-1]["beta"]})
    lo, hi = ms[0]["beta"], ms[-1]["beta"]
    steps = [
        {"title": "1 · Look at the reconstructions", "show": "pictures", "betas": picks,
         "text": f"Each row is one run. Compare the second column (reconstructions) of β = {lo:g} "
                 f"and β = {hi:g}. " + sharpness_sentence(ms)},
        {"title": "2 · Look at the samples", "show": "pictures", "betas": picks,
         "text": "The third column decodes random z from the prior, the fourth shows the training "
                 "image nearest to each sample. " + " ".join(samples_sentences(ms))},
        {"title": "3 · Measure the blur", "show": "sharpness", "betas": picks,
         "text": "Sharpness is the share of fine detail an image keeps (contrast does not count). "
                 + sharpness_sentence(ms)},
        {"title": "4 · Measure the overfitting", "show": "gap", "betas": picks,
         "text": " ".join(gap_sentences(ms, ms[0].get("iwae_k"))) or "No IWAE numbers for this sweep."},
    ]
    cs = curves_sentence(curves or {}, [m["beta"] for m in ms if pointlike(m)])
    if cs:
        steps.append({"title": "5 · Watch it happen during training", "show": "curves",
                      "betas": picks, "text": cs})
    steps.append({"title": f"{len(steps) + 1} · The sweet spot", "show": "quality", "betas": picks,
                  "text": " ".join([samples_sentences(ms)[0]] + trade_off(ms))})
    return steps


def trade_off(ms: list[dict]) -> list[str]:
    """The trade-off in one sentence each, said only as far as the numbers show it."""
    out = []
    rs = _col(ms, "recon_sharpness")
    rest = [m for m in ms if not pointlike(m)]
    g = _col(rest, "gap_iwae")
    lo, hi = ms[0]["beta"], ms[-1]["beta"]
    if rs[0] > rs[-1]:
        out.append(f"Going from β = {rest[0]['beta']:g} to β = {hi:g} buys a smaller overfitting gap "
                   f"({fmt(g[0])} → {fmt(g[-1])} nats)" if len(rest) > 1 and np.isfinite(g).all()
                   and g[-1] < g[0] else f"Going from β = {lo:g} to β = {hi:g} costs sharpness")
        out[-1] += f" with blur ({pct(rs[0])} → {pct(rs[-1])} of the fine detail kept)."
    return out


# ================================================================ labels a learner can trust

def gaussian_constant(n_pixels: int, sigma: float) -> float:
    """``(D/2)·log(2πσ²)``: −log N(x; μ, σ²I) = |x − μ|²/(2σ²) + this constant (nats)."""
    return 0.5 * n_pixels * math.log(2 * math.pi * sigma ** 2)


def likelihood_notes(cfg, n_pixels: int, *, mse: float | None = None) -> list[str]:
    """The sentences that keep a run's numbers honest: a Gaussian's −log density can be
    negative (with the per-pixel squared error, which a learner can read); a Bernoulli
    likelihood on grey pixels is not a bound on log p(x). ``cfg`` is a RunConfig."""
    out = []
    m, d = cfg.model, cfg.data
    if m.kind == "vae" and m.likelihood == "gaussian" and n_pixels:
        c = gaussian_constant(n_pixels, m.sigma)
        out.append(f"With a Gaussian likelihood of σ = {m.sigma:g}, the reconstruction term is −log "
                   f"of a density, 1/(2σ²) = {1 / (2 * m.sigma ** 2):g} nats per unit of squared "
                   f"error plus (D/2)·log(2πσ²) = {c:.1f} nats for D = {n_pixels} pixels, which is "
                   f"negative when σ < 0.4: so it, and the ELBO, can have either sign.")
        if mse is not None:
            out.append(f"Easier to read: the reconstructions' mean squared error is {mse:.4f} per "
                       f"pixel (RMS {math.sqrt(mse):.3f} on a 0–1 scale).")
    elif m.likelihood == "bernoulli" and d.binarize == "none" and d.name not in DATASETS_TOY:
        out.append("A Bernoulli likelihood on grey (not binarised) pixels is not a probability of "
                   "the image, so the ELBO here is not a bound on log p(x); it has a floor above "
                   "zero (MNIST ≈ 45.5 nats, digits ≈ 13.7). Binarised data give true bounds.")
    return out

