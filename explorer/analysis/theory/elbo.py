"""The seed's ELBO (eq. 7-13) and its bound (eq. 15, corrected), computed on a model
where everything is known exactly, plus the importance-weighted bound IWAE-k.

The model is :class:`explorer.objective.LinearGaussianModel`: ``p(z) = N(0, I)``,
``p(x|z) = N(Wz + b, σ²I)``, so log p(x) and the posterior p(z|x) are closed forms
and the gap log p(x) − ELBO can be compared with KL(q(z|x) ‖ p(z|x)) (eq. 12).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ... import objective
from ...objective import LinearGaussianModel
from .base import F64, as_t, mean_se


def demo_linear_gaussian(sigma: float = 0.5) -> LinearGaussianModel:
    """A 2-D latent, 3-D data linear-Gaussian model, ``x = W z + b + σ ε``.

    W has orthogonal columns, so the exact posterior p(z|x) has a diagonal covariance
    and the model's diagonal Gaussian encoder can match it exactly.
    """
    W = torch.tensor([[1.2, -0.2], [0.4, 0.6], [0.0, 0.8]], dtype=F64)
    b = torch.tensor([0.5, -0.3, 0.2], dtype=F64)
    return LinearGaussianModel(W, b, sigma)


def sample_x(model: LinearGaussianModel, seed: int = 0, n: int = 1) -> torch.Tensor:
    """``n`` data points from the model's p(x): ``z ~ N(0, I)``, ``x = W z + b + σ ε``."""
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, model.W.shape[1], generator=gen, dtype=F64)
    eps = torch.randn(n, model.W.shape[0], generator=gen, dtype=F64)
    return model.decode(z) + torch.exp(model.log_sigma) * eps


