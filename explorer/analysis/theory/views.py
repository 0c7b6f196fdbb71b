"""What the Theory page shows, built from the results of the ``theory_*`` computations:
each number with a label that says what it is, and every caption that states a
conclusion written from the numbers it concludes from (so a caption cannot claim what
its numbers contradict). Plain data out: :class:`Metric` rows, strings, DataFrames.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from .gradients import PARAMS


class Metric(NamedTuple):
    label: str
    value: str
    help: str | None = None


def fmt(v, digits: int = 4) -> str:
    """A number for the screen: ∞ stays ∞, NaN becomes a dash, |v| < 10⁻¹² shows as 0."""
    if v is None:
        return "—"
    v = float(v)
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if math.isnan(v):
        return "—"
    if abs(v) < 1e-12:              # rounding noise around an exact 0
        return "0"
    return f"{v:.{digits}g}"


def _join(values, digits: int = 3) -> str:
    return ", ".join(fmt(v, digits) for v in values)


# ------------------------------------------------------------- sections 1-2

def ae_vae_view(r: dict, L: int) -> dict:
    """Metrics and captions for the autoencoder and the VAE on one batch (:func:`ae_vs_vae`)."""
    a, v = r["ae"], r["vae"]
    out = {"ae": [Metric("eq. 1: ‖x − x̂‖², mean per image", fmt(a["sq_err"])),
                  Metric("−log p(x | z = g_φ(x)), the loss it was trained on", fmt(a["recon"]))],
           "vae": [Metric("eq. 2: the loss, reconstruction + KL", fmt(v["loss"])),
                   Metric(f"−E_q log p(x|z), Monte Carlo with L = {L}", fmt(v["recon"])),
                   Metric("KL(q(z|x) ‖ N(0, I)), the KL term of eq. 14", fmt(v["kl"]))],
           "ae_caption": None,
           "vae_caption": (f"KL per latent dimension: {_join(v['kl_per_dim'])} nats. Eq. 1's squared error of "
                           f"the VAE's mean reconstruction (z = μ_φ(x)): {fmt(v['sq_err'])}.")}
    if r["sigma"] is not None:
        out["ae_caption"] = (
            f"With a Gaussian p(x|z) of fixed σ = {r['sigma']:.3g}, −log p(x|x̂) = ‖x − x̂‖²/(2σ²) + c with "
            f"c = −log p(x | x̂ = x) = {fmt(r['nll_const'])}: from eq. 1, {fmt(a['sq_err'])}/(2σ²) + c = "
            f"{fmt(a['recon_from_sq_err'])}. Eq. 1 is the reconstruction term, rescaled and shifted.")
    return out


# ---------------------------------------------------------------- eq. 3

def kl_view(r: dict) -> dict:
    """The distributions (``lead``), metrics, ∞ explanations (``notes``) and the
    non-negativity check (``verdict``, None when it fails) for :func:`discrete_kl`."""
    kpq, kqp = r["kl_pq"], r["kl_qp"]
    same = kpq == kqp or (math.isfinite(kpq) and math.isfinite(kqp) and abs(kpq - kqp) < 1e-12)
    infinite = []
    for which, idx, a, b in (("KL(P‖Q)", r["inf_pq"], "P", "Q"), ("KL(Q‖P)", r["inf_qp"], "Q", "P")):
        if len(idx):
            outs = ", ".join(str(i + 1) for i in idx)
            infinite.append(f"**{which} = ∞.** At outcome {outs}, {a}(x) > 0 but {b}(x) = 0, so the summand "
                            f"{a}(x) log({a}(x)/0) is infinite: {b} calls impossible something {a} says happens. "
                            "(The reverse summand is 0·log 0 = 0, so the other direction can stay finite.)")
    nonneg = all(v >= -1e-12 for v in (kpq, kqp) if math.isfinite(v))
    return {"lead": f"P = ({_join(r['p'])}),  Q = ({_join(r['q'])})",
            "metrics": [Metric("KL(P‖Q)", fmt(kpq)), Metric("KL(Q‖P)", fmt(kqp)),
                        Metric("symmetric here?", "yes" if same else "no")],
            "notes": infinite,
            "verdict": ("Non-negativity holds in both directions (S04), although single summands can be "
                       "negative (wherever P(x) < Q(x)).") if nonneg else None}


# -------------------------------------------------------------- Lemma 1

def lemma_view(r: dict, n: int) -> list[Metric]:
    """The closed form of eq. 5 beside its Monte Carlo estimate (:func:`mc_kl`)."""
    return [Metric("eq. 5, closed form", fmt(r["closed"], 6)),
            Metric(f"Monte Carlo, n = {n:,}", fmt(r["estimate"], 6), "(1/n) Σ [log p(xᵢ) − log q(xᵢ)], xᵢ ~ p"),
            Metric("standard error", fmt(r["se"], 3)),
            Metric("(MC − closed)/SE", fmt(r["z"], 3), "About N(0, 1) when both are right: |z| < 3 almost always.")]


def half_view(h: dict) -> dict:
    """The proof step with the lost ½ (:func:`proof_half_check`): metrics and a caption."""
    return {"metrics": [Metric("Monte Carlo E_p[½(x−μ₂)ᵀΣ₂⁻¹(x−μ₂)]", fmt(h["mc"], 6), f"± {fmt(h['se'], 3)} (1 SE)"),
                        Metric("corrected: ½tr + ½(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)", fmt(h["corrected_value"], 6)),
                        Metric("note's: ½tr + (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)", fmt(h["seed_value"], 6))],
            "caption": (f"Standard error of the Monte Carlo value: {fmt(h['se'], 3)}; it is "
                        f"{fmt(abs(h['mc'] - h['corrected_value']) / h['se'] if h['se'] > 0 else 0, 3)} SE from the "
                        f"corrected value and {fmt(abs(h['mc'] - h['seed_value']) / h['se'] if h['se'] > 0 else 0, 3)} "
                        f"SE from the note's. The two differ by ½(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂) = {fmt(h['maha'] / 2, 4)}: "
                        "move the means apart to see the note's version leave the Monte Carlo band.")}


def diagonal_view(d: dict, mu, logvar) -> dict:
    """Lemma 1 in the diagonal case against the KL term of eq. 14 (:func:`diagonal_vs_eq14`)."""
    return {"metrics": [Metric("Lemma 1 (eq. 5), Σ₁ = diag(σ²), Σ₂ = I", fmt(d["lemma1"], 8)),
                        Metric("KL term of eq. 14, log-variance form", fmt(d["eq14"], 8))],
            "table": pd.DataFrame({"dimension k": np.arange(1, len(d["per_dim"]) + 1), "μ_k": mu,
                                   "log σ²_k": logvar, "½(exp(log σ²_k) + μ_k² − 1 − log σ²_k)": d["per_dim"]})}


# ------------------------------------------------------------------ ELBO

def elbo_view(r: dict) -> dict:
    """The exact model's log p(x), the ELBO, the gap and KL(q ‖ p(z|x)) (:func:`elbo_check`)."""
    return {"metrics": [Metric("log p(x), exact", fmt(r["log_px"], 5)),
                        Metric("ELBO (Monte Carlo)", fmt(r["elbo"], 5), f"± {fmt(r['elbo_se'], 2)} (1 SE)"),
                        Metric("gap log p(x) − ELBO", fmt(r["gap"], 4), "log p(x) exact, the ELBO by Monte Carlo"),
                        Metric("KL(q(z|x) ‖ p(z|x)), Lemma 1", fmt(r["kl_post"], 4))],
            "caption": (f"Eq. 12 says the gap *is* the KL: {fmt(r['gap'], 4)} vs {fmt(r['kl_post'], 4)} (Monte "
                        f"Carlo SE {fmt(r['elbo_se'], 2)}). The ELBO splits into −E_q log p(x|z) = "
                        f"{fmt(r['recon'], 5)} and KL(q ‖ p(z)) = {fmt(r['kl_prior'], 4)}. The loss L = −ELBO = "
                        f"{fmt(r['loss'], 5)} ≥ −log p(x) = {fmt(-r['log_px'], 5)} (eq. 15, corrected).")}


