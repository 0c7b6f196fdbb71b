"""The seed's mathematics against independent computations (torch.distributions,
Monte Carlo, finite differences, closed forms of a linear-Gaussian model)."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal

from explorer import objective
from explorer.config import ModelConfig
from explorer.models import build_model


@pytest.fixture(autouse=True)
def _float64_here():
    """These checks run in float64; the default is restored for every other test module."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _random_spd(k, gen, scale=1.0):
    a = torch.randn(k, k, generator=gen)
    return scale * (a @ a.T) + 0.3 * torch.eye(k)


def _within_se(samples: torch.Tensor, target: float, z=4.5):
    mean = samples.mean().item()
    se = samples.std().item() / math.sqrt(len(samples))
    assert abs(mean - target) < z * se + 1e-9, f"MC {mean:.5f} ± {se:.5f} vs {target:.5f}"


# ------------------------------------------------------------------ KL

def test_kl_std_normal_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.5, -1.2, 2.0])
    logvar = torch.tensor([-0.7, 0.4, -2.0])
    n = 200_000
    z = mu + torch.randn(n, 3, generator=gen) * torch.exp(0.5 * logvar)
    log_q = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    log_p = Normal(0.0, 1.0).log_prob(z).sum(-1)
    _within_se(log_q - log_p, objective.kl_std_normal(mu, logvar).item())


def test_kl_per_dim_sums_and_is_zero_at_prior():
    mu = torch.randn(5, 4)
    lv = torch.randn(5, 4)
    assert torch.allclose(objective.kl_std_normal_per_dim(mu, lv).sum(-1), objective.kl_std_normal(mu, lv))
    assert torch.allclose(objective.kl_std_normal(torch.zeros(3), torch.zeros(3)), torch.tensor(0.0))
    assert (objective.kl_std_normal_per_dim(mu, lv) >= 0).all()


def test_lemma1_matches_monte_carlo_full_covariance():
    gen = torch.Generator().manual_seed(1)
    for k in (2, 4):
        mu1, mu2 = torch.randn(k, generator=gen), torch.randn(k, generator=gen)
        s1, s2 = _random_spd(k, gen), _random_spd(k, gen)
        p, q = MultivariateNormal(mu1, s1), MultivariateNormal(mu2, s2)
        x = p.sample((200_000,))
        _within_se(p.log_prob(x) - q.log_prob(x), objective.kl_gaussians(mu1, s1, mu2, s2).item())


def test_lemma1_agrees_with_torch_distributions_batched():
    gen = torch.Generator().manual_seed(2)
    mu1, mu2 = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
    s1 = torch.stack([_random_spd(3, gen) for _ in range(6)])
    s2 = torch.stack([_random_spd(3, gen) for _ in range(6)])
    ref = torch.distributions.kl_divergence(MultivariateNormal(mu1, s1), MultivariateNormal(mu2, s2))
    assert torch.allclose(objective.kl_gaussians(mu1, s1, mu2, s2), ref, atol=1e-10)


def test_lemma1_diagonal_against_standard_normal_is_eq14():
    mu = torch.tensor([0.3, -2.0, 1.1])
    logvar = torch.tensor([0.2, -1.5, 0.9])
    lemma = objective.kl_gaussians(mu, torch.diag(torch.exp(logvar)), torch.zeros(3), torch.eye(3))
    assert lemma.item() == pytest.approx(objective.kl_std_normal(mu, logvar).item(), rel=1e-12)


def test_lemma1_properties_and_bad_covariance():
    gen = torch.Generator().manual_seed(3)
    mu1, mu2 = torch.randn(2, generator=gen), torch.randn(2, generator=gen)
    s1, s2 = _random_spd(2, gen), _random_spd(2, gen)
    assert objective.kl_gaussians(mu1, s1, mu1, s1).item() == pytest.approx(0.0, abs=1e-12)
    a, b = objective.kl_gaussians(mu1, s1, mu2, s2).item(), objective.kl_gaussians(mu2, s2, mu1, s1).item()
    assert a > 0 and b > 0 and abs(a - b) > 1e-6          # non-negative and asymmetric
    with pytest.raises(ValueError, match="positive definite"):
        objective.kl_gaussians(mu1, -torch.eye(2), mu2, s2)


