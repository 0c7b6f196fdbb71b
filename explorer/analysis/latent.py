"""The latent space, measured: statistics, the sliders, decode grids, traversals,
interpolation, posterior ellipses and the aggregate posterior's density (the projections
onto a plane are :mod:`explorer.analysis.projections`; uploaded images are made ready for
the encoder in :mod:`explorer.analysis.images`).

Plain numpy/torch (no Streamlit), so every function is tested directly. Conventions:

* ``z`` is a full latent vector (``D`` numbers); ``p`` is a point of the 2-D *plane*
  a page draws. A :class:`~explorer.analysis.projections.Projection` maps ``z -> p`` and back: ``lift(p, hold)`` is the
  vector ``hold`` with its in-plane coordinates replaced by ``p`` — the decoder always
  acts in the full latent space, the unshown dimensions held at ``hold``.
* q(z|x) = N(mu, diag(exp(logvar))) (seed eq. 2, 13); the prior p(z) = N(0, I).
* Decoding is batched: a grid of n×n points is one forward pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import objective
from ..training import active_units
from .projections import Projection, dims_projection

# ----------------------------------------------------- latent statistics

def sample_z(mu, logvar, seed: int = 0) -> np.ndarray:
    """One z ~ q(z|x) per row, by the reparameterisation (section 5), seeded."""
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float32)
    lv_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float32)
    g = torch.Generator().manual_seed(int(seed))
    return objective.reparameterize(mu_t, lv_t, 1, generator=g)[0].numpy()


def dimension_order(mu, logvar, kind: str = "vae"):
    """The latent dimensions by importance: ``(order, score, active)``.

    VAE: the score is each dimension's KL to the prior averaged over the points (eq. 14,
    per dimension); AE: the variance of the codes. ``active`` is Burda's active-unit
    test (variance of the posterior means > 0.01). ``order`` is by decreasing score.
    """
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    _, var = active_units(mu_t)
    if kind == "vae":
        lv_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
        score = objective.kl_std_normal_per_dim(mu_t, lv_t).mean(0).numpy()
    else:
        score = var.numpy()
    active = (var > 0.01).numpy()
    order = np.argsort(-score, kind="stable")
    return order, score, active


def aggregate_moments(mu, logvar, kind: str = "vae"):
    """Mean and standard deviation per dimension of the aggregate posterior
    q(z) = 1/N Σ q(z|xᵢ): by the law of total variance, var = mean(σᵢ²) + var(μᵢ).
    (For the AE, whose codes are points, only the second term.)"""
    mu = np.asarray(mu, dtype=np.float64)
    var = mu.var(0)
    if kind == "vae":
        var = var + np.exp(np.asarray(logvar, dtype=np.float64)).mean(0)
    return mu.mean(0), np.sqrt(var)


def class_means(z, labels) -> dict[int, np.ndarray]:
    """The mean latent vector of each class present in ``labels``."""
    z = np.asarray(z, dtype=np.float64)
    labels = np.asarray(labels)
    return {int(c): z[labels == c].mean(0) for c in np.unique(labels)}


def plane_ranges(points, *, at_least: float = 3.5, pad: float = 0.05,
                 square: bool = True) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges for a plane that shows every point (padded by ``pad`` of the span) and
    at least ``[-at_least, at_least]`` (the prior's 3σ circle). ``square``: both axes get
    the same span, so an equal-aspect plot fills its box."""
    p = np.asarray(points, dtype=np.float64)
    lo = np.full(2, -at_least)
    hi = np.full(2, at_least)
    if len(p):
        lo = np.minimum(lo, p.min(0))
        hi = np.maximum(hi, p.max(0))
    span = hi - lo
    lo, hi = lo - pad * span, hi + pad * span
    if square:
        c, half = (lo + hi) / 2, (hi - lo).max() / 2
        lo, hi = c - half, c + half
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def plane_extent(points, centre) -> tuple[tuple[float, float], tuple[float, float]]:
    """Ranges for a plane that shows every point and the prior's 3σ circle around
    ``centre`` (where the plane puts z = 0), with a little room."""
    ring = np.asarray(centre, dtype=np.float64) + 3.3 * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
    p = np.asarray(points, dtype=np.float64)
    return plane_ranges(np.vstack([p, ring]) if len(p) else ring, at_least=0.0)


