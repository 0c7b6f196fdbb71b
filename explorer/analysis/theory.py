"""The Theory page's computations: every number it shows, each one a call into
:mod:`explorer.objective`.

Nothing here re-implements a formula of the seed. The KL divergences (eq. 3,
Lemma 1 / eq. 5, eq. 14), the losses (eq. 1, eq. 2 / 13), the
reparameterisation (section 5) and the bounds (ELBO, IWAE) come from
``objective``; this module adds the *checks* around them: Monte Carlo estimates
with standard errors and running means, gradient estimators and their variance,
parameter sweeps, input validation with readable messages.

Functions take plain values (floats, numpy arrays) or a model and return plain
values (floats, numpy arrays, dicts of them), so the page can cache them.
Sections follow the seed: AE vs VAE (eq. 1, 2); KL divergence (eq. 3); Lemma 1
(eq. 4, 5, 14); the ELBO (eq. 9-13, 15); optimisation (section 5).
"""
from __future__ import annotations

import copy
import math
import re
from typing import Callable

import numpy as np
import torch

from .. import objective as O

F64 = torch.float64


def _t(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=F64)


def _finite(x: float) -> bool:
    return isinstance(x, (int, float, np.floating, np.integer)) and math.isfinite(float(x))


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
    pt, qt = _t(p), _t(q)
    # one outcome at a time is eq. 3 over a last axis of length 1: the summand P(x) log(P(x)/Q(x))
    terms_pq = O.kl_discrete(pt[:, None], qt[:, None]).numpy()
    terms_qp = O.kl_discrete(qt[:, None], pt[:, None]).numpy()
    return {
        "p": p, "q": q,
        "kl_pq": float(O.kl_discrete(pt, qt)), "kl_qp": float(O.kl_discrete(qt, pt)),
        "terms_pq": terms_pq, "terms_qp": terms_qp,
        "inf_pq": np.nonzero((p > 0) & (q == 0))[0], "inf_qp": np.nonzero((q > 0) & (p == 0))[0],
    }


# ============================================== Lemma 1 (eq. 5): two Gaussians in 2-D

SIGMA_MIN, SIGMA_MAX = 1e-4, 1e4
MEAN_MAX = 1e6
COND_FLOOR = 1e-12       # smallest eigenvalue kept, relative to the largest


def covariance_2d(s1: float, s2: float, rho: float) -> np.ndarray:
    """``Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]]`` from standard deviations and a correlation.

    Symmetric by construction, positive definite when σ₁, σ₂ > 0 and |ρ| < 1;
    raises ``ValueError`` (with a message) otherwise.
    """
    for name, s in (("σ₁", s1), ("σ₂", s2)):
        if not _finite(s) or s <= 0:
            raise ValueError(f"{name} is a standard deviation: it must be a positive number (got {s}).")
        if not SIGMA_MIN <= s <= SIGMA_MAX:
            raise ValueError(f"{name} must lie between {SIGMA_MIN:g} and {SIGMA_MAX:g} (got {s:g}).")
    if not _finite(rho) or abs(rho) >= 1:
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


def kl_lemma1(mu1, cov1, mu2, cov2) -> float:
    """Eq. 5, ``KL(N(μ₁, Σ₁) || N(μ₂, Σ₂))``, by :func:`objective.kl_gaussians`."""
    return float(O.kl_gaussians(_t(mu1), _t(cov1), _t(mu2), _t(cov2)))


def _mvn(mu, cov) -> torch.distributions.MultivariateNormal:
    return torch.distributions.MultivariateNormal(_t(mu), covariance_matrix=_t(cov))


def _sample(dist: torch.distributions.MultivariateNormal, n: int, seed: int) -> torch.Tensor:
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


MC_MAX = 1_000_000


