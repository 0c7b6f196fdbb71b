"""Figures of the β lab: one run per β, side by side.

- :func:`strip`: a few images side by side, enlarged (for ``st.image``): the picture rows
  (input, reconstruction, prior samples, the nearest training image of each sample).
- :func:`measure_frame` / :func:`measure_chart`: the three small charts against β
  (sharpness, the overfitting gap, sample quality), the sweet spot marked (Altair).
- :func:`curves_frame` / :func:`curves_chart`: the validation ELBO at every epoch, one
  line per β, each line's best epoch marked (Altair).
- :func:`rd_figure`: the rate–distortion plane (KL = rate, recon = distortion) with
  iso-ELBO lines and each run's β-slope line; training and validation points joined.
- :func:`active_units_figure`: active units and the per-dimension KL against β.
- :func:`numbers_table`: every number in one table.

β values are placed evenly along the x-axes (0, 0.25, 0.5, 1, … are categories, not to
scale). Numbers are per image, in nats, as in ``summary.json``; the measures are defined
in :mod:`explorer.analysis.beta.measures`.
"""
from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from ..analysis import rd
from ..analysis.beta import sweep
from ..analysis.beta.reading import pointlike
from .common import image_grid, to_hw, upscale

SWEET_COLOR = "#e8590c"
SMALL_H = 360                      # the three small charts (legend included)
SVG = {"embedOptions": {"renderer": "svg"}}   # SVG marks: a browser test can read them


def beta_label(beta: float) -> str:
    return f"β={beta:g}"


def beta_colors(n: int) -> list[str]:
    """One colour per run, from small β (dark blue) to large β (yellow): Viridis."""
    if n <= 1:
        return sample_colorscale("Viridis", [0.0])
    return sample_colorscale("Viridis", list(np.linspace(0.0, 0.9, n)))


def _cats(points) -> list[str]:
    return [f"{p.beta:g}" for p in points]


# ----------------------------------------------------------- pictures

PAD_RGB = (0.86, 0.89, 0.94)       # the gaps between pictures: not black, not white, like no image
FRAME_RGB = (0.45, 0.48, 0.55)     # a thin frame round each picture: black-ground images stay apart


def strip(images, target_px: int = 44) -> np.ndarray:
    """Images side by side in one row, enlarged (nearest neighbour) to about ``target_px``
    pixels tall, each in a thin grey frame and a light blue-grey gap a quarter of a picture
    wide (so that neither a black background nor a white stroke that reaches an edge runs
    into the next image, even when the row is shown smaller): an RGB float array in [0, 1]
    for ``st.image``."""
    imgs = np.asarray(images)
    if len(imgs) == 0:
        return np.ones((target_px, target_px, 3), np.float32) * np.array(PAD_RGB, np.float32)
    h = to_hw(imgs[0]).shape[0]
    factor = max(1, int(round(target_px / h)))
    big = np.stack([_framed(upscale(to_hw(im), factor)).transpose(2, 0, 1) for im in imgs])   # N×3×H×W
    gap_px = max(6, int(round(0.25 * big.shape[2])))
    grid = image_grid(big, ncol=len(big), pad=gap_px, pad_value=-1.0)
    gap = grid < 0 if grid.ndim == 2 else (grid < 0).all(2)
    rgb = np.repeat(grid[:, :, None], 3, 2) if grid.ndim == 2 else grid
    rgb[gap] = PAD_RGB
    return rgb


def _framed(img: np.ndarray) -> np.ndarray:
    """``img`` (H×W grey or H×W×3) as RGB with a one-pixel frame in :data:`FRAME_RGB`."""
    a = np.asarray(img, np.float32)
    rgb = np.repeat(a[:, :, None], 3, 2) if a.ndim == 2 else a.copy()
    out = np.empty((rgb.shape[0] + 2, rgb.shape[1] + 2, 3), np.float32)
    out[:] = FRAME_RGB
    out[1:-1, 1:-1] = rgb
    return out


def picture_row(groups, target_px: int = 44, gap_px: int = 40) -> np.ndarray:
    """Several :func:`strip` s side by side, ``gap_px`` apart (one β's row of inputs,
    reconstructions, samples and nearest training images: one image to send)."""
    strips = [strip(g, target_px) for g in groups]
    h = max(a.shape[0] for a in strips)
    white = np.ones((h, gap_px, 3), np.float32)
    parts = []
    for i, a in enumerate(strips):
        parts.append(np.concatenate([a, np.ones((h - a.shape[0],) + a.shape[1:], np.float32)]))
        if i < len(strips) - 1:
            parts.append(white)
    return np.concatenate(parts, axis=1)


# ----------------------------------------------------------- the three measures

