"""What a factor sweep's numbers show, in words generated from them.

Every sentence is computed from the rows of :func:`explorer.analysis.disentangle.lab.per_beta`
(means over seeds with standard errors, and each seed's own value), and claims only what
they show: a difference between two β values is worded as one only when it exceeds two
standard errors of the difference (the labs' convention, :mod:`explorer.analysis.stats`);
otherwise the sentence says that the seeds cannot tell the two apart. When the seeds of
one β spread wider than the β's means do, the reading says so: the lesson of Locatello
et al. (2019) that disentanglement depends on the seed as much as on β.
"""
from __future__ import annotations

from .. import stats

HELD = 0.5           # a factor "has a dimension of its own" when its MIG reaches this
UNHELD = 0.1         # ... and no single dimension holds it below this


def _pm(value: float, se: float | None) -> str:
    return f"{value:.2f}" if se is None else f"{value:.2f} ± {se:.2f}"


def difference(a: dict, b: dict, key: str) -> tuple[float, float | None]:
    """``b[key] − a[key]`` and the standard error of that difference (None if either lacks one)."""
    return b[key] - a[key], stats.se_of_difference(a.get(f"{key}_se"), b.get(f"{key}_se"))


def clear(diff: float, se: float | None) -> bool:
    """Whether a difference exceeds :data:`~explorer.analysis.stats.Z` standard errors
    (never, without an error): the labs' one rule."""
    return se is not None and abs(diff) > stats.Z * se


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def trend(rows: list[dict], key: str = "mig", label: str = "MIG") -> list[str]:
    """How ``key`` moves from the smallest β to the best one, and beyond it."""
    lo = rows[0]
    best = max(rows, key=lambda r: r[key])
    hi = rows[-1]
    out = []
    if best is lo:
        worst = min(rows, key=lambda r: r[key])
        diff, se = difference(worst, lo, key)
        out.append(f"{label} is highest at the smallest β (β = {lo['beta']:g}: {_pm(lo[key], lo.get(key + '_se'))}); "
                   f"no larger β gave a more disentangled code here"
                   + (f", and β = {worst['beta']:g} gave a clearly less disentangled one "
                      f"({_pm(worst[key], worst.get(key + '_se'))})." if clear(diff, se) else
                      " (the differences are within two standard errors)."))
        return out
    diff, se = difference(lo, best, key)
    if clear(diff, se):
        out.append(f"{label} rises from {_pm(lo[key], lo.get(key + '_se'))} at β = {lo['beta']:g} to "
                   f"{_pm(best[key], best.get(key + '_se'))} at β = {best['beta']:g} (mean ± standard error over "
                   f"{best['n_seeds']} seeds): a larger β pushed single factors into single latent dimensions.")
    else:
        out.append(f"{label} at β = {best['beta']:g} ({_pm(best[key], best.get(key + '_se'))}) is not clearly above "
                   f"β = {lo['beta']:g} ({_pm(lo[key], lo.get(key + '_se'))}): the difference is within two standard "
                   f"errors, so these seeds cannot tell the two apart.")
    if hi is not best:
        diff, se = difference(best, hi, key)
        if clear(diff, se) and diff < 0:
            out.append(f"Past β = {best['beta']:g} it falls again ({_pm(hi[key], hi.get(key + '_se'))} at "
                       f"β = {hi['beta']:g}).")
        else:
            out.append(f"From β = {best['beta']:g} to β = {hi['beta']:g} it stays within error "
                       f"({_pm(hi[key], hi.get(key + '_se'))} at β = {hi['beta']:g}).")
    return out


def seeds(rows: list[dict]) -> list[str]:
    """Whether the seeds of one β agree, against how far apart the β's means lie."""
    spread = {r["beta"]: max(r["mig_seeds"]) - min(r["mig_seeds"]) for r in rows if len(r["mig_seeds"]) > 1}
    if not spread:
        return ["Each β was trained from one seed only, so nothing here says how much the seed matters."]
    widest = max(spread, key=spread.get)
    row = next(r for r in rows if r["beta"] == widest)
    values = ", ".join(f"{v:.2f}" for v in sorted(row["mig_seeds"]))
    means = [r["mig"] for r in rows]
    range_of_means = max(means) - min(means)
    out = []
    if spread[widest] > range_of_means:
        out.append(f"The seeds disagree more than the β's do: at β = {widest:g} the {len(row['mig_seeds'])} seeds "
                   f"gave MIG {values}, a spread of {spread[widest]:.2f}, wider than the {range_of_means:.2f} "
                   f"between the lowest and highest β's means. Which seed a run starts from matters as much as "
                   f"β here, as Locatello et al. (2019) found on other data.")
    elif spread[widest] > 0.5 * range_of_means:
        out.append(f"The seeds do not agree closely: at β = {widest:g} they gave MIG {values}. One run per β "
                   f"would have told a different story depending on its seed.")
    else:
        out.append(f"The seeds agree: the widest spread within one β (at β = {widest:g}: {values}) is small "
                   f"beside the differences between β's.")
    overlap = _worst_overlap(rows)
    if overlap is not None:
        a, b = overlap
        out.append(f"Single runs can mislead: the best seed at β = {a['beta']:g} ({max(a['mig_seeds']):.2f}) "
                   f"beats the worst at β = {b['beta']:g} ({min(b['mig_seeds']):.2f}), though β = {b['beta']:g} "
                   f"scores higher on average.")
    return out


