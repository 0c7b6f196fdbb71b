"""Figures of the β lab: one run per β, side by side (plotly; static per rerun).

- :func:`image_columns`: the same validation images and their reconstructions, or
  prior samples, one column per β.
- :func:`blur_figure`: edge strength of reconstructions and samples against β, beside
  the data's own.
- :func:`train_val_figure`: training vs validation ELBO, reconstruction and KL against
  β, and the generalisation gap (overfitting).
- :func:`rd_figure`: the rate–distortion plane (KL = rate, recon = distortion) with
  iso-ELBO lines and each run's β-slope line; training and validation points joined.
- :func:`active_units_figure`: active units and the per-dimension KL against β.
- :func:`latent_grid`: small multiples of the posterior means with the prior's circles.
- :func:`numbers_table`: every number above in one table.

β values are placed evenly along the x-axes (0, 0.1, 0.5, 1, … are categories, not to
scale). Every number is per image, in nats, as in ``summary.json``.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..analysis import rd
from ..analysis import sweep as S
from .common import class_color, image_grid, to_hw, upscale
from .latent import prior_circles

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"
RECON_COLOR, SAMPLE_COLOR, DATA_COLOR = "#2ca02c", "#9467bd", "#555555"


def beta_label(beta: float) -> str:
    return f"β={beta:g}"


def beta_colors(n: int) -> list[str]:
    """One colour per run, from small β (dark blue) to large β (yellow): Viridis."""
    if n <= 1:
        return sample_colorscale("Viridis", [0.0])
    return sample_colorscale("Viridis", list(np.linspace(0.0, 0.9, n)))


def _cats(points) -> list[str]:
    return [f"{p.beta:g}" for p in points]


# ----------------------------------------------------------- image columns

def _column_image(images, target_px: int = 56) -> np.ndarray:
    """Images stacked in one column, enlarged (nearest neighbour) to about ``target_px``
    pixels tall each, as an RGB uint8 array for ``go.Image``."""
    imgs = np.asarray(images)
    h = to_hw(imgs[0]).shape[0]
    factor = max(1, int(round(target_px / h)))
    grid = image_grid(np.stack([upscale(to_hw(im), factor) for im in imgs]), ncol=1, pad=2)
    if grid.ndim == 2:
        grid = np.repeat(grid[:, :, None], 3, axis=2)
    return (np.clip(grid, 0, 1) * 255).astype(np.uint8)


def image_columns(columns: list[tuple[str, np.ndarray]], *, title: str = "",
                  target_px: int = 56) -> go.Figure:
    """One column of images per entry of ``columns`` (``(heading, images [n, ...])``),
    e.g. the validation images, then their reconstructions at each β."""
    if not columns:
        raise ValueError("image_columns needs at least one column")
    n = len(columns)
    fig = make_subplots(rows=1, cols=n, subplot_titles=[c[0] for c in columns],
                        horizontal_spacing=0.01)
    height = 0
    for i, (_, images) in enumerate(columns, start=1):
        arr = _column_image(images, target_px)
        height = max(height, arr.shape[0])
        fig.add_trace(go.Image(z=arr, hoverinfo="skip"), row=1, col=i)
        fig.update_xaxes(visible=False, row=1, col=i)
        fig.update_yaxes(visible=False, row=1, col=i)
    fig.update_annotations(font_size=12)
    fig.update_layout(title=title or None, height=min(1100, height + (90 if title else 60)),
                      margin=dict(l=5, r=5, t=70 if title else 40, b=5), plot_bgcolor="white")
    return fig


# ----------------------------------------------------------- blur

def blur_figure(betas, edge_recon, edge_samples, data_edge: float) -> go.Figure:
    """Mean edge strength (gradient magnitude) of reconstructions and prior samples at each
    β, with the data's own as a dashed line: the further below it, the blurrier."""
    cats = [f"{b:g}" for b in betas]
    er, es = np.asarray(edge_recon, float), np.asarray(edge_samples, float)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=cats, y=np.full(len(cats), data_edge), mode="lines", name="data",
                             line=dict(color=DATA_COLOR, dash="dash")))
    for y, name, color in ((er, "reconstructions", RECON_COLOR), (es, "prior samples", SAMPLE_COLOR)):
        blur = 1 - y / data_edge
        fig.add_trace(go.Scatter(
            x=cats, y=y, mode="lines+markers", name=name, line=dict(color=color),
            customdata=np.stack([blur * 100], 1),
            hovertemplate="β=%{x}<br>edge strength %{y:.3f}<br>blur score %{customdata[0]:.0f}%"
                          f"<extra>{name}</extra>"))
    lo = float(min(er.min(), es.min(), data_edge))
    hi = float(max(er.max(), es.max(), data_edge))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      title="Edge strength (mean gradient magnitude): lower = blurrier",
                      xaxis=dict(title="β", type="category", gridcolor="#eee"),
                      yaxis=dict(title="mean |∇x| per pixel", gridcolor="#eee",
                                 range=[max(0.0, lo * 0.85), hi * 1.08]),
                      legend=dict(orientation="h", y=-0.25))
    return fig


