"""Theory: the seed document (shared/seed, "Variational Autoencoders", Allen C., 2023),
section by section, each statement beside a live check.

Every number comes from ``explorer.analysis.theory``, which calls ``explorer.objective``
(the one implementation of the seed's formulas); every figure from
``explorer.figures.theory``. The seed's slips are stated and corrected where they occur.
Tabs are lazy (only the open one computes) and bound to the URL (``?section=ELBO``),
so a teacher can link straight to a section.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from explorer import store
from explorer.analysis import theory as T
from explorer.figures import theory as TF
from explorer.figures.common import image_grid, upscale
from explorer.ui import common

common.page_setup("Theory", "📐")


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


def fix(title: str, body: str) -> None:
    """A correction callout: where the seed slips, what is right."""
    st.warning(f"**Correction to the seed: {title}.** {body}", icon="✏️")


# ------------------------------------------------------------ shipped models

def shipped(kind: str) -> list:
    """Shipped runs of ``kind`` ('vae' or 'ae') that carry probe images."""
    return [r for r in store.list_runs(store.SHIPPED_ROOT)
            if r.config.model.kind == kind and (r.path / store.PROBE).is_file()]


def seed_input(key: str, box=st) -> int:
    """A section's random seed (0-10,000), in ``box`` (a column, or the page)."""
    return int(box.number_input("Seed", 0, 10_000, 0, key=key))


def pick_vae(key: str, label: str = "Trained VAE (shipped)", runs=None):
    runs = runs if runs is not None else shipped("vae")
    if not runs:
        st.warning("No shipped VAE with probe images was found in trained/.")
        return None
    ids = [r.run_id for r in runs]
    default = ids.index("digits-vae-z2-b1") if "digits-vae-z2-b1" in ids else 0
    pick = st.selectbox(label, ids, index=default, key=key,
                        format_func=lambda i: next(r.config.name or r.run_id for r in runs if r.run_id == i))
    return next(r for r in runs if r.run_id == pick)


@st.cache_resource(max_entries=8, show_spinner=False)
def probe_images(run_dir: str, mtime: float) -> torch.Tensor:
    p = store.load_probe(Path(run_dir))
    if p is None:
        raise store.StoreError(f"{run_dir}: no probe images")
    return p[0]


def probe(run_dir: Path) -> torch.Tensor:
    return probe_images(str(run_dir), (Path(run_dir) / store.PROBE).stat().st_mtime)


def batch_of(run_dir: str, n: int, seed: int) -> tuple:
    model = common.load_model(Path(run_dir))
    return model, T.pick_batch(probe(Path(run_dir)), n, seed)


# ------------------------------------------------ cached computations

@st.cache_data(max_entries=32, show_spinner="Computing both losses…")
def c_ae_vs_vae(vae_dir: str, ae_dir: str, n: int, samples: int, seed: int) -> dict:
    vae, x = batch_of(vae_dir, n, seed)
    ae = common.load_model(Path(ae_dir))
    return T.ae_vs_vae(vae, ae, x, samples, seed)


@st.cache_data(max_entries=64, show_spinner="Sampling…")
def c_mc_kl(mu1, cov1, mu2, cov2, n: int, seed: int) -> dict:
    return T.mc_kl(np.array(mu1), np.array(cov1), np.array(mu2), np.array(cov2), n, seed)


@st.cache_data(max_entries=64, show_spinner=False)
def c_half(mu1, cov1, mu2, cov2, n: int, seed: int) -> dict:
    return T.proof_half_check(np.array(mu1), np.array(cov1), np.array(mu2), np.array(cov2), n, seed)


@st.cache_data(max_entries=64, show_spinner=False)
def c_elbo(x_seed: int, shift: tuple, scale: tuple, samples: int) -> dict:
    m = T.demo_linear_gaussian()
    x = T.sample_x(m, x_seed)
    return T.elbo_check(T.move_encoder(m, shift, scale), x, samples, seed=1)


@st.cache_data(max_entries=32, show_spinner="Sweeping the encoder…")
def c_sweep(x_seed: int, shift2: float, scale: tuple) -> dict:
    m = T.demo_linear_gaussian()
    return T.elbo_sweep(m, T.sample_x(m, x_seed), np.linspace(-3, 3, 31), base_shift=(0.0, shift2),
                        scale=scale, samples=1000, seed=1)


@st.cache_data(max_entries=32, show_spinner="Importance sampling…")
def c_iwae_linear(x_seed: int, shift: tuple, scale: tuple) -> dict:
    m = T.demo_linear_gaussian()
    x = T.sample_x(m, x_seed)
    return T.iwae_curve(T.move_encoder(m, shift, scale), x.repeat(16, 1), seed=2, draws=100)