def _worst_overlap(rows: list[dict]) -> tuple[dict, dict] | None:
    """The pair of β's (a smaller mean a, a larger mean b) where a's best seed beats b's worst
    seed by the most, or None when no seed ranks against its β's average."""
    best, pair = 0.0, None
    for a in rows:
        for b in rows:
            if b["mig"] > a["mig"] and len(a["mig_seeds"]) > 1 and len(b["mig_seeds"]) > 1:
                gap = max(a["mig_seeds"]) - min(b["mig_seeds"])
                if gap > best:
                    best, pair = gap, (a, b)
    return pair


def factors(rows: list[dict], names: list[str]) -> list[str]:
    """Which factors the best β (by MIG) gives a dimension of their own, and which none."""
    best = max(rows, key=lambda r: r["mig"])
    per = best.get("mig_per_factor") or []
    se = best.get("mig_per_factor_se") or [None] * len(per)
    held = [f"{n} ({_pm(v, s)})" for n, v, s in zip(names, per, se) if v >= HELD]
    unheld = [f"{n} ({_pm(v, s)})" for n, v, s in zip(names, per, se) if v < UNHELD]
    out = []
    if held:
        out.append(f"At β = {best['beta']:g}, {_names(held)} {'has' if len(held) == 1 else 'each have'} "
                   f"a latent dimension of {'its' if len(held) == 1 else 'their'} own (MIG of that factor).")
    if unheld:
        hard = {"shape", "rotation"} & {n for n, v in zip(names, per) if v < UNHELD}
        out.append(f"No single dimension holds {_names(unheld)}, even there"
                   + (": on dSprites too, β-VAEs rarely isolate shape and orientation (Locatello et al. 2019)."
                      if hard else "."))
    return out


def price(rows: list[dict]) -> list[str]:
    """What disentangling cost: reconstruction error and the dimensions used, smallest β to largest."""
    lo, hi = rows[0], rows[-1]
    if not all(isinstance(r.get("val_recon"), (int, float)) for r in (lo, hi)):
        return []
    diff, se = difference(lo, hi, "val_recon")
    if not clear(diff, se) or diff <= 0:
        return [f"Reconstruction error at β = {hi['beta']:g} ({hi['val_recon']:.1f} nats) is not clearly worse "
                f"than at β = {lo['beta']:g} ({lo['val_recon']:.1f})."]
    text = (f"The price: the reconstruction error grows from {lo['val_recon']:.1f} nats per image at "
            f"β = {lo['beta']:g} to {hi['val_recon']:.1f} at β = {hi['beta']:g}: the shapes come back less exactly")
    au_diff, au_se = difference(lo, hi, "active_units")
    if clear(au_diff, au_se):
        text += (f", and the models use {'fewer' if au_diff < 0 else 'more'} of their latent dimensions "
                 f"({lo['active_units']:.1f} → {hi['active_units']:.1f} on average)")
    return [text + "."]


def agreement(rows: list[dict]) -> list[str]:
    """Whether DCI ranks the β's as MIG does (the β's within error of each one's best)."""
    def near_best(key):
        got = stats.within_error_of_best([r[key] for r in rows], [r.get(f"{key}_se") for r in rows])
        return {rows[i]["beta"] for i in got}
    mig_set, dci_set = near_best("mig"), near_best("dci")

    def fmt(bs):
        return ", ".join(f"{b:g}" for b in sorted(bs))
    if mig_set & dci_set:
        return [f"DCI disentanglement, a second measure built differently (from which dimensions trees use "
                f"to predict each factor), agrees: its best β's (within error) are {fmt(dci_set)}, "
                f"MIG's are {fmt(mig_set)}."]
    return [f"The two measures disagree: MIG's best β's (within error) are {fmt(mig_set)}, DCI's are "
            f"{fmt(dci_set)}. They weigh different things (MIG: the gap between the best two dimensions; "
            f"DCI: how spread each dimension's use is), so neither alone settles it."]


def reading(rows: list[dict], names: list[str]) -> list[str]:
    """The page's reading of a factor sweep: a list of sentences (plain text)."""
    rows = sorted(rows, key=lambda r: r["beta"])
    if len(rows) < 2:
        return ["A sweep needs at least two β values to say anything about β."]
    return trend(rows) + seeds(rows) + factors(rows, names) + agreement(rows) + price(rows)