#: chart kind -> (title, y title, [(measure key, series label, its standard error key)])
MEASURE_CHARTS = {
    "sharpness": ("Sharpness (fine detail kept)", "share of the data's fine detail", [
        ("recon_sharpness", "reconstructions ÷ their inputs", "recon_sharpness_se"),
        ("sample_sharpness", "prior samples ÷ the data", "sample_sharpness_se")]),
    "gap": ("Overfitting: train − validation", "nats per image", [
        ("gap_iwae", "IWAE gap", "gap_iwae_se"),
        ("gap_elbo", "ELBO gap (+ the amortisation gap)", "gap_elbo_se")]),
    "quality": ("Sample quality (calibrated judge)", "0 to 1, higher is better", [
        ("sample_quality", "quality: harmonic mean", "sample_quality_se"),
        ("precision", "precision: on the data", "precision_se"),
        ("recall", "recall: covers the data", "recall_se")]),
}
MEASURE_COLUMNS = ["kind", "beta", "order", "series", "value", "lo", "hi"]
PALETTE = ["#1f77b4", "#9467bd", "#2ca02c"]


def measure_frame(measures: list[dict], kind: str, sweet=None) -> pd.DataFrame:
    """The table behind one small chart: one row per (β, series) with a value (``kind ==
    "point"``) and ±1 standard error as ``lo``/``hi`` (none known: ``lo == hi``), a reference
    level (``"ref"``: 1 for sharpness, 0 for the gap) and the sweet spot (``"sweet"``: one
    row per β within two standard errors of the best samples)."""
    _, _, series = MEASURE_CHARTS[kind]
    recs = []
    for i, m in enumerate(sorted(measures, key=lambda m: m["beta"])):
        if kind == "gap" and pointlike(m):          # its log p(x) reads the prior, not the fit
            recs.append({"kind": "note", "beta": f"{m['beta']:g}", "order": i, "series": "left out: "
                         "q(z|x) is a point", "value": 0.0, "lo": 0.0, "hi": 0.0})
            continue
        for key, label, se_key in series:
            v = m.get(key)
            if v is None or not math.isfinite(float(v)):
                continue
            se = float(m.get(se_key) or 0.0) if se_key else 0.0
            recs.append({"kind": "point", "beta": f"{m['beta']:g}", "order": i, "series": label,
                         "value": float(v), "lo": float(v) - se, "hi": float(v) + se})
    ref = {"sharpness": 1.0, "gap": 0.0}.get(kind)
    if ref is not None:
        recs.append({"kind": "ref", "beta": "", "order": -1, "series": "", "value": ref, "lo": ref, "hi": ref})
    sweet = [] if sweet is None else [sweet] if isinstance(sweet, (int, float)) else list(sweet)
    for b in sweet:
        recs.append({"kind": "sweet", "beta": f"{b:g}", "order": -1,
                     "series": f"β = {b:g}: samples within two s.e. of the best",
                     "value": math.nan, "lo": math.nan, "hi": math.nan})
    return pd.DataFrame(recs, columns=MEASURE_COLUMNS)


def measure_chart(measures: list[dict], kind: str, sweet=None,
                  height: int = SMALL_H) -> alt.LayerChart:
    """One small chart against β: a line per series, ±1 standard error bars, a dotted
    reference level, and the sweet spot (every β whose samples are within two standard
    errors of the best) as orange rules. ``height`` is the whole chart's, legend included."""
    title, y_title, series = MEASURE_CHARTS[kind]
    df = measure_frame(measures, kind, sweet)
    cats = [f"{m['beta']:g}" for m in sorted(measures, key=lambda m: m["beta"])]
    labels = [s[1] for s in series]
    x = alt.X("beta:O", sort=cats, title="β", scale=alt.Scale(domain=cats), axis=alt.Axis(labelAngle=0))
    color = alt.Color("series:N", scale=alt.Scale(domain=labels, range=PALETTE[:len(labels)]), title=None,
                      legend=alt.Legend(orient="top", direction="vertical", labelLimit=300))
    pts = alt.datum.kind == "point"
    # each series also has its own marker shape and dash: the lines stay apart in greyscale
    shape = alt.Shape("series:N", scale=alt.Scale(domain=labels, range=["circle", "square", "triangle-up"][:len(labels)]),
                      title=None, legend=alt.Legend(orient="top", direction="vertical", labelLimit=300))
    dash = alt.StrokeDash("series:N", legend=None,
                          scale=alt.Scale(domain=labels, range=[[1, 0], [6, 3], [2, 2]][:len(labels)]))
    layers = [alt.Chart().transform_filter(pts).mark_line(point=alt.OverlayMarkDef(filled=True, size=50)).encode(
        x=x, y=alt.Y("value:Q", title=y_title, scale=alt.Scale(zero=kind != "gap")), color=color,
        shape=shape, strokeDash=dash,
        tooltip=[alt.Tooltip("beta:O", title="β"), "series:N", alt.Tooltip("value:Q", format=".3~g")])]
    bars = alt.Chart().transform_filter(pts & (alt.datum.hi > alt.datum.lo))
    tip = [alt.Tooltip("beta:O", title="β"), "series:N", alt.Tooltip("lo:Q", format=".3~g", title="− 1 s.e."),
           alt.Tooltip("hi:Q", format=".3~g", title="+ 1 s.e.")]
    layers.append(bars.mark_rule(strokeWidth=1.5).encode(x=x, y=alt.Y("lo:Q", title=y_title), y2="hi:Q",
                                                          color=color, tooltip=tip))
    for end in ("lo", "hi"):                # short caps at both ends of each ±1 s.e. bar
        layers.append(bars.mark_tick(size=10, thickness=1.5, orient="horizontal")
                      .encode(x=x, y=alt.Y(f"{end}:Q", title=y_title), color=color, tooltip=tip))
    layers.append(alt.Chart().transform_filter(alt.datum.kind == "ref")
                  .mark_rule(color="#999", strokeDash=[2, 2]).encode(y="value:Q"))
    layers.append(alt.Chart().transform_filter(alt.datum.kind == "note")
                  .mark_text(angle=270, align="left", dx=4, fontSize=10, color="#888")
                  .encode(x=x, y="value:Q", text="series:N"))
    layers.append(alt.Chart().transform_filter(alt.datum.kind == "sweet")
                  .mark_rule(color=SWEET_COLOR, strokeWidth=2, opacity=0.6)
                  .encode(x=x, tooltip=[alt.Tooltip("series:N", title="sweet spot")]))
    return alt.layer(*layers, data=df).properties(title=title, height=height, usermeta=SVG)


