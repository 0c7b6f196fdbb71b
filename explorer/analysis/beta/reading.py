"""The β lab's words: a reading of a sweep's measured numbers, and the steps of its tour.

Every number and every direction word comes from the arguments (the measures of
:mod:`explorer.analysis.beta.report`, per β a mean over seeds with its standard error,
the validation curves): nothing is canned, so the words cannot contradict the pictures,
which are drawn from the same runs. The statistics follow :mod:`explorer.analysis.stats`:
a comparison is worded as a difference ("falls", "below", "the most") only when it
exceeds two standard errors of the difference; every number quoted is the one of the β
the sentence names; a claim about training dynamics ("overfit as training went on") rests
on a test across epochs (the slope of the second half of the curve), not on one epoch's
change. Otherwise the sentence says what the numbers show instead.
"""
from __future__ import annotations

import math

import numpy as np

from ...config import DATASETS_TOY
from .. import stats
from .seeds import POINT_KL, best_beta, pointlike, sweet_spot  # noqa: F401 - pointlike, POINT_KL: the reading's API


def pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def fmt(v: float) -> str:
    return f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"


def q2(v: float) -> str:
    return f"{v:.2f}"


def _col(measures, key) -> np.ndarray:
    return np.array([float(m[key]) if m.get(key) is not None else np.nan for m in measures])


def _se(m: dict, key: str) -> float | None:
    v = m.get(f"{key}_se")
    return None if v is None or not math.isfinite(float(v)) else float(v)


def pm(m: dict, key: str, show=fmt) -> str:
    """``"0.82 ± 0.014"``: a measure of one β with its standard error (when it has one),
    the error to two significant digits."""
    se = _se(m, key)
    if se is None:
        return show(m[key])
    if show is pct:
        return f"{pct(m[key])} ± {_sig(100 * se)}%"
    return f"{show(m[key])} ± {_sig(se) if abs(se) < 1 else show(se)}"


def _sig(v: float) -> str:
    """Two significant digits (0.0042, 0.63, 2.5), whole numbers from 10 on, "<0.001" below."""
    if v == 0:
        return "0"
    if abs(v) < 0.001:
        return "<0.001"
    return f"{v:.2g}" if abs(v) < 10 else f"{v:.0f}"


def cmp(a: dict, b: dict, key: str) -> int:
    """+1 / −1 when β ``a``'s ``key`` is larger / smaller than β ``b``'s beyond two
    standard errors of the difference (:func:`stats.compare`), else 0."""
    return stats.compare(float(a[key]), _se(a, key), float(b[key]), _se(b, key))


def move(ms: list[dict], key: str, show=fmt) -> str:
    """How ``key`` goes from the first β to the last, said only as far as the errors allow:
    ``"falls steadily from 0.9 ± 0.01 to"`` (every step down beyond error), ``"falls overall
    from … to"`` (the ends differ beyond error), ``"stays within error of … at"``."""
    first, last = ms[0], ms[-1]
    c = cmp(last, first, key)
    if c == 0:
        return f"stays within two standard errors of {pm(first, key, show)}; it is"
    steps = [cmp(b, a, key) for a, b in zip(ms, ms[1:])]
    how = "steadily" if all(s == c for s in steps) else "overall"
    return f"{'rises' if c > 0 else 'falls'} {how} from {pm(first, key, show)} to"


def seeds_note(ms: list[dict]) -> str:
    """What the ± of the reading are."""
    n, imgs = int(ms[0].get("seeds") or 1), ms[0].get("n")
    on = f" on the same {imgs:,} validation images" if imgs else ""
    if n > 1:
        return (f"Every ± below is one standard error over {n} training seeds, each run measured{on}; "
                f"a difference is called one only beyond two standard errors.")
    return (f"Every ± below is one standard error of this one training seed's run{on} (over the "
            f"images, or over five draws of z for the samples); a difference is called one only "
            f"beyond two standard errors.")


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
    lo, hi = ms[0], ms[-1]
    s = (f"Sharpness: reconstructions keep {pm(lo, 'recon_sharpness', pct)} of their inputs' fine "
         f"detail at β = {lo['beta']:g} and {pm(hi, 'recon_sharpness', pct)} at β = {hi['beta']:g}")
    if cmp(hi, lo, "recon_sharpness") < 0:
        steps = all(cmp(b, a, "recon_sharpness") < 0 for a, b in zip(ms, ms[1:]))
        return (s + (", falling at every step" if steps else "") + ": the larger β, the less z may "
                "say about each image, and the decoder fills the rest with an average.")
    return s + ": within two standard errors, a larger β did not blur them here."


