"""The Theory page's computations (explorer/analysis/theory.py) and figures
(explorer/figures/theory.py) against independent computations: torch.distributions,
scipy, closed forms (E[z²] = μ² + σ², E[sin z] = sin μ e^{−σ²/2}, E[e^z] = e^{μ+σ²/2}),
numerical integration, finite differences, and plain numpy."""
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from explorer import objective
from explorer.analysis import theory
from explorer.config import ModelConfig
from explorer.figures import theory as theory_figures
from explorer.models import build_model


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small tensor ops run many times faster on one intra-op thread on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _within(est, se, target, z=4.5, atol=1e-9):
    assert abs(est - target) < z * se + atol, f"{est} ± {se} vs {target}"


# ------------------------------------------------------------------ eq. 3

def test_parse_weights_normalises_and_accepts_separators():
    np.testing.assert_allclose(theory.parse_weights("1, 2;3  4"), np.array([1, 2, 3, 4]) / 10)
    np.testing.assert_allclose(theory.parse_weights("0 5"), [0.0, 1.0])
    big = theory.parse_weights("1e308, 1e308")               # the sum would overflow
    np.testing.assert_allclose(big, [0.5, 0.5])


@pytest.mark.parametrize("text, needle", [
    ("", "at least one weight"), ("1, x", "'x' is not a number"), ("1, -2", "≥ 0"),
    ("0, 0", "positive"), ("1, inf", "finite"), ("nan", "finite"),
    (", ".join(["1"] * (theory.MAX_OUTCOMES + 1)), "at most"),
])
def test_parse_weights_rejects_bad_input_with_a_message(text, needle):
    with pytest.raises(ValueError, match=needle):
        theory.parse_weights(text, "P")


def test_discrete_kl_matches_scipy_both_ways():
    p = theory.parse_weights("1, 2, 3, 4")
    q = theory.parse_weights("2, 2, 5, 1")
    r = theory.discrete_kl(p, q)
    assert r["kl_pq"] == pytest.approx(stats.entropy(p, q), rel=1e-12)
    assert r["kl_qp"] == pytest.approx(stats.entropy(q, p), rel=1e-12)
    assert r["kl_pq"] > 0 and r["kl_qp"] > 0 and abs(r["kl_pq"] - r["kl_qp"]) > 1e-3
    np.testing.assert_allclose(r["terms_pq"], p * np.log(p / q))
    assert r["terms_pq"].sum() == pytest.approx(r["kl_pq"])
    assert (r["terms_pq"] < 0).any()                    # single summands can be negative
    assert len(r["inf_pq"]) == 0 and len(r["inf_qp"]) == 0


def test_discrete_kl_infinite_where_q_rules_out_an_outcome_of_p():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.5, 0.0, 0.5])
    r = theory.discrete_kl(p, q)
    assert math.isinf(r["kl_pq"]) and math.isinf(r["kl_qp"])
    assert list(r["inf_pq"]) == [1] and list(r["inf_qp"]) == [2]
    r = theory.discrete_kl(np.array([1.0, 0.0]), np.array([0.5, 0.5]))     # P's zero is harmless
    assert r["kl_pq"] == pytest.approx(math.log(2))
    assert math.isinf(r["kl_qp"]) and not np.isnan(r["terms_pq"]).any()


def test_discrete_kl_zero_for_equal_and_shape_mismatch_raises():
    p = theory.parse_weights("3, 1, 1")
    assert theory.discrete_kl(p, p)["kl_pq"] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="same number of outcomes"):
        theory.discrete_kl(p, p[:2])


# ---------------------------------------------------------------- Lemma 1