def iwae_exact_caption(iw: dict) -> str:
    """What the IWAE-k curve on the exact model shows (:func:`iwae_draws`), from its numbers."""
    lp = iw["log_px"]
    head = (f"Each point is the mean of {iw['draws']:,} independent IWAE-k estimates (dark band ±2 SE); the light "
            "band holds 90 % of single estimates. ")
    if float(np.max(iw["hi"] - iw["lo"])) <= 1e-9 * max(1.0, abs(lp)):
        return head + ("Here q(z|x) is the exact posterior, so every importance weight p(x, z)/q(z|x) equals p(x) "
                       "and every estimate, at every k, is log p(x) exactly. Move the encoder off the posterior to "
                       "see the bound and its spread.")
    below = iw["mean"] <= lp + 2 * iw["se"]
    head += f"The means lie below log p(x), within 2 SE, at {int(below.sum())} of {len(below)} values of k. "
    why = ("the average of k importance weights is an unbiased estimate of p(x), so its log is below log p(x) "
           "*on average* (Jensen's inequality), but a single draw can overshoot: IWAE-k is a lower bound in "
           "expectation only, which is why the curve shows means of many draws.")
    if iw["above"].max() > 0:
        # quote only values of k whose share is above 0 (else "Yet 0.0% …" contradicts itself)
        over = [(int(kk), float(a)) for kk, a in zip(iw["ks"], iw["above"]) if a > 0]

        def share(kk, a):
            return f"{a:.1%} of the single {'ELBO' if kk == 1 else f'IWAE-{kk}'} estimates"
        some = share(*over[-1]) + (f" and {share(*over[0])}" if len(over) > 1 else "")
        return head + f"Yet {some} land **above** log p(x): " + why
    return head + "None of these single estimates lands above log p(x), but one can: " + why