# ----------------------------------------------------------- train vs validation

def train_val_figure(points) -> go.Figure:
    """Training and validation ELBO, reconstruction and KL against β, and the gap:
    train ELBO − validation ELBO (overfitting: the model does better on the images it
    was trained on)."""
    pts = S.sort_points(points)
    cats = _cats(pts)
    fig = make_subplots(rows=1, cols=4, horizontal_spacing=0.06, subplot_titles=(
        "ELBO (higher is better)", "reconstruction −log p(x|z)", "KL(q(z|x) ‖ p(z))",
        "gap: train − validation ELBO"))
    for col, key in enumerate(("elbo", "recon", "kl"), start=1):
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            name = "training" if split == "train" else "validation"
            fig.add_trace(go.Scatter(x=cats, y=S.series(pts, split, key), mode="lines+markers",
                                     name=name, legendgroup=split, showlegend=(col == 1),
                                     line=dict(color=color),
                                     hovertemplate=f"β=%{{x}}<br>{name} {key} %{{y:.2f}} nats"
                                                   "<extra></extra>"),
                          row=1, col=col)
    gap = S.series(pts, "gap", "elbo")
    fig.add_trace(go.Bar(x=cats, y=gap, name="gap (ELBO)", marker_color="#ff7f0e",
                         hovertemplate="β=%{x}<br>gap %{y:.2f} nats<extra></extra>"), row=1, col=4)
    fig.update_xaxes(title_text="β", type="category", gridcolor="#eee")
    fig.update_yaxes(gridcolor="#eee")
    fig.update_yaxes(title_text="nats per image", row=1, col=1)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      legend=dict(orientation="h", y=-0.25))
    return fig


# ----------------------------------------------------------- rate–distortion

def _padded(lo: float, hi: float, pad: float = 0.08) -> tuple[float, float]:
    span = hi - lo if hi > lo else 1.0
    return lo - pad * span, hi + pad * span


RATE_FLOOR = 0.05   # log rate axis: a collapsed run's KL ≈ 0 is drawn at this many nats