def test_covariance_2d_and_its_validation():
    c = theory.covariance_2d(2.0, 0.5, -0.3)
    np.testing.assert_allclose(c, [[4.0, -0.3], [-0.3, 0.25]])
    for args, needle in [((0.0, 1, 0), "positive"), ((-1, 1, 0), "positive"), ((1, float("nan"), 0), "positive"),
                         ((1, 1, 1.0), "strictly between"), ((1, 1, -1.2), "strictly between"),
                         ((1e-6, 1, 0), "between"), ((1e5, 1, 0), "between")]:
        with pytest.raises(ValueError, match=needle):
            theory.covariance_2d(*args)
    with pytest.raises(ValueError, match="between"):
        theory.check_mean([2e6, 0.0])
    with pytest.raises(ValueError, match="finite"):
        theory.check_mean([float("inf"), 0.0])


def test_regularise_covariance_only_touches_near_singular_matrices():
    good = theory.covariance_2d(1.0, 2.0, 0.5)
    same, note = theory.regularise_covariance(good)
    assert note is None and np.array_equal(same, good)
    bad = theory.covariance_2d(1e-4, 1e4, 0.999999)
    fixed, note = theory.regularise_covariance(bad)
    assert note and "nearly singular" in note
    ev = np.linalg.eigvalsh(fixed)
    assert ev.min() >= 0.99 * theory.COND_FLOOR * ev.max()
    assert np.allclose(fixed, fixed.T)
    np.linalg.cholesky(fixed)                           # positive definite


def test_kl_lemma1_matches_torch_distributions():
    mu1, c1 = np.array([0.5, 0.0]), theory.covariance_2d(0.8, 1.2, 0.6)
    mu2, c2 = np.array([1.5, -0.5]), theory.covariance_2d(1.5, 0.7, -0.3)
    ref = kl_divergence(MultivariateNormal(torch.tensor(mu1), torch.tensor(c1)),
                        MultivariateNormal(torch.tensor(mu2), torch.tensor(c2)))
    assert theory.kl_lemma1(mu1, c1, mu2, c2) == pytest.approx(float(ref), rel=1e-10)


def test_running_mean_se_matches_direct_numpy():
    v = np.random.default_rng(0).normal(1e9, 3.0, 5000)         # huge mean, small spread
    r = theory.running_mean_se(v, points=50)
    assert r["n"][0] == 2 and r["n"][-1] == 5000 and np.all(np.diff(r["n"]) > 0)
    for i in (0, len(r["n"]) // 2, -1):
        m = r["n"][i]
        assert r["mean"][i] == pytest.approx(v[:m].mean(), rel=1e-14)
        assert r["se"][i] == pytest.approx(v[:m].std(ddof=1) / math.sqrt(m), rel=1e-6)
    with pytest.raises(ValueError):
        theory.running_mean_se([1.0])


def test_mc_kl_agrees_with_closed_form_within_its_standard_error():
    mu1, c1 = np.array([0.5, 0.0]), theory.covariance_2d(0.8, 1.2, 0.6)
    mu2, c2 = np.array([1.5, -0.5]), theory.covariance_2d(1.5, 0.7, -0.3)
    r = theory.mc_kl(mu1, c1, mu2, c2, 50_000, seed=3)
    _within(r["estimate"], r["se"], r["closed"])
    assert r["mean"][-1] == pytest.approx(r["estimate"]) and r["se_curve"][-1] == pytest.approx(r["se"], rel=1e-6)
    assert r["z"] == pytest.approx((r["estimate"] - r["closed"]) / r["se"])
    assert r["se_curve"][-1] < r["se_curve"][len(r["se_curve"]) // 4]     # the band narrows
    with pytest.raises(ValueError, match="between 2"):
        theory.mc_kl(mu1, c1, mu2, c2, 1)


def test_mc_kl_stays_finite_at_extreme_settings():
    mu1, c1, note1 = theory.gaussian_2d([1e6, -1e6], 1e-4, 1e4, 0.999999)
    mu2, c2, note2 = theory.gaussian_2d([-1e6, 1e6], 1e-4, 1e-4, -0.999999)
    assert note1 is not None
    r = theory.mc_kl(mu1, c1, mu2, c2, 1000, seed=0)
    for key in ("estimate", "se", "closed"):
        assert math.isfinite(r[key])
    assert np.all(np.isfinite(r["mean"])) and np.all(np.isfinite(r["se_curve"]))
    h = theory.proof_half_check(mu1, c1, mu2, c2, 1000)
    assert all(math.isfinite(h[k]) for k in ("mc", "se", "seed_value", "corrected_value"))


def test_diagonal_case_is_eq14_and_matches_torch_normal():
    mu, logvar = np.array([0.7, -1.3]), np.array([0.4, -2.0])
    d = theory.diagonal_vs_eq14(mu, logvar)
    ref = kl_divergence(Normal(torch.tensor(mu), torch.exp(0.5 * torch.tensor(logvar))),
                        Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)))
    np.testing.assert_allclose(d["per_dim"], ref.numpy(), rtol=1e-12)
    assert d["lemma1"] == pytest.approx(d["eq14"], rel=1e-12)


