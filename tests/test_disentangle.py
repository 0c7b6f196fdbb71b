"""The shapes dataset (known factors) and the disentanglement measures (MIG, DCI).

MIG is checked against an independent implementation written here (binning with
numpy's histogram edges, mutual information with scikit-learn), on codes whose answer
is known: one dimension per factor gives MIG ≈ 1, two dimensions that both hold the same
mixture of two factors give ≈ 0.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from explorer import data
from explorer.analysis.disentangle import metrics
from explorer.config import DataConfig
from explorer.data import shapes

# ------------------------------------------------------------------ the dataset


def test_shapes_are_deterministic_from_their_seed():
    a, fa = shapes.generate(300, seed=5)
    b, fb = shapes.generate(300, seed=5)
    c, fc = shapes.generate(300, seed=6)
    assert a.dtype == np.uint8 and a.shape == (300, 1, shapes.SIDE, shapes.SIDE)
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert not np.array_equal(fa, fc)
    assert set(np.unique(a)) == {0, 255}                                  # binary, like dSprites


def test_every_image_is_recovered_exactly_from_its_factors():
    x, f = shapes.generate(400, seed=1)
    for img, levels in zip(x, f):
        assert np.array_equal(img[0], shapes.render(*levels))
    for k, n in enumerate(shapes.N_LEVELS):                               # every level is drawn
        assert set(f[:, k]) == set(range(n))


def test_factors_show_where_they_say():
    """The shape's centre of mass sits at its (x, y) factor; its size grows with scale;
    all 4,608 combinations give different images (nothing is unidentifiable)."""
    sizes, seen = {}, set()
    for levels in itertools.product(*(range(n) for n in shapes.N_LEVELS)):
        img = shapes.render(*levels)
        seen.add(img.tobytes())
        rows, cols = np.nonzero(img)
        centre = (cols.mean() + 0.5, rows.mean() + 0.5)
        assert centre == pytest.approx((shapes.LEVELS["x"][levels[3]], shapes.LEVELS["y"][levels[4]]), abs=0.6)
        sizes.setdefault(levels[:2], []).append(len(rows))
    for shape in range(3):
        mean_sizes = [np.mean(sizes[(shape, s)]) for s in range(shapes.N_LEVELS[1])]
        assert np.all(np.diff(mean_sizes) > 0)
    assert len(seen) == int(np.prod(shapes.N_LEVELS))


def test_load_keeps_each_images_factors_and_labels():
    cfg = DataConfig(name="shapes", n_points=500, split_seed=3)
    ds = data.load(cfg)
    assert ds.image_shape == (1, 32, 32) and ds.class_names == list(shapes.SHAPES)
    assert len(ds.x_train) == 400 and len(ds.x_val) == 100
    for x, f, y in ((ds.x_train, ds.factors_train, ds.y_train), (ds.x_val, ds.factors_val, ds.y_val)):
        assert f.shape == (len(x), 5) and np.array_equal(y.numpy(), f[:, 0].numpy())
        for img, levels in zip(x[:50], f[:50]):
            assert np.array_equal((img[0].numpy() * 255).astype(np.uint8), shapes.render(*levels.tolist()))
    assert data.load(cfg).checksum == ds.checksum and data.available_offline(cfg)
    sub = data.load(DataConfig(name="shapes", n_points=500, split_seed=3, subset=50))
    for img, levels in zip(sub.x_train, sub.factors_train):
        assert np.array_equal((img[0].numpy() * 255).astype(np.uint8), shapes.render(*levels.tolist()))
    assert data.load(DataConfig(name="digits")).factors_train is None


# ------------------------------------------------------------------ MIG, independently

def _independent_mig(codes, factors, bins=20):
    """MIG as Chen et al. define it, computed the way disentanglement_lib does: numpy's
    histogram edges and digitize, scikit-learn's mutual information."""
    binned = [np.digitize(c, np.histogram(c, bins)[1][:-1]) for c in codes.T]
    gaps = []
    for v in factors.T:
        mi = sorted((mutual_info_score(b, v) for b in binned), reverse=True)
        gaps.append((mi[0] - mi[1]) / mutual_info_score(v, v))
    return float(np.mean(gaps))


def _factors(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in (3, 4, 6, 8, 8)], axis=1)