def knn_accuracy(z, labels, k: int = 5) -> float:
    """How well the classes are separated in the latent space: the leave-one-out accuracy of
    a k-nearest-neighbour vote (Euclidean) among the codes ``z`` themselves. Ties go to the
    smallest label. 1.0: every code's neighbours share its class; 1/K: no structure."""
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).ravel()
    if len(z) != len(y) or len(z) <= k:
        raise ValueError(f"knn_accuracy needs more than k = {k} labelled codes")
    from sklearn.neighbors import NearestNeighbors
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    votes = y[idx[:, 1:]]                         # the first neighbour is the point itself
    counts = np.zeros((len(y), int(y.max()) + 1), np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(y)), k), votes.ravel()), 1)
    return float((counts.argmax(1) == y).mean())


# --------------------------------------------------------- the sliders

@dataclass(frozen=True)
class DimSlider:
    """One latent dimension as a slider: its index, range, label and help text."""
    dim: int
    range: tuple[float, float]
    label: str
    help: str


def slider_specs(d: int, mu, logvar, kind: str) -> list[DimSlider]:
    """One slider per dimension, most important first (:func:`dimension_order`); each
    spans at least −3 … 3 and every code's μ; inactive dimensions are marked."""
    if mu is None or len(mu) < 2:
        order, score, active = np.arange(d), np.zeros(d), np.ones(d, bool)
        lo_hi = np.tile([-3.0, 3.0], (d, 1))
    else:
        order, score, active = dimension_order(mu, logvar, kind)
        lo_hi = np.stack([np.minimum(-3.0, np.floor(mu.min(0))), np.maximum(3.0, np.ceil(mu.max(0)))], 1)
    what = "KL" if kind == "vae" else "var"
    about = ("KL(q(z|x) ‖ p(z)) of this dimension averaged over the points (eq. 14), in nats. "
             if kind == "vae" else "Variance of the codes in this dimension. ")
    idle = "Inactive: the encoder ignores it (variance of μ below 0.01)."
    return [DimSlider(int(dim), (float(lo_hi[dim, 0]), float(lo_hi[dim, 1])),
                      f"z{dim + 1} · {what} {score[dim]:.2f}" + ("" if active[dim] else " · inactive"),
                      about + ("" if active[dim] else idle))
            for dim in order]


def in_dim_order(specs: list[DimSlider]) -> list[tuple[float, float]]:
    """The sliders' ranges by dimension (z₁ first)."""
    return [s.range for s in sorted(specs, key=lambda s: s.dim)]


def clip_to(z, ranges) -> np.ndarray:
    """``z`` rounded to the sliders' step (0.01) and clipped into their ranges."""
    z = np.asarray(z, dtype=np.float64)
    return np.array([float(np.clip(round(float(v), 2), lo, hi)) for v, (lo, hi) in zip(z, ranges)])


def parse_z(text: str | None, d: int) -> np.ndarray | None:
    """``"0.5,-1,2"`` (a link's z) as a vector of ``d`` finite numbers, or None."""
    try:
        z = np.array([float(v) for v in (text or "").split(",")], dtype=np.float64)
    except ValueError:
        return None
    return z if len(z) == d and np.isfinite(z).all() else None


def parse_dims(text: str | None, d: int) -> tuple[int, int] | None:
    """``"3,1"`` (a link's plane axes, counted from 1) as two different 0-based dimensions
    of a ``d``-D latent, or None."""
    p = parse_z(text, 2)
    if p is None or not all(1 <= v <= d for v in p) or p[0] == p[1]:
        return None
    return int(p[0]) - 1, int(p[1]) - 1


def format_z(z, sep: str = ", ") -> str:
    """A z for captions, ``(0.50, -1.00)``; with ``sep=","`` and no brackets, for links."""
    text = sep.join(f"{v:.2f}" for v in np.asarray(z).ravel())
    return text if sep == "," else f"({text})"


# ------------------------------------------------------------ decoding

def grid_points(ranges, n: int) -> np.ndarray:
    """The centres of an n×n grid of cells tiling ``ranges = ((x0, x1), (y0, y1))``, as
    ``[n*n, 2]`` in image order: the top row (largest y) first, x increasing along a row.
    Tiling the decodes of these points row by row gives an image whose pixels line up
    with the plane's axes."""
    (x0, x1), (y0, y1) = ranges
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y1 - (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1)


def lattice(ranges, n: int) -> np.ndarray:
    """``n×n`` points from corner to corner of ``ranges`` (both ends included), ``[n*n, 2]``,
    bottom row first: the invisible click grid of a plane."""
    (x0, x1), (y0, y1) = ranges
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack([gx.ravel(), gy.ravel()], 1)


def decode(model, z) -> np.ndarray:
    """The decoder's mean for each row of ``z``, one batched pass: ``[N, *data_shape]``."""
    z = np.asarray(z, dtype=np.float32)
    return model.decode_mean(torch.from_numpy(np.atleast_2d(z))).cpu().numpy()