def test_proof_half_check_supports_the_corrected_half_not_the_seeds():
    mu1, c1 = np.array([0.0, 0.0]), theory.covariance_2d(1.0, 0.5, 0.3)
    mu2, c2 = np.array([2.0, -1.0]), theory.covariance_2d(1.2, 0.9, 0.0)
    h = theory.proof_half_check(mu1, c1, mu2, c2, 40_000, seed=1)
    s2inv = np.linalg.inv(c2)
    dm = mu1 - mu2
    assert h["trace"] == pytest.approx(np.trace(s2inv @ c1), rel=1e-10)
    assert h["maha"] == pytest.approx(dm @ s2inv @ dm, rel=1e-10)
    _within(h["mc"], h["se"], h["corrected_value"])
    assert abs(h["mc"] - h["seed_value"]) > 10 * h["se"]


def test_ellipse_points_lie_on_the_mahalanobis_contour():
    mu, cov = np.array([1.0, -2.0]), theory.covariance_2d(2.0, 0.5, 0.7)
    for nsig in (1.0, 2.0):
        x, y = theory.ellipse(mu, cov, nsig, points=60)
        d = np.stack([x - mu[0], y - mu[1]], 1)
        q = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        np.testing.assert_allclose(q, nsig ** 2, rtol=1e-9)


# ------------------------------------------------------------------- ELBO

def _closed_form_elbo(model, x):
    """E_q log N(x; Wz+b, σ²I) − KL(q || N(0,I)), by the Gaussian identity
    E_q ||x − Wz − b||² = ||x − Wμ − b||² + tr(W Σ_q Wᵀ)."""
    mu, logvar = model.encode(x)
    var = torch.exp(logvar[0])
    s2 = float(torch.exp(2 * model.log_sigma))
    mean_x = model.W @ mu[0] + model.b
    e_ll = float(Normal(mean_x, math.sqrt(s2)).log_prob(x[0]).sum()) - float(
        torch.trace(model.W @ torch.diag(var) @ model.W.T)) / (2 * s2)
    kl = float(kl_divergence(Normal(mu[0], var.sqrt()), Normal(torch.zeros_like(var), torch.ones_like(var))).sum())
    return e_ll - kl


def test_demo_model_has_a_diagonal_posterior_that_the_encoder_starts_on():
    m = theory.demo_linear_gaussian()
    _, s = m.posterior_params()
    assert torch.allclose(s, torch.diag(torch.diagonal(s)))
    x = theory.sample_x(m, 4)
    r = theory.elbo_check(m, x, samples=500)
    assert r["kl_post"] == pytest.approx(0.0, abs=1e-10)
    np.testing.assert_allclose(r["q_mean"], r["post_mean"], atol=1e-12)


@pytest.mark.parametrize("shift, scale", [((0.0, 0.0), (1.0, 1.0)), ((1.0, -0.5), (2.0, 0.5)),
                                          ((-3.0, 3.0), (10 ** 1.5, 10 ** -1.5))])