def test_mig_of_a_perfectly_disentangled_code_is_one():
    v = _factors(5000)
    rng = np.random.default_rng(1)
    z = np.concatenate([v + 0.01 * rng.standard_normal(v.shape), rng.standard_normal((5000, 3))], axis=1)
    ours = metrics.mig(z, v)
    assert ours["mig"] == pytest.approx(_independent_mig(z, v), abs=1e-9)
    assert ours["mig"] > 0.98
    assert np.allclose(ours["per_factor"], 1.0, atol=0.03)


def test_mig_of_a_code_that_mixes_two_factors_is_zero():
    v = _factors(5000)[:, 3:]                                    # x and y, 8 levels each
    rng = np.random.default_rng(2)
    mix = v[:, 0] + v[:, 1]
    z = np.stack([mix + 0.01 * rng.standard_normal(5000), mix + 0.01 * rng.standard_normal(5000),
                  rng.standard_normal(5000)], axis=1)
    ours = metrics.mig(z, v)
    assert ours["mig"] == pytest.approx(_independent_mig(z, v), abs=1e-9)
    assert ours["mig"] < 0.02


def test_mig_agrees_with_the_independent_one_on_a_partly_entangled_code():
    v = _factors(3000, seed=4)
    rng = np.random.default_rng(3)
    rot = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    z = np.concatenate([(0.7 * v + 0.3 * v @ rot) + 0.3 * rng.standard_normal(v.shape),
                        0.1 * rng.standard_normal((3000, 2))], axis=1)
    ours = metrics.mig(z, v)["mig"]
    assert ours == pytest.approx(_independent_mig(z, v), abs=1e-9)
    assert 0.02 < ours < 0.98


def test_mig_refuses_codes_it_cannot_measure():
    with pytest.raises(ValueError, match="two latent dimensions"):
        metrics.mig(np.zeros((10, 1)), np.zeros((10, 2), int))
    with pytest.raises(ValueError, match="same N"):
        metrics.mig(np.zeros((10, 3)), np.zeros((9, 2), int))


# ------------------------------------------------------------------ DCI

def test_dci_from_an_importance_matrix():
    assert metrics.dci_from_importance(np.eye(4)) == pytest.approx((1.0, 1.0))
    assert metrics.dci_from_importance(np.ones((4, 4))) == pytest.approx((0.0, 0.0), abs=1e-9)
    # dimension 0 holds two factors equally (D_0 = 1 - log 2 / log 3), dimension 1 one
    # factor (D_1 = 1), dimension 2 nothing; each of the first two carries half the importance
    r = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    d, c = metrics.dci_from_importance(r)
    assert d == pytest.approx(0.5 * (1 - np.log(2) / np.log(3)) + 0.5)
    assert c == pytest.approx(1.0)                     # each factor still comes from one dimension


def test_dci_tells_a_disentangled_code_from_a_rotated_one():
    v = _factors(1200, seed=5)[:, 3:]
    rng = np.random.default_rng(6)
    z = np.concatenate([v + 0.05 * rng.standard_normal(v.shape), rng.standard_normal((1200, 2))], axis=1)
    good = metrics.dci(z, v, trees=10)
    rot = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    mixed = metrics.dci(np.concatenate([v @ rot + 0.05 * rng.standard_normal(v.shape), z[:, 2:]], 1), v, trees=10)
    assert good["disentanglement"] > 0.85 and good["informativeness"] > 0.95
    assert mixed["disentanglement"] < good["disentanglement"] - 0.3


def test_each_dimension_is_named_by_the_factor_it_holds():
    v = _factors(4000, seed=7)
    rng = np.random.default_rng(8)
    z = np.stack([v[:, 3] + 0.01 * rng.standard_normal(4000), rng.standard_normal(4000),
                  v[:, 1] + 0.01 * rng.standard_normal(4000)], axis=1)
    m = metrics.mig(z, v)
    assert metrics.factor_of_dimension(m["mi"], m["entropy"], shapes.FACTORS) == ["x", None, "scale"]
    assert metrics.factor_of_dimension(m["mi"], m["entropy"], shapes.FACTORS,
                                       active=[True, True, False]) == ["x", None, None]


def test_a_shapes_run_says_why_it_has_no_stand_alone_script():
    from explorer.config import RunConfig
    from explorer.export import script
    cfg = RunConfig.from_dict({"data": {"name": "shapes", "n_points": 100}})
    with pytest.raises(script.ScriptError, match="python -m explorer train --dataset shapes"):
        script.render(cfg, (1, 32, 32))
