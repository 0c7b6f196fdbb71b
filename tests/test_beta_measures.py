"""The β lab's measures on hand-made cases whose answer is known: sharpness (contrast does
not count; blur and the mean image do), the Fréchet distance, precision/recall, the IWAE
gap with its standard error, memorisation, and the classifier behind sample quality."""
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from explorer import data, objective
from explorer.analysis.beta import classifier as beta_classifier
from explorer.analysis.beta import measures as beta_measures
from explorer.analysis.beta import report as beta_report
from explorer.config import DataConfig, ModelConfig
from explorer.models import build_model


@pytest.fixture(scope="module")
def digits():
    return data.load(DataConfig(name="digits"))


def _blur(x, sigma):
    return np.stack([gaussian_filter(im, sigma=(0, sigma, sigma)) for im in x])


# ------------------------------------------------------------------ sharpness

def test_sharpness_by_hand():
    i, j = np.indices((8, 8))
    checker = ((i + j) % 2)[None].astype(float)                   # all energy at (1/2, 1/2)
    slow = np.cos(2 * np.pi * j / 8)[None]                        # 1/8 cycle per pixel: coarse
    fast = np.cos(2 * np.pi * 3 * j / 8)[None]                    # 3/8 cycle per pixel: fine
    assert beta_measures.sharpness(checker)[0] == pytest.approx(1.0)
    assert beta_measures.sharpness(slow)[0] == pytest.approx(0.0, abs=1e-12)
    assert beta_measures.sharpness(fast)[0] == pytest.approx(1.0)
    assert beta_measures.sharpness(np.full((1, 8, 8), 0.3))[0] == 0.0        # flat: no detail at all
    # white noise: its energy is spread evenly over the 63 non-constant frequency bins
    fine = (beta_measures.frequency_radius(8, 8) > beta_measures.DETAIL_CUTOFF).sum()
    noise = np.random.default_rng(0).random((4000, 8, 8))
    assert beta_measures.sharpness(noise).mean() == pytest.approx(fine / 63, abs=0.005)


def test_contrast_and_brightness_do_not_count(digits):
    x = digits.x_val[:200].numpy().astype(np.float64)
    assert np.allclose(beta_measures.sharpness(0.5 * x), beta_measures.sharpness(x))
    assert np.allclose(beta_measures.sharpness(0.3 * x + 0.6), beta_measures.sharpness(x))
    assert beta_measures.relative_sharpness(0.5 * x, x) == pytest.approx(1.0)


def test_half_contrast_blur_and_the_mean_digit_are_ordered_right(digits):
    """The issue's three images: a digit at half contrast is not blurred (1), a Gaussian blur
    of σ = 0.7 px loses much of the fine detail, the mean digit loses more. (The old blur
    score ranked them 0.50, 0.44, 0.46: half contrast the blurriest.)"""
    x = digits.x_val[:300].numpy().astype(np.float64)
    half = beta_measures.relative_sharpness(0.5 * x, x)
    blur = beta_measures.relative_sharpness(_blur(x, 0.7), x)
    mean = beta_measures.relative_sharpness(np.repeat(x.mean(0, keepdims=True), len(x), 0), x)
    assert half == pytest.approx(1.0)
    assert 1.0 > blur > mean > 0
    assert beta_measures.relative_sharpness(_blur(x, 1.0), x) < blur          # more blur, less detail


def test_the_same_order_on_28x28_strokes():
    """MNIST-sized images without MNIST: random bright strokes on black (enough of them that
    their mean is a smooth blob, as MNIST's is)."""
    rng = np.random.default_rng(1)
    x = np.zeros((1000, 28, 28))
    for im in x:
        for _ in range(3):
            r0, c0 = rng.integers(4, 24, 2)
            dr, dc = rng.normal(size=2)
            t = np.linspace(0, 10, 40)
            rr = np.clip((r0 + dr * t).astype(int), 0, 27)
            cc = np.clip((c0 + dc * t).astype(int), 0, 27)
            im[rr, cc] = 1.0
    half = beta_measures.relative_sharpness(0.5 * x, x)
    blur = beta_measures.relative_sharpness(_blur(x[:, None], 0.7)[:, 0], x)
    mean = beta_measures.relative_sharpness(np.repeat(x.mean(0, keepdims=True), len(x), 0), x)
    assert half == pytest.approx(1.0) and 1.0 > blur > mean


