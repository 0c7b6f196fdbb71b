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
from explorer.analysis.beta import judge as beta_judge
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
    assert beta_report.sample_quality(1.0, 0.0) == 0.0 and beta_report.sample_quality(0.5, 0.5) == pytest.approx(0.5)
    assert beta_report.sample_quality(1.0, 0.5) == pytest.approx(2 / 3) and beta_report.sample_quality(None, 1) is None


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


# ------------------------------------------------------------------ the judge

def test_gaussian_blur_matches_scipy_per_image():
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 12, 10)).astype(np.float32)
    sig = [0.0, 1.0, 2.0]
    batch = beta_judge.gaussian_blur(torch.as_tensor(x), sig).numpy()          # one σ per image
    for im, s, g in zip(x, sig, batch):
        one = beta_judge.gaussian_blur(torch.as_tensor(im[None]), s).numpy()[0]
        want = im if s == 0 else gaussian_filter(im.astype(np.float64), sigma=(0, s, s), mode="nearest",
                                                 truncate=3.0)
        assert np.allclose(one, want, atol=1e-5)
        assert np.allclose(g, want, atol=2e-3)      # in a batch the kernel reaches 3·max σ: a wider tail


def test_fit_temperature_recovers_a_known_temperature():
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(20000, 5, generator=gen)
    labels = torch.multinomial(torch.softmax(logits / 2.5, 1), 1, generator=gen).flatten()
    assert beta_judge.fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.05)


def test_expected_calibration_error_by_hand():
    # confidence 0.9 everywhere, right 90% of the time: calibrated; right 60%: off by 0.3
    p = np.tile([0.9, 0.1], (100, 1))
    right = np.zeros(100, int)
    assert beta_judge.expected_calibration_error(p, right[:100] * 0 + np.r_[np.zeros(90), np.ones(10)]) == \
        pytest.approx(0.0, abs=1e-12)
    assert beta_judge.expected_calibration_error(p, np.r_[np.zeros(60), np.ones(40)]) == pytest.approx(0.3)
    # two bins: 0.6 (right 60%) and 0.99 (right 50%) -> |0.6 - 0.6|·½ + |0.5 - 0.99|·½
    q = np.r_[np.tile([0.6, 0.4], (50, 1)), np.tile([0.99, 0.01], (50, 1))]
    y = np.r_[np.zeros(30), np.ones(20), np.zeros(25), np.ones(25)]
    assert beta_judge.expected_calibration_error(q, y) == pytest.approx(0.245)


def _mnist_like(n_train=1200, n_val=400):
    """A small MNIST-like set the test makes itself: the digits 0-9 drawn in a font at
    28×28, of random size, place, stroke and slant, binarised as the MNIST sweep's images."""
    from PIL import Image, ImageDraw, ImageFont

    def draw(n, seed):
        rng = np.random.default_rng(seed)
        x, y = np.zeros((n, 1, 28, 28), np.float32), rng.integers(0, 10, n)
        for i in range(n):
            font = ImageFont.load_default(size=int(rng.integers(18, 25)))
            im = Image.new("L", (28, 28), 0)
            ImageDraw.Draw(im).text((int(rng.integers(6, 12)), int(rng.integers(-2, 3))), str(y[i]), fill=255,
                                    font=font, stroke_width=int(rng.integers(0, 2)), stroke_fill=255)
            x[i, 0] = np.asarray(im.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)) > 127
        return torch.as_tensor(x), torch.as_tensor(y)
    return (*draw(n_train, 0), *draw(n_val, 1))


def _null_probe(xt, yt, xv, yv):
    return beta_report.make_probe(xt, yt, xv, yv, n=300, iwae_k=5, n_samples=300)


@pytest.mark.parametrize("which", ["digits", "mnist-like"])
def test_quality_ranks_real_images_above_noise_the_mean_image_and_blur(digits, which):
    xt, yt, xv, yv = ((digits.x_train, digits.y_train, digits.x_val, digits.y_val) if which == "digits"
                      else _mnist_like())
    probe = _null_probe(xt, yt, xv, yv)
    null = probe.null
    assert null["real_images_quality"] > 0.6, null
    for k in ("uniform_noise_quality", "mean_image_quality", "blurred_quality"):
        assert null[k] <= 0.1, (k, null)
    # the same through the public measure, with images made here (scipy's blur, not the judge's)
    real = beta_report.judged(probe.judge, probe.val_feats, xt[:300])["sample_quality"]
    blurred = np.stack([gaussian_filter(im.numpy().astype(np.float64), sigma=(0, 1.2, 1.2)) for im in xt[:300]])
    assert beta_report.judged(probe.judge, probe.val_feats, blurred.astype(np.float32))["sample_quality"] < 0.15 < real
    assert 0 <= null["classifier_ece"] < 0.1 and null["classifier_accuracy"] > 0.7
    # the judge says "none of these" to noise, and not to real images
    p, _ = probe.judge.read(torch.rand((200,) + tuple(xt.shape[1:]), generator=torch.Generator().manual_seed(3)))
    assert p[:, probe.judge.none].mean() > 0.9
    p, _ = probe.judge.read(xv[:200])
    assert p[:, probe.judge.none].mean() < 0.2