def test_elbo_check_against_closed_forms_and_eq12(shift, scale):
    m0 = theory.demo_linear_gaussian()
    x = theory.sample_x(m0, 1)
    m = theory.move_encoder(m0, shift, scale)
    r = theory.elbo_check(m, x, samples=20_000, seed=5)
    # independent: exact log p(x) by the marginal Gaussian, the ELBO in closed form, KL by torch
    d = m.W.shape[0]
    marg = MultivariateNormal(m.b, m.W @ m.W.T + torch.exp(2 * m.log_sigma) * torch.eye(d, dtype=torch.float64))
    assert r["log_px"] == pytest.approx(float(marg.log_prob(x[0])), rel=1e-12)
    _within(r["elbo"], r["elbo_se"], _closed_form_elbo(m, x))
    mu, logvar = m.encode(x)
    mm, s = m.posterior_params()
    kl_ref = kl_divergence(MultivariateNormal(mu[0], torch.diag(torch.exp(logvar[0]))),
                           MultivariateNormal(mm @ (x[0] - m.b), s))
    assert r["kl_post"] == pytest.approx(float(kl_ref), rel=1e-8, abs=1e-12)
    _within(r["gap"], r["elbo_se"], r["kl_post"])                # eq. 12
    assert r["loss"] == -r["elbo"] and r["loss"] >= -r["log_px"] - 4.5 * r["elbo_se"]   # corrected eq. 15
    np.testing.assert_allclose(r["q_mean"], mu[0].numpy())


def test_move_encoder_validates_and_moves():
    m = theory.demo_linear_gaussian()
    with pytest.raises(ValueError, match="positive"):
        theory.move_encoder(m, (0, 0), (0.0, 1.0))
    with pytest.raises(ValueError, match="finite"):
        theory.move_encoder(m, (float("nan"), 0), (1.0, 1.0))
    x = theory.sample_x(m, 0)
    m2 = theory.move_encoder(m, (0.5, -1.0), (2.0, 1.0))
    mu0, lv0 = m.encode(x)
    mu2, lv2 = m2.encode(x)
    np.testing.assert_allclose((mu2 - mu0).numpy()[0], [0.5, -1.0], atol=1e-12)
    np.testing.assert_allclose((lv2 - lv0).numpy()[0], [2 * math.log(2.0), 0.0], atol=1e-12)
    assert torch.equal(m.c, objective.LinearGaussianModel(m.W, m.b, 0.5).c)      # the original is untouched


def test_elbo_sweep_gap_is_smallest_on_the_posterior():
    m = theory.demo_linear_gaussian()
    x = theory.sample_x(m, 2)
    sw = theory.elbo_sweep(m, x, np.linspace(-2, 2, 9), samples=300)
    assert sw["elbo"].shape == (9,) and sw["kl_post"].shape == (9,)
    assert int(np.argmin(sw["kl_post"])) == 4 and sw["kl_post"][4] == pytest.approx(0.0, abs=1e-10)
    assert np.all(sw["elbo"] <= sw["log_px"] + 4.5 * sw["elbo_se"])
    # eq. 12 point by point
    assert np.all(np.abs(sw["log_px"] - sw["kl_post"] - sw["elbo"]) < 4.5 * sw["elbo_se"] + 1e-9)


def test_iwae_curve_on_the_linear_model_climbs_to_exact_log_px():
    m0 = theory.demo_linear_gaussian()
    x = theory.sample_x(m0, 3)
    exact = float(m0.exact_log_px(x)[0])
    # q = the exact posterior: every importance weight equals p(x), so IWAE-k = log p(x) for all k
    on = theory.iwae_curve(m0, x.repeat(4, 1), ks=(1, 10, 100), draws=10)
    np.testing.assert_allclose(on["mean"], exact, atol=1e-9)
    # q off the posterior: IWAE-1 is the ELBO, the bound tightens and ends near log p(x)
    m = theory.move_encoder(m0, (1.0, 0.0), (2.0, 1.0))
    r = theory.iwae_curve(m, x.repeat(16, 1), ks=(1, 10, 100, 1000), draws=100)
    _within(r["mean"][0], r["se"][0], _closed_form_elbo(m, x))
    assert np.all(r["mean"] <= exact + 4.5 * r["se"] + 1e-9)
    assert r["mean"][-1] > r["mean"][0] + 1.0
    assert abs(r["mean"][-1] - exact) < 0.05
    np.testing.assert_allclose(r["gain"], r["mean"] - r["mean"][0], atol=1e-9)
    with pytest.raises(ValueError):
        theory.iwae_curve(m, x, ks=(0, 1))