def rd_figure(points, n_iso: int = 6, *, log_rate: bool = False) -> go.Figure:
    """The rate–distortion plane: x = KL (rate), y = recon (distortion), per image in nats.

    Each run is a training point (open circle) joined to its validation point (filled).
    Grey dotted lines: iso-ELBO lines recon + KL = c (slope −1; lower-left is a better
    ELBO). Coloured dashed segments: each run's β-slope line recon + β·KL = const through
    its training point (slope −β): the run minimised exactly this on its training images.
    ``log_rate`` puts the rate on a log axis (the lines then curve), which spreads runs
    whose KL differ by orders of magnitude."""
    pts = S.sort_points(points)
    colors = beta_colors(len(pts))
    r_all = np.concatenate([S.series(pts, s, "kl") for s in ("train", "val")])
    d_all = np.concatenate([S.series(pts, s, "recon") for s in ("train", "val")])
    yr = _padded(float(d_all.min()), float(d_all.max()))
    if log_rate:
        r_all = np.maximum(r_all, RATE_FLOOR)
        lo, hi = np.log10(r_all.min()), np.log10(r_all.max())
        lo, hi = _padded(lo, hi if hi > lo else lo + 1)
        xr = (float(lo), float(hi))                       # plotly log ranges are in log10
        rates = np.logspace(lo, hi, 80)
    else:
        xr = _padded(min(0.0, float(r_all.min())), float(r_all.max()))
        rates = np.linspace(xr[0], xr[1], 2)
    fig = go.Figure()
    for i, c in enumerate(S.iso_elbo_levels(pts, n_iso)):
        fig.add_trace(go.Scatter(x=rates, y=rd.iso_elbo_line(c, rates), mode="lines",
                                 line=dict(color="rgba(90,90,90,0.5)", dash="dot", width=1),
                                 name="iso-ELBO: recon + KL = c", legendgroup="iso", showlegend=(i == 0),
                                 hovertemplate=f"recon + KL = {c:.1f} (ELBO {-c:.1f})<extra></extra>"))
    for j, (p, color) in enumerate(zip(pts, colors)):
        r_t, d_t = float(p.train["kl"]), float(p.train["recon"])
        r_v, d_v = float(p.val["kl"]), float(p.val["recon"])
        if log_rate:
            r_t, r_v = max(r_t, RATE_FLOOR), max(r_v, RATE_FLOOR)
            seg = np.geomspace(r_t / 1.6, r_t * 1.6, 20)
        else:
            half = 0.12 * (xr[1] - xr[0])
            seg = np.linspace(max(xr[0], r_t - half), r_t + half, 2)
        group = f"b{p.beta:g}"
        fig.add_trace(go.Scatter(x=seg, y=rd.beta_line(r_t, d_t, p.beta, seg), mode="lines",
                                 line=dict(color=color, dash="dash", width=1.5),
                                 name="β-slope line: recon + β·KL = const", legendgroup="betaline",
                                 showlegend=(j == 0),
                                 hovertemplate=f"β={p.beta:g}: recon + {p.beta:g}·KL = "
                                               f"{rd.beta_objective(r_t, d_t, p.beta):.1f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[r_t, r_v], y=[d_t, d_v], mode="lines", legendgroup=group,
                                 line=dict(color=color, width=2), showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[r_t], y=[d_t], mode="markers", legendgroup=group, showlegend=False,
                                 marker=dict(size=9, color="white", line=dict(color=color, width=2)),
                                 hovertemplate=f"β={p.beta:g} training<br>KL %{{x:.2f}}<br>recon %{{y:.2f}}"
                                               "<extra></extra>"))
        fig.add_trace(go.Scatter(x=[r_v], y=[d_v], mode="markers", name=beta_label(p.beta),
                                 legendgroup=group, marker=dict(size=11, color=color),
                                 hovertemplate=f"β={p.beta:g} validation<br>KL %{{x:.2f}}<br>recon "
                                               "%{y:.2f}<extra></extra>"))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      title="Rate–distortion plane (open: training, filled: validation)",
                      xaxis=dict(title="rate = KL (nats per image)" + (", log scale" if log_rate else ""),
                                 type="log" if log_rate else "linear", range=list(xr), gridcolor="#eee"),
                      yaxis=dict(title="distortion = recon (nats per image)", range=list(yr),
                                 gridcolor="#eee"))
    return fig


# ----------------------------------------------------------- active units

def active_units_figure(points, latent_dim: int | None = None) -> go.Figure:
    """Left: active units against β. Right: each run's per-dimension KL (validation),
    dimensions sorted from the largest KL down; a dimension at KL ≈ 0 has collapsed onto
    the prior."""
    pts = S.sort_points(points)
    cats = _cats(pts)
    d = latent_dim or max((len(p.kl_per_dim) for p in pts), default=0)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], horizontal_spacing=0.12,
                        subplot_titles=("active units (Var of posterior mean > 0.01)",
                                        "KL per dimension, sorted (nats)"))
    au = np.array([int(p.val.get("active_units", 0)) for p in pts])
    fig.add_trace(go.Bar(x=cats, y=au, marker_color="#4C6EF5", name="active units",
                         hovertemplate="β=%{x}<br>%{y} active<extra></extra>"), row=1, col=1)
    z = np.full((d, len(pts)), np.nan)
    for j, p in enumerate(pts):
        k = np.sort(p.kl_per_dim)[::-1]
        z[:len(k), j] = k[:d]
    finite = z[np.isfinite(z)]
    zmax = float(np.percentile(finite, 90)) if finite.size else 1.0
    fig.add_trace(go.Heatmap(z=z, x=cats, y=[f"#{i + 1}" for i in range(d)], colorscale="Blues",
                             colorbar=dict(title="KL", len=0.9), zmin=0, zmax=max(zmax, 1e-3),
                             text=np.round(z, 1), texttemplate="%{text}" if d * len(pts) <= 200 else None,
                             hovertemplate="β=%{x}<br>dimension %{y} by size<br>KL %{z:.2f}<extra></extra>"),
                  row=1, col=2)
    fig.update_xaxes(title_text="β", type="category")
    fig.update_yaxes(range=[0, max(d, 1) + 0.5], title_text="active units", row=1, col=1)
    fig.update_yaxes(type="category", autorange="reversed", title_text="dimension, by KL",
                     row=1, col=2)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="white",
                      showlegend=False)
    return fig


