"""The seed document's mathematics, executable.

Every quantity here is **per image, in nats**. Unless a docstring says
otherwise, a function returns one value per item of the batch (shape ``[B]``),
summed over pixels (reconstruction) or over latent dimensions (KL); callers
average over the batch. Equation numbers refer to the seed,
``shared/seed`` ("Variational Autoencoders", Allen C., 2023).

Corrections to the seed that matter for the code here (the full list of the seed's
slips, each with the seed's text, the correction and the reason, is
:mod:`explorer.analysis.theory.slips`, shown on the Theory page):

* eq. 15 has the wrong direction for the *loss*: the ELBO is a lower bound,
  ``ELBO(x) <= log p(x)``, so the loss ``L = -ELBO`` satisfies
  ``L >= -log p(x)``. (:func:`iwae_bound` makes the bound visible.)
* in the proof of Lemma 1 the Mahalanobis term of the mean difference must
  carry the factor 1/2: ``E_p[1/2 (x-mu2)^T S2^-1 (x-mu2)] =
  1/2 tr(S2^-1 S1) + 1/2 (mu1-mu2)^T S2^-1 (mu1-mu2)``; eq. 5 itself is right.
* the theta-gradient of the loss is ``-(1/L) sum_l grad_theta log p(x|z^l)``
  (the seed drops the minus sign).
* "ELBD" in section 5 is the ELBO, the evidence lower bound.
* the seed's Sigma_phi(x) in eq. 14 is the encoder's log-variance, here ``logvar``:
  the standard deviation is ``exp(logvar / 2)`` (the seed's "Sigma^{1/2}" in section 5).
* the prior p(z) = N(0, I) has no parameters (the seed writes p_theta(z)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------- KL

def kl_discrete(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``KL(P||Q) = sum_x P(x) log(P(x)/Q(x))`` over the last axis.

    Terms with ``P(x) = 0`` contribute 0; ``Q(x) = 0`` where ``P(x) > 0`` gives inf.
    """
    p = p.to(torch.float64)
    q = q.to(torch.float64)
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.sum(-1)


def kl_std_normal_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL term of eq. 14, one term per latent dimension:
    ``KL(N(mu, exp(logvar)) || N(0, 1)) = 1/2 (exp(logvar) + mu^2 - 1 - logvar)``.

    ``logvar`` is the seed's "exp(Sigma) instead of Sigma": the encoder outputs
    the log-variance. Shape ``[..., D]`` in, ``[..., D]`` out.
    """
    return 0.5 * (torch.exp(logvar) + mu.pow(2) - 1.0 - logvar)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The KL term of eq. 14, summed over latent dimensions: ``[..., D] -> [...]``."""
    return kl_std_normal_per_dim(mu, logvar).sum(-1)


def kl_gaussians(mu1: torch.Tensor, cov1: torch.Tensor,
                 mu2: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """Lemma 1, eq. 5: ``KL(N(mu1, S1) || N(mu2, S2))`` for full covariances.

    ``1/2 [log|S2|/|S1| - k + tr(S2^-1 S1) + (mu1-mu2)^T S2^-1 (mu1-mu2)]``.
    Shapes ``[..., k]`` and ``[..., k, k]``, batched over leading axes.
    Computed through Cholesky factors (stable for ill-conditioned S), in
    float64. Raises ``ValueError`` when a covariance is not positive definite.
    """
    mu1, cov1, mu2, cov2 = (t.to(torch.float64) for t in (mu1, cov1, mu2, cov2))
    k = mu1.shape[-1]
    l1, info1 = torch.linalg.cholesky_ex(cov1)
    l2, info2 = torch.linalg.cholesky_ex(cov2)
    if bool((info1 != 0).any()) or bool((info2 != 0).any()):
        raise ValueError("covariance matrices must be symmetric positive definite")
    logdet1 = 2.0 * torch.log(torch.diagonal(l1, dim1=-2, dim2=-1)).sum(-1)
    logdet2 = 2.0 * torch.log(torch.diagonal(l2, dim1=-2, dim2=-1)).sum(-1)
    # tr(S2^-1 S1) = ||L2^-1 L1||_F^2
    m = torch.linalg.solve_triangular(l2, l1, upper=False)
    trace = m.pow(2).sum((-2, -1))
    diff = (mu1 - mu2).unsqueeze(-1)
    v = torch.linalg.solve_triangular(l2, diff, upper=False)
    maha = v.pow(2).sum((-2, -1))
    return 0.5 * (logdet2 - logdet1 - k + trace + maha)


# ------------------------------------------------------- log densities

def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag(exp(logvar)))`` summed over the last axis (eq. 4, diagonal case)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_std_normal(z: torch.Tensor) -> torch.Tensor:
    """``log N(z; 0, I)`` summed over the last axis: the prior p(z)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``log p(x|z)`` for a Bernoulli decoder with logits, summed over all but
    the first axis. For x in [0,1] (not binarised) this is the negative binary
    cross-entropy, whose optimum is not 0 (see the README on BCE floors)."""
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -nll.flatten(1).sum(1)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``log N(x; mean, sigma^2 I)`` summed over all but the first axis.

    With a fixed sigma this is, up to a constant, ``-||x - x_hat||^2 / (2 sigma^2)``:
    the squared error of the autoencoder loss, eq. 1.
    """
    d = x[0].numel()
    sq = (x - mean).pow(2).flatten(1).sum(1)
    return -0.5 * sq * torch.exp(-2.0 * log_sigma) - d * (log_sigma + 0.5 * LOG_2PI)


def log_px_given_z(model, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``log p_theta(x|z)`` per image for the model's likelihood; ``out`` is
    ``model.decode(z)`` (logits or means)."""
    if model.likelihood == "bernoulli":
        return bernoulli_log_prob(x, out)
    return gaussian_log_prob(x, out, model.log_sigma)


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """The summand of eq. 1: ``||x - x_hat||^2`` per image."""
    return (x - x_hat).pow(2).flatten(1).sum(1)