# -------------------------------------------------- gradients (section 5)

def _closed_grad(f_name, mu, s):
    if f_name == "z²":
        return np.array([2 * mu, 2 * s])
    if f_name == "sin z":
        e = math.exp(-s * s / 2)
        return np.array([math.cos(mu) * e, -s * math.sin(mu) * e])
    if f_name == "exp z":
        e = math.exp(mu + s * s / 2)
        return np.array([e, s * e])
    raise KeyError(f_name)


@pytest.mark.parametrize("f_name", ["z²", "sin z", "exp z"])
@pytest.mark.parametrize("mu, s", [(0.5, 1.0), (-1.3, 0.3)])
def test_exact_gradient_matches_closed_forms(f_name, mu, s):
    np.testing.assert_allclose(theory.exact_gradient(f_name, mu, s), _closed_grad(f_name, mu, s), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("mu, s", [(0.3, 0.7), (-1.0, 3.0), (0.05, 0.01)])
def test_exact_gradient_of_the_soft_step_matches_scipy_quad(mu, s):
    from scipy.special import expit
    dsig = lambda z: 10 * expit(10 * z) * expit(-10 * z)
    pdf = lambda z: stats.norm.pdf(z, mu, s)
    d_mu = integrate.quad(lambda z: dsig(z) * pdf(z), -np.inf, np.inf, epsabs=1e-13)[0]
    # d/dσ E f(μ + σε) = E[f'(μ + σε) ε]
    d_s = integrate.quad(lambda e: dsig(mu + s * e) * e * stats.norm.pdf(e), -np.inf, np.inf, epsabs=1e-13)[0]
    np.testing.assert_allclose(theory.exact_gradient("sigmoid(10 z), a soft step", mu, s), [d_mu, d_s],
                               rtol=1e-7)


@pytest.mark.parametrize("f_name", ["z²", "sin z", "exp z"])
def test_both_estimators_are_unbiased(f_name):
    mu, s = 0.4, 0.8
    target = _closed_grad(f_name, mu, s)
    for fn in (theory.reparam_estimates, theory.score_estimates):
        e = fn(f_name, mu, s, L=20, repeats=2000, seed=7)
        assert e.shape == (2000, 2)
        for j in range(2):
            _within(e[:, j].mean(), e[:, j].std(ddof=1) / math.sqrt(len(e)), target[j])


def test_reparameterised_variance_for_z_squared_is_known_exactly():
    # d/dμ of (1/L) Σ (μ + σε)² is (2/L) Σ z: variance 4σ²/L
    mu, s, L = 0.5, 1.3, 5
    e = theory.reparam_estimates("z²", mu, s, L, repeats=20_000, seed=1)
    assert e[:, 0].var(ddof=1) == pytest.approx(4 * s * s / L, rel=0.05)
    sc = theory.score_estimates("z²", mu, s, L, repeats=20_000, seed=1)
    assert sc[:, 0].var(ddof=1) > 2 * e[:, 0].var(ddof=1)


def test_naive_estimate_is_zero_and_disconnected():
    r = theory.naive_estimate("sin z", 0.5, 1.0, L=50)
    assert not r["connected"] and np.array_equal(r["value"], np.zeros(2))
    assert abs(theory.exact_gradient("sin z", 0.5, 1.0)[0]) > 0.1      # ∇E ≠ E∇


def test_gradient_inputs_are_validated():
    with pytest.raises(ValueError, match="unknown function"):
        theory.reparam_estimates("cos z", 0, 1, 1)
    with pytest.raises(ValueError, match="σ must"):
        theory.score_estimates("z²", 0, 0.0, 1)
    with pytest.raises(ValueError, match="μ must"):
        theory.exact_gradient("z²", 100.0, 1.0)
    with pytest.raises(ValueError, match="repeats"):
        theory.gradient_variance("z²", 0, 1, repeats=1)


def test_gradient_variance_falls_like_one_over_L():
    v = theory.gradient_variance("sin z", 0.2, 1.0, Ls=(1, 100), repeats=400, seed=0)
    for key in ("var_reparam", "var_score"):
        ratio = v[key][0, 0] / v[key][1, 0]
        assert 50 < ratio < 200, (key, ratio)
    np.testing.assert_allclose(v["exact"], _closed_grad("sin z", 0.2, 1.0), rtol=1e-9)


def test_gradient_summary_collects_consistent_numbers():
    s = theory.gradient_summary("z²", 0.5, 1.0, L=10, repeats=300, seed=2)
    assert s["reparam"].shape == (300, 2)
    np.testing.assert_allclose(s["reparam_mean"], s["reparam"].mean(0))
    np.testing.assert_allclose(s["score_se"], s["score"].std(0, ddof=1) / math.sqrt(300))
    np.testing.assert_allclose(s["exact"], [1.0, 2.0], rtol=1e-9)
    assert np.array_equal(s["naive"], [0.0, 0.0])


def test_function_and_density_integrates_to_one():
    d = theory.function_and_density("z²", 0.5, 0.4)
    assert np.trapezoid(d["q"], d["z"]) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(d["q"], stats.norm.pdf(d["z"], 0.5, 0.4), rtol=1e-10)
    np.testing.assert_allclose(d["f"], d["z"] ** 2)


# ----------------------------------------------------- models: small VAE / AE

def _tiny(kind, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(kind=kind, latent_dim=2, hidden=[16], likelihood="gaussian", sigma=0.2)
    return build_model(cfg, (1, 4, 4), "cpu").eval()


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 4, 4, generator=g)


def test_pick_batch_is_distinct_reproducible_and_checked():
    x = torch.arange(20.0)[:, None]
    a, b = theory.pick_batch(x, 8, 3), theory.pick_batch(x, 8, 3)
    assert torch.equal(a, b) and len(torch.unique(a)) == 8
    assert not torch.equal(a, theory.pick_batch(x, 8, 4))
    with pytest.raises(ValueError):
        theory.pick_batch(x, 21)


def test_ae_vs_vae_against_torch_distributions():
    vae, ae, x = _tiny("vae"), _tiny("ae", 1), _batch()
    r = theory.ae_vs_vae(vae, ae, x, samples=1)
    with torch.no_grad():
        xh = ae.decode(ae.encode(x)[0])
        sq = ((x - xh) ** 2).flatten(1).sum(1)
        nll = -Normal(xh, 0.2).log_prob(x).flatten(1).sum(1)
        mu, logvar = vae.encode(x)
        kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    assert r["ae"]["sq_err"] == pytest.approx(float(sq.mean()), rel=1e-5)
    assert r["ae"]["recon"] == pytest.approx(float(nll.mean()), rel=1e-5)
    assert r["ae"]["recon_from_sq_err"] == pytest.approx(r["ae"]["recon"], rel=1e-4)   # eq. 1 ↔ Gaussian NLL
    assert r["vae"]["kl"] == pytest.approx(float(kl.mean()), rel=1e-5)
    assert r["vae"]["loss"] == pytest.approx(r["vae"]["recon"] + r["vae"]["kl"], rel=1e-6)
    assert r["x"].shape == r["ae_recon"].shape == r["vae_recon"].shape == (6, 1, 4, 4)
    # the Monte Carlo reconstruction term against an independent large-sample estimate
    big = theory.ae_vs_vae(vae, ae, x, samples=4000)
    with torch.no_grad():
        g = torch.Generator().manual_seed(11)
        eps = torch.randn(4000, *mu.shape, generator=g)
        z = mu + eps * torch.exp(0.5 * logvar)
        means = vae.decode(z.reshape(-1, 2)).view(4000, 6, 1, 4, 4)
        ref = -Normal(means, 0.2).log_prob(x).flatten(2).sum(2).mean(1)      # [4000] batch means
    _within(big["vae"]["recon"], float(ref.std() / math.sqrt(4000)) * math.sqrt(2), float(ref.mean()))
    with pytest.raises(ValueError):
        theory.ae_vs_vae(ae, vae, x)


def test_loss_spread_shrinks_like_one_over_root_L_and_kl_is_exact():
    vae, x = _tiny("vae"), _batch(4)
    r = theory.loss_spread(vae, x, Ls=(1, 25), repeats=60, seed=0)
    assert r["values"].shape == (2, 60)
    ratio = r["std"][0] / r["std"][1]
    np.testing.assert_allclose(r["std_sqrt_L"], r["std"] * np.sqrt([1, 25]))
    assert 2.5 < ratio < 10, ratio                       # √25 = 5
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1).mean()
    assert r["kl"] == pytest.approx(float(kl), rel=1e-5)
    # the draws estimate the expected loss: L = 1 and L = 25 agree within their spread
    _within(r["mean"][0], r["std"][0] / math.sqrt(60), r["mean"][1], atol=4.5 * r["std"][1] / math.sqrt(60))
    with pytest.raises(ValueError, match="VAE"):
        theory.loss_spread(_tiny("ae"), x)