def sweet_words(ms: list[dict]) -> tuple[list[dict], str]:
    """The sweet spot (the β within error of the best samples) and how to say it."""
    sweet = set(sweet_spot(ms))
    best = [m for m in ms if m["beta"] in sweet]
    if len(best) == 1:
        return best, f"β = {best[0]['beta']:g}"
    return best, "β = " + ", ".join(f"{m['beta']:g}" for m in best)


def samples_sentences(ms: list[dict]) -> list[str]:
    """Where the samples are best (a set: every β within two standard errors of the best);
    what lowers the smallest β's score (precision: samples off the data, or recall: samples
    alike), and the largest β's (blur), each claimed only beyond error."""
    q = _col(ms, "sample_quality")
    if not np.isfinite(q).any():
        return ["Sample quality needs labels (a classifier is trained on them): this data has none."]
    best, which = sweet_words(ms)
    top = max(best, key=lambda m: m["sample_quality"])
    if len(best) == 1:
        out = [f"Samples (decodes of z ~ N(0, I)) score best at {which}: quality "
               f"{pm(top, 'sample_quality', q2)}, above every other β by more than two standard "
               f"errors, with precision {pm(top, 'precision', q2)} and recall {pm(top, 'recall', q2)}."]
    else:
        out = [f"Samples (decodes of z ~ N(0, I)) score best at {which}: their qualities ("
               + ", ".join(f"{pm(m, 'sample_quality', q2)} at β = {m['beta']:g}" for m in best)
               + ") lie within two standard errors of each other, so the data do not single one out."]
    lo, hi = ms[0], ms[-1]
    if lo not in best and cmp(lo, top, "sample_quality") < 0:
        s = (f"At β = {lo['beta']:g} they score {pm(lo, 'sample_quality', q2)} (precision "
             f"{pm(lo, 'precision', q2)}, recall {pm(lo, 'recall', q2)})")
        why = []
        if cmp(lo, top, "precision") < 0:
            d = lo.get("latent_dim")
            rad = lo.get("code_radius")
            where = (f"; the codes of the images lie at an RMS radius of {fmt(rad)}, the prior's "
                     f"samples at {fmt(math.sqrt(d))}, so many samples decode holes between the codes"
                     if d and rad is not None and rad > 1.5 * math.sqrt(d) else "")
            why.append(f"fewer of them look like the data (precision below β = {top['beta']:g}'s"
                       f"{where})")
        if cmp(lo, top, "recall") < 0:
            why.append(f"they cover less of the data (recall below β = {top['beta']:g}'s)")
        out.append(s + (": " + " and ".join(why) if why else "") + ".")
    if hi not in best and cmp(hi, top, "sample_quality") < 0:
        s = (f"At β = {hi['beta']:g} they score {pm(hi, 'sample_quality', q2)}, keep "
             f"{pm(hi, 'sample_sharpness', pct)} of the data's fine detail (against "
             f"{pm(top, 'sample_sharpness', pct)} at β = {top['beta']:g}) and their recall is "
             f"{pm(hi, 'recall', q2)}")
        blur = cmp(hi, top, "sample_sharpness") < 0
        alike = cmp(hi, top, "recall") < 0
        if blur or alike:
            s += ": " + " and ".join(w for w, ok in (("blurry", blur), ("too alike", alike)) if ok)
        out.append(s + ".")
    ends = [m for m in (lo, hi) if m in best]
    if ends:
        out.append(f"The best samples include the {'smallest' if ends[0] is lo else 'largest'} β "
                   f"tried: the sweet spot may lie beyond this sweep's range.")
    return out


