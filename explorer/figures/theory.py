"""Figures of the Theory page (plotly): plain arrays in, ``go.Figure`` out.

They change only on a user action (a slider, a number), so plotly's remount on
update is fine here. Every builder is called directly by the theory tests (tests/test_theory*.py).
Infinite values (a KL of ∞) are not drawn as bars; they are marked "∞".
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..analysis.theory.kl import ellipse
from .common import image_grid, upscale

BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#D55E00", "#2ca02c", "#d62728", "#7f7f7f"   # >= 3:1 on white
MIN_SPAN = 1.0      # nats: the smallest y range of a bound curve


def _layout(fig: go.Figure, title: str = "", height: int = 380, **kw) -> go.Figure:
    """Shared look: white background, the title on top, the legend under the plot
    (above it, legends collide with titles)."""
    fig.update_layout(title=title or None, height=height + 60, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), **kw)
    fig.update_xaxes(gridcolor="#eee", zeroline=False)
    fig.update_yaxes(gridcolor="#eee", zeroline=False)
    return fig


def _finite_or_nan(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan)


def _band(x, lo, hi, color: str, name: str) -> go.Scatter:
    """A filled band between ``lo`` and ``hi`` (one closed polygon)."""
    x = np.asarray(x, dtype=np.float64)
    return go.Scatter(x=np.concatenate([x, x[::-1]]),
                      y=np.concatenate([np.asarray(hi, np.float64), np.asarray(lo, np.float64)[::-1]]),
                      fill="toself", fillcolor=color, line=dict(width=0), hoverinfo="skip", name=name)


# ------------------------------------------------------------- eq. 3

def discrete_kl_bars(p, q, terms_pq, terms_qp, labels=None) -> go.Figure:
    """Left: P and Q side by side. Right: the summands P(x) log(P(x)/Q(x)) of KL(P||Q)
    and of KL(Q||P) per outcome (some are negative; the sums are not). ∞ summands are marked."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    labels = [str(x) for x in (labels if labels is not None else range(1, len(p) + 1))]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("the distributions",
                                                        "summands of eq. 3, per outcome"))
    fig.add_trace(go.Bar(x=labels, y=p, name="P", marker_color=BLUE), 1, 1)
    fig.add_trace(go.Bar(x=labels, y=q, name="Q", marker_color=ORANGE), 1, 1)
    for terms, name, color in ((terms_pq, "KL(P‖Q) summand", GREEN), (terms_qp, "KL(Q‖P) summand", RED)):
        t = np.asarray(terms, np.float64)
        fig.add_trace(go.Bar(x=labels, y=_finite_or_nan(t), name=name, marker_color=color), 1, 2)
        for lab, v in zip(labels, t):
            if np.isinf(v):
                fig.add_annotation(x=lab, y=0, text="∞", showarrow=False, yshift=12,
                                   font=dict(color=color, size=18), row=1, col=2)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text="outcome x")
    fig.update_yaxes(title_text="probability", row=1, col=1)
    fig.update_yaxes(title_text="nats", row=1, col=2)
    _layout(fig, height=360)
    fig.update_layout(margin=dict(t=40))           # room for the subplot titles
    return fig


# --------------------------------------------------------- Lemma 1