# ----------------------------------------------------------- validation curves

def curves_frame(curves: dict[float, dict], key: str = "elbo") -> pd.DataFrame:
    """Validation ``key`` (default the ELBO) at each epoch end, one row per (β, epoch),
    with ``best`` marking each β's best epoch (highest ELBO, lowest recon)."""
    recs = []
    for b in sorted(curves):
        c = curves[b]
        ep, val = np.asarray(c.get("epoch", []), float), np.asarray(c.get(key, []), float)
        if not len(val):
            continue
        best = int(np.nanargmax(val) if key == "elbo" else np.nanargmin(val))
        for i, (e, v) in enumerate(zip(ep, val)):
            recs.append({"beta": f"{b:g}", "epoch": e, "value": v, "best": i == best})
    return pd.DataFrame(recs, columns=["beta", "epoch", "value", "best"])


def curves_chart(curves: dict[float, dict], key: str = "elbo", height: int = 340) -> alt.LayerChart:
    """Validation curves, one line per β (Viridis: dark = small β), each line's best
    epoch a dot: where a line turns down after its dot, the run began to overfit. The
    vertical range follows the runs after their first few epochs (lines are clipped)."""
    df = curves_frame(curves, key)
    cats = [f"{b:g}" for b in sorted(curves)]
    lo = float(df.groupby("beta")["value"].quantile(0.05).min()) if len(df) else 0.0
    hi = float(df["value"].max()) if len(df) else 1.0
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    color = alt.Color("beta:O", sort=cats, title="β", scale=alt.Scale(domain=cats, scheme="viridis"))
    y = alt.Y("value:Q", title="validation ELBO (nats per image)" if key == "elbo" else key,
              scale=alt.Scale(domain=[lo - pad, hi + pad], zero=False))
    lines = alt.Chart(df).mark_line(strokeWidth=1.5, clip=True).encode(
        x=alt.X("epoch:Q", title="epoch"), y=y,
        color=color, tooltip=[alt.Tooltip("beta:O", title="β"), alt.Tooltip("epoch:Q", format=".0f"),
                              alt.Tooltip("value:Q", format=".2f")])
    dots = alt.Chart(df).transform_filter(alt.datum.best).mark_point(filled=True, size=70, clip=True).encode(
        x="epoch:Q", y=y, color=color,
        tooltip=[alt.Tooltip("beta:O", title="β"), alt.Tooltip("epoch:Q", format=".0f", title="best epoch"),
                 alt.Tooltip("value:Q", format=".2f", title="best")])
    return alt.layer(lines, dots).properties(title="Validation ELBO at every epoch, one line per β",
                                             height=height, usermeta=SVG)


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
    pts = sweep.sort_points(points)
    colors = beta_colors(len(pts))
    r_all = np.concatenate([sweep.series(pts, s, "kl") for s in ("train", "val")])
    d_all = np.concatenate([sweep.series(pts, s, "recon") for s in ("train", "val")])
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
    for i, c in enumerate(sweep.iso_elbo_levels(pts, n_iso)):
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
    pts = sweep.sort_points(points)
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


# ----------------------------------------------------------- table