def gap_sentences(ms: list[dict], k: int | None = None, *, short: bool = False) -> list[str]:
    """The overfitting gap across β, with its errors; ``short``: the tour's version."""
    name = f"IWAE-{k}" if k else "IWAE"
    out = []
    for m in (m for m in ms if pointlike(m)):
        out.append(f"β = {m['beta']:g} is left out: with no weight on the KL term each q(z|x) shrank "
                   f"to a point, so its numbers say how far out in the prior's tails a code lands, "
                   f"not how well the image is fitted." if short else
                   f"At β = {m['beta']:g} the {name} gap is {pm(m, 'gap_iwae')} nats, but it does not "
                   f"measure overfitting: with no weight on the KL term each q(z|x) shrank to a point "
                   f"far out in the prior's tails (KL {fmt(m['val_kl'])} nats per image), so log p(x) "
                   f"there says mostly how far out an image's code lands, not how well the image is "
                   f"fitted.")
    rest = [m for m in ms if not pointlike(m)]
    if len(rest) < 2 or not np.isfinite(_col(rest, "gap_iwae")).all():
        return out
    a, z = rest[0], rest[-1]
    falls = cmp(z, a, "gap_iwae") < 0
    if short:
        lead = ("How much better each model explains its training images than new ones, in nats "
                f"per image: {fmt(a['gap_iwae'])} at β = {a['beta']:g}, {fmt(z['gap_iwae'])} at "
                f"β = {z['beta']:g}.")
        return [lead + (" The KL term limits how much each image can write into z, and so how "
                        "much it can memorise." if falls else
                        " Within its standard errors, a larger β did not shrink it here.")] + out
    s = (f"Overfitting: from β = {a['beta']:g} to β = {z['beta']:g} the train − validation {name} "
         f"gap {move(rest, 'gap_iwae')} {pm(z, 'gap_iwae')} nats per image.")
    s += (" The KL term limits how much each image can write into z, and so how much it can memorise."
          if falls else " Within its standard errors, a larger β did not shrink it here.")
    out.append(s)
    if np.isfinite(_col([a, z], "gap_elbo")).all():
        out.append(f"The ELBO gap, which also counts the encoder's amortisation gap (an encoder fits "
                   f"its training images better), is {pm(a, 'gap_elbo')} at β = {a['beta']:g} and "
                   f"{pm(z, 'gap_elbo')} at β = {z['beta']:g}.")
    best = max(rest, key=lambda m: m["val_iwae"])
    if best is not z and cmp(z, best, "val_iwae") < 0:
        s = (f"A small gap alone is no virtue: at β = {z['beta']:g} the validation {name} is "
             f"{pm(z, 'val_iwae')} nats, below β = {best['beta']:g}'s {pm(best, 'val_iwae')} by more "
             f"than two standard errors: β = {z['beta']:g} is over-regularised against it")
        if stats.compare(float(z["gap_iwae"]), _se(z, "gap_iwae"), 0.0, 0.0) > 0:
            s += f", although its own gap ({pm(z, 'gap_iwae')} nats) shows it still overfits"
        out.append(s + ".")
    return out


def memorisation_sentence(ms: list[dict]) -> str | None:
    """How much nearer reconstructions lie to the training images than to new ones (mean
    distance to the nearest validation image ÷ to the nearest training image); "the most"
    only when one β is above all the others beyond error."""
    if not np.isfinite(_col(ms, "memorised_recon")).all():
        return None
    idx = stats.within_error_of_best(_col(ms, "memorised_recon"), [_se(m, "memorised_recon") for m in ms])
    top = [ms[i] for i in idx]
    lead = max(top, key=lambda m: m["memorised_recon"])
    hi = ms[-1]

    def closer(m, key):
        v, se = float(m[key]), _se(m, key)
        word = f"{100 * (v - 1):.0f}% closer" if v >= 1 else f"{100 * (1 - v):.0f}% farther"
        return word + (f" (± {_sig(100 * se)}%)" if se is not None else "")
    tied = ", ".join(f"{m['beta']:g}" for m in top)
    where = (f"at β = {lead['beta']:g} (the most, beyond two standard errors)" if len(top) == 1 else
             f"at β = {lead['beta']:g}; β = {tied} lie within two standard errors of each other, "
             f"so none is the most")
    s = (f"Memorisation: reconstructions of validation images lie {closer(lead, 'memorised_recon')} to "
         f"their nearest training image than to their nearest other validation image {where}")
    if hi is not lead:
        s += f"; {closer(hi, 'memorised_recon')} at β = {hi['beta']:g}"
    if lead.get("memorised_samples") is not None and hi.get("memorised_samples") is not None:
        s += (f". Prior samples: {closer(lead, 'memorised_samples')} at β = {lead['beta']:g}, "
              f"{closer(hi, 'memorised_samples')} at β = {hi['beta']:g}")
    return s + ". A model that did not memorise would be as close to both."