def test_theta_gradient_sign_against_finite_differences():
    vae, x = _tiny("vae"), _batch(5)
    step = 1e-4
    g = theory.theta_gradient_sign(vae, x, samples=3, seed=2, step=step)
    assert g["cosine"] == pytest.approx(-1.0, abs=1e-6)
    assert g["norm_loss"] == pytest.approx(g["norm_seed"], rel=1e-6)
    # first order: a step of length h against the gradient lowers the loss by h·‖∇L‖
    assert g["loss_before"] - g["loss_after_correct"] == pytest.approx(step * g["norm_loss"], rel=0.05)
    assert g["loss_after_seed"] - g["loss_before"] == pytest.approx(step * g["norm_loss"], rel=0.05)
    # the model itself was not changed
    assert theory.theta_gradient_sign(vae, x, samples=3, seed=2, step=step)["loss_before"] == g["loss_before"]


# ------------------------------------------------------------------ figures

def _all_y(fig):
    return np.concatenate([np.asarray(t.y, dtype=np.float64) for t in fig.data if t.y is not None])


def test_discrete_bars_mark_infinity_instead_of_drawing_it():
    r = theory.discrete_kl(np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.0, 0.5]))
    fig = theory_figures.discrete_kl_bars(r["p"], r["q"], r["terms_pq"], r["terms_qp"])
    assert isinstance(fig, go.Figure) and len(fig.data) == 4
    assert not np.isinf(_all_y(fig)).any()
    assert sum(a.text == "∞" for a in fig.layout.annotations) == 2


