"""The 2-D toy sets: moons, circles, swissroll, pinwheel and gaussians.

Each is generated from ``split_seed``, ``n_points`` and ``noise``, comes with
class labels (which moon, ring, roll segment, arm or component a point belongs
to) and is scaled into [0.05, 0.95] keeping its aspect ratio. The first three
come from scikit-learn; pinwheel and gaussians are generated here.
"""
from __future__ import annotations

import numpy as np

from ..config import DataConfig
from .common import _TOY_STREAM, _hash_arrays, _rng, _Source


def _toy(cfg: DataConfig) -> _Source:
    """The toy set ``cfg.name``: ``cfg.n_points`` labelled points, scaled into the unit square."""
    n, noise, seed = cfg.n_points, cfg.noise, cfg.split_seed
    if cfg.name == "moons":
        from sklearn.datasets import make_moons

        points, labels = make_moons(n_samples=n, noise=noise, random_state=seed)
        names = ["upper moon", "lower moon"]
    elif cfg.name == "circles":
        from sklearn.datasets import make_circles

        points, labels = make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
        names = ["outer circle", "inner circle"]
    elif cfg.name == "swissroll":
        from sklearn.datasets import make_swiss_roll

        xyz, t = make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
        points = xyz[:, [0, 2]]
        # t runs over [1.5π, 4.5π]; six equal bins from the centre outwards
        labels = np.clip(((t - 1.5 * np.pi) / (3 * np.pi) * 6).astype(np.int64), 0, 5)
        names = [f"segment {i + 1}" for i in range(6)]
    elif cfg.name == "pinwheel":
        points, labels = _pinwheel(n, noise, _rng(seed, _TOY_STREAM))
        names = [f"arm {i + 1}" for i in range(5)]
    else:
        points, labels = _gaussians(n, noise, _rng(seed, _TOY_STREAM))
        names = [f"component {i + 1}" for i in range(8)]
    labels = labels.astype(np.int64)
    return _Source(x=_scale_into_unit_square(points), y=labels, x_val=None, y_val=None,
                   class_names=names, checksum=_hash_arrays(points, labels), is_image=False)


def _pinwheel(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The 5-arm pinwheel of Johnson et al. (2016), plus isotropic jitter of std ``noise``.

    Radial std 0.3, tangential std 0.05, rate 0.25, as in the SVAE code
    (without its final ×10, which the scaling to [0, 1] undoes anyway).
    """
    arms = 5
    labels = rng.permutation(np.arange(n) % arms)
    features = rng.standard_normal((n, 2)) * np.array([0.3, 0.05])
    features[:, 0] += 1.0
    angles = 2 * np.pi * labels / arms + 0.25 * np.exp(features[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    points = np.stack([features[:, 0] * cos + features[:, 1] * sin,
                       -features[:, 0] * sin + features[:, 1] * cos], axis=1)
    return points + noise * rng.standard_normal((n, 2)), labels


def _gaussians(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eight isotropic Gaussians of std ``noise`` centred evenly on the unit circle."""
    labels = rng.permutation(np.arange(n) % 8)
    angles = 2 * np.pi * labels / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres + noise * rng.standard_normal((n, 2)), labels


def _scale_into_unit_square(points: np.ndarray) -> np.ndarray:
    """Min-max scale into [0.05, 0.95], keeping the aspect ratio.

    The longer axis spans the full [0.05, 0.95]; the other is centred, so
    circles stay round.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = max(float((hi - lo).max()), 1e-12)
    return (0.5 + 0.9 * (points - (lo + hi) / 2) / span).astype(np.float32)