def decline(curve: dict) -> tuple[float, float | None]:
    """The least-squares slope of a validation ELBO curve over the second half of training
    (nats per epoch) and its standard error: a run that overfits as training goes on has
    a falling curve there, whatever one epoch's change says."""
    ep, v = np.asarray(curve.get("epoch", []), float), np.asarray(curve.get("elbo", []), float)
    late = ep > (ep.max() / 2 if len(ep) else 0)
    return stats.slope_with_se(ep[late], v[late])


def falling(curves_by_seed: dict) -> tuple[float, float | None, bool]:
    """``(mean slope, its standard error, falls)`` of one β's second-half validation ELBO:
    over the seeds when there are several (each seed one slope), else the one curve's
    regression error. ``falls``: below 0 by more than two standard errors."""
    slopes = [decline(c) for c in curves_by_seed.values() if len(c.get("epoch", [])) >= 6]
    if not slopes:
        return 0.0, None, False
    if len(slopes) == 1:
        s, se = slopes[0]
    else:
        s, se, _ = stats.mean_se([x for x, _ in slopes])
    return s, se, se is not None and stats.compare(s, se, 0.0, 0.0) < 0


def curves_sentence(curves: dict[float, dict], skip=(), seed_curves: dict | None = None) -> str | None:
    """Which runs got worse on validation images as training went on: a falling slope over
    the second half of training, beyond two standard errors (over seeds when there are
    several). ``skip``: the β of runs left out, whose q(z|x) is a point."""
    by_beta = {b: (seed_curves or {}).get(b) or {0: c} for b, c in curves.items() if b not in set(skip)}
    if len(by_beta) < 2:
        return None
    be = best_epochs({b: c for b, c in curves.items() if b in by_beta})
    res = {b: falling(cs) for b, cs in by_beta.items()}
    worse = [b for b in sorted(res) if res[b][2]]
    lo = min(by_beta)
    n = max(len(cs) for cs in by_beta.values())
    how = f"across {n} training seeds" if n > 1 else "by the curve's own scatter"
    s = "Validation curves: "
    if lo in be:
        s += f"at β = {lo:g} the validation ELBO was best at epoch {be[lo][0]:.0f}. "
    if worse:
        s += ("Over the second half of training the validation ELBO kept falling at β = "
              + ", ".join(f"{b:g} ({100 * res[b][0]:.2g} ± {_sig(100 * res[b][1])} nats per 100 epochs)"
                          for b in worse)
              + f", beyond two standard errors {how}: those runs overfit as training went on.")
    else:
        s += (f"No run's validation ELBO fell over the second half of training by more than two "
              f"standard errors ({how}): no run is shown to overfit more as training went on.")
    return s


def active_units_sentence(betas: list[float], au: list[float], d: int) -> str:
    what = "(active: the posterior mean varies across images, Var > 0.01)"

    def n(v):
        return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"
    top = max(au)
    if all(a == au[0] for a in au):
        return f"{n(au[0])} of {d} latent dimensions are active at every β tried {what}."
    start = None
    for i in range(len(au) - 1, -1, -1):
        if au[i] < top:
            start = i
        else:
            break
    s = (f"Active dimensions {what}: {n(au[0])} of {d} at β = {betas[0]:g}, {n(au[-1])} at "
         f"β = {betas[-1]:g}{' (means over seeds)' if any(a != round(a) for a in au) else ''}.")
    if start is not None:
        s += (f" From β = {betas[start]:g} on, fewer than {n(top)} are active: the others have "
              f"collapsed onto the prior (their KL ≈ 0), so they carry nothing about the image.")
    return s