def test_kl_discrete_eq3():
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    q = torch.tensor([0.25, 0.25, 0.25, 0.25])
    manual = 0.5 * math.log(2) + 0.3 * math.log(0.3 / 0.25) + 0.2 * math.log(0.2 / 0.25)
    assert objective.kl_discrete(p, q).item() == pytest.approx(manual)
    assert objective.kl_discrete(q, p).item() == math.inf      # q puts mass where p has none
    assert objective.kl_discrete(p, p).item() == 0.0


# ------------------------------------------------------- likelihoods

def test_bernoulli_and_gaussian_log_probs_match_torch_distributions():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(7, 1, 4, 4, generator=gen).round()
    logits = torch.randn(7, 1, 4, 4, generator=gen) * 3
    ref = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(objective.bernoulli_log_prob(x, logits), ref)
    mean = torch.rand(7, 5, generator=gen)
    xg = torch.rand(7, 5, generator=gen)
    ls = torch.tensor(math.log(0.3))
    ref = Normal(mean, 0.3).log_prob(xg).sum(1)
    assert torch.allclose(objective.gaussian_log_prob(xg, mean, ls), ref)


def test_reparameterize_shape_and_moments():
    gen = torch.Generator().manual_seed(5)
    mu, lv = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    z = objective.reparameterize(mu, lv, 100_000, gen)
    assert z.shape == (100_000, 1, 2)
    assert torch.allclose(z.mean(0), mu, atol=0.03)
    assert torch.allclose(z.var(0), torch.exp(lv), rtol=0.03)


def test_reparameterised_gradient_matches_finite_differences_and_closed_form():
    """grad_phi E_q f(z) by the trick: autograd on the MC average with fixed eps equals the
    finite-difference derivative of the same average, and (in expectation) the exact gradient."""
    gen = torch.Generator().manual_seed(6)
    eps = torch.randn(200_000, 2, generator=gen)
    f = lambda z: (z ** 2).sum(-1) + torch.sin(z).sum(-1)

    def estimate(mu, lv):
        return f(mu + eps * torch.exp(0.5 * lv)).mean()

    mu = torch.tensor([0.4, -0.8], requires_grad=True)
    lv = torch.tensor([-0.3, 0.5], requires_grad=True)
    estimate(mu, lv).backward()
    h = 1e-5
    for i in range(2):
        for param, grad in ((mu, mu.grad), (lv, lv.grad)):
            d = torch.zeros(2)
            d[i] = h
            with torch.no_grad():
                if param is mu:
                    fd = (estimate(mu + d, lv) - estimate(mu - d, lv)) / (2 * h)
                else:
                    fd = (estimate(mu, lv + d) - estimate(mu, lv - d)) / (2 * h)
            assert grad[i].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-7)
    # exact: E[z^2 + sin z] = mu^2 + s^2 + sin(mu) exp(-s^2/2)
    with torch.no_grad():
        s2 = torch.exp(lv)
        d_mu = 2 * mu + torch.cos(mu) * torch.exp(-s2 / 2)
        d_lv = s2 + torch.sin(mu) * torch.exp(-s2 / 2) * (-s2 / 2)
    assert torch.allclose(mu.grad, d_mu, atol=0.02)
    assert torch.allclose(lv.grad, d_lv, atol=0.02)


# ---------------------------------------------- linear-Gaussian bounds

def _linear_gaussian(seed=7, d=5, k=2, sigma=0.5):
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(d, k, generator=gen)
    b = torch.randn(d, generator=gen)
    model = objective.LinearGaussianModel(W, b, sigma)
    x = model.decode(torch.randn(8, k, generator=gen)) + sigma * torch.randn(8, d, generator=gen)
    return model, x


def test_exact_posterior_makes_elbo_equal_log_px():
    model, x = _linear_gaussian()
    gen = torch.Generator().manual_seed(0)
    # the exact posterior covariance is full; use the full-covariance KL identity:
    # log p(x) = ELBO + KL(q || p(z|x)); with q the diagonal of the posterior the gap is positive.
    elbo = objective.per_image_terms(model, x, samples=20_000, generator=gen)["elbo"]
    assert (elbo <= model.exact_log_px(x) + 0.01).all()