def move_encoder(model: LinearGaussianModel, shift=(0.0, 0.0), scale=(1.0, 1.0)) -> LinearGaussianModel:
    """A copy of ``model`` whose encoder q(z|x) is moved off the true posterior:
    its mean shifted by ``shift`` and its standard deviations multiplied by ``scale``."""
    scale = np.asarray(scale, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    if not np.all(np.isfinite(scale)) or (scale <= 0).any():
        raise ValueError("the encoder's standard-deviation scale must be positive.")
    if not np.all(np.isfinite(shift)):
        raise ValueError("the encoder's mean shift must be finite.")
    m = LinearGaussianModel(model.W, model.b, float(torch.exp(model.log_sigma)))
    m.c = model.c + as_t(shift)
    m.q_logvar = model.q_logvar + 2.0 * torch.log(as_t(scale))
    return m


@torch.no_grad()
def elbo_check(model: LinearGaussianModel, x: torch.Tensor, samples: int = 4000, seed: int = 0) -> dict:
    """Eq. 12 on a model where everything is known, for one data point ``x`` ([1, d]).

    ``log_px`` exact; ``elbo`` = E_q log p(x|z) − KL(q||p(z)) by Monte Carlo
    (``samples`` single-sample estimates, standard error ``elbo_se``); ``recon`` its
    first term's negative, ``kl_prior`` the second (the KL term of eq. 14); ``kl_post`` =
    KL(q(z|x) || p(z|x)) in closed form (Lemma 1). Eq. 12 says
    ``log_px − kl_post = elbo``; ``gap`` = log_px − elbo; ``loss`` = −elbo (eq. 13), which is
    ≥ −log_px (the corrected eq. 15).
    Also the two Gaussians' parameters (``q_mean``, ``q_cov``, ``post_mean``, ``post_cov``).
    """
    x = x.to(F64).reshape(1, -1)
    gen = torch.Generator().manual_seed(int(seed))
    terms = objective.per_image_terms(model, x.repeat(int(samples), 1), samples=1, generator=gen)
    elbo, elbo_se = mean_se(terms["elbo"].numpy())
    mu_q, logvar_q = model.encode(x)
    m, s = model.posterior_params()
    post_mean = m @ (x[0] - model.b)
    q_cov = torch.diag(torch.exp(logvar_q[0]))
    kl_post = float(objective.kl_gaussians(mu_q[0], q_cov, post_mean, s))
    log_px = float(model.exact_log_px(x)[0])
    return {"log_px": log_px, "elbo": elbo, "loss": -elbo, "elbo_se": elbo_se,
            "recon": float(terms["recon"].mean()), "kl_prior": float(terms["kl"][0]),
            "kl_post": kl_post, "gap": log_px - elbo,
            "q_mean": mu_q[0].numpy(), "q_cov": q_cov.numpy(),
            "post_mean": post_mean.numpy(), "post_cov": s.numpy()}


def elbo_sweep(model: LinearGaussianModel, x: torch.Tensor, shifts, *, base_shift=(0.0, 0.0),
               scale=(1.0, 1.0), axis: int = 0, samples: int = 500, seed: int = 0) -> dict:
    """:func:`elbo_check` as the encoder's mean moves along latent ``axis`` through
    ``shifts`` (the same random numbers at every point, so the curve is smooth).
    Returns arrays ``shift``, ``elbo``, ``elbo_se``, ``kl_post`` and the constant ``log_px``."""
    keys = ("elbo", "elbo_se", "kl_post")
    out = {"shift": np.asarray(shifts, dtype=np.float64), **{k: [] for k in keys}}
    for t in out["shift"]:
        sh = np.array(base_shift, dtype=np.float64)
        sh[axis] = t
        r = elbo_check(move_encoder(model, sh, scale), x, samples, seed)
        for key in keys:
            out[key].append(r[key])
        out["log_px"] = r["log_px"]
    return {k: (np.asarray(v) if k in keys else v) for k, v in out.items()}


# ====================================================== the importance-weighted bound

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
        vals = objective.iwae_bound(model, xr, k, chunk=max(1, chunk // reps), generator=gen)
        rows.append(vals.to(F64).view(reps, b).mean(0).numpy())
    per = np.stack(rows)                                         # [K, B]
    gain = per - per[:1]

    def se(a: np.ndarray) -> np.ndarray:
        return a.std(axis=1, ddof=1) / math.sqrt(b) if b > 1 else np.zeros(len(a))

    return {"ks": np.asarray(ks), "per_image": per, "mean": per.mean(1), "se": se(per),
            "gain": gain.mean(1), "gain_se": se(gain)}


IWAE_DRAWS = 1000        # independent IWAE-k estimates per k on the exact model
IWAE_BUDGET = 250_000    # importance samples drawn at once (memory)


@torch.no_grad()
def iwae_draws(model: LinearGaussianModel, x: torch.Tensor, ks=IWAE_KS, draws: int = IWAE_DRAWS,
               seed: int = 0) -> dict:
    """``draws`` independent IWAE-k estimates for one data point ``x`` ([1, d]) at each k,
    on a model whose log p(x) is exact.

    IWAE-k is a bound *in expectation*: E[log p̂_k] ≤ log p(x), where p̂_k, the average of k
    importance weights, is an unbiased estimate of p(x). A single draw of log p̂_k can
    land above log p(x); their mean cannot, beyond its standard error. Returns ``ks``,
    ``mean`` and ``se`` (over the draws), ``lo``/``hi`` (the 5th and 95th percentile of
    single draws), ``above`` (the fraction of single draws above log p(x), beyond rounding), ``log_px``
    and ``draws``.
    """
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ValueError("k must be a positive integer.")
    if int(draws) < 2:
        raise ValueError("need at least 2 draws to measure a spread.")
    x = x.to(F64).reshape(1, -1)
    log_px = float(model.exact_log_px(x)[0])
    tol = 1e-9 * max(1.0, abs(log_px))         # "above" means above by more than rounding
    xr = x.repeat(int(draws), 1)
    out = {k: [] for k in ("mean", "se", "lo", "hi", "above")}
    for k in ks:
        gen = torch.Generator().manual_seed(int(seed) * 100_003 + k)
        v = objective.iwae_bound(model, xr, k, chunk=max(1, IWAE_BUDGET // int(draws)), generator=gen).numpy()
        m, se = mean_se(v)
        lo, hi = np.percentile(v, [5, 95])
        for key, val in zip(out, (m, se, lo, hi, float((v > log_px + tol).mean()))):
            out[key].append(val)
    return {"ks": np.asarray(ks), **{k: np.asarray(v) for k, v in out.items()},
            "log_px": log_px, "draws": int(draws)}


# ============================================ the page's exact model, by its controls

# the page's controls for the encoder: (key, label, lowest, highest, step, help)
ENCODER_SLIDERS = (("d1", "mean shift along z₁", -3.0, 3.0, 0.1, None),
                   ("d2", "mean shift along z₂", -3.0, 3.0, 0.1, None),
                   ("g1", "std scale along z₁ (log₁₀)", -1.5, 1.5, 0.05,
                    "0 keeps the posterior's width; 1 makes q ten times wider."),
                   ("g2", "std scale along z₂ (log₁₀)", -1.5, 1.5, 0.05, None))


def demo_point(x_seed: int, shift=(0.0, 0.0), scale=(1.0, 1.0)) -> tuple[LinearGaussianModel, torch.Tensor]:
    """The demo model with its encoder moved by ``shift`` and ``scale`` (:func:`move_encoder`)
    and the data point drawn from p(x) with ``x_seed``."""
    m = demo_linear_gaussian()
    return move_encoder(m, shift, scale), sample_x(m, x_seed)


def demo_elbo(x_seed: int, shift, scale, samples: int, seed: int = 1) -> dict:
    """:func:`elbo_check` at the page's settings."""
    return elbo_check(*demo_point(x_seed, shift, scale), samples, seed=seed)


def demo_sweep(x_seed: int, shift2: float, scale, points: int = 31, samples: int = 1000, seed: int = 1) -> dict:
    """:func:`elbo_sweep` along z₁ from −3 to 3, with the shift along z₂ held at ``shift2``."""
    m = demo_linear_gaussian()
    return elbo_sweep(m, sample_x(m, x_seed), np.linspace(-3, 3, points), base_shift=(0.0, shift2),
                      scale=scale, samples=samples, seed=seed)


def demo_iwae(x_seed: int, shift, scale, draws: int = IWAE_DRAWS, seed: int = 2) -> dict:
    """:func:`iwae_draws` at the page's settings."""
    return iwae_draws(*demo_point(x_seed, shift, scale), IWAE_KS, draws, seed)