def test_relative_sharpness_bad_input():
    with pytest.raises(ValueError, match="one image per input"):
        beta_measures.relative_sharpness(np.zeros((2, 4, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="flat"):
        beta_measures.relative_sharpness(np.zeros((2, 4, 4)), np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="N×C×H×W"):
        beta_measures.sharpness(np.zeros((4, 5)))


# ------------------------------------------------------------------ feature statistics

def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 3))
    assert beta_measures.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0.0])
    b = rng.normal(size=(20000, 3)) + shift                      # same covariance: |Δm|² = 5
    assert beta_measures.frechet_distance(a, b) == pytest.approx(5.0, abs=0.1)
    c = 2 * rng.normal(size=(20000, 3))                          # N(0, 4I): tr(I + 4I − 2·2I) = 3
    assert beta_measures.frechet_distance(a, c) == pytest.approx(3.0, abs=0.15)
    with pytest.raises(ValueError):
        beta_measures.frechet_distance(a[:, :2], b)


def test_precision_and_recall_separate_off_data_from_collapsed_samples():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 2))
    assert beta_measures.precision_recall(real, real.copy()) == (1.0, 1.0)
    far = rng.normal(size=(400, 2)) + 50.0                       # samples off the data ("holes")
    assert beta_measures.precision_recall(real, far) == (0.0, 0.0)
    collapsed = np.repeat(real[:1], 400, 0) + 1e-3 * rng.normal(size=(400, 2))   # one blurry average
    p, r = beta_measures.precision_recall(real, collapsed)
    assert p == 1.0 and r < 0.05
    fresh = rng.normal(size=(400, 2))                            # new samples of the same distribution
    p, r = beta_measures.precision_recall(real, fresh)
    assert p > 0.8 and r > 0.8
    assert beta_report.sample_quality(1.0, 0.0) == 0.0 and beta_report.sample_quality(0.5,
                                                                                      0.5) == pytest.approx(0.5)
    assert beta_report.sample_quality(1.0, 0.5) == pytest.approx(2 / 3) and beta_report.sample_quality(None,
                                                                                                       1) is None


# ------------------------------------------------------------------ overfitting

def test_gap_with_se_by_hand():
    g, se = beta_measures.gap_with_se([1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0])
    assert g == pytest.approx(2.0 - 0.5)
    assert se == pytest.approx(math.sqrt(1.0 / 3 + (1 / 3) / 4))
    with pytest.raises(ValueError):
        beta_measures.gap_with_se([1.0], [1.0, 2.0])


def test_iwae_per_image_tends_to_the_exact_log_likelihood():
    torch.manual_seed(0)
    W, b = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    model = objective.LinearGaussianModel(W, b, sigma=0.5)
    model.q_logvar = model.q_logvar + 1.0               # a worse encoder: an amortisation gap
    model.device = torch.device("cpu")
    x = model.decode(torch.randn(50, 2, dtype=torch.float64)) + 0.5 * torch.randn(50, 6, dtype=torch.float64)
    exact = model.exact_log_px(x).numpy()
    e1, e100 = beta_measures.iwae_per_image(model, x, 1), beta_measures.iwae_per_image(model, x, 2000)
    assert e1.shape == (50,)
    assert np.mean(e1) < np.mean(e100) <= np.mean(exact) + 0.01
    assert np.mean(exact - e100) < 0.1 * np.mean(exact - e1)   # most of the gap closed