@st.cache_data(max_entries=16, show_spinner="Importance sampling on the trained VAE (a few seconds)…")
def c_iwae_vae(run_dir: str, n: int, kmax: int, seed: int) -> dict:
    model, x = batch_of(run_dir, n, seed)
    ks = [k for k in T.IWAE_KS if k <= kmax]
    return T.iwae_curve(model, x, ks, seed=seed, draws=100)


@st.cache_data(max_entries=64, show_spinner="Estimating gradients…")
def c_grad_summary(f_name: str, mu: float, sigma: float, L: int, repeats: int, seed: int) -> dict:
    return T.gradient_summary(f_name, mu, sigma, L, repeats, seed)


@st.cache_data(max_entries=64, show_spinner="Estimating gradient variances…")
def c_grad_var(f_name: str, mu: float, sigma: float, repeats: int, seed: int) -> dict:
    return T.gradient_variance(f_name, mu, sigma, T.GRAD_LS, repeats, seed)


@st.cache_data(max_entries=16, show_spinner="Differentiating the loss…")
def c_theta(run_dir: str, n: int, samples: int, seed: int) -> dict:
    model, x = batch_of(run_dir, n, seed)
    return T.theta_gradient_sign(model, x, samples, seed)


@st.cache_data(max_entries=16, show_spinner="Drawing the loss many times…")
def c_spread(run_dir: str, n: int, repeats: int, seed: int) -> dict:
    model, x = batch_of(run_dir, n, seed)
    return T.loss_spread(model, x, T.LOSS_LS, repeats, seed)


# ================================================================== page

st.title("📐 Theory: the seed's mathematics, live and checked")
st.markdown(
    "The seed document (*Variational Autoencoders*, Allen C., 2023) section by section. Each "
    "statement, in the seed's notation and numbering, sits beside a **live check** computed by the "
    "same code that trains the models (`explorer/objective.py`). All quantities are **per image, in "
    "nats**. Where the seed slips, a ✏️ box says so and gives the correct statement.")

with st.expander("✏️ The seed's slips at a glance (each is corrected again where it occurs)"):
    st.markdown(
        "1. **Eq. 15** has the inequality the wrong way round for the loss. The ELBO is a *lower* bound: "
        "ELBO ≤ log p(x), so the loss L = −ELBO satisfies **L ≥ −log p(x)**. → tab *ELBO*.\n"
        "2. **Lemma 1's proof** drops a ½: E_p[½(x−μ₂)ᵀΣ₂⁻¹(x−μ₂)] = ½ tr(Σ₂⁻¹Σ₁) "
        "+ **½**(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂). Eq. 5 itself is right. → tab *Lemma 1*.\n"
        "3. **The θ-gradient** has the wrong sign: ∇_θ L = **−**(1/L) Σ_l ∇_θ log p_θ(x|z^l). "
        "→ tab *Reparameterisation*.\n"
        "4. **\"ELBD\"** in section 5 is the **ELBO**, the evidence lower bound; and it is −L, not L, "
        "that is the ELBO. → tab *ELBO*.\n\n"
        "Smaller points: the proof writes sums Σ_x over a continuous x (they are integrals ∫ dx); "
        "\"KL(P‖Q) ≥ 0 *or* KL(Q‖P) ≥ 0\" should read *and* (both hold); N(0, 1) in eq. 14 is the "
        "k-dimensional N(0, I); and in eq. 14 the symbol Σ_φ(x) stands for the encoder's "
        "*log*-variance, log σ².")

SECTIONS = ["AE vs VAE", "KL divergence", "Lemma 1", "ELBO", "Reparameterisation", "Monte Carlo"]
tabs = st.tabs(SECTIONS, key="section", bind="query-params")


# ------------------------------------------------------- 1-2 AE vs VAE