def decode_grid(model, ranges, n: int, fixed_z=None, projection: Projection | None = None):
    """The decoder over an n×n grid of the plane (:func:`grid_points`) in one forward pass.

    The unshown dimensions are held at ``fixed_z`` (default 0); ``projection`` maps the
    plane into the latent space (default: dimensions 1 and 2). Returns ``(z [n*n, D],
    images [n*n, *data_shape])``.
    """
    if not 1 <= n <= 100:
        raise ValueError("the grid size n must lie in 1..100")
    d = model.latent_dim
    projection = projection or dims_projection(d)
    hold = np.zeros(d) if fixed_z is None else np.asarray(fixed_z, dtype=np.float64)
    z = projection.lift(grid_points(ranges, n), hold)
    return z, decode(model, z)


def traversal_values(k: int, span: float = 3.0) -> np.ndarray:
    """``k`` evenly spaced values from ``-span`` to ``+span``."""
    return np.linspace(-span, span, k)


def aggregate_traversal_values(mu, logvar, dims, k: int, kind: str = "vae",
                               span: float = 2.0) -> np.ndarray:
    """For each of ``dims``, ``k`` values from −span to +span standard deviations of the
    aggregate posterior around its mean (:func:`aggregate_moments`): ``[len(dims), k]``."""
    m, s = aggregate_moments(mu, logvar, kind)
    steps = np.linspace(-span, span, k)
    return np.stack([m[d] + steps * s[d] for d in dims])


def traversals(model, base_z, dims, values) -> tuple[np.ndarray, np.ndarray]:
    """For each dimension in ``dims``, a row of decodes of ``base_z`` with that dimension
    set to each of ``values`` (``[k]``, or ``[len(dims), k]`` for per-dimension values).
    One batched pass. Returns ``(z [R, k, D], images [R, k, *data_shape])``."""
    base = np.asarray(base_z, dtype=np.float64)
    dims = list(dims)
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 1:
        vals = np.broadcast_to(vals, (len(dims), len(vals)))
    r, k = vals.shape
    z = np.broadcast_to(base, (r, k, len(base))).copy()
    for i, d in enumerate(dims):
        z[i, :, d] = vals[i]
    imgs = decode(model, z.reshape(r * k, -1))
    return z, imgs.reshape((r, k) + imgs.shape[1:])