# ------------------------------------------------------ reparameterisation

def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, samples: int = 1,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Section 5: ``z = g_phi(eps, x) = mu + eps * exp(logvar / 2)``, eps ~ N(0, I).

    Returns ``[samples, B, D]``. The randomness is in eps only, so gradients
    flow to mu and logvar (the reparameterisation trick).
    """
    eps = torch.randn((samples,) + tuple(mu.shape), dtype=mu.dtype, device=mu.device,
                      generator=generator)
    return mu + eps * torch.exp(0.5 * logvar)


# ----------------------------------------------------------- the losses

@dataclass
class LossTerms:
    """Per-batch means of the per-image terms (tensors, differentiable).

    ``loss`` is what the optimiser minimises; ``recon`` = -E_q log p(x|z)
    (Monte Carlo with L samples); ``kl`` = KL(q(z|x) || p(z)) summed over
    dimensions; ``kl_per_dim`` its batch mean per dimension; ``penalty`` the
    β-weighted regulariser actually added (β·KL for the plain objective).
    """
    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    kl_per_dim: torch.Tensor
    penalty: torch.Tensor

    @property
    def elbo(self) -> torch.Tensor:
        """The evidence lower bound per image (β = 1, no capacity or free bits)."""
        return -(self.recon + self.kl)


def kl_penalty(kl_per_dim: torch.Tensor, beta: float, *, capacity: float | None = None,
               free_bits: float = 0.0) -> torch.Tensor:
    """The regulariser added to the reconstruction term, from the batch-mean KL per dimension.

    * plain (β-VAE, Higgins et al. 2017): ``β · sum_d KL_d``; β = 1 gives the negative ELBO (eq. 13);
    * capacity (Burgess et al. 2018): ``β · |sum_d KL_d - C|``;
    * free bits (Kingma et al. 2016): ``β · sum_d max(KL_d, λ)``.
    """
    if free_bits > 0:
        return beta * torch.clamp(kl_per_dim, min=free_bits).sum()
    kl = kl_per_dim.sum()
    if capacity is not None:
        return beta * (kl - capacity).abs()
    return beta * kl


def vae_loss(model, x: torch.Tensor, *, beta: float = 1.0, samples: int = 1,
             capacity: float | None = None, free_bits: float = 0.0,
             generator: torch.Generator | None = None) -> LossTerms:
    """Eq. 2 / 13 / 14 with a β weight: ``recon + β · KL``, per image, batch mean.

    recon = ``-(1/L) sum_l log p(x|z^l)``, ``z^l = mu + eps^l * sigma`` (reparameterised,
    L = ``samples``); KL in closed form (eq. 14). For an autoencoder
    (``model.kind == "ae"``) this is :func:`ae_loss`.
    """
    if model.kind == "ae":
        return ae_loss(model, x)
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, samples, generator)           # [L, B, D]
    out = model.decode(z.reshape(-1, z.shape[-1]))               # [L*B, ...]
    x_rep = x if samples == 1 else x.repeat((samples,) + (1,) * (x.dim() - 1))
    recon = -log_px_given_z(model, x_rep, out).mean()            # mean over L and B
    kl_dims = kl_std_normal_per_dim(mu, logvar).mean(0)          # [D]
    penalty = kl_penalty(kl_dims, beta, capacity=capacity, free_bits=free_bits)
    return LossTerms(loss=recon + penalty, recon=recon, kl=kl_dims.sum(),
                     kl_per_dim=kl_dims, penalty=penalty)


def ae_loss(model, x: torch.Tensor) -> LossTerms:
    """Eq. 1 generalised to the model's likelihood: ``-log p(x | z = g_phi(x))``.

    With a Gaussian likelihood of fixed sigma this is the squared error of eq. 1
    scaled by ``1/(2 sigma^2)`` plus a constant; with a Bernoulli likelihood it
    is the binary cross-entropy. No KL term: the code z is a point.
    """
    mu, _ = model.encode(x)
    out = model.decode(mu)
    recon = -log_px_given_z(model, x, out).mean()
    zero = recon.new_zeros(())
    return LossTerms(loss=recon, recon=recon, kl=zero,
                     kl_per_dim=recon.new_zeros(mu.shape[-1]), penalty=zero)


# ------------------------------------------------ per-image evaluation

@torch.no_grad()
def per_image_terms(model, x: torch.Tensor, *, samples: int = 1,
                    generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-image ``recon``, ``kl`` and ``elbo`` ([B] each), ``kl_per_dim`` ([B, D]), ``mu`` and ``logvar``.

    For an autoencoder, z = mu, kl = 0 and elbo is ``-recon`` (not a bound).
    """
    mu, logvar = model.encode(x)
    if model.kind == "ae":
        recon = -log_px_given_z(model, x, model.decode(mu))
        kl_dims = torch.zeros_like(mu)
    else:
        z = reparameterize(mu, logvar, samples, generator)
        out = model.decode(z.reshape(-1, z.shape[-1]))
        x_rep = x.repeat((samples,) + (1,) * (x.dim() - 1))
        recon = -log_px_given_z(model, x_rep, out).view(samples, -1).mean(0)
        kl_dims = kl_std_normal_per_dim(mu, logvar)
    kl = kl_dims.sum(-1)
    return {"recon": recon, "kl": kl, "elbo": -(recon + kl), "kl_per_dim": kl_dims,
            "mu": mu, "logvar": logvar}


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int, *, chunk: int = 500,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2015), a log-likelihood estimate per image:

    ``log p(x) >= IWAE_k = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]``, z_i ~ q(z|x).

    IWAE_1 is the ELBO; the bound tightens as k grows and tends to log p(x).
    Samples are drawn ``chunk`` at a time so k = 5000 fits in memory.
    """
    if model.kind == "ae":
        raise ValueError("the importance-weighted bound needs a VAE (an autoencoder has no q(z|x))")
    mu, logvar = model.encode(x)
    logw_chunks = []
    remaining = k
    while remaining > 0:
        n = min(chunk, remaining)
        z = reparameterize(mu, logvar, n, generator)                      # [n, B, D]
        out = model.decode(z.reshape(-1, z.shape[-1]))
        x_rep = x.repeat((n,) + (1,) * (x.dim() - 1))
        log_px_z = log_px_given_z(model, x_rep, out).view(n, -1)
        logw = log_px_z + log_std_normal(z) - log_normal_diag(z, mu, logvar)
        logw_chunks.append(logw)
        remaining -= n
    logw = torch.cat(logw_chunks, 0)
    return torch.logsumexp(logw, 0) - math.log(k)


# ------------------------------------- a model whose log p(x) is exact

class LinearGaussianModel(torch.nn.Module):
    """``p(z) = N(0, I)``, ``p(x|z) = N(W z + b, sigma^2 I)``: log p(x) and p(z|x) are exact.

    Used to check the bounds (ELBO <= IWAE_k <= log p(x)) and by the Theory page.
    Its encoder is an affine map whose distance from the true posterior can be
    set: ``encode`` returns ``mu = A x + c`` and a constant ``logvar``.
    """
    kind = "vae"
    likelihood = "gaussian"

    def __init__(self, W: torch.Tensor, b: torch.Tensor, sigma: float):
        super().__init__()
        self.W = W.to(torch.float64)
        self.b = b.to(torch.float64)
        self.log_sigma = torch.tensor(math.log(sigma), dtype=torch.float64)
        post_mean_map, post_cov = self.posterior_params()
        self.A = post_mean_map
        self.c = -post_mean_map @ self.b
        self.q_logvar = torch.log(torch.diagonal(post_cov)).clone()

    def posterior_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact posterior p(z|x) = N(M (x - b), S): returns (M, S)."""
        s2 = torch.exp(2 * self.log_sigma)
        k = self.W.shape[1]
        prec = torch.eye(k, dtype=torch.float64) + self.W.T @ self.W / s2
        cov = torch.linalg.inv(prec)
        return cov @ self.W.T / s2, cov

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = x.to(torch.float64) @ self.A.T + self.c
        return mu, self.q_logvar.expand_as(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.W.T + self.b

    def exact_log_px(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x) = log N(x; b, W W^T + sigma^2 I)``, per row of x."""
        d = self.W.shape[0]
        cov = self.W @ self.W.T + torch.exp(2 * self.log_sigma) * torch.eye(d, dtype=torch.float64)
        dist = torch.distributions.MultivariateNormal(self.b, covariance_matrix=cov)
        return dist.log_prob(x.to(torch.float64))
