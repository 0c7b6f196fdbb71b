"""Figures of the disentanglement lab (:mod:`explorer.analysis.disentangle`).

- :func:`traversal_rows` / :func:`traversal_figure`: one run's traversal grid, a row per
  latent dimension it uses (most informative first, by its KL), each row labelled with the
  factor it holds most; the dimensions it does not use are named in the title.
- :func:`measure_figure`: MIG and DCI disentanglement against β, the seeds' mean with an
  error bar of ±1 standard error, and every seed's own value as a small dot.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import image_grid, upscale

ACCENT = "#1864ab"
SEED_DOT = "rgba(90, 90, 90, 0.55)"


def traversal_rows(run: dict) -> tuple[list[int], list[str], list[int]]:
    """``(dimensions shown, their labels, dimensions left out)`` of one run's grid: the active
    dimensions, most KL first, each labelled ``z3 · x`` (or ``z3 · no single factor``)."""
    d = int(run["latent_dim"])
    active = run.get("active") or [True] * d
    kl = list(run.get("kl_per_dim") or [0.0] * d)
    shown = sorted((j for j in range(d) if active[j]), key=lambda j: -kl[j])
    names = run.get("factor_of_dim") or [None] * d
    labels = [f"z{j} · {names[j] or 'no single factor'}" for j in shown]
    return shown, labels, [j for j in range(d) if not active[j]]


def traversal_picture(grid: np.ndarray, dims: list[int], scale: int = 2) -> np.ndarray:
    """The rows ``dims`` of a traversal grid (``[D, steps, H, W]``, uint8) as one picture in
    [0, 1], enlarged ``scale`` times, on grey gaps."""
    grid = np.asarray(grid)
    if not dims:
        return np.full((8, 8), 0.5, np.float32)
    steps = grid.shape[1]
    tiles = np.stack([upscale(grid[j, k].astype(np.float32) / 255, scale) for j in dims for k in range(steps)])
    return image_grid(tiles, ncol=steps, pad=max(2, scale), pad_value=0.45)


def traversal_figure(grid: np.ndarray, run: dict, *, span=(-2.5, 2.5), title: str = "",
                     scale: int = 2, row_px: int = 50) -> go.Figure:
    """One run's traversals as a figure: an image with a labelled row per used dimension
    and the swept values under the columns (``row_px``: about the height a row is shown at)."""
    dims, labels, unused = traversal_rows(run)
    pic = traversal_picture(grid, dims, scale)
    rgb = np.repeat((pic * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    steps, side = np.asarray(grid).shape[1], np.asarray(grid).shape[-1] * scale
    pad = max(2, scale)
    fig = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    centres = [pad + r * (side + pad) + side / 2 for r in range(len(dims))]
    cols = [pad + c * (side + pad) + side / 2 for c in range(steps)]
    values = np.linspace(span[0], span[1], steps)
    note = (f"{len(unused)} unused dimension{'s' if len(unused) != 1 else ''} not shown" if unused
            else "all dimensions used")
    fig.update_layout(
        title={"text": f"{title}<br><sup>{note}</sup>" if title else note, "x": 0.0, "font": {"size": 14}},
        margin={"l": 112, "r": 8, "t": 56, "b": 40}, height=int(110 + max(1, len(dims)) * row_px),
        xaxis={"tickvals": [cols[0], cols[steps // 2], cols[-1]],
               "ticktext": [f"{values[0]:+g}", f"{values[steps // 2]:+g}".replace("+0", "0"), f"{values[-1]:+g}"],
               "title": {"text": "value of the swept dimension", "font": {"size": 11}}, "showgrid": False},
        yaxis={"tickvals": centres, "ticktext": labels, "showgrid": False},
        plot_bgcolor="white", paper_bgcolor="white")
    return fig


def measure_figure(rows: list[dict]) -> go.Figure:
    """MIG (left) and DCI disentanglement (right) against β: mean ± 1 standard error over
    the seeds, and each seed's value as a dot beside it. β on a log scale (1, 2, 4, …)."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("MIG (mutual information gap)", "DCI disentanglement"))
    betas = [r["beta"] for r in rows]
    for col, key in ((1, "mig"), (2, "dci")):
        means = [r[key] for r in rows]
        ses = [r.get(f"{key}_se") or 0.0 for r in rows]
        xs, ys, texts = [], [], []
        for r in rows:
            vals = r.get(f"{key}_seeds") or []
            for k, v in enumerate(vals):
                xs.append(r["beta"] * 2 ** (0.06 * (k - (len(vals) - 1) / 2) + 0.18))
                ys.append(v)
                texts.append(f"β = {r['beta']:g}, seed {r['seeds'][k] if r.get('seeds') else k}: {v:.3f}")
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", marker={"size": 6, "color": SEED_DOT},
                                 name="one seed", text=texts, hoverinfo="text", showlegend=col == 1,
                                 legendgroup="seed"), row=1, col=col)
        fig.add_trace(go.Scatter(x=betas, y=means, mode="lines+markers", name="mean ± 1 standard error",
                                 line={"color": ACCENT, "width": 2}, marker={"size": 9, "color": ACCENT},
                                 error_y={"type": "data", "array": ses, "visible": True, "thickness": 1.6,
                                          "width": 6, "color": ACCENT},
                                 text=[f"β = {b:g}: {m:.3f} ± {s:.3f}" for b, m, s in zip(betas, means, ses)],
                                 hoverinfo="text", showlegend=col == 1, legendgroup="mean"), row=1, col=col)
        top = max([m + s for m, s in zip(means, ses)] + ys + [0.1])
        fig.update_yaxes(range=[0, min(1.0, math.ceil(top * 11) / 10)], row=1, col=col,
                         title_text="score (1 = one factor per dimension)" if col == 1 else None)
        fig.update_xaxes(type="log", tickvals=betas, ticktext=[f"{b:g}" for b in betas], title_text="β",
                         row=1, col=col)
    fig.update_layout(height=360, margin={"l": 60, "r": 10, "t": 40, "b": 50}, plot_bgcolor="white",
                      legend={"orientation": "h", "y": -0.25, "x": 0}, hovermode="closest")
    fig.update_xaxes(showgrid=True, gridcolor="#eceef2")
    fig.update_yaxes(showgrid=True, gridcolor="#eceef2")
    return fig