def gaussian_ellipses(gaussians: list[dict], nsig=(1.0, 2.0), title: str = "",
                      axis_titles=("x₁", "x₂"), height: int = 420) -> go.Figure:
    """Each Gaussian ``{"mu", "cov", "name", "color", "width"}`` (colour and line width
    optional) drawn as its 1σ and 2σ contours
    (``(x−μ)ᵀΣ⁻¹(x−μ) = 1, 4``) and its mean; equal axis scales."""
    fig = go.Figure()
    for g in gaussians:
        color = g.get("color", BLUE)
        width = g.get("width", 2)
        for i, s in enumerate(nsig):
            ex, ey = ellipse(g["mu"], g["cov"], s)
            fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", name=g["name"], legendgroup=g["name"],
                                     showlegend=(i == 0), hoverinfo="skip",
                                     line=dict(color=color, width=width if i == 0 else max(1, width / 2),
                                               dash="solid" if i == 0 else "dot")))
        mu = np.asarray(g["mu"], np.float64)
        fig.add_trace(go.Scatter(x=mu[:1], y=mu[1:2], mode="markers", legendgroup=g["name"],
                                 showlegend=False, marker=dict(color=color, size=9, symbol="x"),
                                 name=f"mean of {g['name']}"))
    _layout(fig, title, height)
    fig.update_xaxes(title_text=axis_titles[0])
    fig.update_yaxes(title_text=axis_titles[1], scaleanchor="x", scaleratio=1)
    return fig


def two_gaussians(mu1, cov1, mu2, cov2, title: str = "1σ (solid) and 2σ (dotted) contours") -> go.Figure:
    """Lemma 1's p = N(μ₁, Σ₁) and q = N(μ₂, Σ₂) as contours (:func:`gaussian_ellipses`)."""
    return gaussian_ellipses([{"mu": mu1, "cov": cov1, "name": "p = N(μ₁, Σ₁)", "color": BLUE},
                              {"mu": mu2, "cov": cov2, "name": "q = N(μ₂, Σ₂)", "color": ORANGE}], title=title)


def encoder_and_posterior(r: dict, title: str = "posterior and encoder in the latent plane") -> go.Figure:
    """The exact posterior p(z|x) (wide grey) and the encoder q(z|x) (blue) of :func:`elbo_check`."""
    return gaussian_ellipses([
        {"mu": r["post_mean"], "cov": r["post_cov"], "name": "p(z|x), exact", "color": "#bbbbbb", "width": 6},
        {"mu": r["q_mean"], "cov": r["q_cov"], "name": "q(z|x), the encoder", "color": BLUE}],
        title=title, axis_titles=("z₁", "z₂"))


def mc_convergence(n, mean, se, closed: float, title: str = "",
                   ylabel: str = "estimate (nats)", closed_name: str = "closed form (eq. 5)") -> go.Figure:
    """The running Monte Carlo mean against the sample count (log axis), a ±2 SE band,
    and the closed form as a horizontal line."""
    n = np.asarray(n, np.float64)
    mean = np.asarray(mean, np.float64)
    se = np.asarray(se, np.float64)
    fig = go.Figure()
    fig.add_trace(_band(n, mean - 2 * se, mean + 2 * se, "rgba(31,119,180,0.18)", "±2 SE"))
    fig.add_trace(go.Scatter(x=n, y=mean, mode="lines", name="Monte Carlo running mean",
                             line=dict(color=BLUE, width=2)))
    fig.add_trace(go.Scatter(x=n[[0, -1]], y=[closed, closed], mode="lines", name=closed_name,
                             line=dict(color=RED, dash="dash", width=2)))
    _layout(fig, title)
    fig.update_xaxes(type="log", title_text="samples n")
    fig.update_yaxes(title_text=ylabel)
    return fig


# ------------------------------------------------------------- ELBO

def elbo_sweep(shift, elbo, elbo_se, kl_post, log_px: float, current: float | None = None,
               title: str = "") -> go.Figure:
    """As the encoder's mean moves: log p(x) (flat), the ELBO (Monte Carlo, ±2 SE) and
    log p(x) − KL(q‖p(z|x)) (eq. 12: they coincide); the gap is the KL."""
    shift = np.asarray(shift, np.float64)
    elbo = np.asarray(elbo, np.float64)
    se = np.asarray(elbo_se, np.float64)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=shift, y=np.full_like(shift, log_px), mode="lines", name="log p(x), exact",
                             line=dict(color="black", width=2)))
    fig.add_trace(_band(shift, elbo - 2 * se, elbo + 2 * se, "rgba(31,119,180,0.18)", "ELBO ±2 SE"))
    fig.add_trace(go.Scatter(x=shift, y=elbo, mode="lines", name="ELBO (Monte Carlo)",
                             line=dict(color=BLUE, width=2)))
    fig.add_trace(go.Scatter(x=shift, y=log_px - np.asarray(kl_post, np.float64), mode="lines",
                             name="log p(x) − KL(q‖p(z|x)), exact", line=dict(color=RED, dash="dash")))
    if current is not None:
        fig.add_vline(x=float(current), line=dict(color=GREY, dash="dot"))
    _layout(fig, title)
    fig.update_xaxes(title_text="shift of the encoder's mean along z₁")
    fig.update_yaxes(title_text="nats")
    return fig


