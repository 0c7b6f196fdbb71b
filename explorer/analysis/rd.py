"""Rate–distortion geometry, in one place: the lines the Train page's live R–D plane and the
β lab's R–D figure both draw.

On the plane x = rate (KL), y = distortion (reconstruction), both nats per image:

* an **iso-ELBO line** joins points of equal ELBO: ``recon + KL = c`` (ELBO = −c), slope −1;
* a **β line** joins points of equal β-objective ``recon + β·KL``, slope −β: a β-VAE's
  optimum is where it touches the frontier of achievable (R, D).

Both are level lines ``D = c − slope · R`` (:func:`level_line`); :func:`clip_segment` gives
the part of one inside a box, for drawing.
"""
from __future__ import annotations

import math

import numpy as np


def level_line(c: float, slope: float, rates) -> np.ndarray:
    """Distortion along ``D = c − slope · R`` at ``rates``."""
    return c - slope * np.asarray(rates, dtype=np.float64)


def iso_elbo_line(c: float, rates) -> np.ndarray:
    """Distortion along the iso-ELBO line ``recon + KL = c`` (ELBO = −c) at ``rates``."""
    return level_line(c, 1.0, rates)


def beta_objective(rate: float, distortion: float, beta: float) -> float:
    """What a β run minimises, per image: ``recon + β · KL``."""
    return distortion + beta * rate


def beta_line(rate: float, distortion: float, beta: float, rates) -> np.ndarray:
    """Distortion along the β line through ``(rate, distortion)``: the points with the same
    β-objective, ``D = distortion − β (R − rate)``."""
    return level_line(beta_objective(rate, distortion, beta), beta, rates)


def clip_segment(c: float, slope: float, box: tuple[float, float, float, float]):
    """The part of the level line ``D = c − slope·R`` inside ``box`` = (x0, x1, y0, y1), as
    its two end points, or None when the line misses the box."""
    x0, x1, y0, y1 = box
    pts = []
    for x in (x0, x1):                        # left and right edges
        y = c - slope * x
        if y0 <= y <= y1:
            pts.append((x, y))
    if slope != 0:
        for y in (y0, y1):                    # bottom and top edges
            x = (c - y) / slope
            if x0 < x < x1:
                pts.append((x, y))
    pts = sorted(set(pts))
    return (pts[0], pts[-1]) if len(pts) >= 2 and pts[0] != pts[-1] else None


def nice_step(span: float) -> float:
    """A round spacing (1, 2, 2.5 or 5 × 10^k) for about four lines across ``span``."""
    raw = max(span, 1e-9) / 4
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
