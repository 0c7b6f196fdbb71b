"""Section 4 of the seed, computed: the discrete KL divergence (eq. 3) and Lemma 1,
the KL divergence between two Gaussians (eq. 4-6, the diagonal case of eq. 14).

Every formula is :mod:`explorer.objective`'s; this module adds input validation
with readable messages, Monte Carlo checks with standard errors and the one step
of the lemma's proof where the seed drops a ½.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ... import objective
from ..latent import gaussian_ellipse
from .base import F64, as_t, check_samples, finite, mean_se, mvn, running_mean_se, sample

# ============================================================ eq. 3: discrete KL

MAX_OUTCOMES = 50


def parse_weights(text: str, name: str = "P") -> np.ndarray:
    """``"1, 2, 3"`` -> the normalised distribution ``[1/6, 2/6, 3/6]``.

    Commas, semicolons or spaces separate the weights. Raises ``ValueError`` with a
    message for the reader on empty input, non-numbers, negative or non-finite
    weights, or weights that are all zero.
    """
    parts = [s for s in re.split(r"[,;\s]+", (text or "").strip()) if s]
    if not parts:
        raise ValueError(f"{name}: enter at least one weight, e.g. 1, 2, 3.")
    if len(parts) > MAX_OUTCOMES:
        raise ValueError(f"{name}: at most {MAX_OUTCOMES} outcomes, got {len(parts)}.")
    values = []
    for s in parts:
        try:
            values.append(float(s))
        except ValueError:
            raise ValueError(f"{name}: '{s}' is not a number.") from None
    w = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: weights must be finite numbers.")
    if (w < 0).any():
        raise ValueError(f"{name}: weights must be ≥ 0 (a probability cannot be negative).")
    if w.max() <= 0:
        raise ValueError(f"{name}: at least one weight must be positive.")
    w = w / w.max()                      # no overflow in the sum, whatever the scale
    return w / w.sum()


def discrete_kl(p, q) -> dict:
    """Eq. 3 both ways, with its summands, for two distributions on the same outcomes.

    Returns ``kl_pq`` = KL(P||Q), ``kl_qp`` = KL(Q||P) (``inf`` where the first puts
    mass on an outcome the second rules out), the per-outcome summands
    ``terms_pq``/``terms_qp`` (they may be negative; their sum may not), and
    ``inf_pq``/``inf_qp``: the outcomes that make a direction infinite.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"P and Q need the same number of outcomes (P has {p.size}, Q has {q.size}).")
    pt, qt = as_t(p), as_t(q)
    # one outcome at a time is eq. 3 over a last axis of length 1: the summand P(x) log(P(x)/Q(x))
    terms_pq = objective.kl_discrete(pt[:, None], qt[:, None]).numpy()
    terms_qp = objective.kl_discrete(qt[:, None], pt[:, None]).numpy()
    return {
        "p": p, "q": q,
        "kl_pq": float(objective.kl_discrete(pt, qt)), "kl_qp": float(objective.kl_discrete(qt, pt)),
        "terms_pq": terms_pq, "terms_qp": terms_qp,
        "inf_pq": np.nonzero((p > 0) & (q == 0))[0], "inf_qp": np.nonzero((q > 0) & (p == 0))[0],
    }


# ============================================== Lemma 1 (eq. 5): two Gaussians in 2-D

SIGMA_MIN, SIGMA_MAX = 1e-4, 1e4
MEAN_MAX = 1e6
COND_FLOOR = 1e-12       # smallest eigenvalue kept, relative to the largest
# the page's inputs for one 2-D Gaussian: (key, label, lowest, highest, step)
GAUSSIAN_FIELDS = (("mx", "mean, 1st coordinate", -MEAN_MAX, MEAN_MAX, 0.1),
                   ("my", "mean, 2nd coordinate", -MEAN_MAX, MEAN_MAX, 0.1),
                   ("s1", "σ (1st)", 0.0, SIGMA_MAX, 0.1), ("s2", "σ (2nd)", 0.0, SIGMA_MAX, 0.1),
                   ("rho", "correlation ρ", -1.0, 1.0, 0.05))


