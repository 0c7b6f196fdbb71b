"""Small helpers shared by the Theory page's computations (``theory_*`` modules):
float64 tensors from plain values, input checks, seeded Gaussian samples and
running Monte Carlo means with their standard errors."""
from __future__ import annotations

import math

import numpy as np
import torch

F64 = torch.float64
MC_MAX = 1_000_000          # the most Monte Carlo samples a page control may ask for


def as_t(a) -> torch.Tensor:
    """A float64 tensor from a number, list or array."""
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=F64)


def finite(x) -> bool:
    """True for a finite int or float (numpy scalars included); False for anything else."""
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


def check_samples(n) -> int:
    """A Monte Carlo sample count between 2 and ``MC_MAX``."""
    n = int(n)
    if not 2 <= n <= MC_MAX:
        raise ValueError(f"the sample count must lie between 2 and {MC_MAX:,}.")
    return n


def mean_se(values) -> tuple[float, float]:
    """The mean of ``values`` and its standard error (sample std / √n)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def mvn(mu, cov) -> torch.distributions.MultivariateNormal:
    return torch.distributions.MultivariateNormal(as_t(mu), covariance_matrix=as_t(cov))


def sample(dist: torch.distributions.MultivariateNormal, n: int, seed: int) -> torch.Tensor:
    """``n`` draws from ``dist``, reproducible by ``seed``: μ + ε Lᵀ with ε ~ N(0, I)."""
    gen = torch.Generator().manual_seed(int(seed))
    eps = torch.randn(n, dist.loc.shape[-1], generator=gen, dtype=F64)
    return dist.loc + eps @ dist.scale_tril.T


def running_mean_se(values, points: int = 200) -> dict:
    """The running mean of ``values`` and its standard error, at ~``points`` sample
    counts spaced evenly on a log scale from 2 to n: ``n``, ``mean``, ``se``.

    Sums are of values centred on the overall mean, so a huge mean with a small spread
    keeps its precision.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError("need at least 2 values")
    centre = v.mean()
    c = v - centre
    n = np.unique(np.geomspace(2, len(v), points).round().astype(np.int64))
    s1 = np.cumsum(c)[n - 1]
    s2 = np.cumsum(c * c)[n - 1]
    var = np.maximum(s2 - s1 * s1 / n, 0.0) / (n - 1)
    return {"n": n, "mean": centre + s1 / n, "se": np.sqrt(var / n)}