def test_gaussian_ellipses_and_convergence_figures():
    mu, cov = np.array([0.0, 1.0]), theory.covariance_2d(1.0, 2.0, 0.3)
    fig = theory_figures.gaussian_ellipses([{"mu": mu, "cov": cov, "name": "p"},
                                {"mu": -mu, "cov": np.eye(2), "name": "q", "color": "red"}])
    assert len(fig.data) == 6 and fig.layout.yaxis.scaleanchor == "x"
    r = theory.mc_kl(mu, cov, -mu, np.eye(2), 500)
    fig = theory_figures.mc_convergence(r["n"], r["mean"], r["se_curve"], r["closed"])
    assert fig.layout.xaxis.type == "log"
    assert np.isclose(fig.data[2].y, r["closed"]).all()
    band = np.asarray(fig.data[0].y)
    assert band.max() >= r["mean"].max() and band.min() <= r["mean"].min()


def test_bound_sweep_gradient_and_spread_figures():
    fig = theory_figures.bound_curve(np.array([1, 10, 100]), np.array([-5.0, -4.5, -4.2]), np.array([0.1,
                                                                                                     0.1,
                                                                                                     0.1]),
                                     log_px=-4.0)
    assert fig.layout.xaxis.type == "log" and any(t.name == "log p(x), exact" for t in fig.data)
    assert len(theory_figures.bound_curve([1, 10], [1.0, 2.0], [0.0, 0.0]).data) == 3
    flat = theory_figures.bound_curve(np.array([1, 10]), np.array([-4.0, -4.0 - 1e-15]), np.zeros(2),
                                      log_px=-4.0)
    lo, hi = flat.layout.yaxis.range                     # no axis magnifying rounding noise
    assert hi - lo == pytest.approx(theory_figures.MIN_SPAN) and lo < -4.0 < hi
    fig = theory_figures.elbo_sweep(np.linspace(-1, 1, 5), np.zeros(5), np.ones(5) * 0.1, np.arange(5.0),
                                    1.0, current=0.5)
    np.testing.assert_allclose(fig.data[-1].y, 1.0 - np.arange(5.0))
    v = theory.gradient_variance("z²", 0.0, 1.0, Ls=(1, 10), repeats=50)
    fig = theory_figures.gradient_variance(v["Ls"], v["var_reparam"], v["var_score"])
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 5
    fig = theory_figures.gradient_variance([1, 10], np.zeros((2, 2)), np.ones((2,
                                                                               2)))      # zero variance: a gap, no crash
    assert np.isnan(np.asarray(fig.data[0].y, dtype=float)).all()
    fig = theory_figures.loss_spread(np.array([1, 4]), np.array([2.0, 1.0]))
    np.testing.assert_allclose(fig.data[1].y, [2.0, 1.0])
    d = theory.function_and_density("sin z", 0.0, 1.0)
    assert len(theory_figures.function_and_density(d["z"], d["f"], d["q"], "sin z").data) == 2
    fig = theory_figures.estimator_histogram(np.zeros(10), np.ones(10), 0.5)
    assert len(fig.data) == 2 and fig.layout.barmode == "overlay"