TABLE_COLUMNS = {"seeds": "seeds", "recon_sharpness": "recon sharpness",
                 "recon_sharpness_se": "recon sharpness s.e.", "sample_sharpness": "sample sharpness",
                 "sample_quality": "sample quality", "sample_quality_se": "sample quality s.e.",
                 "precision": "precision", "recall": "recall", "none_share": "judged 'none of these'",
                 "frechet": "Fréchet distance",
                 "train_iwae": "train IWAE", "val_iwae": "val IWAE", "gap_iwae": "gap IWAE",
                 "gap_iwae_se": "gap IWAE s.e.", "gap_elbo": "gap ELBO",
                 "memorised_recon": "recon: val ÷ train distance", "memorised_samples": "samples: val ÷ train distance",
                 "nearer_train_recon": "recon nearer a training image", "nearer_train_samples": "samples nearer a training image",
                 "code_radius": "code RMS radius",
                 "recon_mse": "recon MSE per pixel", "active_units": "active units"}


#: what each column of :func:`numbers_table` is (the page's column help); a ± is one standard
#: error over the training seeds (one seed: over the images, or the draws of z)
TABLE_HELP = {
    "β": "the weight of the KL term the run was trained with (constant through training)",
    "train ELBO": "ELBO on training images at the end, nats per image (higher is better)",
    "val ELBO": "ELBO on validation images at the end, nats per image (higher is better)",
    "train recon": "reconstruction term −log p(x|z) on training images, nats per image",
    "val recon": "reconstruction term −log p(x|z) on validation images, nats per image",
    "train KL": "KL(q(z|x) ‖ p(z)) on training images, nats per image",
    "val KL": "KL(q(z|x) ‖ p(z)) on validation images, nats per image",
    "seeds": "training seeds the measures average (the shipped sweeps: 5; a sweep of your own: 1)",
    "recon sharpness": "fine detail the reconstructions keep ÷ their inputs' (1 = as sharp)",
    "recon sharpness s.e.": "standard error of recon sharpness",
    "sample sharpness": "fine detail of prior samples ÷ the data's",
    "sample quality": "harmonic mean of precision and recall, judged by a calibrated classifier "
                      "with a 'none of these' class (0 to 1, higher is better)",
    "sample quality s.e.": "standard error of sample quality",
    "precision": "share of prior samples on the data's manifold, each counted by the judge's "
                 "probability that it is an image of the data at all",
    "recall": "share of the data's images the samples cover",
    "judged 'none of these'": "the judge's mean probability that a sample is no image of the data",
    "Fréchet distance": "between samples and validation images in the judge's features (lower is closer)",
    "train IWAE": "IWAE bound on the probe's training images, nats per image",
    "val IWAE": "IWAE bound on the probe's validation images, nats per image",
    "gap IWAE": "train − validation IWAE, nats per image: overfitting (lower is less)",
    "gap IWAE s.e.": "standard error of the IWAE gap",
    "gap ELBO": "train − validation ELBO: the IWAE gap plus the encoder's amortisation gap",
    "recon: val ÷ train distance": "reconstructions of validation images: mean distance to the nearest "
                                   "other validation image ÷ mean distance to the nearest training "
                                   "image (1 = no pull towards the training images; above 1 = memorised)",
    "samples: val ÷ train distance": "prior samples: mean distance to the nearest validation image ÷ "
                                     "mean distance to the nearest training image (1 = no pull)",
    "recon nearer a training image": "share of reconstructions nearer a training image than a validation "
                                     "image; a tie (common between binary images) counts half, so "
                                     "0.5 = no pull towards the training images",
    "samples nearer a training image": "share of prior samples nearer a training image than a "
                                       "validation image; a tie counts half, so 0.5 = no pull",
    "code RMS radius": "root-mean-square length of the images' codes μ; the prior's samples lie "
                       "near √(latent dimensions)",
    "recon MSE per pixel": "mean squared error of the reconstructions, per pixel",
    "active units": "latent dimensions whose posterior mean varies across images (Var > 0.01)",
}


def numbers_table(points, measures: list[dict] | None = None) -> pd.DataFrame:
    """One row per β: training and validation numbers (nats per image) and every measure."""
    by_beta = {m["beta"]: m for m in measures or []}
    rows = []
    for p in sweep.sort_points(points):
        row = {"β": p.beta, "train ELBO": p.train["elbo"], "val ELBO": p.val["elbo"],
               "train recon": p.train["recon"], "val recon": p.val["recon"],
               "train KL": p.train["kl"], "val KL": p.val["kl"]}
        m = by_beta.get(p.beta, {})
        row.update({label: m[k] for k, label in TABLE_COLUMNS.items() if m.get(k) is not None})
        row.setdefault("active units", int(p.val.get("active_units", 0)))
        rows.append(row)
    return pd.DataFrame(rows)
