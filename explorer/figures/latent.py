"""Latent-space figures (plotly): the scatter of encoded points, with the prior's circles.

Arrays go into plotly as numpy arrays (smaller and faster than lists), and large
scatters use ``Scattergl``.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import class_color

GL_THRESHOLD = 1000   # above this many points, WebGL


def prior_circles(radii=(1, 2, 3), n: int = 120) -> list[go.Scatter]:
    """Circles of the prior N(0, I) at 1, 2, 3 σ (dotted grey)."""
    t = np.linspace(0, 2 * np.pi, n)
    return [go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", hoverinfo="skip",
                       line=dict(color="rgba(80,80,80,0.45)", dash="dot", width=1),
                       name=f"prior {r}σ", showlegend=(r == radii[0]), legendgroup="prior")
            for r in radii]


def latent_scatter(z: np.ndarray, labels: np.ndarray | None = None,
                   class_names: list[str] | None = None, *, title: str = "",
                   marker_size: float = 5, show_prior: bool = True,
                   axis_titles: tuple[str, str] = ("z₁", "z₂"), height: int = 480,
                   selected: np.ndarray | None = None) -> go.Figure:
    """Points ``z`` (N×2) coloured by label (one trace per class, so the legend toggles
    classes); the prior's 1-2-3σ circles; equal axis scales."""
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError("latent_scatter needs N×2 points")
    trace = go.Scattergl if len(z) > GL_THRESHOLD else go.Scatter
    fig = go.Figure()
    if show_prior:
        for c in prior_circles():
            fig.add_trace(c)
    if labels is None:
        fig.add_trace(trace(x=z[:, 0], y=z[:, 1], mode="markers", name="points",
                            marker=dict(size=marker_size, color="#4C6EF5", opacity=0.7)))
    else:
        labels = np.asarray(labels)
        for c in np.unique(labels):
            m = labels == c
            name = class_names[int(c)] if class_names and int(c) < len(class_names) else str(c)
            fig.add_trace(trace(x=z[m, 0], y=z[m, 1], mode="markers", name=name,
                                customdata=np.nonzero(m)[0],
                                marker=dict(size=marker_size, color=class_color(int(c)), opacity=0.75)))
    fig.update_layout(title=title or None, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(itemsizing="constant"), plot_bgcolor="white",
                      xaxis=dict(title=axis_titles[0], zeroline=True, gridcolor="#eee"),
                      yaxis=dict(title=axis_titles[1], zeroline=True, gridcolor="#eee",
                                 scaleanchor="x", scaleratio=1))
    return fig