def test_bernoulli_models_work_through_the_same_functions():
    torch.manual_seed(3)
    cfg = ModelConfig(kind="vae", latent_dim=2, hidden=[16], likelihood="bernoulli")
    vae = build_model(cfg, (1, 4, 4), "cpu").eval()
    x = (_batch(4) > 0.5).float()
    r = theory.iwae_curve(vae, x, ks=(1, 50), draws=20)
    assert np.all(np.isfinite(r["mean"])) and r["gain"][1] > -4.5 * r["gain_se"][1]
    s = theory.loss_spread(vae, x, Ls=(1, 4), repeats=5)
    assert np.all(np.isfinite(s["std"]))
    g = theory.theta_gradient_sign(vae, x, samples=2, seed=1)
    assert g["cosine"] == pytest.approx(-1.0, abs=1e-6)
    ae = build_model(ModelConfig(kind="ae", latent_dim=2, hidden=[16], likelihood="bernoulli"), (1, 4, 4), "cpu")
    out = theory.ae_vs_vae(vae, ae.eval(), x)
    assert out["nll_const"] is None and "recon_from_sq_err" not in out["ae"]
    with torch.no_grad():
        ref = torch.distributions.Bernoulli(logits=ae.decode(ae.encode(x)[0])).log_prob(x).flatten(1).sum(1)
    assert out["ae"]["recon"] == pytest.approx(-float(ref.mean()), rel=1e-5)