def covariance_2d(s1: float, s2: float, rho: float) -> np.ndarray:
    """``Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]]`` from standard deviations and a correlation.

    Symmetric by construction, positive definite when σ₁, σ₂ > 0 and |ρ| < 1;
    raises ``ValueError`` (with a message) otherwise.
    """
    for name, s in (("σ₁", s1), ("σ₂", s2)):
        if not finite(s) or s <= 0:
            raise ValueError(f"{name} is a standard deviation: it must be a positive number (got {s}).")
        if not SIGMA_MIN <= s <= SIGMA_MAX:
            raise ValueError(f"{name} must lie between {SIGMA_MIN:g} and {SIGMA_MAX:g} (got {s:g}).")
    if not finite(rho) or abs(rho) >= 1:
        raise ValueError(f"the correlation ρ must lie strictly between −1 and 1 (got {rho}); at |ρ| = 1 "
                         "the Gaussian lives on a line, Σ is singular and eq. 4 has no density.")
    c = rho * s1 * s2
    return np.array([[s1 * s1, c], [c, s2 * s2]], dtype=np.float64)


def check_mean(mu, name: str = "μ") -> np.ndarray:
    """A finite mean vector with entries of size at most ``MEAN_MAX``."""
    mu = np.asarray(mu, dtype=np.float64)
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"{name} must be finite numbers.")
    if np.abs(mu).max(initial=0) > MEAN_MAX:
        raise ValueError(f"{name}: entries must lie between −{MEAN_MAX:g} and {MEAN_MAX:g}.")
    return mu


def regularise_covariance(cov, floor: float = COND_FLOOR) -> tuple[np.ndarray, str | None]:
    """Raise eigenvalues below ``floor × largest`` to that floor; returns ``(Σ, note)``.

    ``note`` is None when Σ was already well conditioned, otherwise a sentence for the
    page saying what was changed (so a near-singular Σ gives finite numbers, visibly).
    """
    cov = np.asarray(cov, dtype=np.float64)
    cov = 0.5 * (cov + cov.T)
    evals, evecs = np.linalg.eigh(cov)
    top = evals.max()
    if top <= 0 or not np.isfinite(top):
        raise ValueError("the covariance has no positive variance")
    lo = floor * top
    if evals.min() >= lo:
        return cov, None
    fixed = np.maximum(evals, lo)
    out = (evecs * fixed) @ evecs.T
    note = (f"Σ is nearly singular (eigenvalues {evals.min():.3g} and {top:.3g}); its smallest "
            f"eigenvalue was raised to {lo:.3g} (10⁻¹² of the largest) so the numbers stay finite.")
    return 0.5 * (out + out.T), note


def gaussian_2d(mu, s1: float, s2: float, rho: float) -> tuple[np.ndarray, np.ndarray, str | None]:
    """A validated 2-D Gaussian ``(μ, Σ, note)`` from the page's inputs (see
    :func:`covariance_2d`, :func:`regularise_covariance`)."""
    mu = check_mean(mu)
    cov, note = regularise_covariance(covariance_2d(s1, s2, rho))
    return mu, cov, note


def two_gaussians_2d(p_inputs, q_inputs) -> tuple:
    """Both of the page's Gaussians, validated: ``(μ₁, Σ₁, μ₂, Σ₂, notes)`` from two
    ``(mean, σ₁, σ₂, ρ)`` inputs, ``notes`` the sentences of :func:`regularise_covariance`."""
    (mu1, cov1, n1), (mu2, cov2, n2) = gaussian_2d(*p_inputs), gaussian_2d(*q_inputs)
    return mu1, cov1, mu2, cov2, [f"{who}: {n}" for who, n in (("Σ₁", n1), ("Σ₂", n2)) if n]