def test_iwae_of_a_posterior_too_narrow_for_float32_is_still_finite():
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=3, hidden=[16]), (1, 8, 8), "cpu")
    with torch.no_grad():
        model.head.bias[3:] = -120.0                    # logvar ≈ −120: exp underflows in float32
        model.head.weight[3:] = 0.0
    x = torch.rand(8, 1, 8, 8).round()
    assert not torch.isfinite(objective.iwae_bound(model, x, 5)).all()
    v = beta_measures.iwae_per_image(model, x, 5)
    assert np.isfinite(v).all()


# ------------------------------------------------------------------ memorisation

def test_memorisation_of_copies_and_of_fresh_images(digits):
    train, val = digits.x_train[:300].numpy(), digits.x_val[:300].numpy()
    copies = train[[5, 17, 200]]
    m = beta_measures.memorisation(copies, train, val)
    assert m["share_nearer_train"] == 1.0 and m["nearest_train"].tolist() == [5, 17, 200]
    assert np.allclose(m["dist_train"], 0.0)
    # "reconstructions" that are exactly their validation inputs: their own input is left
    # out, so the nearest training and nearest other validation image compete evenly
    m = beta_measures.memorisation(val, train, val, self_in_val=True)
    assert 0.35 < m["share_nearer_train"] < 0.65
    assert 0.85 < m["ratio"] < 1.15
    # the same, without leaving the input out: every one is nearest to itself, in val
    assert beta_measures.memorisation(val, train, val)["share_nearer_train"] == 0.0


# ------------------------------------------------------------------ the classifier

def test_the_classifier_learns_the_digits_and_round_trips(digits):
    clf = beta_classifier.train_classifier(digits.x_train, digits.y_train, epochs=30)
    assert clf.accuracy(digits.x_val, digits.y_val) > 0.85
    probs, feats = clf.read(digits.x_val[:20])
    assert probs.shape == (20, 10) and feats.shape == (20, beta_classifier.HIDDEN[-1])
    assert np.allclose(probs.sum(1), 1.0)
    again = beta_classifier.from_state(beta_classifier.state(clf))
    assert np.allclose(again.read(digits.x_val[:20])[0], probs)
    with pytest.raises(ValueError):
        beta_classifier.train_classifier(digits.x_train[:1], digits.y_train[:1])


def test_measure_run_on_a_small_model(digits):
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, hidden=[32]), (1, 8, 8), "cpu")
    probe = beta_report.make_probe(digits.x_train, digits.y_train, digits.x_val, digits.y_val, n=100,
                                   iwae_k=5, n_samples=200)
    m, imgs = beta_report.measure_run(model, probe, beta=2.0, summary={"val": {"active_units": 3},
                                                                       "gap_elbo": 1.5})
    assert set(beta_report.ROW_KEYS) <= set(m) and m["beta"] == 2.0 and m["active_units"] == 3
    assert m["gap_elbo"] == 1.5 and m["n"] == 100 and m["iwae_k"] == 5
    assert 0 <= m["sample_quality"] <= 1 and 0 <= m["precision"] <= 1
    assert m["gap_iwae"] == pytest.approx(m["train_iwae"] - m["val_iwae"])
    n = len(probe.show)
    classes = imgs.pop("sample_class")        # the class each shown sample most resembles (its alt text)
    assert classes.shape == (n,) and set(classes.tolist()) <= set(range(10))
    assert {k: v.shape for k, v in imgs.items()} == {k: (n, 1, 8, 8) for k in ("recon", "samples", "nearest")}
    # each "nearest training image" is a training image, and the nearest one to its sample
    for s, near in zip(imgs["samples"], imgs["nearest"]):
        d = ((probe.x_train.numpy() - s) ** 2).sum((1, 2, 3))
        assert np.allclose(near, probe.x_train.numpy()[d.argmin()])
    # the same z for every run: a second model's samples come from the same prior draws
    z = beta_report.prior_z(4, 200)
    assert np.allclose(imgs["samples"], model.decode_mean(z)[:n].numpy(), atol=1e-6)