def mc_kl(mu1, cov1, mu2, cov2, n: int, seed: int = 0, points: int = 200) -> dict:
    """Monte Carlo check of Lemma 1: ``KL ≈ (1/n) Σ [log p(xᵢ) − log q(xᵢ)]``, xᵢ ~ p.

    Returns ``estimate``, its standard error ``se``, the closed form ``closed`` (eq. 5),
    ``z`` = (estimate − closed) / se (about N(0, 1) if both are right) and the running mean with its SE (``n``, ``mean``, ``se_curve``) for a convergence plot.
    """
    n = int(n)
    if not 2 <= n <= MC_MAX:
        raise ValueError(f"the sample count must lie between 2 and {MC_MAX:,}.")
    p, q = _mvn(mu1, cov1), _mvn(mu2, cov2)
    x = _sample(p, n, seed)
    f = (p.log_prob(x) - q.log_prob(x)).numpy()
    run = running_mean_se(f, points)
    est, se = float(f.mean()), float(f.std(ddof=1) / math.sqrt(n))
    closed = kl_lemma1(mu1, cov1, mu2, cov2)
    return {"estimate": est, "se": se, "closed": closed, "z": (est - closed) / se if se > 0 else 0.0,
            "n": run["n"], "mean": run["mean"], "se_curve": run["se"]}


def diagonal_vs_eq14(mu, logvar) -> dict:
    """The diagonal case against N(0, I): Lemma 1 with ``Σ = diag(exp(logvar))`` beside
    eq. 14 in log-variance form, ``½ Σ_k (exp(logvar) + μ² − 1 − logvar)``.

    Returns ``lemma1``, ``eq14`` and the per-dimension terms ``per_dim``.
    """
    mu, logvar = _t(mu), _t(logvar)
    k = mu.shape[-1]
    lemma1 = O.kl_gaussians(mu, torch.diag(torch.exp(logvar)), torch.zeros(k, dtype=F64),
                            torch.eye(k, dtype=F64))
    per_dim = O.kl_std_normal_per_dim(mu, logvar)
    return {"lemma1": float(lemma1), "eq14": float(per_dim.sum()), "per_dim": per_dim.numpy()}


def proof_half_check(mu1, cov1, mu2, cov2, n: int, seed: int = 0) -> dict:
    """The step of the lemma's proof where the seed drops a ½:
    ``E_p[½ (x−μ₂)ᵀ Σ₂⁻¹ (x−μ₂)]`` by Monte Carlo, beside the seed's
    ``½ tr(Σ₂⁻¹Σ₁) + (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)`` and the corrected
    ``½ tr(Σ₂⁻¹Σ₁) + ½ (μ₁−μ₂)ᵀΣ₂⁻¹(μ₁−μ₂)``.
    """
    n = int(n)
    if not 2 <= n <= MC_MAX:
        raise ValueError(f"the sample count must lie between 2 and {MC_MAX:,}.")
    p = _mvn(mu1, cov1)
    x = _sample(p, n, seed)
    l2 = torch.linalg.cholesky(_t(cov2))
    d = (x - _t(mu2)).T                                          # [k, n]
    quad = 0.5 * torch.linalg.solve_triangular(l2, d, upper=False).pow(2).sum(0)
    trace = float(torch.linalg.solve_triangular(l2, torch.linalg.cholesky(_t(cov1)), upper=False)
                  .pow(2).sum())
    dm = (_t(mu1) - _t(mu2))[:, None]
    maha = float(torch.linalg.solve_triangular(l2, dm, upper=False).pow(2).sum())
    qn = quad.numpy()
    return {"mc": float(qn.mean()), "se": float(qn.std(ddof=1) / math.sqrt(n)),
            "trace": trace, "maha": maha,
            "seed_value": 0.5 * trace + maha, "corrected_value": 0.5 * trace + 0.5 * maha}