def reading(measures: list[dict], curves: dict[float, dict] | None = None, *,
            latent_dim: int | None = None, seed_curves: dict | None = None) -> list[str]:
    """Sentences that read a sweep's measures in plain language, smallest β first. Each
    number is the one of the β it names; a difference is said only beyond two standard
    errors of the difference."""
    ms = sorted(measures, key=lambda m: m["beta"])
    if len(ms) < 2:
        return ["Two or more finished runs with different β are needed to read a trend."]
    out = [seeds_note(ms), sharpness_sentence(ms)] + samples_sentences(ms)
    out += gap_sentences(ms, ms[0].get("iwae_k"))
    skip = [m["beta"] for m in ms if pointlike(m)]
    for s in (memorisation_sentence(ms), curves_sentence(curves or {}, skip, seed_curves)):
        if s:
            out.append(s)
    au = [float(m.get("active_units") or 0) for m in ms]
    out.append(active_units_sentence([m["beta"] for m in ms], au, latent_dim or int(max(au))))
    return out


# ================================================================ the tour

def tour_steps(measures: list[dict], curves: dict[float, dict] | None = None,
               seed_curves: dict | None = None) -> list[dict]:
    """The "show me" walk through a sweep: a list of ``{"title", "text", "show", "betas"}``;
    ``show`` names what the page draws with the step ("pictures", "sharpness", "gap",
    "quality", "curves"), ``betas`` the runs it picks (smallest, best samples, largest)."""
    ms = sorted(measures, key=lambda m: m["beta"])
    if len(ms) < 2:
        return []
    best = best_beta(ms)
    best = ms[len(ms) // 2]["beta"] if best is None else best
    picks = sorted({ms[0]["beta"], best, ms[-1]["beta"]})
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
         "text": " ".join(gap_sentences(ms, ms[0].get("iwae_k"), short=True))
                 or "No IWAE numbers for this sweep."},
    ]
    cs = curves_sentence(curves or {}, [m["beta"] for m in ms if pointlike(m)], seed_curves)
    if cs:
        steps.append({"title": "5 · Watch it happen during training", "show": "curves",
                      "betas": picks, "text": cs})
    steps.append({"title": f"{len(steps) + 1} · The sweet spot", "show": "quality", "betas": picks,
                  "text": " ".join([samples_sentences(ms)[0]] + trade_off(ms))})
    return steps


def trade_off(ms: list[dict]) -> list[str]:
    """The trade-off in one sentence, each number the one of the β it names, each change
    claimed only beyond two standard errors."""
    rest = [m for m in ms if not pointlike(m)]
    if len(rest) < 2:
        return []
    a, z = rest[0], rest[-1]
    blur = cmp(z, a, "recon_sharpness") < 0
    gap = np.isfinite(_col([a, z], "gap_iwae")).all() and cmp(z, a, "gap_iwae") < 0
    if not blur:
        return []
    s = f"Going from β = {a['beta']:g} to β = {z['beta']:g} "
    if gap:
        s += f"buys a smaller overfitting gap ({fmt(a['gap_iwae'])} → {fmt(z['gap_iwae'])} nats) with blur"
    else:
        s += "costs sharpness"
    return [s + f" ({pct(a['recon_sharpness'])} → {pct(z['recon_sharpness'])} of the fine detail kept)."]


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
    if m.likelihood == "gaussian" and n_pixels:
        c = gaussian_constant(n_pixels, m.sigma)
        what = ("so it, and the ELBO, can have either sign" if m.kind == "vae" else
                "so this autoencoder's loss can have either sign (a negative one is a close fit, "
                "not an error; an autoencoder has no ELBO)")
        out.append(f"With a Gaussian likelihood of σ = {m.sigma:g}, the reconstruction term is −log "
                   f"of a density, 1/(2σ²) = {1 / (2 * m.sigma ** 2):g} nats per unit of squared "
                   f"error plus (D/2)·log(2πσ²) = {c:.1f} nats for D = {n_pixels} pixels, which is "
                   f"negative when σ < 0.4: {what}.")
        if mse is not None:
            out.append(f"Easier to read: the reconstructions' mean squared error is {mse:.4f} per "
                       f"pixel (RMS {math.sqrt(mse):.3f} on a 0–1 scale).")
    elif m.likelihood == "bernoulli" and d.binarize == "none" and d.name not in DATASETS_TOY:
        out.append("A Bernoulli likelihood on grey (not binarised) pixels is not a probability of "
                   "the image, so the ELBO here is not a bound on log p(x); it has a floor above "
                   "zero (MNIST ≈ 45.5 nats, digits ≈ 13.7). Binarised data give true bounds.")
    return out

