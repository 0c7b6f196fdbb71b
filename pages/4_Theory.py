"""Theory: the seed (shared/seed, "Variational Autoencoders", Allen C., 2023) section by section,
each statement beside a live check. Widgets in, view-model, figures out: numbers from
``explorer.analysis.theory`` (which calls ``explorer.objective``), what is said about them from
``theory.views``, figures from ``explorer.figures.theory``, equations with the seed's numbers,
prose and slips through the page's pieces (``explorer.ui.theory``: ``eq``, ``say``, ``formula``;
each of the seed's slips is an expander where it occurs). Tabs are lazy (only the open one
computes) and bound to the URL (``?section=ELBO``).
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis import theory
from explorer.analysis.theory import models as theory_models
from explorer.analysis.theory import slips as theory_slips
from explorer.analysis.theory import views as theory_views
from explorer.figures import theory as theory_figures
from explorer.ui import common
from explorer.ui.theory import (c_ae_vs_vae, c_elbo, c_grad_summary, c_grad_var, c_half, c_iwae_exact,
                                c_mc_kl, c_sweep, chart, eq, formula, metrics, on_trained_vae, pick_vae, say,
                                seed_input, show, slip)


st.title("Theory: the mathematics of a VAE note, checked")
say("intro")
with st.expander(f"✏️ The note's {len(theory_slips.SLIPS)} slips, from typos to wrong signs (each is shown again "
                 f"where it occurs)"):
    st.markdown(theory_slips.overview_markdown())

tabs = st.tabs(list(theory_slips.TABS), key="section", bind="query-params")


# ------------------------------------------------------- 1-2 AE vs VAE

def section_ae_vae() -> None:
    st.subheader("Sections 1–2: the autoencoder and the variational autoencoder")
    st.markdown("**Autoencoder**, eq. 1: a squared error between X and X̂ = f_θ(g_φ(X)).")
    eq(1, "S01", "S02")
    st.markdown("**VAE**, eq. 2: a reconstruction term and a KL term that pulls q_φ(z|x) towards the prior p(z).")
    eq(2, "S03")
    say("ae.terms", "S32", "S33")
    pairs = dict((v.run_id, (v, a)) for v, a in theory_models.paired_runs())
    if not pairs:
        st.warning("This needs a shipped VAE and a shipped autoencoder trained on the same data "
                   "(trained/digits-vae-z2-b1 and trained/digits-ae-z2).")
        return
    c = st.columns(4)
    vae_run, ae_run = pairs[pick_vae("ae_model", "VAE (shipped)", [v for v, _ in pairs.values()], c[0]).run_id]
    n = c[1].slider("Images in the batch", 4, 64, 16, key="ae_n")
    L = c[2].slider("L, samples of z per image", 1, 50, 1, key="ae_L")
    seed = seed_input("ae_seed", c[3])
    st.caption(f"The same {n} validation images go through **{vae_run.config.name}** and **{ae_run.config.name}**.")
    with common.friendly_errors("Could not compute the losses"):
        r = c_ae_vs_vae(str(vae_run.path), str(ae_run.path), n, L, seed)
        view = theory_views.ae_vae_view(r, L)
        for col, who, key in zip(st.columns(2), ("Autoencoder", "VAE"), ("ae", "vae")):
            col.markdown(f"##### {who}")
            metrics(view[key], col)
            if view[f"{key}_caption"]:
                col.caption(view[f"{key}_caption"])
        for col, (img, cap) in zip(st.columns(3), theory_figures.reconstruction_grids(r)):
            col.image(img, caption=cap, clamp=True, alt=f"A grid of images: {cap}.")


# --------------------------------------------------------- 4 KL divergence

def section_kl() -> None:
    st.subheader("Section 4: the Kullback–Leibler divergence")
    eq(3)
    say("kl.discrete", "S04", "S05")
    c1, c2 = st.columns(2)
    p_text = c1.text_input("P: weights (normalised for you)", "1, 2, 3, 4", key="kl_p",
                           help="Any non-negative numbers separated by commas, e.g. 1, 2, 3, 4.")
    q_text = c2.text_input("Q: weights (normalised for you)", "2, 2, 5, 1", key="kl_q",
                           help="Try a 0 in Q where P is positive, Q equal to P, or P = 1, 4 and Q = 4, 1.")
    try:
        r = theory.discrete_kl(theory.parse_weights(p_text, "P"), theory.parse_weights(q_text, "Q"))
    except ValueError as e:
        st.error(str(e))
        return
    show(theory_views.kl_view(r))
    chart(theory_figures.discrete_kl_bars(r["p"], r["q"], r["terms_pq"], r["terms_qp"]))


# --------------------------------------------------------------- Lemma 1

def gaussian_inputs(tag: str, label: str, defaults, box) -> tuple:
    box.markdown(f"**{label}**")
    v = [c.number_input(name, lo, hi, d, step, format="%g", key=f"{tag}_{k}")
         for c, (k, name, lo, hi, step), d in zip(box.columns(5), theory.GAUSSIAN_FIELDS, defaults)]
    return (v[0], v[1]), v[2], v[3], v[4]


def section_lemma() -> None:
    st.subheader("Section 4, Lemma 1: the KL divergence between two Gaussians")
    eq(4, "S06")
    eq(5)
    say("lemma.inputs")
    c1, c2 = st.columns(2)
    p_in = gaussian_inputs("p", "p = N(μ₁, Σ₁)", (0.5, 0.0, 0.8, 1.2, 0.6), c1)
    q_in = gaussian_inputs("q", "q = N(μ₂, Σ₂)", (1.5, -0.5, 1.5, 0.7, -0.3), c2)
    c1, c2 = st.columns(2)
    n = int(c1.number_input("Monte Carlo samples n", 10, theory.MC_MAX, 10_000, 1000, key="l1_n"))
    seed = seed_input("l1_seed", c2)
    try:
        mu1, cov1, mu2, cov2, notes = theory.two_gaussians_2d(p_in, q_in)
        args = (mu1, cov1, mu2, cov2, n, seed)
    except ValueError as e:
        st.error(str(e))
        args, notes = None, []
    show({"notes": notes})
    if args:
        with common.friendly_errors("Could not compute the KL divergence"):
            r = c_mc_kl(*args)
            metrics(theory_views.lemma_view(r, n))
            c1, c2 = st.columns(2)
            chart(theory_figures.two_gaussians(mu1, cov1, mu2, cov2), c1)
            chart(theory_figures.mc_convergence(r["n"], r["mean"], r["se_curve"], r["closed"],
                                                title="Monte Carlo converging on eq. 5"), c2)
            st.caption(f"The other direction, KL(q‖p) = {theory_views.fmt(theory.kl_lemma1(mu2, cov2, mu1, cov1), 6)} (eq. 5 "
                       "with the roles swapped): asymmetry again.")

    st.markdown("##### The proof (eq. 6 and after), one step checked")
    formula("proof_step", "S07", "S08", "S09")
    if args:
        with common.friendly_errors("Could not check the proof step"):
            show(theory_views.half_view(c_half(*args)))

    st.markdown("##### Against the prior N(0, I), with a diagonal covariance: the KL term of eq. 14")
    slip("S14", "S15", "S16", "S17", "S18", "S19")
    formula("kl_diag")
    eq(14)
    if args:
        st.markdown("With p's means μ₁ and standard deviations, ρ set to 0, and q = N(0, I):")
        logvar = 2.0 * np.log(p_in[1:3])
        show(theory_views.diagonal_view(theory.diagonal_vs_eq14(mu1, logvar), mu1, logvar))


# ------------------------------------------------------------------ ELBO

def section_elbo() -> None:
    st.subheader("Sections 4–5: the evidence lower bound (eq. 7–13, 15)")
    say("elbo.bayes")
    eq(7, "S10")
    st.markdown("so a tractable q_φ(z|x) approximates p(z|x), and the KL divergence measures how far it is:")
    eq(9, "S11")
    st.markdown("Substituting eq. 7 into eq. 9 and rearranging (eq. 10, 11) gives")
    eq(12, "S12")
    say("elbo.bound")
    eq(13, "S13")
    slip("S20", "S21", "S22")
    eq(15, "S23")

    st.markdown("#### A model where log p(x) is exact")
    formula("linear_model")
    say("elbo.encoder")
    c1, c2, c3 = st.columns(3)
    d1, d2, g1, g2 = [col.slider(label, lo, hi, 0.0, step, key=f"elbo_{key}", help=tip)
                      for col, (key, label, lo, hi, step, tip) in zip((c1, c1, c2, c2),
                                                                      theory.ENCODER_SLIDERS)]
    x_seed = int(c3.number_input("data point x (seed)", 0, 1000, 0, key="elbo_x"))
    samples = int(c3.number_input("Monte Carlo samples for the ELBO", 100, 100_000, 20_000, 1000, key="elbo_samples"))
    shift, scale = (d1, d2), (10.0 ** g1, 10.0 ** g2)
    with common.friendly_errors("Could not compute the ELBO"):
        r = c_elbo(x_seed, shift, scale, samples)
        show(theory_views.elbo_view(r))
        c1, c2 = st.columns(2)
        chart(theory_figures.encoder_and_posterior(r), c1)
        sw = c_sweep(x_seed, d2, scale)
        chart(theory_figures.elbo_sweep(sw["shift"], sw["elbo"], sw["elbo_se"], sw["kl_post"], sw["log_px"],
                                        current=d1, title="the gap is KL(q ‖ p(z|x))"), c2)
        say("elbo.iwae")
        formula("iwae")
        iw = c_iwae_exact(x_seed, shift, scale)
        chart(theory_figures.bound_curve(iw["ks"], iw["mean"], iw["se"], log_px=iw["log_px"],
                                         spread=(iw["lo"], iw["hi"]),
                                         title=f"IWAE-k on the exact model, {iw['draws']:,} independent estimates per k"))
        st.caption(theory_views.iwae_exact_caption(iw))

    st.markdown("#### A trained VAE: the gap closing")
    got = on_trained_vae("iwae", "Images", (4, 64, 16), lambda box: box.select_slider(
        "largest k", [k for k in theory.IWAE_KS if k >= 10], 1000, key="iwae_kmax"),
        "iwae_curve", lambda kmax, seed: ([k for k in theory.IWAE_KS if k <= kmax], seed, 250, 100),
        "compute the bounds")
    if got:
        iw, run, n, _ = got
        chart(theory_figures.bound_curve(iw["ks"], iw["mean"], iw["se"],
                                         title=f"ELBO and IWAE-k on {n} validation images of {run.config.name}"))
        show(theory_views.iwae_vae_view(iw))


# ------------------------------------------------------ 5 reparameterisation

def section_reparam() -> None:
    st.subheader("Section 5: optimising the loss, and the reparameterisation trick")
    formula("updates", "S24")
    st.markdown("#### The θ-gradient")
    formula("theta_grad", "S25")
    got = on_trained_vae("theta", "Images", (4, 64, 16), lambda box: box.slider("L", 1, 20, 1, key="theta_L"),
                         "theta_gradient_sign", lambda L, seed: (L, seed), "differentiate the loss")
    if got:
        show(theory_views.theta_view(got[0]))

    st.markdown("#### The φ-gradient: why the trick")
    formula("grad_exchange", "S26", "S27")
    formula("reparam", "S28", "S29", "S30")
    say("reparam.three")
    formula("score")
    c1, c2, c3 = st.columns(3)
    f_name = c1.selectbox("f(z)", list(theory.TEST_FUNCTIONS), key="rp_f")
    L = c1.select_slider("L, samples per estimate", list(theory.GRAD_LS), 10, key="rp_L")
    mu = c2.slider("μ", -3.0, 3.0, 0.5, 0.05, key="rp_mu")
    sigma = c2.slider("σ", 0.05, 3.0, 1.0, 0.05, key="rp_sigma")
    repeats = c3.slider("repeats (estimates drawn)", 50, 2000, 500, 50, key="rp_repeats")
    seed = seed_input("rp_seed", c3)
    with common.friendly_errors("Could not estimate the gradients"):
        s = c_grad_summary(f_name, mu, sigma, L, repeats, seed)
        show({"table": theory_views.gradient_table(s, repeats)})
        d = theory.function_and_density(f_name, mu, sigma)
        c1, c2 = st.columns(2)
        chart(theory_figures.function_and_density(d["z"], d["f"], d["q"], f_name, title="f and q"), c1)
        chart(theory_figures.estimator_histogram(s["reparam"][:, 0], s["score"][:, 0], s["exact"][0],
                                                 title=f"{repeats} estimates of ∂/∂μ, L = {L} each"), c2)
        v = c_grad_var(f_name, mu, sigma, theory.GRAD_LS, 200, seed)
        chart(theory_figures.gradient_variance(v["Ls"], v["var_reparam"], v["var_score"],
                                               title="variance of each estimator against L (200 repeats each)"))
        st.caption(theory_views.variance_caption(theory.variance_ratio(v["var_score"], v["var_reparam"]),
                                                 200))


# ----------------------------------------------------- Monte Carlo with L

def section_mc() -> None:
    st.subheader("Section 5: Monte Carlo with L samples")
    formula("mc_recon", "S31")
    say("mc.why")
    got = on_trained_vae("mc", "Images in the batch", (1, 64, 16),
                         lambda box: box.slider("Draws of the loss per L", 5, 100, 20, key="mc_repeats"),
                         "loss_spread", lambda repeats, seed: (theory.LOSS_LS, repeats, seed),
                         "estimate the spread")
    if got:
        r, _, n, repeats = got
        chart(theory_figures.loss_spread(r["Ls"], r["std"],
                                         title=f"spread of the loss on a batch of {n}, {repeats} draws per L"))
        show(theory_views.spread_view(r))


for tab, body in zip(tabs, (section_ae_vae, section_kl, section_lemma, section_elbo, section_reparam, section_mc)):
    with tab:
        if tab.open:
            body()