def iwae_vae_view(iw: dict) -> dict:
    """The IWAE-k table and caption for a trained VAE (:func:`iwae_curve`)."""
    kmax = int(iw["ks"][-1])
    return {"table": pd.DataFrame({"k": iw["ks"], "IWAE-k (nats per image)": iw["mean"],
                                   "IWAE-k − ELBO": iw["gain"], "± SE (paired)": iw["gain_se"]}),
            "caption": (f"log p(x) is unknown for a neural decoder, but IWAE-{kmax} estimates a lower bound on it, "
                        f"so the true gap log p(x) − ELBO, which by eq. 12 is the average KL(q(z|x) ‖ p(z|x)) the "
                        f"encoder leaves, is **at least** IWAE-{kmax} − ELBO = {fmt(iw['gain'][-1], 3)} nats per "
                        f"image (± {fmt(iw['gain_se'][-1], 2)}) on these images: IWAE-k − ELBO ≤ "
                        "log p(x) − ELBO = KL(q ‖ p(z|x)), with equality only as k → ∞.")}


# ------------------------------------------------------------ section 5

def theta_view(g: dict) -> dict:
    """The θ-gradient's sign checked on a trained VAE (:func:`theta_gradient_sign`)."""
    return {"metrics": [Metric("cos(∇_θ L, note's expression)", fmt(g["cosine"], 6),
                               "∇_θ L by autograd on the loss; the note's expression on the same z^l. −1: opposite."),
                        Metric("loss now", fmt(g["loss_before"], 6)),
                        Metric("after a step against ∇_θ L", fmt(g["loss_after_correct"], 6)),
                        Metric("after a step against the note's", fmt(g["loss_after_seed"], 6))],
            "caption": (f"Both steps move the decoder's weights by 10⁻³ (Euclidean length) on the same batch and "
                        f"the same z^l. ‖∇_θ L‖ = {fmt(g['norm_loss'], 4)}, ‖note's‖ = {fmt(g['norm_seed'], 4)}.")}