# ----------------------------------------------------------- latent small multiples

def latent_grid(panels: list[tuple[str, np.ndarray]], labels=None, class_names=None, *,
                axis_titles: tuple[str, str] = ("z₁", "z₂"), max_cols: int = 4,
                max_points: int = 600) -> go.Figure:
    """Small multiples of posterior means on a plane, one panel per β (``(title, [N, 2])``),
    coloured by class, each with the prior's 1σ and 2σ circles as the yardstick. Each panel
    has its own (square) range, always showing the 2σ circle."""
    if not panels:
        raise ValueError("latent_grid needs at least one panel")
    n = len(panels)
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p[0] for p in panels],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    labels = None if labels is None else np.asarray(labels)
    for i, (_, plane) in enumerate(panels):
        r, c = divmod(i, cols)
        r, c = r + 1, c + 1
        plane = np.asarray(plane, dtype=np.float32)[:max_points]
        for circ in prior_circles(radii=(1, 2)):
            circ.showlegend = bool(i == 0 and circ.showlegend)
            circ.name = "prior N(0, I): 1σ and 2σ circles"
            circ.line.color, circ.line.width = "rgba(0,0,0,0.65)", 1.3
            fig.add_trace(circ, row=r, col=c)
        colors = ("#4C6EF5" if labels is None
                  else np.array([class_color(int(k)) for k in labels[:len(plane)]]))
        text = (None if labels is None or not class_names
                else np.array([class_names[int(k)] if int(k) < len(class_names) else str(k)
                               for k in labels[:len(plane)]]))
        fig.add_trace(go.Scattergl(x=plane[:, 0], y=plane[:, 1], mode="markers", showlegend=False,
                                   marker=dict(size=3.5, color=colors, opacity=0.7), text=text,
                                   hovertemplate="%{text}<extra></extra>" if text is not None else None),
                      row=r, col=c)
        (x0, x1), (y0, y1) = _square_range(plane)
        k = i + 1
        fig.update_xaxes(range=[x0, x1], gridcolor="#eee", zeroline=False, constrain="domain",
                         row=r, col=c, tickfont_size=9)
        fig.update_yaxes(range=[y0, y1], gridcolor="#eee", zeroline=False, constrain="domain",
                         scaleanchor=f"x{k if k > 1 else ''}", scaleratio=1, row=r, col=c,
                         tickfont_size=9)
    fig.update_annotations(font_size=12)
    fig.update_layout(height=280 * rows + 80, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="white", legend=dict(orientation="h", y=-0.12),
                      title=f"Posterior means on the plane {axis_titles[0]} × {axis_titles[1]}")
    return fig


def _square_range(plane: np.ndarray, at_least: float = 2.4, pad: float = 0.06):
    """A square range around the origin that shows the points (1st–99th percentile) and
    at least the prior's 2σ circle."""
    if len(plane):
        m = float(np.percentile(np.abs(plane), 99))
        half = max(at_least, m) * (1 + pad)
    else:
        half = at_least
    return (-half, half), (-half, half)


# ----------------------------------------------------------- table

def numbers_table(points, looks: dict | None = None) -> pd.DataFrame:
    """One row per β: training and validation numbers, the gap, active units and blur."""
    rows = []
    for p in S.sort_points(points):
        row = {"β": p.beta,
               "train ELBO": p.train["elbo"], "val ELBO": p.val["elbo"], "gap ELBO": p.gap["elbo"],
               "train recon": p.train["recon"], "val recon": p.val["recon"],
               "train KL": p.train["kl"], "val KL": p.val["kl"],
               "active units": int(p.val.get("active_units", 0))}
        lk = (looks or {}).get(p.beta)
        if lk is not None:
            row["blur recon"] = lk.blur_recon
            row["blur samples"] = lk.blur_samples
        rows.append(row)
    return pd.DataFrame(rows)