def lerp(z0, z1, t) -> np.ndarray:
    """Linear interpolation ``(1-t) z0 + t z1`` for each t: ``[len(t), D]``."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, t) -> np.ndarray:
    """Spherical interpolation (Shoemake; White 2016 for generative models):
    ``sin((1-t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1`` with Ω the angle between z0 and z1.
    Keeps the path on the shell where N(0, I) puts its mass, where a straight line cuts
    through the low-norm centre. Falls back to :func:`lerp` when Ω is tiny or π."""
    z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 < 1e-12 or n1 < 1e-12:
        return lerp(z0, z1, t)
    cos = np.clip(z0 @ z1 / (n0 * n1), -1.0, 1.0)
    omega = math.acos(cos)
    if omega < 1e-6 or math.pi - omega < 1e-6:
        return lerp(z0, z1, t)
    t = np.asarray(t, np.float64)[:, None]
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / math.sin(omega)


def interpolate(model, z0, z1, k: int = 10, method: str = "linear"):
    """``k`` points from z0 to z1 (ends included) and their decodes, one batched pass."""
    t = np.linspace(0.0, 1.0, k)
    z = slerp(z0, z1, t) if method == "spherical" else lerp(z0, z1, t)
    return z, decode(model, z)


def prior_samples(model, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws z ~ N(0, I) (seeded) and their decodes."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, model.latent_dim, generator=g).numpy()
    return z, decode(model, z)


# ------------------------------------------------ ellipses and density

def gaussian_ellipse(mean, cov, n_std: float = 1.0, n: int = 48) -> np.ndarray:
    """Points ``[n, 2]`` of the n_std-σ contour of N(mean, cov) in 2-D: the set where the
    Mahalanobis distance to ``mean`` is ``n_std``. Closed (last point = first)."""
    mean = np.asarray(mean, np.float64)
    cov = np.asarray(cov, np.float64)
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    w = np.clip(w, 0.0, None)
    t = np.linspace(0.0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    return mean + n_std * (circle * np.sqrt(w)) @ v.T


def ellipse_paths(means, covs, n_std: float | tuple = 1.0, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Many ellipses as one line: x and y arrays with NaN between ellipses (one trace).
    ``n_std`` may be several levels, e.g. ``(1, 2)``: every 1σ contour, then every 2σ one."""
    xs, ys = [], []
    for s in np.atleast_1d(n_std):
        for m, c in zip(np.asarray(means), np.asarray(covs)):
            e = gaussian_ellipse(m, c, float(s), n)
            xs += [e[:, 0], [np.nan]]
            ys += [e[:, 1], [np.nan]]
    if not xs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.concatenate(ys)


def aggregate_density(means, covs, xs, ys, *, max_components: int = 2000,
                      seed: int = 0) -> np.ndarray:
    """The aggregate posterior's density on a grid: q(p) = 1/N Σ N(p; mᵢ, Sᵢ), the mixture
    of the (projected) posteriors q(z|xᵢ). Where it is near 0 the decoder never saw a code:
    a hole. ``means`` [N, 2]; ``covs`` [N, 2, 2], or None for point codes (the AE, t-SNE),
    which get a Gaussian kernel of Scott's bandwidth instead. At most ``max_components``
    (a seeded subset). Returns ``[len(ys), len(xs)]`` (rows follow ``ys``)."""
    m = np.asarray(means, np.float64)
    if len(m) == 0:
        return np.zeros((len(ys), len(xs)))
    if len(m) > max_components:
        keep = np.random.default_rng(seed).choice(len(m), max_components, replace=False)
        m = m[keep]
        covs = None if covs is None else np.asarray(covs)[keep]
    if covs is None:
        h = len(m) ** (-1 / 6) * np.maximum(m.std(0), 1e-3)   # Scott's rule in 2-D
        covs = np.broadcast_to(np.diag(h ** 2), (len(m), 2, 2))
    covs = np.asarray(covs, np.float64) + 1e-9 * np.eye(2)
    a, b, d = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * d - b * b
    # the inverse 2×2 covariance (with the cross term doubled) and the normaliser, in float32:
    # the grid × components evaluation dominates, and float32 in place is several times faster
    ia, ib2, id_ = ((v / det).astype(np.float32) for v in (d, -2 * b, a))
    norm = (1.0 / (2 * np.pi * np.sqrt(det))).astype(np.float32)
    m32 = m.astype(np.float32)
    gx, gy = np.meshgrid(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
    pts = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    out = np.zeros(len(pts))
    for s in range(0, len(pts), 256):                  # chunks bound the memory
        dx = pts[s:s + 256, None, 0] - m32[None, :, 0]
        dy = pts[s:s + 256, None, 1] - m32[None, :, 1]
        q = ia * dx * dx
        q += ib2 * dx * dy
        q += id_ * dy * dy
        q *= -0.5
        np.exp(q, out=q)
        q *= norm
        out[s:s + 256] = q.mean(1, dtype=np.float64)
    return out.reshape(gx.shape)


# ------------------------------------------------------ toy data views

def grid_lines(ranges, n_lines: int = 11, n_points: int = 60) -> list[np.ndarray]:
    """The lines of a regular grid over ``ranges``: ``n_lines`` horizontal and as many
    vertical polylines of ``n_points`` points each (a list of ``[n_points, 2]``)."""
    (x0, x1), (y0, y1) = ranges
    s = np.linspace(0.0, 1.0, n_points)
    lines = []
    for y in np.linspace(y0, y1, n_lines):
        lines.append(np.stack([x0 + s * (x1 - x0), np.full(n_points, y)], 1))
    for x in np.linspace(x0, x1, n_lines):
        lines.append(np.stack([np.full(n_points, x), y0 + s * (y1 - y0)], 1))
    return lines


def map_lines(fn, lines: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``fn`` ([M, a] -> [M, 2]) to every line in one batch; return x, y arrays with
    NaN between lines (one plotly trace): the encoder's image of a data grid, or the
    decoder's image of a latent grid (GAN Lab's manifold view)."""
    if not lines:
        return np.zeros(0), np.zeros(0)
    k = len(lines[0])
    out = np.asarray(fn(np.concatenate(lines)), np.float64).reshape(len(lines), k, 2)
    nan = np.full((len(lines), 1, 2), np.nan)
    both = np.concatenate([out, nan], 1).reshape(-1, 2)
    return both[:, 0], both[:, 1]


def encode(model, x) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, logvar)`` of q(z|x) for each item of ``x`` (numpy or tensor), batched."""
    mu, lv = model.encode_mean(torch.as_tensor(np.asarray(x), dtype=torch.float32))
    return mu.cpu().numpy(), lv.cpu().numpy()
