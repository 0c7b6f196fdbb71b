"""Figures of a classifier's reading of the latent plane (:mod:`explorer.analysis.plane_reading`).

- :func:`reading_image`: the plane coloured by the label the classifier reads in each
  grid cell's decode, the class's colour (the points' palette), faded where it is unsure.
- :func:`reading_hover_trace`: an invisible trace over the grid that names the reading
  and its confidence under the pointer.
- :func:`path_strip_labels`: one short label per step of an interpolation path.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import CLASS_COLORS

MIN_ALPHA, MAX_ALPHA = 0.08, 0.62


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def reading_image(labels, confidence, n: int, n_classes: int) -> np.ndarray:
    """An n×n RGBA image (floats in [0, 1], as the plane's image layers take them; the top
    row is the plane's largest y, as
    :func:`explorer.analysis.latent.grid_points` orders the cells): each cell in its read
    class's colour, opaque where the classifier is sure, faint where its confidence is
    near chance (1 / classes)."""
    labels = np.asarray(labels).reshape(n, n)
    conf = np.asarray(confidence, dtype=np.float64).reshape(n, n)
    chance = 1.0 / max(2, n_classes)
    sure = np.clip((conf - chance) / (1.0 - chance), 0.0, 1.0)
    palette = np.array([_rgb(CLASS_COLORS[k % len(CLASS_COLORS)]) for k in range(max(n_classes, 1))]) / 255.0
    out = np.zeros((n, n, 4))
    out[..., :3] = palette[labels]
    out[..., 3] = MIN_ALPHA + (MAX_ALPHA - MIN_ALPHA) * sure
    return out


def reading_hover_trace(points, labels, confidence, class_names) -> go.Scatter:
    """Invisible markers on the grid's cell centres whose hover text is the reading there."""
    p = np.asarray(points, dtype=np.float64)
    text = [f"the classifier reads: {class_names[int(k)]} ({100 * c:.0f}% sure)"
            for k, c in zip(labels, confidence)]
    return go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name="classifier's reading", showlegend=False,
                      marker=dict(size=6, opacity=0.0, color="black"), text=text,
                      hovertemplate="%{text}<br>z-plane (%{x:.2f}, %{y:.2f})<extra></extra>")


def path_strip_labels(labels, confidence, class_names) -> list[str]:
    """One label per path step: ``"7 · 93%"``."""
    return [f"{class_names[int(k)]} · {100 * c:.0f}%" for k, c in zip(labels, confidence)]
