"""Shapes: a generated image set whose generating factors are known (after dSprites).

Every image is one white shape on black, fixed by five factors, each taking a few
evenly spaced levels:

* ``shape``: square, ellipse or triangle (a category, also the image's class label);
* ``scale``: the shape's size;
* ``rotation``: 0° to 75° in steps of 15° (all three shapes look different at each of
  these: a square repeats every 90°, a triangle every 120°, an ellipse every 180°);
* ``x``, ``y``: the position of the shape's centre.

Images are 32×32 and binary (a pixel is on when at least half of it lies inside the
shape, measured on a 4×4 grid within the pixel), as in dSprites (Matthey et al. 2017),
so a Bernoulli likelihood is exact for them. :func:`generate` draws ``n`` images with
factor levels chosen uniformly at random from ``seed``: the same seed gives the same
images, here and on any machine, with no download. :func:`render` draws one image from
its factors, so a test can recover every image from its labels.

Disentanglement measures (:mod:`explorer.analysis.disentangle`) need the factors of
every image: :func:`generate` returns them as level indices, one column per factor.
"""
from __future__ import annotations

import math

import numpy as np

from .common import _SHAPES_STREAM, _hash_arrays, _rng, _Source

SIDE = 32                      # image side, pixels
SUPERSAMPLE = 4                # coverage measured on a SUPERSAMPLE × SUPERSAMPLE grid per pixel
SHAPES = ("square", "ellipse", "triangle")
FACTORS = ("shape", "scale", "rotation", "x", "y")
#: each factor's levels, in the units a person reads: a name, a size factor, degrees, pixels
LEVELS: dict[str, tuple] = {
    "shape": SHAPES,
    "scale": (0.6, 0.73, 0.87, 1.0),
    "rotation": (0.0, 15.0, 30.0, 45.0, 60.0, 75.0),
    "x": tuple(round(9.0 + 14.0 * i / 7, 3) for i in range(8)),
    "y": tuple(round(9.0 + 14.0 * i / 7, 3) for i in range(8)),
}
N_LEVELS = tuple(len(LEVELS[f]) for f in FACTORS)
HALF_SIZE = 7.5                # a shape's half-extent in pixels at scale 1

# The pixel grid's sample points, in pixel units (pixel i spans [i, i + 1)).
_OFFSETS = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
_GRID = (np.arange(SIDE)[:, None] + _OFFSETS[None, :]).reshape(-1)       # SIDE·SUPERSAMPLE points


def _inside(shape: str, u: np.ndarray, v: np.ndarray, s: float) -> np.ndarray:
    """Whether the points (u, v), in the shape's own frame (centred, unrotated), lie inside
    the shape of half-size ``s``. The three shapes have roughly equal areas."""
    if shape == "square":
        a = 0.68 * s
        return (np.abs(u) <= a) & (np.abs(v) <= a)
    if shape == "ellipse":
        return (u / s) ** 2 + (v / (0.55 * s)) ** 2 <= 1.0
    # an equilateral triangle with circumradius r and one corner pointing up: inside the
    # three edges, whose outward normals point at 30°, 150° and 270° (y up, so -v)
    r = 1.15 * s
    inside = np.ones(u.shape, bool)
    for degrees in (30.0, 150.0, 270.0):
        a = math.radians(degrees)
        inside &= u * math.cos(a) - v * math.sin(a) <= r / 2
    return inside


def render(shape: int, scale: int, rotation: int, x: int, y: int) -> np.ndarray:
    """The SIDE×SIDE binary image (uint8, 0 or 255) of one combination of factor *levels*
    (indices into :data:`LEVELS`)."""
    name = SHAPES[shape]
    s = HALF_SIZE * LEVELS["scale"][scale]
    theta = math.radians(LEVELS["rotation"][rotation])
    cx, cy = LEVELS["x"][x], LEVELS["y"][y]
    px, py = np.meshgrid(_GRID - cx, _GRID - cy)          # rows: y (down), columns: x
    c, sn = math.cos(theta), math.sin(theta)
    u, v = c * px + sn * py, -sn * px + c * py            # into the shape's frame
    inside = _inside(name, u, v, s).astype(np.float32)
    cover = inside.reshape(SIDE, SUPERSAMPLE, SIDE, SUPERSAMPLE).mean(axis=(1, 3))
    return np.where(cover >= 0.5, 255, 0).astype(np.uint8)


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (uint8 N×1×SIDE×SIDE) and their factors (int64 N×5: level indices in the
    order of :data:`FACTORS`), levels drawn uniformly and independently from ``seed``."""
    rng = _rng(seed, _SHAPES_STREAM)
    factors = np.stack([rng.integers(0, k, size=n) for k in N_LEVELS], axis=1).astype(np.int64)
    cache: dict[tuple, np.ndarray] = {}
    images = np.empty((n, 1, SIDE, SIDE), np.uint8)
    for i, f in enumerate(map(tuple, factors)):
        if f not in cache:
            cache[f] = render(*f)
        images[i, 0] = cache[f]
    return images, factors


def factor_values(factors: np.ndarray) -> dict[str, list]:
    """The factors' values (names, sizes, degrees, pixels) of level indices ``factors``."""
    factors = np.asarray(factors)
    return {name: [LEVELS[name][int(i)] for i in factors[:, k]] for k, name in enumerate(FACTORS)}


def _shapes(n: int, seed: int) -> _Source:
    """The ``shapes`` source for :func:`explorer.data.load`: class label = the shape."""
    images, factors = generate(n, seed)
    return _Source(x=images, y=factors[:, 0].copy(), x_val=None, y_val=None, class_names=list(SHAPES),
                   checksum=_hash_arrays(images, factors), is_image=True, factors=factors)
