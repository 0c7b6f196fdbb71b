"""Small statistics shared by the labs that compare runs over seeds (the β lab, the
disentanglement lab): one convention for a mean and its standard error, for "within
error", for a trend across epochs and for the seeded subsets that measures are taken on.

The convention, everywhere a page or a report ranks or compares:

* **per-β mean and standard error over seeds** (:func:`mean_se`, :func:`by_group`): the
  plain mean of the seeds' values and ``s / √n`` with the sample standard deviation
  (``ddof = 1``); with one seed the standard error is ``None`` (unknown, never 0);
* **a difference** between two means is called a difference only when it exceeds two
  standard errors of the difference, ``2 · √(se₁² + se₂²)`` (:func:`differs`, :data:`Z`);
  the runs of two β are trained independently, so the errors add in quadrature;
* **the best and those within error of it** (:func:`within_error_of_best`): every group
  whose mean is not distinguishable from the best one's by that rule (a set, not one star);
* **a trend across epochs** (:func:`slope_with_se`): the least-squares slope of a curve and
  its standard error; a curve "falls" only when the slope is below zero by more than
  :data:`Z` standard errors (one epoch's change is noise, not a trend);
* **seeded subsets** (:func:`seeded_subset`): ``n`` indices drawn without replacement from
  a split by a seeded permutation, so that every run (every seed, the app and the CLI) is
  measured on the same images, and no split's ordering (MNIST's test file is ordered by
  writer) biases the numbers.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

Z = 2.0    # how many standard errors make a difference


def _finite(values: Iterable) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return a[np.isfinite(a)]


def mean_se(values: Iterable) -> tuple[float | None, float | None, int]:
    """``(mean, standard error, n)`` of the finite ``values`` (None and NaN are left out).
    The standard error is ``std(ddof=1) / √n``, None for fewer than two values; the mean is
    None for none."""
    a = _finite(values)
    if len(a) == 0:
        return None, None, 0
    if len(a) == 1:
        return float(a[0]), None, 1
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))), int(len(a))


def ratio_se(a, b) -> tuple[float, float | None]:
    """``mean(a) / mean(b)`` of paired values (one a and one b per item) and its standard
    error by the delta method: ``√(var(a − r·b) / n) / mean(b)``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) != len(b) or len(a) == 0 or b.mean() == 0:
        raise ValueError("ratio_se needs paired values with a non-zero mean below")
    r = float(a.mean() / b.mean())
    if len(a) < 2:
        return r, None
    return r, float(np.std(a - r * b, ddof=1) / math.sqrt(len(a)) / abs(b.mean()))


def combine_se(values: Iterable, shared_ses: Iterable | None = None) -> tuple[float | None, float | None, int]:
    """``(mean, standard error, n)`` of one measure over seeds measured on the same images.

    The seeds' spread gives ``sd / √n``; the images' own sampling error (``shared_ses``: each
    seed's standard error over the images) is common to all seeds, so it does not shrink
    with more seeds and is added once: ``√(sd²/n + mean(shared²))``. With one seed the
    error is that seed's own (``shared_ses[0]``), None if unknown."""
    mean, se, n = mean_se(values)
    shared = _finite(shared_ses or [])
    extra = float((shared ** 2).mean()) if len(shared) else None
    if n <= 1:
        return mean, (math.sqrt(extra) if extra is not None else None), n
    return mean, math.sqrt(se ** 2 + (extra or 0.0)), n


def by_group(rows: Iterable[dict], key: str, group: str = "beta") -> dict[float, tuple]:
    """Per group (β by default, in increasing order): ``(mean, se, n)`` of ``row[key]``
    over the rows of that group (one row per seed)."""
    vals: dict[float, list] = {}
    for r in rows:
        vals.setdefault(float(r[group]), []).append(r.get(key))
    return {g: mean_se(vals[g]) for g in sorted(vals)}


def se_of_difference(se_a: float | None, se_b: float | None) -> float | None:
    """``√(se_a² + se_b²)`` (independent estimates), None when either is unknown."""
    if se_a is None or se_b is None:
        return None
    return math.hypot(se_a, se_b)


def differs(a: float, se_a: float | None, b: float, se_b: float | None, z: float = Z) -> bool:
    """True when ``a`` and ``b`` differ by more than ``z`` standard errors of their
    difference. Unknown errors never make a difference."""
    se = se_of_difference(se_a, se_b)
    return se is not None and abs(a - b) > z * se


def compare(a: float, se_a: float | None, b: float, se_b: float | None, z: float = Z) -> int:
    """+1 when ``a`` is larger than ``b`` beyond error, −1 when smaller, 0 otherwise."""
    if not differs(a, se_a, b, se_b, z):
        return 0
    return 1 if a > b else -1


def within_error_of_best(means, ses, *, higher_is_better: bool = True, z: float = Z) -> list[int]:
    """Indices of the groups whose mean is within error of the best mean (the best itself
    included): those that :func:`differs` cannot tell from it. Groups with no mean are
    left out; with unknown errors only the best is returned."""
    m = [None if v is None or not math.isfinite(float(v)) else float(v) for v in means]
    idx = [i for i, v in enumerate(m) if v is not None]
    if not idx:
        return []
    best = (max if higher_is_better else min)(idx, key=lambda i: m[i])
    return [i for i in idx if i == best or (se_of_difference(ses[i], ses[best]) is not None
                                            and not differs(m[i], ses[i], m[best], ses[best], z))]


def slope_with_se(x, y) -> tuple[float, float | None]:
    """The least-squares slope of ``y`` on ``x`` and its standard error (residuals with
    ``n − 2`` degrees of freedom); the error is None for fewer than three points."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0, None
    xc = x - x.mean()
    sxx = float((xc ** 2).sum())
    slope = float((xc * (y - y.mean())).sum() / sxx)
    if len(x) < 3:
        return slope, None
    resid = y - y.mean() - slope * xc
    return slope, float(math.sqrt((resid ** 2).sum() / (len(x) - 2) / sxx))


def trend(x, y, z: float = Z) -> int:
    """+1 when ``y`` rises across ``x`` (slope above 0 by more than ``z`` standard errors),
    −1 when it falls, 0 when no trend is shown."""
    slope, se = slope_with_se(x, y)
    if se is None or abs(slope) <= z * se:
        return 0
    return 1 if slope > 0 else -1


def seeded_subset(n_total: int, n: int, seed: int = 0, stream: int = 0) -> np.ndarray:
    """``min(n, n_total)`` distinct indices into a split of ``n_total`` items: the first of
    a permutation drawn from ``(seed, stream)``. The same arguments give the same indices
    on every machine (NumPy's PCG64); a larger ``n`` extends a smaller one's subset."""
    if n_total < 0 or n < 0:
        raise ValueError("seeded_subset needs non-negative sizes")
    rng = np.random.default_rng([int(seed), int(stream)])
    return rng.permutation(int(n_total))[:min(int(n), int(n_total))].astype(np.int64)