def section_ae_vae() -> None:
    st.subheader("Sections 1–2: the autoencoder and the variational autoencoder")
    st.markdown("**Autoencoder**, eq. 1: a squared error between X and X̂ = f_θ(g_φ(X)).")
    st.latex(r"L(\theta,\phi)=\frac{1}{n}\sum_{i=1}^{n}\left[X^{i}-f_\theta(g_\phi(X^{i}))\right]^{2}\qquad(1)")
    st.markdown("**VAE**, eq. 2: a reconstruction term and a KL term.")
    st.latex(r"L(\theta,\phi)=-E_{z\sim q_\phi(z|x)}\log p_\theta(x|z)+D_{KL}(q_\phi(z|x)\,\|\,p_\theta(z))\qquad(2)")
    vaes, aes = shipped("vae"), shipped("ae")
    pairs = [v for v in vaes if any(a.config.data.name == v.config.data.name for a in aes)]
    if not pairs:
        st.warning("This needs a shipped VAE and a shipped autoencoder trained on the same data "
                   "(trained/digits-vae-z2-b1 and trained/digits-ae-z2).")
        return
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        vae_run = pick_vae("ae_model", "VAE (shipped)", pairs)
    ae_run = next(a for a in aes if a.config.data.name == vae_run.config.data.name)
    with c2:
        n = st.slider("Images in the batch", 4, 64, 16, key="ae_n")
    with c3:
        L = st.slider("L, samples of z per image", 1, 50, 1, key="ae_L")
    with c4:
        seed = seed_input("ae_seed")
    st.caption(f"The same {n} validation images go through **{vae_run.config.name}** and "
               f"**{ae_run.config.name}**.")
    with common.friendly_errors("Could not compute the losses"):
        r = c_ae_vs_vae(str(vae_run.path), str(ae_run.path), n, L, int(seed))
        a, v = r["ae"], r["vae"]
        c1, c2 = st.columns(2)
        with c1:
            st.markdown("##### Autoencoder")
            st.metric("eq. 1: ‖x − x̂‖², mean per image", fmt(a["sq_err"]))
            st.metric("−log p(x | z = g_φ(x)), the loss it was trained on", fmt(a["recon"]))
            if r["sigma"] is not None:
                st.caption(f"With a Gaussian p(x|z) of fixed σ = {r['sigma']:.3g}, −log p(x|x̂) = "
                           f"‖x − x̂‖²/(2σ²) + c with c = −log p(x | x̂ = x) = {fmt(r['nll_const'])}: "
                           f"from eq. 1, {fmt(a['sq_err'])}/(2σ²) + c = {fmt(a['recon_from_sq_err'])}. "
                           "Eq. 1 is the reconstruction term, rescaled and shifted.")
        with c2:
            st.markdown("##### VAE")
            st.metric("eq. 2: the loss, reconstruction + KL", fmt(v["loss"]))
            st.metric(f"−E_q log p(x|z), Monte Carlo with L = {L}", fmt(v["recon"]))
            st.metric("KL(q(z|x) ‖ N(0, I)), eq. 14", fmt(v["kl"]))
            st.caption(f"KL per latent dimension: {', '.join(fmt(k, 3) for k in v['kl_per_dim'])} nats. "
                       f"Eq. 1's squared error of its mean reconstruction (z = μ): {fmt(v['sq_err'])}.")
        st.markdown(
            "**What each term does.** The reconstruction term is the autoencoder's loss in "
            "probabilistic form (the seed's closing paragraph calls it the \"log entropy term\"; it is "
            "the expected log-likelihood): it pulls x̂ towards x. The KL term pulls each q(z|x) "
            "towards the prior N(0, I): it charges, in nats, for codes that are far from 0 or too "
            "precise, which keeps the latent space filled and smooth enough to sample from. The "
            "autoencoder pays no KL: its codes are points, placed wherever reconstruction likes them.")
        h, w = r["x"].shape[-2:]
        k = max(1, 160 // max(h, w))
        c1, c2, c3 = st.columns(3)
        for col, key, cap in ((c1, "x", "the batch x"), (c2, "ae_recon", "autoencoder: f_θ(g_φ(x))"),
                              (c3, "vae_recon", "VAE: mean of p(x | z = μ(x))")):
            col.image(upscale(image_grid(r[key][:16], ncol=4), k), caption=cap, clamp=True)


# --------------------------------------------------------- 4 KL divergence

def section_kl() -> None:
    st.subheader("Section 4: the Kullback–Leibler divergence")
    st.latex(r"D_{KL}(P\|Q)=\sum_x P(x)\log\left(\frac{P(x)}{Q(x)}\right)\qquad(3)")
    st.markdown("Properties (seed): KL(P‖Q) ≥ 0; KL(P‖Q) ≠ KL(Q‖P) in general.")
    fix("both directions are non-negative",
        "the seed writes \"KL(P‖Q) ≥ 0 *or* KL(Q‖P) ≥ 0\". Both hold (Gibbs' inequality), with "
        "equality exactly when P = Q.")
    c1, c2 = st.columns(2)
    p_text = c1.text_input("P: weights (normalised for you)", "1, 2, 3, 4", key="kl_p",
                           help="Any non-negative numbers separated by commas, e.g. 1, 2, 3, 4.")
    q_text = c2.text_input("Q: weights (normalised for you)", "2, 2, 5, 1", key="kl_q",
                           help="Try a 0 in Q where P is positive, or Q equal to P.")
    try:
        p = T.parse_weights(p_text, "P")
        q = T.parse_weights(q_text, "Q")
        r = T.discrete_kl(p, q)
    except ValueError as e:
        st.error(str(e))
        return
    st.caption("P = (" + ", ".join(fmt(v, 3) for v in r["p"]) + "),  Q = (" +
               ", ".join(fmt(v, 3) for v in r["q"]) + ")")
    c1, c2, c3 = st.columns(3)
    c1.metric("KL(P‖Q)", fmt(r["kl_pq"]))
    c2.metric("KL(Q‖P)", fmt(r["kl_qp"]))
    same = r["kl_pq"] == r["kl_qp"] or (math.isfinite(r["kl_pq"]) and math.isfinite(r["kl_qp"])
                                       and abs(r["kl_pq"] - r["kl_qp"]) < 1e-12)
    c3.metric("symmetric here?", "yes" if same else "no")
    for which, idx, a, b in (("KL(P‖Q)", r["inf_pq"], "P", "Q"), ("KL(Q‖P)", r["inf_qp"], "Q", "P")):
        if len(idx):
            outs = ", ".join(str(i + 1) for i in idx)
            st.info(f"**{which} = ∞.** At outcome {outs}, {a}(x) > 0 but {b}(x) = 0, so the summand "
                    f"{a}(x) log({a}(x)/0) is infinite: {b} calls impossible something {a} says happens. "
                    f"(The reverse summand is 0·log 0 = 0, so the other direction can stay finite.)")
    finite = [v for v in (r["kl_pq"], r["kl_qp"]) if math.isfinite(v)]
    if all(v >= -1e-12 for v in finite):
        st.success("Non-negativity holds in both directions, although single summands can be negative "
                   "(wherever P(x) < Q(x)).")
    st.plotly_chart(TF.discrete_kl_bars(r["p"], r["q"], r["terms_pq"], r["terms_qp"]), width="stretch")


# --------------------------------------------------------------- Lemma 1

def gaussian_inputs(tag: str, label: str, defaults) -> tuple:
    st.markdown(f"**{label}**")
    mx, my, s1, s2, rho = defaults
    c1, c2 = st.columns(2)
    mx = c1.number_input("mean, 1st coordinate", -T.MEAN_MAX, T.MEAN_MAX, mx, 0.1, key=f"{tag}_mx")
    my = c2.number_input("mean, 2nd coordinate", -T.MEAN_MAX, T.MEAN_MAX, my, 0.1, key=f"{tag}_my")
    c1, c2, c3 = st.columns(3)
    s1 = c1.number_input("σ (1st)", 0.0, T.SIGMA_MAX, s1, 0.1, format="%g", key=f"{tag}_s1")
    s2 = c2.number_input("σ (2nd)", 0.0, T.SIGMA_MAX, s2, 0.1, format="%g", key=f"{tag}_s2")
    rho = c3.number_input("correlation ρ", -1.0, 1.0, rho, 0.05, format="%g", key=f"{tag}_rho")
    return (mx, my), s1, s2, rho


def section_lemma() -> None:
    st.subheader("Section 4, Lemma 1: the KL divergence between two Gaussians")
    st.latex(r"N(x;\mu,\Sigma)=\frac{1}{\sqrt{(2\pi)^k|\Sigma|}}\exp\left(-\frac12(x-\mu)^\top\Sigma^{-1}(x-\mu)\right)\qquad(4)")
    st.latex(r"D_{KL}(p\|q)=\frac12\left[\log\frac{|\Sigma_2|}{|\Sigma_1|}-k+\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)"
             r"+(\mu_1-\mu_2)^\top\Sigma_2^{-1}(\mu_1-\mu_2)\right]\qquad(5)")
    st.markdown("Set p = N(μ₁, Σ₁) and q = N(μ₂, Σ₂) in 2-D (k = 2). Each Σ is built from two standard "
                "deviations and a correlation, Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]], so it is always symmetric.")
    c1, c2 = st.columns(2)
    with c1:
        m1, a1, b1, r1 = gaussian_inputs("p", "p = N(μ₁, Σ₁)", (0.5, 0.0, 0.8, 1.2, 0.6))
    with c2:
        m2, a2, b2, r2 = gaussian_inputs("q", "q = N(μ₂, Σ₂)", (1.5, -0.5, 1.5, 0.7, -0.3))
    c1, c2 = st.columns(2)
    n = int(c1.number_input("Monte Carlo samples n", 10, T.MC_MAX, 10_000, 1000, key="l1_n"))
    seed = seed_input("l1_seed", c2)
    try:
        mu1, cov1, note1 = T.gaussian_2d(m1, a1, b1, r1)
        mu2, cov2, note2 = T.gaussian_2d(m2, a2, b2, r2)
    except ValueError as e:
        st.error(str(e))
        return
    for who, note in (("Σ₁", note1), ("Σ₂", note2)):
        if note:
            st.info(f"{who}: {note}")
    with common.friendly_errors("Could not compute the KL divergence"):
        args = (tuple(mu1), tuple(map(tuple, cov1)), tuple(mu2), tuple(map(tuple, cov2)))
        r = c_mc_kl(*args, n, seed)
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("eq. 5, closed form", fmt(r["closed"], 6))
        c2.metric(f"Monte Carlo, n = {n:,}", fmt(r["estimate"], 6), help="(1/n) Σ [log p(xᵢ) − log q(xᵢ)], xᵢ ~ p")
        c3.metric("standard error", fmt(r["se"], 3))
        c4.metric("(MC − closed)/SE", fmt(r["z"], 3), help="About N(0, 1) when both are right: |z| < 3 "
                  "almost always.")
        c1, c2 = st.columns(2)
        c1.plotly_chart(TF.gaussian_ellipses([
            {"mu": mu1, "cov": cov1, "name": "p = N(μ₁, Σ₁)", "color": TF.BLUE},
            {"mu": mu2, "cov": cov2, "name": "q = N(μ₂, Σ₂)", "color": TF.ORANGE}],
            title="1σ (solid) and 2σ (dotted) contours"), width="stretch")
        c2.plotly_chart(TF.mc_convergence(r["n"], r["mean"], r["se_curve"], r["closed"],
                                          title="Monte Carlo converging on eq. 5"), width="stretch")
        rev = T.kl_lemma1(mu2, cov2, mu1, cov1)
        st.caption(f"The other direction, KL(q‖p) = {fmt(rev, 6)} (eq. 5 with the roles swapped): "
                   "asymmetry again.")

        st.markdown("##### The proof, one step checked")
        st.latex(r"\sum_x p(x)\left[\tfrac12(x-\mu_2)^\top\Sigma_2^{-1}(x-\mu_2)\right]"
                 r"=\operatorname{tr}\left(\frac{\Sigma_2^{-1}\Sigma_1}{2}\right)+\frac12(\mu_1-\mu_2)^\top\Sigma_2^{-1}(\mu_1-\mu_2)")
        fix("the missing ½ in the proof",
            "the seed concludes this step with (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂) *without* the ½ (shown corrected above); "
            "the ½ comes from the ½ in front of the whole quadratic form. Eq. 5 is right because its ½ "
            "multiplies every term. The sum over x should also be an integral.")
        h = c_half(*args, n, seed)
        c1, c2, c3 = st.columns(3)
        c1.metric("Monte Carlo E_p[½(x−μ₂)ᵀΣ₂⁻¹(x−μ₂)]", fmt(h["mc"], 6), help=f"± {fmt(h['se'], 3)} (1 SE)")
        c2.metric("corrected: ½tr + ½(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)", fmt(h["corrected_value"], 6))
        c3.metric("seed's: ½tr + (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)", fmt(h["seed_value"], 6))
        st.caption(f"Standard error of the Monte Carlo value: {fmt(h['se'], 3)}. The two candidates differ "
                   f"by ½(μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂) = {fmt(h['maha'] / 2, 4)}; move the means apart to see the "
                   "seed's version leave the Monte Carlo band.")

        st.markdown("##### The diagonal case against N(0, I): eq. 14 in log-variance form")
        st.latex(r"D_{KL}\big(N(\mu_\phi(x),\Sigma_\phi(x))\,\|\,N(0,I)\big)=\frac12\sum_k"
                 r"\left(\exp(\Sigma_\phi(x))+\mu_\phi(x)^2-1-\Sigma_\phi(x)\right)\qquad(14)")
        st.markdown("Here the seed's Σ_φ(x) is the encoder's **log-variance** log σ² (the network outputs it "
                    "so that the variance exp(·) is always positive). With p's means and standard "
                    "deviations, ρ set to 0, and q = N(0, I):")
        logvar = 2.0 * np.log([a1, b1])
        d = T.diagonal_vs_eq14(mu1, logvar)
        c1, c2 = st.columns(2)
        c1.metric("Lemma 1 (eq. 5), Σ₁ = diag(σ²), Σ₂ = I", fmt(d["lemma1"], 8))
        c2.metric("eq. 14, log-variance form", fmt(d["eq14"], 8))
        st.dataframe(pd.DataFrame({"dimension": [1, 2], "μ": mu1, "log σ²": logvar,
                                   "½(exp(log σ²) + μ² − 1 − log σ²)": d["per_dim"]}),
                     hide_index=True, width="stretch")


# ------------------------------------------------------------------ ELBO

def section_elbo() -> None:
    st.subheader("Section 4: the evidence lower bound (eq. 9–13, 15)")
    st.latex(r"KL(q_\phi(z|x)\|p_\theta(z|x))=E_{z\sim q_\phi(z|x)}\left[\log q_\phi(z|x)-\log p_\theta(z|x)\right]\qquad(9)")
    st.latex(r"\log p_\theta(x)-KL(q_\phi(z|x)\|p_\theta(z|x))=E_{z\sim q_\phi(z|x)}\left[\log p_\theta(x|z)\right]"
             r"-D_{KL}[q_\phi(z|x)\|p_\theta(z)]\qquad(12)")
    st.markdown("The right-hand side of eq. 12 is the **ELBO**; the loss of eq. 13 is its negative, "
                "L = −ELBO. Because the KL on the left is ≥ 0, the ELBO is below log p(x) by exactly "
                "KL(q(z|x) ‖ p(z|x)).")
    fix("eq. 15 and \"ELBD\"",
        "the seed writes L(θ, φ) ≤ log p_θ(x) and calls the loss the \"ELBD\". The evidence lower bound "
        "(**ELBO**) is −L, and it is the ELBO that is ≤ log p(x):")
    st.latex(r"\text{ELBO}=-L(\theta,\phi)\le\log p_\theta(x)\quad\Longleftrightarrow\quad L(\theta,\phi)\ge-\log p_\theta(x)")

    st.markdown("#### A model where log p(x) is exact")
    st.latex(r"p(z)=N(0,I_2),\qquad p(x|z)=N(Wz+b,\,\sigma^2 I_3)")
    st.latex(r"\log p(x)=\log N(x;\,b,\,WW^\top+\sigma^2 I),\qquad p(z|x)=N\big(M(x-b),\,S\big)")
    st.markdown("Its encoder q(z|x) = N(Ax + c, diag(s²)) starts on the true posterior. Move it off: "
                "shift its mean, stretch or shrink its standard deviations.")
    c1, c2, c3 = st.columns(3)
    with c1:
        d1 = st.slider("mean shift along z₁", -3.0, 3.0, 0.0, 0.1, key="elbo_d1")
        d2 = st.slider("mean shift along z₂", -3.0, 3.0, 0.0, 0.1, key="elbo_d2")
    with c2:
        g1 = st.slider("std scale along z₁ (log₁₀)", -1.5, 1.5, 0.0, 0.05, key="elbo_g1",
                       help="0 keeps the posterior's width; 1 makes q ten times wider.")
        g2 = st.slider("std scale along z₂ (log₁₀)", -1.5, 1.5, 0.0, 0.05, key="elbo_g2")
    with c3:
        x_seed = int(st.number_input("data point x (seed)", 0, 1000, 0, key="elbo_x"))
        samples = int(st.number_input("Monte Carlo samples for the ELBO", 100, 100_000, 20_000, 1000,
                                      key="elbo_samples"))
    shift, scale = (d1, d2), (10.0 ** g1, 10.0 ** g2)
    with common.friendly_errors("Could not compute the ELBO"):
        r = c_elbo(x_seed, shift, scale, samples)
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("log p(x), exact", fmt(r["log_px"], 5))
        c2.metric("ELBO (Monte Carlo)", fmt(r["elbo"], 5), help=f"± {fmt(r['elbo_se'], 2)} (1 SE)")
        c3.metric("gap log p(x) − ELBO", fmt(r["gap"], 4))
        c4.metric("KL(q(z|x) ‖ p(z|x)), Lemma 1", fmt(r["kl_post"], 4))
        st.caption(f"Eq. 12 says the gap *is* the KL: {fmt(r['gap'], 4)} vs {fmt(r['kl_post'], 4)} "
                   f"(Monte Carlo SE {fmt(r['elbo_se'], 2)}). The ELBO splits into −E_q log p(x|z) = "
                   f"{fmt(r['recon'], 5)} and KL(q ‖ p(z)) = {fmt(r['kl_prior'], 4)}. The loss "
                   f"L = −ELBO = {fmt(r['loss'], 5)} ≥ −log p(x) = {fmt(-r['log_px'], 5)}.")
        c1, c2 = st.columns(2)
        c1.plotly_chart(TF.gaussian_ellipses([
            {"mu": r["post_mean"], "cov": r["post_cov"], "name": "p(z|x), exact", "color": "#bbbbbb",
             "width": 6},
            {"mu": r["q_mean"], "cov": r["q_cov"], "name": "q(z|x), the encoder", "color": TF.BLUE}],
            title="posterior and encoder in the latent plane", axis_titles=("z₁", "z₂")), width="stretch")
        sw = c_sweep(x_seed, d2, scale)
        c2.plotly_chart(TF.elbo_sweep(sw["shift"], sw["elbo"], sw["elbo_se"], sw["kl_post"], sw["log_px"],
                                      current=d1, title="the gap is KL(q ‖ p(z|x))"), width="stretch")
        st.markdown("The importance-weighted bound IWAE-k (Burda et al., 2015) averages k weights "
                    "p(x, zᵢ)/q(zᵢ|x) inside the log. IWAE-1 is the ELBO; as k grows it climbs to log p(x), "
                    "faster when q is close to the posterior.")
        st.latex(r"\text{IWAE}_k=E\left[\log\frac1k\sum_{i=1}^k\frac{p_\theta(x,z_i)}{q_\phi(z_i|x)}\right],"
                 r"\quad z_i\sim q_\phi(z|x);\qquad \text{ELBO}=\text{IWAE}_1\le\text{IWAE}_k\le\log p_\theta(x)")
        iw = c_iwae_linear(x_seed, shift, scale)
        st.plotly_chart(TF.bound_curve(iw["ks"], iw["mean"], iw["se"], log_px=r["log_px"],
                                       title="IWAE-k on the linear-Gaussian model (16 repeats of x)"),
                        width="stretch")

    st.markdown("#### A trained VAE: the gap closing")
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        run = pick_vae("iwae_model")
    if run is None:
        return
    with c2:
        n = st.slider("Images", 4, 64, 16, key="iwae_n")
    with c3:
        kmax = st.select_slider("largest k", [k for k in T.IWAE_KS if k >= 10], 1000, key="iwae_kmax")
    with c4:
        seed = seed_input("iwae_seed")
    with common.friendly_errors("Could not compute the bounds"):
        iw = c_iwae_vae(str(run.path), n, kmax, seed)
        st.plotly_chart(TF.bound_curve(iw["ks"], iw["mean"], iw["se"],
                                       title=f"ELBO and IWAE-k on {n} validation images of {run.config.name}"),
                        width="stretch")
        st.dataframe(pd.DataFrame({"k": iw["ks"], "IWAE-k (nats per image)": iw["mean"],
                                   "IWAE-k − ELBO": iw["gain"], "± SE (paired)": iw["gain_se"]}),
                     hide_index=True, width="stretch")
        st.caption(f"log p(x) is unknown for a neural decoder, but IWAE-{iw['ks'][-1]} is a lower bound "
                   f"on it: the ELBO sits at least {fmt(iw['gain'][-1], 3)} nats per image below log p(x) "
                   "on these images. That is the average KL(q(z|x) ‖ p(z|x)) the encoder leaves.")


# ------------------------------------------------------ 5 reparameterisation

def section_reparam() -> None:
    st.subheader("Section 5: optimising the loss, and the reparameterisation trick")
    st.latex(r"\theta^*=\theta-\eta\nabla_\theta L(\theta,\phi),\qquad \phi^*=\phi-\eta\nabla_\phi L(\theta,\phi)")
    st.markdown("#### The θ-gradient")
    st.latex(r"\nabla_\theta L(\theta,\phi)=-\frac1L\sum_{l=1}^{L}\nabla_\theta\log p_\theta(x|z^l),\qquad z^l\sim q_\phi(z|x)")
    fix("the sign of the θ-gradient",
        "the seed writes ∇_θ L = +(1/L) Σ_l ∇_θ log p_θ(x|z^l). The loss contains −log p_θ(x|z), so its "
        "gradient carries a minus sign (shown corrected above); the KL term does not depend on θ. A step "
        "along the seed's expression climbs the loss.")
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        run = pick_vae("theta_model")
    if run is not None:
        with c2:
            n = st.slider("Images", 4, 64, 16, key="theta_n")
        with c3:
            L = st.slider("L", 1, 20, 1, key="theta_L")
        with c4:
            seed = seed_input("theta_seed")
        with common.friendly_errors("Could not differentiate the loss"):
            g = c_theta(str(run.path), n, L, seed)
            c1, c2, c3, c4 = st.columns(4)
            c1.metric("cos(∇_θ L, seed's expression)", fmt(g["cosine"], 6),
                      help="∇_θ L by autograd on the loss; the seed's expression on the same z^l. −1: opposite.")
            c2.metric("loss now", fmt(g["loss_before"], 6))
            c3.metric("after a step against ∇_θ L", fmt(g["loss_after_correct"], 6))
            c4.metric("after a step against the seed's", fmt(g["loss_after_seed"], 6))
            st.caption("Both steps move the decoder's weights by 10⁻³ (Euclidean length) on the same batch and "
                       "the same z^l. ‖∇_θ L‖ = " + fmt(g["norm_loss"], 4) + ", ‖seed's‖ = "
                       + fmt(g["norm_seed"], 4) + ".")

    st.markdown("#### The φ-gradient: why the trick")
    st.latex(r"\nabla_\phi E_{z\sim q_\phi(z|x)}f(z)\neq E_{z\sim q_\phi(z|x)}\nabla_\phi f(z)")
    st.latex(r"E_{z\sim q_\phi(z|x)}f(z)=E_{p(\epsilon)}f(g_\phi(\epsilon,x)),\qquad "
             r"g_\phi(\epsilon,x)=\mu_\phi(x)+\epsilon\odot\Sigma_\phi^{1/2}(x),\quad\epsilon\sim N(0,I)")
    st.markdown("Take q = N(μ, σ²) in one dimension, φ = (μ, σ), and a function f. Three ways to estimate "
                "∇_φ E_q f(z) from L samples:\n"
                "* **naive**: draw z^l ~ q, then differentiate (1/L) Σ f(z^l). The samples hold no trace of φ, "
                "so this is E_q ∇_φ f(z) = 0, whatever the true gradient: ∇E ≠ E∇.\n"
                "* **reparameterised** (the seed's trick): z^l = μ + ε^l σ, then differentiate (1/L) Σ f(z^l).\n"
                "* **score function** (no trick, but correct): differentiate the density, not the samples:")
    st.latex(r"\nabla_\phi E_{z\sim q_\phi}f(z)=\nabla_\phi\int q_\phi(z)f(z)\,dz=E_{z\sim q_\phi}"
             r"\left[f(z)\,\nabla_\phi\log q_\phi(z)\right]\approx\frac1L\sum_{l=1}^L f(z^l)\,\nabla_\phi\log q_\phi(z^l)")
    c1, c2, c3 = st.columns(3)
    with c1:
        f_name = st.selectbox("f(z)", list(T.TEST_FUNCTIONS), key="rp_f")
        L = st.select_slider("L, samples per estimate", list(T.GRAD_LS), 10, key="rp_L")
    with c2:
        mu = st.slider("μ", -3.0, 3.0, 0.5, 0.05, key="rp_mu")
        sigma = st.slider("σ", 0.05, 3.0, 1.0, 0.05, key="rp_sigma")
    with c3:
        repeats = st.slider("repeats (estimates drawn)", 50, 2000, 500, 50, key="rp_repeats")
        seed = seed_input("rp_seed")
    with common.friendly_errors("Could not estimate the gradients"):
        s = c_grad_summary(f_name, mu, sigma, L, repeats, seed)
        rows = []
        for j, wrt in enumerate(("μ", "σ")):
            rows.append({"gradient": f"∂/∂{wrt} E_q f(z)", "exact (quadrature)": s["exact"][j],
                         "naive (samples held fixed)": s["naive"][j],
                         f"reparameterised, mean of {repeats}": s["reparam_mean"][j],
                         "± SE": s["reparam_se"][j],
                         f"score function, mean of {repeats}": s["score_mean"][j], "± SE ": s["score_se"][j]})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        d = T.function_and_density(f_name, mu, sigma)
        c1, c2 = st.columns(2)
        c1.plotly_chart(TF.function_and_density(d["z"], d["f"], d["q"], f_name, title="f and q"),
                        width="stretch")
        c2.plotly_chart(TF.estimator_histogram(s["reparam"][:, 0], s["score"][:, 0], s["exact"][0],
                                               title=f"{repeats} estimates of ∂/∂μ, L = {L} each"),
                        width="stretch")
        v = c_grad_var(f_name, mu, sigma, 200, seed)
        st.plotly_chart(TF.gradient_variance(v["Ls"], v["var_reparam"], v["var_score"],
                                             title="variance of each estimator against L (200 repeats each)"),
                        width="stretch")
        ratio = v["var_score"][:, 0] / v["var_reparam"][:, 0]
        st.caption(f"Both are unbiased and their variance falls like 1/L; for this f the score function's "
                   f"variance of ∂/∂μ is {fmt(float(np.median(ratio)), 3)}× the reparameterised one's "
                   "(median over L). The reparameterised estimator uses f′, the score function only f: "
                   "that is why VAEs use the trick.")


# ----------------------------------------------------- Monte Carlo with L

def section_mc() -> None:
    st.subheader("Section 5: Monte Carlo with L samples")
    st.latex(r"-E_{z\sim q_\phi(z|x)}\log p_\theta(x|z)\approx-\frac1L\sum_{l=1}^{L}\log p_\theta(x|z^l),"
             r"\qquad z^l=\mu_\phi(x)+\epsilon^l\odot\Sigma_\phi^{1/2}(x)")
    st.markdown("The reconstruction term is an average over L draws of z; the KL term (eq. 14) is exact. So "
                "the loss the optimiser sees is random, and its spread shrinks like 1/√L. Training uses "
                "L = 1: a noisy but unbiased estimate, averaged out over many steps.")
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        run = pick_vae("mc_model")
    if run is None:
        return
    with c2:
        n = st.slider("Images in the batch", 1, 64, 16, key="mc_n")
    with c3:
        repeats = st.slider("Draws of the loss per L", 5, 100, 20, key="mc_repeats")
    with c4:
        seed = seed_input("mc_seed")
    with common.friendly_errors("Could not estimate the spread"):
        r = c_spread(str(run.path), n, repeats, seed)
        st.plotly_chart(TF.loss_spread(r["Ls"], r["std"],
                                       title=f"spread of the loss on a batch of {n}, {repeats} draws per L"),
                        width="stretch")
        st.dataframe(pd.DataFrame({"L": r["Ls"], "mean of the draws": r["mean"], "std of the draws": r["std"],
                                   "std × √L (flat if ∝ 1/√L)": r["std_sqrt_L"]}),
                     hide_index=True, width="stretch")
        st.caption(f"The KL term is the same in every draw ({fmt(r['kl'], 5)} nats per image): all of the "
                   "spread comes from the reconstruction term's Monte Carlo estimate.")


for tab, body in zip(tabs, (section_ae_vae, section_kl, section_lemma, section_elbo, section_reparam,
                            section_mc)):
    with tab:
        if tab.open:
            body()