def test_the_judge_round_trips_and_refuses_too_few_images(digits):
    judge, info = beta_judge.train_judge(digits.x_train, digits.y_train, epochs=3, min_steps=0)
    assert info["pool"] == len(digits.x_train) and info["fit"] + info["calibration"] == info["pool"]
    probs, feats = judge.read(digits.x_val[:20])
    assert probs.shape == (20, 11) and feats.shape == (20, beta_judge.HIDDEN[-1])
    assert np.allclose(probs.sum(1), 1.0) and float(judge.temperature) > 0
    again = beta_judge.from_state(beta_judge.state(judge))
    assert np.allclose(again.read(digits.x_val[:20])[0], probs)
    with pytest.raises(ValueError):
        beta_judge.train_judge(digits.x_train[:5], digits.y_train[:5])


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
    m, imgs = beta_report.measure_run(model, probe, beta=2.0, seed=3)
    assert m["beta"] == 2.0 and m["seed"] == 3 and m["n"] == 100 and m["iwae_k"] == 5
    assert 0 <= m["sample_quality"] <= 1 and 0 <= m["precision"] <= 1
    assert m["sample_quality_se"] is not None and m["recon_sharpness_se"] > 0
    assert m["gap_iwae"] == pytest.approx(m["train_iwae"] - m["val_iwae"])
    assert 0 <= m["active_units"] <= 4 and m["gap_elbo_se"] > 0
    n = len(probe.show)
    classes = imgs.pop("sample_class")        # the class each shown sample most resembles (its alt text)
    assert classes.shape == (n,) and set(classes.tolist()) <= set(range(10))
    assert {k: v.shape for k, v in imgs.items()} == {k: (n, 1, 8, 8) for k in ("recon", "samples", "nearest")}
    # each "nearest training image" is a training image, and the nearest one to its sample
    for s, near in zip(imgs["samples"], imgs["nearest"]):
        d = ((probe.x_train.numpy() - s) ** 2).sum((1, 2, 3))
        assert np.allclose(near, probe.x_train.numpy()[d.argmin()])
    # the pictures' z: draw 0 of the run's seed, the same for every β of that seed
    z = beta_report.prior_z(4, 200, beta_report.draw_seed(3, 0))
    assert np.allclose(imgs["samples"], model.decode_mean(z)[:n].numpy(), atol=1e-6)
    assert beta_report.draw_seed(0, 0) == beta_report.SAMPLE_SEED


def test_the_probe_is_a_seeded_random_subset_of_each_split(digits):
    probe = beta_report.make_probe(digits.x_train, None, digits.x_val, None, n=100, iwae_k=5, n_samples=200)
    it = beta_report.probe_indices(len(digits.x_train), 100, "train")
    iv = beta_report.probe_indices(len(digits.x_val), 100, "val")
    assert torch.equal(probe.x_train, digits.x_train[it]) and torch.equal(probe.x_val, digits.x_val[iv])
    assert not np.array_equal(np.sort(iv), np.arange(100))             # not "the first n"
    assert probe.judge is None and probe.null == {}                     # no labels: no judge


def test_aggregate_gives_means_and_standard_errors_over_seeds():
    runs = [{"beta": 1.0, "seed": s, "sample_quality": q, "sample_quality_se": 0.01,
             "gap_iwae": g, "gap_iwae_se": 0.3, "latent_dim": 4} for s, q, g in
            ((0, 0.6, 10.0), (1, 0.7, 12.0), (2, 0.8, 11.0))] + \
           [{"beta": 0.5, "seed": 0, "sample_quality": 0.5, "sample_quality_se": 0.02, "gap_iwae": 20.0,
             "gap_iwae_se": 1.0, "latent_dim": 4}]
    rows = beta_report.aggregate(runs)
    assert [r["beta"] for r in rows] == [0.5, 1.0] and [r["seeds"] for r in rows] == [1, 3]
    one, three = rows
    assert one["sample_quality_se"] == 0.02 and one["gap_iwae_se"] == 1.0     # one seed: its own error
    assert three["sample_quality"] == pytest.approx(0.7)
    assert three["sample_quality_se"] == pytest.approx(0.1 / math.sqrt(3))    # over seeds only
    assert three["gap_iwae_se"] == pytest.approx(math.sqrt(1.0 / 3 + 0.09))   # + the shared images' error
    assert three["recall"] is None and three["recall_se"] is None


def test_the_sweet_spot_is_every_beta_within_error_of_the_best():
    ms = [{"beta": b, "sample_quality": q, "sample_quality_se": se}
          for b, q, se in ((0.0, 0.2, 0.01), (0.25, 0.80, 0.02), (0.5, 0.83, 0.02), (1.0, 0.70, 0.01))]
    assert beta_report.sweet_spot(ms) == [0.25, 0.5] and beta_report.best_beta(ms) == 0.5
    ms[1]["sample_quality"] = 0.7
    assert beta_report.sweet_spot(ms) == [0.5]
    assert beta_report.sweet_spot([{"beta": 1.0, "sample_quality": None}]) == []