def gradient_table(s: dict, repeats: int) -> pd.DataFrame:
    """The three estimators beside the exact gradient (:func:`gradient_summary`)."""
    return pd.DataFrame([{"gradient": f"∂/∂{wrt} E_q f(z)", "exact (quadrature)": s["exact"][j],
                          "naive (samples held fixed)": s["naive"][j],
                          f"reparameterised, mean of {repeats}": s["reparam_mean"][j], "± SE": s["reparam_se"][j],
                          f"score function, mean of {repeats}": s["score_mean"][j], "± SE ": s["score_se"][j]}
                         for j, wrt in enumerate(PARAMS)])


def variance_caption(ratios: list[dict], repeats: int) -> str:
    """The verdict on the two estimators' variances, from the measured ratios
    (:func:`variance_ratio`): who wins for each parameter, and why either can."""
    parts = []
    for r in ratios:
        d = f"∂/∂{r['wrt']}"
        if r["winner"] == "neither" and not math.isfinite(r["median"]):
            parts.append(f"{d}: a variance is 0 here, so there is no ratio.")
            continue
        span = (f"{fmt(r['median'], 3)}× the reparameterised one's "
                f"(median over L; {fmt(r['low'], 3)}–{fmt(r['high'], 3)}× at single L)")
        pooled = "pooled over every L (the true ratio does not depend on L)"
        verdict = {"reparam": f"the reparameterised estimator is less noisy, {pooled}, by more than two "
                              f"standard errors.",
                   "score": f"here the **score function** is less noisy, {pooled}, by more than two "
                            f"standard errors.",
                   "neither": f"neither is less noisy by more than two standard errors, {pooled} "
                              f"(with {repeats} repeats per L)."}[r["winner"]]
        parts.append(f"{d}: the score function's variance is {span}: {verdict}")
    winners = {r["winner"] for r in ratios}
    why = ("Both are unbiased and their variance falls like 1/L; which one is smaller depends on f and q. The "
           "reparameterised estimator averages f′(z) (times ∂z/∂φ), the score function f(z)·∇_φ log q(z), "
           "e.g. f(z)·ε/σ for ∂/∂μ. ")
    if "score" in winners or "neither" in winners:
        why += ("When q is wide compared with the scale on which f changes (sin z with σ = 3, a steep step), "
                "f′(z) keeps varying across q however wide it is (Var cos z stays near ½ for sin z), while the "
                "score function's weight ε/σ shrinks as σ grows and f stays bounded: then the score function "
                "can win. ")
    else:
        why += ("For an f that is smooth on q's scale, f′ varies less than f(z)·∇ log q(z). (It is not always so: "
                "try sin z with σ = 3.) ")
    why += ("VAEs still use the trick: their f = log p_θ(x|z) is smooth in z and large (many nats per image), and "
            "adding a constant c to f leaves the gradient and the reparameterised estimate unchanged but adds "
            "a term growing like c² to the score function's variance.")
    return " ".join(parts) + " " + why


def spread_view(r: dict) -> dict:
    """The spread of the Monte Carlo loss against L (:func:`loss_spread`)."""
    return {"table": pd.DataFrame({"L": r["Ls"], "mean of the draws": r["mean"], "std of the draws": r["std"],
                                   "std × √L (flat if ∝ 1/√L)": r["std_sqrt_L"]}),
            "caption": (f"The KL term is the same in every draw ({fmt(r['kl'], 5)} nats per image): all of the "
                        "spread comes from the reconstruction term's Monte Carlo estimate.")}