def test_elbo_le_iwae_k_le_iwae_kprime_le_log_px():
    model, x = _linear_gaussian()
    model.c = model.c + 0.8                       # move the encoder off the true posterior
    model.q_logvar = model.q_logvar + 0.5
    gen = torch.Generator().manual_seed(1)
    log_px = model.exact_log_px(x)
    elbo = objective.per_image_terms(model, x, samples=20_000, generator=gen)["elbo"]
    reps = 4000                                   # independent repetitions, vectorised
    xr = x.repeat(reps, 1)
    iw = {}
    for k in (1, 5, 50):
        vals = objective.iwae_bound(model, xr, k, generator=gen).view(reps, -1)
        iw[k], se = vals.mean(0), vals.std(0) / math.sqrt(reps)
        if k == 1:                                # IWAE-1 is the ELBO
            assert ((iw[1] - elbo).abs() < 4.5 * se + 0.01).all()
    assert (elbo < iw[5]).all() and (iw[5] < iw[50]).all() and (iw[50] <= log_px + 1e-3).all()
    gap = log_px - elbo
    assert (gap > 0.1).all()


def test_elbo_gap_is_kl_to_true_posterior():
    """Eq. 12: log p(x) - ELBO = KL(q(z|x) || p(z|x)), the latter by Lemma 1."""
    model, x = _linear_gaussian()
    model.c = model.c + 0.5
    M, S = model.posterior_params()
    mu_q, lv_q = model.encode(x)
    kl = objective.kl_gaussians(mu_q, torch.diag_embed(torch.exp(lv_q)),
                        (x - model.b) @ M.T, S.expand(len(x), -1, -1))
    gen = torch.Generator().manual_seed(2)
    elbo = objective.per_image_terms(model, x, samples=200_000, generator=gen)["elbo"]
    assert torch.allclose(model.exact_log_px(x) - elbo, kl, atol=0.03)


def test_monte_carlo_recon_with_L_samples_matches_closed_form():
    model, x = _linear_gaussian()
    mu, lv = model.encode(x)
    s2 = torch.exp(2 * model.log_sigma)
    d = x.shape[1]
    resid = (x - model.decode(mu)).pow(2).sum(1)
    trace = (model.W.pow(2) * torch.exp(lv)[:, None, :]).sum((1, 2))
    exact = 0.5 * (resid + trace) / s2 + 0.5 * d * math.log(2 * math.pi * s2.item())
    gen = torch.Generator().manual_seed(3)
    for L in (1, 50):
        vals = torch.stack([objective.vae_loss(model, x, samples=L, generator=gen).recon for _ in range(400)])
        _within_se(vals, exact.mean().item())
    # more samples, less spread
    spread = {L: torch.stack([objective.vae_loss(model, x, samples=L, generator=gen).recon
                              for _ in range(200)]).std().item() for L in (1, 16)}
    assert spread[16] < spread[1] / 2.5


# ------------------------------------------------------ losses on a model

def test_vae_loss_is_recon_plus_beta_kl():
    torch.set_default_dtype(torch.float32)
    model = build_model(ModelConfig(hidden=[16], latent_dim=3), (1, 4, 4), "cpu")
    x = torch.rand(10, 1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    t = objective.vae_loss(model, x, beta=2.5, generator=gen)
    assert t.loss.item() == pytest.approx(t.recon.item() + 2.5 * t.kl.item(), rel=1e-6)
    mu, lv = model.encode(x)
    assert t.kl.item() == pytest.approx(objective.kl_std_normal(mu, lv).mean().item(), rel=1e-6)
    assert t.elbo.item() == pytest.approx(-(t.recon + t.kl).item())
    cap = objective.vae_loss(model, x, beta=2.0, capacity=t.kl.item() + 1.0, generator=gen)
    assert cap.penalty.item() == pytest.approx(2.0 * abs(cap.kl.item() - t.kl.item() - 1.0), rel=1e-5)
    fb = objective.vae_loss(model, x, beta=1.0, free_bits=5.0, generator=gen)
    assert fb.penalty.item() == pytest.approx(5.0 * 3)   # every dimension below the floor


def test_ae_loss_is_eq1_with_gaussian_likelihood():
    torch.set_default_dtype(torch.float32)
    model = build_model(ModelConfig(kind="ae", hidden=[16], latent_dim=2, likelihood="gaussian",
                                    sigma=0.5), (6,), "cpu")
    x = torch.rand(12, 6)
    t = objective.ae_loss(model, x)
    mu, _ = model.encode(x)
    se = objective.squared_error(x, model.decode(mu))
    expected = (se / (2 * 0.25) + 6 * math.log(0.5 * math.sqrt(2 * math.pi))).mean()
    assert t.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert t.kl.item() == 0.0
    with pytest.raises(ValueError, match="needs a VAE"):
        objective.iwae_bound(model, x, 5)
