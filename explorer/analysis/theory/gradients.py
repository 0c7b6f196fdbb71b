"""Section 5 of the seed, computed: the gradients of the loss.

* the φ-gradient of ``E_{z~q_φ} f(z)`` for q = N(μ, σ²) in one dimension, three ways:
  naive (differentiate with the samples held fixed: always 0), reparameterised
  (``z = μ + σ ε``, :func:`objective.reparameterize`) and the score function
  (``E_q[f(z) ∇ log q(z)]``), against the exact gradient by quadrature, with the
  estimators' variances;
* the sign of the θ-gradient on a trained model (the seed drops a minus).
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np
import torch

from ... import objective
from .base import F64, finite

TEST_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "z²": lambda z: z * z,
    "sin z": torch.sin,
    "sigmoid(10 z), a soft step": lambda z: torch.sigmoid(10.0 * z),
    "exp z": torch.exp,
}
MU_MAX, GRAD_SIGMA_RANGE = 5.0, (1e-3, 5.0)
PARAMS = ("μ", "σ")


def _check_q(f_name: str, mu: float, sigma: float) -> Callable:
    if f_name not in TEST_FUNCTIONS:
        raise ValueError(f"unknown function {f_name!r}; choose one of {list(TEST_FUNCTIONS)}")
    if not finite(mu) or abs(mu) > MU_MAX:
        raise ValueError(f"μ must lie between −{MU_MAX:g} and {MU_MAX:g}.")
    lo, hi = GRAD_SIGMA_RANGE
    if not finite(sigma) or not lo <= sigma <= hi:
        raise ValueError(f"σ must lie between {lo:g} and {hi:g}.")
    return TEST_FUNCTIONS[f_name]


def _leaves(mu: float, sigma: float, repeats: int) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.full((repeats,), float(mu), dtype=F64, requires_grad=True)
    s = torch.full((repeats,), float(sigma), dtype=F64, requires_grad=True)
    return m, s


def reparam_estimates(f_name: str, mu: float, sigma: float, L: int, repeats: int = 1,
                      seed: int = 0) -> np.ndarray:
    """``repeats`` independent reparameterised estimates of ``∇_(μ,σ) E_{z~N(μ,σ²)} f(z)``,
    each from L samples ``z = μ + σ ε`` (:func:`objective.reparameterize`): ``[repeats, 2]``."""
    f = _check_q(f_name, mu, sigma)
    m, s = _leaves(mu, sigma, repeats)
    gen = torch.Generator().manual_seed(int(seed))
    z = objective.reparameterize(m[:, None], 2.0 * torch.log(s)[:, None], int(L), gen)   # [L, R, 1]
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
        z = objective.reparameterize(m[:, None], logvar, int(L), gen)      # samples, held fixed
        fz = f(z)[..., 0]                                          # [L, R]
    logq = objective.log_normal_diag(z, m[:, None], logvar)                 # [L, R], a function of (μ, σ)
    gm, gs = torch.autograd.grad((fz * logq).mean(0).sum(), (m, s))
    return torch.stack([gm, gs], 1).numpy()


ESTIMATORS = {"reparam": reparam_estimates, "score": score_estimates}


def naive_estimate(f_name: str, mu: float, sigma: float, L: int, seed: int = 0) -> dict:
    """``E_q ∇_φ f(z)`` "without the trick": draw z^l ~ q, then differentiate
    ``(1/L) Σ f(z^l)`` with the samples held fixed. The samples carry no trace of
    (μ, σ), so autograd finds no path: the estimate is 0 whatever the true gradient.
    Returns ``value`` [2] and ``connected`` (whether autograd found a path)."""
    f = _check_q(f_name, mu, sigma)
    m, s = _leaves(mu, sigma, 1)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        z = objective.reparameterize(m[:, None], 2.0 * torch.log(s)[:, None], int(L), gen)
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
    for name, fn in ESTIMATORS.items():
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
    for name, fn in ESTIMATORS.items():
        ests = [fn(f_name, mu, sigma, int(L), int(repeats), seed + i) for i, L in enumerate(Ls)]
        res[f"mean_{name}"] = np.stack([e.mean(0) for e in ests])
        res[f"var_{name}"] = np.stack([e.var(0, ddof=1) for e in ests])
    return res


def variance_ratio(var_score, var_reparam) -> list[dict]:
    """Var(score function) / Var(reparameterised), per parameter (μ, σ), from the
    [len(Ls), 2] variances of :func:`gradient_variance`: the ``median`` over L, the ``low``
    and ``high`` end, the ``pooled`` ratio and ``winner``.

    Both variances are c/L, so the true ratio does not depend on L, and each L gives an
    independent noisy estimate of it: the ratios are pooled (``pooled`` = the geometric
    mean over L, ``log_se`` the standard error of its log from their spread). ``winner`` is
    "reparam" when the pooled log ratio is above 0 by more than two standard errors,
    "score" when below by as much, "neither" otherwise (or when a variance is 0). Judged
    "at every L" instead, one noisy ratio of ten could hide a true ratio of 0.84."""
    vs, vr = np.asarray(var_score, np.float64), np.asarray(var_reparam, np.float64)
    out = []
    for j, wrt in enumerate(PARAMS):
        with np.errstate(divide="ignore", invalid="ignore"):
            r = vs[:, j] / vr[:, j]
        ok = np.isfinite(r) & (r > 0)
        if not ok.all():
            out.append({"wrt": wrt, "median": math.nan, "low": math.nan, "high": math.nan,
                        "pooled": math.nan, "log_se": math.nan, "winner": "neither"})
            continue
        logs = np.log(r)
        se = float(logs.std(ddof=1) / math.sqrt(len(logs))) if len(logs) > 1 else math.inf
        mean = float(logs.mean())
        winner = "reparam" if mean > 2 * se else "score" if mean < -2 * se else "neither"
        out.append({"wrt": wrt, "median": float(np.median(r)), "low": float(r.min()),
                    "high": float(r.max()), "pooled": math.exp(mean), "log_se": se, "winner": winner})
    return out


def function_and_density(f_name: str, mu: float, sigma: float, points: int = 301) -> dict:
    """For a plot: ``z`` over μ ± 4σ (and at least [−3, 3]), ``f(z)`` and the density
    ``q(z) = N(z; μ, σ²)`` (via :func:`objective.log_normal_diag`)."""
    f = _check_q(f_name, mu, sigma)
    z = torch.linspace(min(mu - 4 * sigma, -3.0), max(mu + 4 * sigma, 3.0), points, dtype=F64)
    dens = torch.exp(objective.log_normal_diag(z[:, None], torch.tensor([mu], dtype=F64),
                                               torch.tensor([2 * math.log(sigma)], dtype=F64)))
    return {"z": z.numpy(), "f": f(z).numpy(), "q": dens.numpy()}


# ============================================================ the θ-gradient

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
        return objective.vae_loss(m, x, samples=samples, generator=torch.Generator().manual_seed(seed)).loss

    loss = loss_of(model)
    g_loss = torch.autograd.grad(loss, params)
    gen = torch.Generator().manual_seed(seed)                   # the same ε, hence the same z^l
    mu, logvar = model.encode(x)
    z = objective.reparameterize(mu, logvar, samples, gen)
    x_rep = x.repeat((samples,) + (1,) * (x.dim() - 1))
    mc = objective.log_px_given_z(model, x_rep, model.decode(z.reshape(-1, z.shape[-1]))).mean()
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