def bound_curve(ks, mean, se, log_px: float | None = None, title: str = "",
                name: str = "IWAE-k", spread=None) -> go.Figure:
    """IWAE-k against k (log axis) with a ±2 SE band; k = 1 (the ELBO) as a dotted line;
    the exact log p(x) when it is known; optionally ``spread = (lo, hi)``, a lighter band
    where single estimates fall. The y axis spans at least ``MIN_SPAN`` nats."""
    ks = np.asarray(ks, np.float64)
    mean = np.asarray(mean, np.float64)
    se = np.asarray(se, np.float64)
    fig = go.Figure()
    if spread is not None:
        fig.add_trace(_band(ks, spread[0], spread[1], "rgba(31,119,180,0.07)", "single estimates, 5–95 %"))
    fig.add_trace(_band(ks, mean - 2 * se, mean + 2 * se, "rgba(31,119,180,0.25)", "mean ±2 SE"))
    fig.add_trace(go.Scatter(x=ks, y=mean, mode="lines+markers", name=name, line=dict(color=BLUE, width=2)))
    fig.add_trace(go.Scatter(x=ks[[0, -1]], y=[mean[0], mean[0]], mode="lines", name="ELBO (k = 1)",
                             line=dict(color=GREY, dash="dot")))
    shown = np.concatenate([mean - 2 * se, mean + 2 * se] + ([np.array([log_px])] if log_px is not None else []))
    if log_px is not None:
        fig.add_trace(go.Scatter(x=ks[[0, -1]], y=[log_px, log_px], mode="lines", name="log p(x), exact",
                                 line=dict(color="black", width=2)))
    _layout(fig, title)
    lo, hi = np.nanmin(shown), np.nanmax(shown)
    if np.isfinite(lo) and np.isfinite(hi) and hi - lo < MIN_SPAN:     # all equal: no magnified rounding noise
        mid = 0.5 * (lo + hi)
        fig.update_yaxes(range=[mid - MIN_SPAN / 2, mid + MIN_SPAN / 2])
    fig.update_xaxes(type="log", title_text="k (importance samples)")
    fig.update_yaxes(title_text="nats per image")
    return fig


# ------------------------------------------------------------ images