def kl_lemma1(mu1, cov1, mu2, cov2) -> float:
    """Eq. 5, ``KL(N(μ₁, Σ₁) || N(μ₂, Σ₂))``, by :func:`objective.kl_gaussians`."""
    return float(objective.kl_gaussians(as_t(mu1), as_t(cov1), as_t(mu2), as_t(cov2)))


def mc_kl(mu1, cov1, mu2, cov2, n: int, seed: int = 0, points: int = 200) -> dict:
    """Monte Carlo check of Lemma 1: ``KL ≈ (1/n) Σ [log p(xᵢ) − log q(xᵢ)]``, xᵢ ~ p.

    Returns ``estimate``, its standard error ``se``, the closed form ``closed`` (eq. 5),
    ``z`` = (estimate − closed) / se (about N(0, 1) if both are right) and the running
    mean with its SE (``n``, ``mean``, ``se_curve``) for a convergence plot.
    """
    n = check_samples(n)
    p, q = mvn(mu1, cov1), mvn(mu2, cov2)
    x = sample(p, n, seed)
    f = (p.log_prob(x) - q.log_prob(x)).numpy()
    run = running_mean_se(f, points)
    est, se = mean_se(f)
    closed = kl_lemma1(mu1, cov1, mu2, cov2)
    return {"estimate": est, "se": se, "closed": closed, "z": (est - closed) / se if se > 0 else 0.0,
            "n": run["n"], "mean": run["mean"], "se_curve": run["se"]}


def diagonal_vs_eq14(mu, logvar) -> dict:
    """The diagonal case against N(0, I): Lemma 1 with ``Σ = diag(exp(logvar))`` beside
    the KL term of eq. 14 in log-variance form, ``½ Σ_k (exp(logvar) + μ² − 1 − logvar)``.

    Returns ``lemma1``, ``eq14`` and the per-dimension terms ``per_dim``.
    """
    mu, logvar = as_t(mu), as_t(logvar)
    k = mu.shape[-1]
    lemma1 = objective.kl_gaussians(mu, torch.diag(torch.exp(logvar)), torch.zeros(k, dtype=F64),
                                    torch.eye(k, dtype=F64))
    per_dim = objective.kl_std_normal_per_dim(mu, logvar)
    return {"lemma1": float(lemma1), "eq14": float(per_dim.sum()), "per_dim": per_dim.numpy()}


def proof_half_check(mu1, cov1, mu2, cov2, n: int, seed: int = 0) -> dict:
    """The step of the lemma's proof where the seed drops a ½:
    ``E_p[½ (x−μ₂)ᵀ Σ₂⁻¹ (x−μ₂)]`` by Monte Carlo, beside the seed's
    ``½ tr(Σ₂⁻¹Σ₁) + (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)`` and the corrected
    ``½ tr(Σ₂⁻¹Σ₁) + ½ (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)``.
    """
    n = check_samples(n)
    x = sample(mvn(mu1, cov1), n, seed)
    l2 = torch.linalg.cholesky(as_t(cov2))
    d = (x - as_t(mu2)).T                                          # [k, n]
    quad = 0.5 * torch.linalg.solve_triangular(l2, d, upper=False).pow(2).sum(0)
    trace = float(torch.linalg.solve_triangular(l2, torch.linalg.cholesky(as_t(cov1)), upper=False)
                  .pow(2).sum())
    dm = (as_t(mu1) - as_t(mu2))[:, None]
    maha = float(torch.linalg.solve_triangular(l2, dm, upper=False).pow(2).sum())
    mc, se = mean_se(quad.numpy())
    return {"mc": mc, "se": se, "trace": trace, "maha": maha,
            "seed_value": 0.5 * trace + maha, "corrected_value": 0.5 * trace + 0.5 * maha}


def ellipse(mu, cov, nsig: float = 1.0, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` on the ``nsig``-σ contour of N(μ, Σ) in 2-D: the set where
    ``(x−μ)ᵀ Σ⁻¹ (x−μ) = nsig²`` (:func:`explorer.analysis.latent.gaussian_ellipse`)."""
    x, y = gaussian_ellipse(mu, cov, nsig, n=points).T
    return x, y