def ellipse(mu, cov, nsig: float = 1.0, points: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` on the ``nsig``-σ contour of N(μ, Σ) in 2-D: the set where
    ``(x−μ)ᵀ Σ⁻¹ (x−μ) = nsig²`` (eigenvectors of Σ are its axes, √eigenvalues its half-lengths)."""
    mu = np.asarray(mu, dtype=np.float64)
    evals, evecs = np.linalg.eigh(0.5 * (np.asarray(cov, np.float64) + np.asarray(cov, np.float64).T))
    t = np.linspace(0.0, 2.0 * np.pi, points)
    circle = np.stack([np.cos(t), np.sin(t)])                  # [2, points]
    pts = evecs @ (np.sqrt(np.maximum(evals, 0.0))[:, None] * circle) * nsig
    return mu[0] + pts[0], mu[1] + pts[1]


# ===================================================== the ELBO (eq. 9-13, 15)

def demo_linear_gaussian(sigma: float = 0.5) -> O.LinearGaussianModel:
    """A 2-D latent, 3-D data linear-Gaussian model, ``x = W z + b + σ ε``.

    W has orthogonal columns, so the exact posterior p(z|x) has a diagonal covariance
    and the model's diagonal Gaussian encoder can match it exactly.
    """
    W = torch.tensor([[1.2, -0.2], [0.4, 0.6], [0.0, 0.8]], dtype=F64)
    b = torch.tensor([0.5, -0.3, 0.2], dtype=F64)
    return O.LinearGaussianModel(W, b, sigma)


def sample_x(model: O.LinearGaussianModel, seed: int = 0, n: int = 1) -> torch.Tensor:
    """``n`` data points from the model's p(x): ``z ~ N(0, I)``, ``x = W z + b + σ ε``."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, model.W.shape[1], generator=gen, dtype=F64)
    eps = torch.randn(n, model.W.shape[0], generator=gen, dtype=F64)
    return model.decode(z) + torch.exp(model.log_sigma) * eps


def move_encoder(model: O.LinearGaussianModel, shift=(0.0, 0.0), scale=(1.0, 1.0)) -> O.LinearGaussianModel:
    """A copy of ``model`` whose encoder q(z|x) is moved off the true posterior:
    its mean shifted by ``shift`` and its standard deviations multiplied by ``scale``."""
    scale = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    if not np.all(np.isfinite(scale)) or (scale <= 0).any():
        raise ValueError("the encoder's standard-deviation scale must be positive.")
    if not np.all(np.isfinite(shift)):
        raise ValueError("the encoder's mean shift must be finite.")
    m = O.LinearGaussianModel(model.W, model.b, float(torch.exp(model.log_sigma)))
    m.c = model.c + _t(shift)
    m.q_logvar = model.q_logvar + 2.0 * torch.log(_t(scale))
    return m


@torch.no_grad()
def elbo_check(model: O.LinearGaussianModel, x: torch.Tensor, samples: int = 4000, seed: int = 0) -> dict:
    """Eq. 12 on a model where everything is known, for one data point ``x`` ([1, d]).

    ``log_px`` exact; ``elbo`` = E_q log p(x|z) − KL(q||p(z)) by Monte Carlo
    (``samples`` single-sample estimates, standard error ``elbo_se``); ``recon`` its
    first term's negative, ``kl_prior`` the second (eq. 14); ``kl_post`` =
    KL(q(z|x) || p(z|x)) in closed form (Lemma 1). Eq. 12 says
    ``log_px − kl_post = elbo``; ``gap`` = log_px − elbo; ``loss`` = −elbo (eq. 13), which is
    ≥ −log_px (the corrected eq. 15).
    Also the two Gaussians' parameters (``q_mean``, ``q_cov``, ``post_mean``, ``post_cov``).
    """
    x = x.to(F64).reshape(1, -1)
    gen = torch.Generator().manual_seed(int(seed))
    terms = O.per_image_terms(model, x.repeat(int(samples), 1), samples=1, generator=gen)
    elbo = terms["elbo"].numpy()
    mu_q, logvar_q = model.encode(x)
    m, s = model.posterior_params()
    post_mean = (m @ (x[0] - model.b))
    q_cov = torch.diag(torch.exp(logvar_q[0]))
    kl_post = float(O.kl_gaussians(mu_q[0], q_cov, post_mean, s))
    log_px = float(model.exact_log_px(x)[0])
    return {"log_px": log_px, "elbo": float(elbo.mean()), "loss": -float(elbo.mean()),
            "elbo_se": float(elbo.std(ddof=1) / math.sqrt(len(elbo))),
            "recon": float(terms["recon"].mean()), "kl_prior": float(terms["kl"][0]),
            "kl_post": kl_post, "gap": log_px - float(elbo.mean()),
            "q_mean": mu_q[0].numpy(), "q_cov": q_cov.numpy(),
            "post_mean": post_mean.numpy(), "post_cov": s.numpy()}


def elbo_sweep(model: O.LinearGaussianModel, x: torch.Tensor, shifts, *, base_shift=(0.0, 0.0),
               scale=(1.0, 1.0), axis: int = 0, samples: int = 500, seed: int = 0) -> dict:
    """:func:`elbo_check` as the encoder's mean moves along latent ``axis`` through
    ``shifts`` (the same random numbers at every point, so the curve is smooth).
    Returns arrays ``shift``, ``elbo``, ``elbo_se``, ``kl_post`` and the constant ``log_px``."""
    out = {"shift": np.asarray(shifts, dtype=np.float64), "elbo": [], "elbo_se": [], "kl_post": []}
    for t in out["shift"]:
        sh = np.array(base_shift, dtype=np.float64)
        sh[axis] = t
        r = elbo_check(move_encoder(model, sh, scale), x, samples, seed)
        for key in ("elbo", "elbo_se", "kl_post"):
            out[key].append(r[key])
        out["log_px"] = r["log_px"]
    for key in ("elbo", "elbo_se", "kl_post"):
        out[key] = np.asarray(out[key])
    return out


IWAE_KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def iwae_curve(model, x: torch.Tensor, ks=IWAE_KS, seed: int = 0, chunk: int = 250,
               draws: int = 200) -> dict:
    """IWAE-k (:func:`objective.iwae_bound`) for each k, per image and averaged over images.

    A single IWAE-k draw is noisy when k is small, so each image's value at k is the
    mean of ``ceil(draws / k)`` independent draws (at least one): an estimate of
    E[IWAE-k], the bound itself. k = 1 is the ELBO.
    Returns ``ks``, ``per_image`` [len(ks), B], ``mean`` and ``se`` over images, and
    ``gain`` = mean of (IWAE-k − IWAE-1) per image with its SE ``gain_se`` (paired, so
    the tightening is measured without the image-to-image spread).
    """
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError("k must be a positive integer.")
    b = x.shape[0]
    rows = []
    for k in ks:
        reps = max(1, math.ceil(int(draws) / k))
        gen = torch.Generator().manual_seed(int(seed) * 100_003 + k)
        xr = x.repeat((reps,) + (1,) * (x.dim() - 1))                # reps copies of the batch
        vals = O.iwae_bound(model, xr, k, chunk=max(1, chunk // reps), generator=gen)
        rows.append(vals.to(F64).view(reps, b).mean(0).numpy())
    per = np.stack(rows)                                         # [K, B]
    gain = per - per[:1]

    def se(a: np.ndarray) -> np.ndarray:
        return a.std(axis=1, ddof=1) / math.sqrt(b) if b > 1 else np.zeros(len(a))

    return {"ks": np.asarray(ks), "per_image": per, "mean": per.mean(1), "se": se(per),
            "gain": gain.mean(1), "gain_se": se(gain)}


# ==================================================== section 5: optimisation

TEST_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "z²": lambda z: z * z,
    "sin z": torch.sin,
    "sigmoid(10 z), a soft step": lambda z: torch.sigmoid(10.0 * z),
    "exp z": torch.exp,
}
MU_MAX, GRAD_SIGMA_RANGE = 5.0, (1e-3, 5.0)


def _check_q(f_name: str, mu: float, sigma: float) -> Callable:
    if f_name not in TEST_FUNCTIONS:
        raise ValueError(f"unknown function {f_name!r}; choose one of {list(TEST_FUNCTIONS)}")
    if not _finite(mu) or abs(mu) > MU_MAX:
        raise ValueError(f"μ must lie between −{MU_MAX:g} and {MU_MAX:g}.")
    lo, hi = GRAD_SIGMA_RANGE
    if not _finite(sigma) or not lo <= sigma <= hi:
        raise ValueError(f"σ must lie between {lo:g} and {hi:g}.")
    return TEST_FUNCTIONS[f_name]


def _leaves(mu: float, sigma: float, repeats: int) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.full((repeats,), float(mu), dtype=F64, requires_grad=True)
    s = torch.full((repeats,), float(sigma), dtype=F64, requires_grad=True)
    return m, s


def reparam_estimates(f_name: str, mu: float, sigma: float, L: int, repeats: int = 1,
                      seed: int = 0) -> np.ndarray:
    """``repeats`` independent reparameterised estimates of ``∇_(μ,σ) E_{z~N(μ,σ²)} f(z)``,
    each from L samples ``z = μ + ε σ`` (:func:`objective.reparameterize`): ``[repeats, 2]``."""
    f = _check_q(f_name, mu, sigma)
    m, s = _leaves(mu, sigma, repeats)
    gen = torch.Generator().manual_seed(int(seed))
    z = O.reparameterize(m[:, None], 2.0 * torch.log(s)[:, None], int(L), gen)   # [L, R, 1]
    est = f(z).mean(0).sum()            # repeats are independent: d/dm_r picks out repeat r
    gm, gs = torch.autograd.grad(est, (m, s))
    return torch.stack([gm, gs], 1).numpy()


def score_estimates(f_name: str, mu: float, sigma: float, L: int, repeats: int = 1,
                    seed: int = 0) -> np.ndarray:
    """The score-function (REINFORCE) estimator, no reparameterisation:
    ``∇ E_q f(z) = E_q[f(z) ∇ log q(z)]`` ≈ ``(1/L) Σ_l f(z^l) ∇ log q(z^l)``, with
    ``log q`` from :func:`objective.log_normal_diag`. ``[repeats, 2]`` for (μ, σ)."""
    f = _check_q(f_name, mu, sigma)
    m, s = _leaves(mu, sigma, repeats)
    gen = torch.Generator().manual_seed(int(seed))
    logvar = 2.0 * torch.log(s)[:, None]
    with torch.no_grad():
        z = O.reparameterize(m[:, None], logvar, int(L), gen)      # samples, held fixed
        fz = f(z)[..., 0]                                          # [L, R]
    logq = O.log_normal_diag(z, m[:, None], logvar)                 # [L, R], a function of (μ, σ)
    gm, gs = torch.autograd.grad((fz * logq).mean(0).sum(), (m, s))
    return torch.stack([gm, gs], 1).numpy()


def naive_estimate(f_name: str, mu: float, sigma: float, L: int, seed: int = 0) -> dict:
    """``E_q ∇_φ f(z)`` "without the trick": draw z^l ~ q, then differentiate
    ``(1/L) Σ f(z^l)`` with the samples held fixed. The samples carry no trace of
    (μ, σ), so autograd finds no path: the estimate is 0 whatever the true gradient.
    Returns ``value`` [2] and ``connected`` (whether autograd found a path)."""
    f = _check_q(f_name, mu, sigma)
    m, s = _leaves(mu, sigma, 1)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        z = O.reparameterize(m[:, None], 2.0 * torch.log(s)[:, None], int(L), gen)
    out = f(z).mean()
    if not out.requires_grad:
        return {"value": np.zeros(2), "connected": False}
    gm, gs = torch.autograd.grad(out, (m, s), allow_unused=True)
    return {"value": np.array([0.0 if g is None else float(g.sum()) for g in (gm, gs)]), "connected": True}


def exact_gradient(f_name: str, mu: float, sigma: float, points: int = 32_001) -> np.ndarray:
    """``∇_(μ,σ) E_{N(μ,σ²)} f`` to quadrature accuracy: ``E f(μ + σε)`` as an integral over
    ε on a fine uniform grid over [−16, 16] (the trapezoid rule, which converges
    geometrically for smooth integrands that decay like the normal density; Gauss–Hermite
    does not, for a steep sigmoid), differentiated by autograd. ``[2]``."""
    f = _check_q(f_name, mu, sigma)
    eps = torch.linspace(-16.0, 16.0, int(points), dtype=F64)
    w = torch.exp(-0.5 * eps * eps) / math.sqrt(2.0 * math.pi) * (eps[1] - eps[0])
    m = torch.tensor(float(mu), dtype=F64, requires_grad=True)
    s = torch.tensor(float(sigma), dtype=F64, requires_grad=True)
    gm, gs = torch.autograd.grad((w * f(m + s * eps)).sum(), (m, s))
    return np.array([float(gm), float(gs)])


def gradient_summary(f_name: str, mu: float, sigma: float, L: int, repeats: int = 500,
                     seed: int = 0) -> dict:
    """At one L: ``repeats`` estimates from each estimator (``reparam``, ``score``:
    [repeats, 2]), their ``*_mean`` and standard errors ``*_se`` ([2] each), the naive
    estimate (``naive``, always 0) and the ``exact`` gradient, all for (∂/∂μ, ∂/∂σ)."""
    if int(repeats) < 2:
        raise ValueError("need at least 2 repeats.")
    out = {"exact": exact_gradient(f_name, mu, sigma),
           "naive": naive_estimate(f_name, mu, sigma, L, seed)["value"]}
    for name, fn in (("reparam", reparam_estimates), ("score", score_estimates)):
        e = fn(f_name, mu, sigma, int(L), int(repeats), seed)
        out[name] = e
        out[f"{name}_mean"] = e.mean(0)
        out[f"{name}_se"] = e.std(0, ddof=1) / math.sqrt(len(e))
    return out


GRAD_LS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def gradient_variance(f_name: str, mu: float, sigma: float, Ls=GRAD_LS, repeats: int = 200,
                      seed: int = 0) -> dict:
    """Both estimators at each L in ``Ls``, ``repeats`` times: their means
    (``mean_reparam``, ``mean_score`` [len(Ls), 2]) and variances (``var_reparam``,
    ``var_score`` [len(Ls), 2]), and the ``exact`` gradient. Variance falls like 1/L
    for both; the constant differs."""
    if int(repeats) < 2:
        raise ValueError("need at least 2 repeats to measure a variance.")
    res = {"Ls": np.asarray(Ls, dtype=np.int64), "exact": exact_gradient(f_name, mu, sigma)}
    for name, fn in (("reparam", reparam_estimates), ("score", score_estimates)):
        ests = [fn(f_name, mu, sigma, int(L), int(repeats), seed + i) for i, L in enumerate(Ls)]
        res[f"mean_{name}"] = np.stack([e.mean(0) for e in ests])
        res[f"var_{name}"] = np.stack([e.var(0, ddof=1) for e in ests])
    return res


def function_and_density(f_name: str, mu: float, sigma: float, points: int = 301) -> dict:
    """For a plot: ``z`` over μ ± 4σ (and at least [−3, 3]), ``f(z)`` and the density
    ``q(z) = N(z; μ, σ²)`` (via :func:`objective.log_normal_diag`)."""
    f = _check_q(f_name, mu, sigma)
    z = torch.linspace(min(mu - 4 * sigma, -3.0), max(mu + 4 * sigma, 3.0), points, dtype=F64)
    dens = torch.exp(O.log_normal_diag(z[:, None], torch.tensor([mu], dtype=F64),
                                       torch.tensor([2 * math.log(sigma)], dtype=F64)))
    return {"z": z.numpy(), "f": f(z).numpy(), "q": dens.numpy()}


# --------------------------------------------- Monte Carlo with L samples (loss)

LOSS_LS = (1, 2, 5, 10, 20, 50)


@torch.no_grad()
def loss_spread(model, x: torch.Tensor, Ls=LOSS_LS, repeats: int = 30, seed: int = 0) -> dict:
    """The batch loss of eq. 13 (β = 1), its reconstruction term a Monte Carlo estimate
    with L samples, drawn ``repeats`` times at each L.

    Each draw is ``recon + KL`` averaged over the batch, from
    :func:`objective.per_image_terms` on ``repeats`` copies of the batch (one call per L).
    Returns ``values`` [len(Ls), repeats], their ``mean``, ``std`` and ``std_sqrt_L`` = std·√L
    (flat when the spread falls like 1/√L), and ``kl`` (exact,
    eq. 14: every bit of the spread is the reconstruction term's).
    """
    if model.kind != "vae":
        raise ValueError("the Monte Carlo spread needs a VAE (an autoencoder draws no z).")
    r = int(repeats)
    if r < 2:
        raise ValueError("need at least 2 repeats to measure a spread.")
    gen = torch.Generator().manual_seed(int(seed))
    b = x.shape[0]
    xr = x.repeat((r,) + (1,) * (x.dim() - 1))
    vals, kl = [], 0.0
    for L in Ls:
        t = O.per_image_terms(model, xr, samples=int(L), generator=gen)
        loss = (t["recon"] + t["kl"]).to(F64).view(r, b).mean(1)
        vals.append(loss.numpy())
        kl = float(t["kl"][:b].to(F64).mean())
    v = np.stack(vals)
    std = v.std(1, ddof=1)
    return {"Ls": np.asarray(Ls, dtype=np.int64), "values": v, "mean": v.mean(1),
            "std": std, "std_sqrt_L": std * np.sqrt(np.asarray(Ls, dtype=np.float64)), "kl": kl}


def _decoder_params(model) -> list[torch.Tensor]:
    """θ: the decoder's weights (and a learnt σ, if any)."""
    params = list(model.decoder.parameters())
    if isinstance(getattr(model, "log_sigma", None), torch.nn.Parameter):
        params.append(model.log_sigma)
    return params


def theta_gradient_sign(model, x: torch.Tensor, samples: int = 1, seed: int = 0,
                        step: float = 1e-3) -> dict:
    """The sign of the θ-gradient (section 5), checked on a model.

    ``grad_loss`` = ∇_θ of :func:`objective.vae_loss` (autograd); ``grad_seed`` = the
    seed's ``(1/L) Σ_l ∇_θ log p_θ(x|z^l)`` on the same z^l. Returns their ``cosine``
    (−1: opposite directions), norms, and the loss after a step of length ``step`` in
    parameter space against each (``loss_after_correct``, ``loss_after_seed``) beside
    ``loss_before``: the seed's sign climbs the loss.
    """
    if model.kind != "vae":
        raise ValueError("this check needs a VAE.")
    params = _decoder_params(model)

    def loss_of(m) -> torch.Tensor:
        return O.vae_loss(m, x, samples=samples, generator=torch.Generator().manual_seed(seed)).loss

    loss = loss_of(model)
    g_loss = torch.autograd.grad(loss, params)
    gen = torch.Generator().manual_seed(seed)                   # the same ε, hence the same z^l
    mu, logvar = model.encode(x)
    z = O.reparameterize(mu, logvar, samples, gen)
    x_rep = x.repeat((samples,) + (1,) * (x.dim() - 1))
    mc = O.log_px_given_z(model, x_rep, model.decode(z.reshape(-1, z.shape[-1]))).mean()
    g_seed = torch.autograd.grad(mc, params)
    a = torch.cat([g.flatten() for g in g_loss]).to(F64)
    b = torch.cat([g.flatten() for g in g_seed]).to(F64)
    cos = float(a @ b / (a.norm() * b.norm()).clamp_min(1e-300))

    def after(direction: tuple[torch.Tensor, ...], norm: torch.Tensor) -> float:
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p, g in zip(_decoder_params(m), direction):
                p -= step * g / norm.clamp_min(1e-30)
            return float(loss_of(m))

    return {"cosine": cos, "norm_loss": float(a.norm()), "norm_seed": float(b.norm()),
            "loss_before": loss.item(),
            "loss_after_correct": after(g_loss, a.norm()), "loss_after_seed": after(g_seed, b.norm())}


# ================================================= sections 1-2: AE vs VAE

def pick_batch(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` distinct items of ``x`` chosen at random (reproducibly by ``seed``)."""
    n = int(n)
    if not 1 <= n <= len(x):
        raise ValueError(f"choose between 1 and {len(x)} images.")
    idx = np.random.default_rng(int(seed)).permutation(len(x))[:n]
    return x[torch.as_tensor(np.sort(idx))]


@torch.no_grad()
def ae_vs_vae(vae, ae, x: torch.Tensor, samples: int = 1, seed: int = 0) -> dict:
    """Both losses on the same batch ``x``, batch means per image, in nats.

    ``vae``: eq. 2 / 13 by :func:`objective.vae_loss` (``loss``, ``recon`` =
    −E_q log p(x|z) with L = ``samples``, ``kl`` = eq. 14, ``kl_per_dim``), and eq. 1's
    squared error of its mean reconstruction (z = μ), ``sq_err``.
    ``ae``: ``sq_err`` (eq. 1) and ``recon`` = −log p(x | z = g_φ(x)) (:func:`objective.ae_loss`).
    For a Gaussian likelihood, ``nll_const`` = −log p(x | x̂ = x), so that
    −log p(x|x̂) = ‖x − x̂‖² / (2σ²) + nll_const (``ae["recon_from_sq_err"]``). Also the images: ``x``,
    ``ae_recon``, ``vae_recon``.
    """
    if vae.kind != "vae" or ae.kind != "ae":
        raise ValueError("pass a VAE and an autoencoder.")
    if tuple(vae.data_shape) != tuple(ae.data_shape):
        raise ValueError("the two models must take the same kind of data.")
    gen = torch.Generator().manual_seed(int(seed))
    v = O.vae_loss(vae, x, samples=int(samples), generator=gen)
    a = O.ae_loss(ae, x)
    vae_recon = vae.reconstruct(x)
    ae_recon = ae.reconstruct(x)
    out = {
        "vae": {"loss": float(v.loss), "recon": float(v.recon), "kl": float(v.kl),
                "kl_per_dim": v.kl_per_dim.numpy(),
                "sq_err": float(O.squared_error(x, vae_recon).mean())},
        "ae": {"loss": float(a.loss), "recon": float(a.recon),
               "sq_err": float(O.squared_error(x, ae_recon).mean())},
        "x": x.numpy(), "vae_recon": vae_recon.numpy(), "ae_recon": ae_recon.numpy(),
        "likelihood": ae.likelihood, "nll_const": None, "sigma": None,
    }
    if ae.likelihood == "gaussian":
        sigma = float(torch.exp(ae.log_sigma))
        out["nll_const"] = float(-O.gaussian_log_prob(x[:1], x[:1], ae.log_sigma)[0])
        out["sigma"] = sigma
        out["ae"]["recon_from_sq_err"] = out["ae"]["sq_err"] / (2 * sigma ** 2) + out["nll_const"]
    return out