def reconstruction_grids(r: dict, n: int = 16, ncol: int = 4, width: int = 160) -> list[tuple[np.ndarray, str]]:
    """The batch, the autoencoder's and the VAE's reconstructions (:func:`ae_vs_vae`'s
    ``x``, ``ae_recon``, ``vae_recon``): the first ``n`` of each tiled ``ncol`` wide and
    enlarged to about ``width`` pixels per image, with a caption each."""
    h, w = np.asarray(r["x"]).shape[-2:]
    k = max(1, width // max(h, w))
    return [(upscale(image_grid(np.asarray(r[key])[:n], ncol=ncol), k), cap)
            for key, cap in (("x", "the batch x"), ("ae_recon", "autoencoder: f_θ(g_φ(x))"),
                             ("vae_recon", "VAE: mean of p(x | z = μ_φ(x))"))]


# ---------------------------------------------------- reparameterisation

def function_and_density(z, f, q, name: str, title: str = "") -> go.Figure:
    """f(z) (left axis) and the density q(z) = N(μ, σ²) it is averaged under (right axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=np.asarray(z), y=np.asarray(f), mode="lines", name=f"f(z) = {name}",
                             line=dict(color=BLUE, width=2)), secondary_y=False)
    fig.add_trace(go.Scatter(x=np.asarray(z), y=np.asarray(q), mode="lines", name="q(z)",
                             fill="tozeroy", line=dict(color=ORANGE)), secondary_y=True)
    _layout(fig, title, 300)
    fig.update_xaxes(title_text="z")
    fig.update_yaxes(title_text="f(z)", secondary_y=False)
    fig.update_yaxes(title_text="q(z)", secondary_y=True, showgrid=False)
    return fig


def gradient_variance(Ls, var_reparam, var_score, title: str = "") -> go.Figure:
    """Variance of the two gradient estimators against L, log-log: ∂/∂μ solid, ∂/∂σ dashed,
    and a 1/L reference line. ``var_*`` are [len(Ls), 2]."""
    Ls = np.asarray(Ls, np.float64)
    vr, vs = np.asarray(var_reparam, np.float64), np.asarray(var_score, np.float64)
    fig = go.Figure()
    for v, name, color in ((vr, "reparameterised", BLUE), (vs, "score function", RED)):
        for j, (wrt, dash) in enumerate((("μ", "solid"), ("σ", "dash"))):
            fig.add_trace(go.Scatter(x=Ls, y=_positive(v[:, j]), mode="lines+markers",
                                     name=f"{name}, ∂/∂{wrt}", line=dict(color=color, dash=dash)))
    ref0 = np.nanmax(_positive(np.concatenate([vr[0], vs[0]])))
    if np.isfinite(ref0):
        fig.add_trace(go.Scatter(x=Ls, y=ref0 / Ls * Ls[0], mode="lines", name="∝ 1/L",
                                 line=dict(color=GREY, dash="dot", width=1)))
    _layout(fig, title)
    fig.update_xaxes(type="log", title_text="L (samples per estimate)")
    fig.update_yaxes(type="log", title_text="variance of the estimate")
    return fig


def _positive(a) -> np.ndarray:
    """Values that a log axis can show (others become gaps)."""
    a = np.asarray(a, np.float64)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def estimator_histogram(reparam, score, exact: float, wrt: str = "μ", title: str = "") -> go.Figure:
    """Many single estimates of ∂/∂``wrt`` E_q f from each estimator, overlaid, with the exact value."""
    fig = go.Figure()
    r, s = np.asarray(reparam, np.float64), np.asarray(score, np.float64)
    fig.add_trace(go.Histogram(x=r, name="reparameterised", marker_color=BLUE, opacity=0.6))
    fig.add_trace(go.Histogram(x=s, name="score function", marker_color=RED, opacity=0.5))
    fig.add_vline(x=float(exact), line=dict(color="black", width=2))
    fig.update_layout(barmode="overlay")
    _layout(fig, title, 300)
    fig.update_xaxes(title_text=f"estimate of ∂/∂{wrt} E_q f(z) (black: exact)")
    fig.update_yaxes(title_text="count")
    return fig


def loss_spread(Ls, std, title: str = "") -> go.Figure:
    """The standard deviation of the Monte Carlo loss estimate against L, log-log, with a
    1/√L reference through L = 1."""
    Ls = np.asarray(Ls, np.float64)
    std = np.asarray(std, np.float64)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=Ls, y=_positive(std), mode="lines+markers", name="spread of the loss estimate",
                             line=dict(color=BLUE, width=2)))
    fig.add_trace(go.Scatter(x=Ls, y=std[0] * np.sqrt(Ls[0] / Ls), mode="lines", name="∝ 1/√L",
                             line=dict(color=GREY, dash="dot")))
    _layout(fig, title)
    fig.update_xaxes(type="log", title_text="L (samples of z per image)")
    fig.update_yaxes(type="log", title_text="std of the batch loss (nats)")
    return fig
