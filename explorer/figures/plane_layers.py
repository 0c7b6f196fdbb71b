"""Two layers of the Explore page's plane that must stay visible at every scale, and say how
they are drawn: the σ ellipses of q(z|x) and the aggregate posterior's density.

On MNIST a code's σ is about 0.03 on a plane 12 units wide: the true 1σ ellipse is a pixel
or two across, hidden under its own marker. :func:`ellipse_scale` picks how many times
larger the ellipses are drawn (1, 2, 5, 10, 20, …: the smallest that makes the median one
visible), and the legend and :func:`ellipse_note` say so. The density of such codes is a
cloud of narrow peaks: its colour scale (:func:`density_top`) fits the density's own range,
not its highest peak, and the points above it are faded so that it shows
(:func:`explorer.figures.latent.plane_figure`).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ..analysis.latent import ellipse_paths

#: the median 1σ ellipse's semi-major axis is drawn at least this share of the plane's span
#: (~8 px on Explore's 560-px plane: clearly wider than a point's marker)
ELLIPSE_MIN_SHARE = 0.015
ELLIPSE_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
ELLIPSE_LEVELS = (1, 2)               # the 1σ and 2σ contours
ELLIPSE_NAME = "q(z|x): 1σ, 2σ"

DENSITY_COLOR = (31, 78, 160)
DENSITY_DECADES = 3.0                 # transparent this many powers of ten below the top
DENSITY_TOP_QUANTILE = 0.9            # the top: this quantile of the occupied cells
DENSITY_OCCUPIED = 1e-6               # a cell is occupied above this share of the peak
DENSITY_MAX_ALPHA = 0.85
FADED_POINTS = 0.3                    # the points' opacity above a density layer


def span(ranges) -> float:
    """The larger side of a plane's ``((x0, x1), (y0, y1))``."""
    (x0, x1), (y0, y1) = ranges
    return float(max(x1 - x0, y1 - y0))


def semi_major(covs) -> np.ndarray:
    """Each 2×2 covariance's 1σ semi-major axis (the square root of its larger eigenvalue)."""
    c = np.asarray(covs, np.float64).reshape(-1, 2, 2)
    if not len(c):
        return np.zeros(0)
    return np.sqrt(np.clip(np.linalg.eigvalsh((c + c.transpose(0, 2, 1)) / 2)[:, -1], 0.0, None))


def ellipse_scale(covs, ranges, min_share: float = ELLIPSE_MIN_SHARE) -> int:
    """How many times larger than true the ellipses of ``covs`` are drawn on a plane over
    ``ranges``: 1 when the median 1σ semi-major axis is at least ``min_share`` of the plane's
    span, else the smallest of :data:`ELLIPSE_STEPS` that makes it so."""
    r = semi_major(covs)
    if not len(r):
        return 1
    need = min_share * span(ranges) / max(float(np.median(r)), 1e-12)
    return next((k for k in ELLIPSE_STEPS if k >= need), ELLIPSE_STEPS[-1])


def ellipse_name(k: int) -> str:
    """The legend's name of the ellipses drawn ``k`` times larger than true."""
    return ELLIPSE_NAME if k == 1 else f"{ELLIPSE_NAME}, drawn {k}× larger"


def ellipse_trace(means, covs, ranges) -> go.Scatter:
    """The 1σ and 2σ contours of the Gaussians ``(means [N, 2], covs [N, 2, 2])`` on the
    plane as one line, enlarged by :func:`ellipse_scale` (its legend name says by how much)."""
    k = ellipse_scale(covs, ranges)
    x, y = ellipse_paths(np.asarray(means, np.float64).reshape(-1, 2),
                         np.asarray(covs, np.float64).reshape(-1, 2, 2), tuple(k * s for s in ELLIPSE_LEVELS))
    return go.Scatter(x=x, y=y, mode="lines", name=ellipse_name(k), hoverinfo="skip",
                      line=dict(color="rgba(0,0,0,0.75)", width=1.2), meta={"scale": k})


def ellipse_note(covs, ranges) -> str:
    """A sentence for under the plane when the ellipses are enlarged ('' when true to size)."""
    k = ellipse_scale(covs, ranges)
    if k == 1:
        return ""
    r = float(np.median(semi_major(covs)))
    return (f"The σ ellipses are drawn {k}× their true size: q(z|x)'s σ here is about {r:.2g} "
            f"(median), {100 * r / span(ranges):.2g}% of the plane's width, smaller than a point. "
            "Their shapes and directions are true.")


# ------------------------------------------------------------------ the density

def density_top(density, q: float = DENSITY_TOP_QUANTILE) -> float:
    """The density drawn in full colour (and above it, saturated): the ``q`` quantile of the
    occupied cells (those above :data:`DENSITY_OCCUPIED` of the peak). A few narrow peaks
    (MNIST's codes: σ ≈ 0.03) then do not wash every other cell out; 0 for an empty grid."""
    d = np.asarray(density, np.float64)
    peak = float(d.max()) if d.size else 0.0
    if peak <= 0:
        return 0.0
    return float(np.quantile(d[d >= peak * DENSITY_OCCUPIED], q))


def density_name(top: float, decades: float = DENSITY_DECADES) -> str:
    """The density layer's legend name: its scale in numbers."""
    return (f"q(z), log scale: full colour ≥ {top:.2g}, "
            f"clear < {top / 10 ** decades:.2g} (a hole)")


def density_key(top: float, decades: float = DENSITY_DECADES) -> go.Scatter:
    """A legend-only entry for the density layer (an image has none of its own)."""
    r, g, b = DENSITY_COLOR
    return go.Scatter(x=[None], y=[None], mode="markers", name=density_name(top, decades), hoverinfo="skip",
                      marker=dict(symbol="square", size=12, color=f"rgba({r},{g},{b},{DENSITY_MAX_ALPHA})"),
                      meta={"top": top, "decades": decades})


def density_note(top: float, decades: float = DENSITY_DECADES) -> str:
    """A sentence for under the plane: how the density's colour reads."""
    return (f"Density: the darker, the more codes' posteriors overlap there (log scale, full colour from "
            f"{top:.2g}, where the densest tenth of the occupied plane lies, fading to clear at "
            f"{top / 10 ** decades:.2g}). Clear regions are holes: no code the decoder was trained on "
            "lands there. The points are faded so the density shows.")
