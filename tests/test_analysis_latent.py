"""explorer.analysis.latent: projections, decode grids, traversals, interpolation, ellipses,
the aggregate posterior's density, t-SNE, the decoder's sliders and uploaded images —
each against an independent computation."""
import io
import math
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from explorer.analysis import images
from explorer.analysis import latent
from explorer.analysis import projections
from explorer.config import ModelConfig
from explorer.models import build_model


def _model(latent_dim=2, shape=(1, 8, 8), kind="vae", seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelConfig(kind=kind, hidden=[16], latent_dim=latent_dim, likelihood="gaussian"),
                    shape, "cpu")
    return m.eval()


def _count_decodes(model):
    calls = []
    orig = model.decode

    def counting(z):
        calls.append(len(z))
        return orig(z)
    model.decode = counting
    return calls


# ------------------------------------------------------------ projections

def test_dims_projection_keeps_the_unshown_dimensions_at_hold():
    p = projections.dims_projection(4, (2, 0))
    z = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert np.allclose(p.transform(z), [[3.0, 1.0]])
    hold = np.array([9.0, 8.0, 7.0, 6.0])
    lifted = p.lift(np.array([[-1.0, 0.5]]), hold)
    assert np.allclose(lifted, [[0.5, 8.0, -1.0, 6.0]])
    assert p.axis_titles == ("z₃", "z₁")
    with pytest.raises(ValueError):
        projections.dims_projection(3, (1, 1))
    with pytest.raises(ValueError):
        projections.dims_projection(3, (0, 3))


def test_one_dimensional_latent_plane_uses_only_x():
    p = projections.dims_projection(1)
    assert np.allclose(p.lift(np.array([[0.7, 5.0]]), np.zeros(1)), [[0.7]])
    assert np.allclose(p.transform(np.array([[2.0]])), [[2.0, 0.0]])


def test_pca_round_trip_and_explained_variance_match_sklearn():
    from sklearn.decomposition import PCA as SkPCA
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5)) + rng.standard_normal(5)
    pca = projections.fit_pca(z)
    assert np.allclose(pca.inverse_transform(pca.transform(z)), z, atol=1e-9)
    assert np.allclose(pca.components @ pca.components.T, np.eye(5), atol=1e-9)
    sk = SkPCA().fit(z)
    assert np.allclose(pca.explained_variance, sk.explained_variance_, rtol=1e-9)
    assert np.allclose(pca.explained_variance_ratio, sk.explained_variance_ratio_, rtol=1e-9)
    assert np.allclose(np.abs(pca.components), np.abs(sk.components_), atol=1e-7)
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0)


def test_pca_plane_lift_and_transform_are_inverse():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((100, 6)) * [4, 2, 1, 0.5, 0.2, 0.1]
    proj = projections.fit_pca(z, 2).projection()
    assert proj.kind == "pca" and proj.explained[0] > proj.explained[1] > 0
    assert "% of variance" in proj.axis_titles[0]
    p = rng.standard_normal((7, 2))
    hold = rng.standard_normal(6)
    lifted = proj.lift(p, hold)
    assert np.allclose(proj.transform(lifted), p)
    # the part of hold orthogonal to the plane is untouched
    perp = np.eye(6) - proj.components.T @ proj.components
    assert np.allclose(lifted @ perp, np.broadcast_to(hold @ perp, (7, 6)))
    # a point's own projection lifts back to the point
    assert np.allclose(proj.lift(proj.transform(z[:3]), z[:3]), z[:3])


def test_pca_with_fewer_points_than_dimensions():
    z = np.random.default_rng(2).standard_normal((3, 8))
    pca = projections.fit_pca(z, 2)
    assert pca.components.shape == (2, 8)
    assert np.allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-9)
    with pytest.raises(ValueError):
        projections.fit_pca(z[:1])


def test_project_cov_is_c_diag_var_ct():
    rng = np.random.default_rng(3)
    proj = projections.fit_pca(rng.standard_normal((50, 4)), 2).projection()
    var = rng.uniform(0.1, 2.0, (5, 4))
    got = proj.project_cov(var)
    for v, g in zip(var, got):
        assert np.allclose(g, proj.components @ np.diag(v) @ proj.components.T)
    dims = projections.dims_projection(4, (3, 1)).project_cov(var)
    assert np.allclose(dims[:, 0, 0], var[:, 3]) and np.allclose(dims[:, 1, 1], var[:, 1])
    assert np.allclose(dims[:, 0, 1], 0)


def test_pca_plane_is_the_one_2d_view_of_codes():
    z = np.random.default_rng(3).normal(size=(200, 5)) * [3.0, 2.0, 1.0, 0.5, 0.1] + 1.0
    plane = projections.pca_plane(z)
    ref = projections.fit_pca(z, 2).projection()
    assert plane.kind == "pca" and np.allclose(plane.transform(z), ref.transform(z))
    assert np.allclose(plane.transform(z).mean(0), 0.0)              # centred on the codes
    origin = projections.pca_plane(z, through_origin=True)
    assert np.allclose(origin.components, ref.components) and np.allclose(origin.transform(np.zeros(5)), 0.0)
    assert np.allclose(origin.transform(z), z @ ref.components.T)
    for d in (1, 2):                                                  # the dimensions themselves
        assert projections.pca_plane(np.ones((10, d))).kind == "dims"
    assert projections.pca_plane(np.zeros((1, 4)), 4).kind == "dims"           # too few points for PCA
    assert projections.pca_plane(np.zeros((0, 4)), 4).kind == "dims"


def test_plane_extent_shows_the_points_and_the_prior_around_its_centre():
    pts = np.array([[10.0, 0.0], [11.0, 1.0]])
    (x0, x1), (y0, y1) = latent.plane_extent(pts, (0.0, 0.0))
    assert x0 < -3.3 and x1 > 11.0 and y0 < -3.3 and y1 > 3.3
    assert math.isclose(x1 - x0, y1 - y0)                              # square
    (x0, x1), (y0, y1) = latent.plane_extent(np.zeros((0, 2)), (5.0, -5.0))
    assert x0 < 1.7 < 8.3 < x1 and y0 < -8.3 < -1.7 < y1


def test_tsne_caps_subset_is_deterministic_and_keeps_clusters_apart():
    rng = np.random.default_rng(4)
    z = np.vstack([rng.standard_normal((150, 5)), rng.standard_normal((150, 5)) + 12])
    labels = np.repeat([0, 1], 150)
    idx, emb = projections.tsne_embed(z, max_points=120, seed=0)
    assert len(idx) == 120 and len(np.unique(idx)) == 120 and np.all(np.diff(idx) > 0)
    assert emb.shape == (120, 2)
    idx2, emb2 = projections.tsne_embed(z, max_points=120, seed=0)
    assert np.array_equal(idx, idx2) and np.allclose(emb, emb2)
    # every embedded point's nearest neighbour belongs to its own cluster
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert np.all(labels[idx][d.argmin(1)] == labels[idx])
    assert projections.nearest_index(emb, emb[17] + 1e-6) == 17


# ------------------------------------------------------------ decoding

def test_grid_points_are_cell_centres_in_image_order():
    pts = latent.grid_points(((0.0, 3.0), (0.0, 6.0)), 3)
    assert pts.shape == (9, 2)
    assert np.allclose(pts[0], [0.5, 5.0]) and np.allclose(pts[1], [1.5, 5.0])
    assert np.allclose(pts[3], [0.5, 3.0]) and np.allclose(pts[-1], [2.5, 1.0])


def test_decode_grid_equals_single_decodes_in_one_pass():
    model = _model(latent_dim=3)
    proj = projections.dims_projection(3, (0, 2))
    hold = np.array([0.3, -1.2, 0.7])
    calls = _count_decodes(model)
    z, imgs = latent.decode_grid(model, ((-2, 2), (-1, 3)), 20, hold, proj)
    assert calls == [400]                       # one forward pass for 20×20
    assert z.shape == (400, 3) and imgs.shape == (400, 1, 8, 8)
    assert np.allclose(z[:, 1], -1.2)           # the unshown dimension is held
    assert np.allclose(z[:, [0, 2]], latent.grid_points(((-2, 2), (-1, 3)), 20))
    for k in (0, 57, 399):
        single = model.decode_mean(torch.tensor(z[k:k + 1], dtype=torch.float32))[0].numpy()
        assert np.allclose(imgs[k], single, atol=1e-6)
    with pytest.raises(ValueError):
        latent.decode_grid(model, ((-1, 1), (-1, 1)), 0)


def test_traversals_vary_one_dimension_per_row():
    model = _model(latent_dim=3)
    base = np.array([0.5, -0.5, 1.0])
    calls = _count_decodes(model)
    z, imgs = latent.traversals(model, base, [2, 0], latent.traversal_values(5, 3.0))
    assert calls == [10]
    assert z.shape == (2, 5, 3) and imgs.shape == (2, 5, 1, 8, 8)
    assert np.allclose(z[0, :, 2], [-3, -1.5, 0, 1.5, 3]) and np.allclose(z[0, :, :2], base[:2])
    assert np.allclose(z[1, :, 0], [-3, -1.5, 0, 1.5, 3]) and np.allclose(z[1, :, 1:], base[1:])
    single = model.decode_mean(torch.tensor(z[1, 3:4], dtype=torch.float32))[0].numpy()
    assert np.allclose(imgs[1, 3], single, atol=1e-6)
    # per-dimension values
    z2, _ = latent.traversals(model, base, [1, 2], np.array([[0.0, 1.0], [5.0, 6.0]]))
    assert np.allclose(z2[0, :, 1], [0, 1]) and np.allclose(z2[1, :, 2], [5, 6])


def test_lerp_and_slerp_endpoints():
    z0, z1 = np.array([1.0, 2.0, -1.0]), np.array([-2.0, 0.5, 3.0])
    t = np.linspace(0, 1, 7)
    for f in (latent.lerp, latent.slerp):
        path = f(z0, z1, t)
        assert path.shape == (7, 3)
        assert np.allclose(path[0], z0) and np.allclose(path[-1], z1)
    assert np.allclose(latent.lerp(z0, z1, [0.5])[0], (z0 + z1) / 2)


def test_slerp_keeps_the_norm_and_steps_evenly_in_angle():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(10), rng.standard_normal(10)
    a, b = 3 * a / np.linalg.norm(a), 3 * b / np.linalg.norm(b)
    path = latent.slerp(a, b, np.linspace(0, 1, 9))
    assert np.allclose(np.linalg.norm(path, axis=1), 3.0)
    cos = np.sum(path[:-1] * path[1:], 1) / 9.0
    assert np.allclose(cos, cos[0])             # equal angles between consecutive points
    # the straight line dips inside the sphere
    assert np.linalg.norm(latent.lerp(a, b, [0.5])[0]) < 3.0
    # parallel or zero vectors: the straight line
    assert np.allclose(latent.slerp(a, 2 * a, [0.5]), latent.lerp(a, 2 * a, [0.5]))
    assert np.allclose(latent.slerp(np.zeros(10), b, [0.25]), latent.lerp(np.zeros(10), b, [0.25]))


def test_interpolate_and_prior_samples_decode_their_z():
    model = _model()
    z, imgs = latent.interpolate(model, [-1, 0], [1, 2], 5, "spherical")
    assert np.allclose(z, latent.slerp([-1, 0], [1, 2], np.linspace(0, 1, 5)))
    assert np.allclose(imgs, latent.decode(model, z), atol=1e-6)
    z1, i1 = latent.prior_samples(model, 6, seed=3)
    z2, _ = latent.prior_samples(model, 6, seed=3)
    assert z1.shape == (6, 2) and np.array_equal(z1, z2) and i1.shape == (6, 1, 8, 8)
    assert not np.array_equal(z1, latent.prior_samples(model, 6, seed=4)[0])


# ------------------------------------------------------ latent statistics

def test_dimension_order_by_kl_and_inactive_units():
    rng = np.random.default_rng(6)
    n = 500
    mu = np.stack([np.zeros(n), rng.standard_normal(n) * 0.5, rng.standard_normal(n) * 2.0], 1)
    logvar = np.stack([np.zeros(n), np.full(n, -1.0), np.full(n, -3.0)], 1)
    order, score, active = latent.dimension_order(mu, logvar, "vae")
    expected = 0.5 * (np.exp(logvar) + mu ** 2 - 1 - logvar).mean(0)   # eq. 14 per dimension
    assert np.allclose(score, expected)
    assert list(order) == [2, 1, 0]
    assert list(active) == [False, True, True]
    order_ae, score_ae, _ = latent.dimension_order(mu, logvar, "ae")
    assert np.allclose(score_ae, mu.var(0, ddof=1)) and list(order_ae) == [2, 1, 0]


def test_aggregate_moments_match_sampling_the_mixture():
    rng = np.random.default_rng(7)
    mu = rng.standard_normal((40, 2)) * [1.0, 3.0] + [2.0, -1.0]
    logvar = rng.uniform(-2, 1, (40, 2))
    m, s = latent.aggregate_moments(mu, logvar)
    comp = rng.integers(0, 40, 400_000)
    draws = mu[comp] + np.exp(0.5 * logvar[comp]) * rng.standard_normal((400_000, 2))
    assert np.allclose(m, draws.mean(0), atol=0.03)
    assert np.allclose(s, draws.std(0), rtol=0.01)
    _, s_ae = latent.aggregate_moments(mu, logvar, "ae")
    assert np.allclose(s_ae, mu.std(0))


def test_aggregate_traversal_values_sweep_two_sigma_of_the_aggregate_posterior():
    rng = np.random.default_rng(4)
    mu, lv = rng.normal(size=(300, 3)) * [1.0, 2.0, 0.1], rng.normal(size=(300, 3)) * 0.1 - 1
    m, s = latent.aggregate_moments(mu, lv)
    vals = latent.aggregate_traversal_values(mu, lv, [2, 0], 5)
    assert vals.shape == (2, 5)
    assert np.allclose(vals[0], m[2] + np.linspace(-2, 2, 5) * s[2])
    assert np.allclose(vals[1], m[0] + np.linspace(-2, 2, 5) * s[0])
    ae = latent.aggregate_traversal_values(mu, lv, [1], 3, kind="ae")
    assert np.allclose(ae[0], mu[:, 1].mean() + np.array([-2, 0, 2]) * mu[:, 1].std())


# ------------------------------------------------------------ the sliders

def test_slider_specs_order_dimensions_by_kl_and_mark_inactive_ones():
    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(size=500) * 0.01, rng.normal(size=500) * 2.0, rng.normal(size=500)], 1)
    lv = np.full_like(mu, -2.0)
    lv[:, 0] = 0.0                                      # dimension 1: the prior itself
    specs = latent.slider_specs(3, mu, lv, "vae")
    assert [s.dim for s in specs] == [1, 2, 0]
    assert specs[0].label.startswith("z2 · KL ") and specs[-1].label.endswith(" · inactive")
    assert "Inactive" in specs[-1].help and "Inactive" not in specs[0].help and "eq. 14" in specs[0].help
    for s in specs:
        lo, hi = s.range
        assert lo <= min(-3.0, mu[:, s.dim].min()) and hi >= max(3.0, mu[:, s.dim].max())
        assert lo == math.floor(lo) and hi == math.ceil(hi)
    assert latent.in_dim_order(specs) == [specs[2].range, specs[0].range, specs[1].range]
    ae = latent.slider_specs(3, mu, lv, "ae")
    assert ae[0].label.startswith("z2 · var ") and "Variance" in ae[0].help
    bare = latent.slider_specs(2, np.zeros((0, 2)), np.zeros((0, 2)), "vae")   # no points: z1, z2, ±3
    assert [(s.dim, s.range) for s in bare] == [(0, (-3.0, 3.0)), (1, (-3.0, 3.0))]
    assert latent.slider_specs(2, None, None, "vae")[1].label == "z2 · KL 0.00"


def test_z_in_links_and_captions():
    assert np.allclose(latent.parse_z("0.5,-1, 2", 3), [0.5, -1.0, 2.0])
    for bad in (None, "", "1,2", "1,x,3", "1,nan,3", "1,inf,2"):
        assert latent.parse_z(bad, 3) is None
    assert latent.format_z([0.5, -1.0, 2.004]) == "(0.50, -1.00, 2.00)"
    assert latent.format_z(np.array([[1.25]]), sep=",") == "1.25"
    assert latent.format_z([0.5, -1.0], sep=",") == "0.50,-1.00"
    assert latent.parse_dims("3,1", 3) == (2, 0)
    for bad in ("2,2", "0,1", "1,4", "1", None, "a,b"):
        assert latent.parse_dims(bad, 3) is None
    assert np.allclose(latent.clip_to([1.234, -9.0, 7.0], [(-3, 3), (-4, 4), (-3, 5)]), [1.23, -4.0, 5.0])


def test_sample_z_is_seeded_and_centred_on_mu():
    mu = np.tile([1.0, -2.0], (20000, 1))
    lv = np.full_like(mu, np.log(0.25))
    a, b = latent.sample_z(mu, lv, seed=1), latent.sample_z(mu, lv, seed=1)
    assert np.array_equal(a, b)
    assert np.allclose(a.mean(0), [1.0, -2.0], atol=0.02) and np.allclose(a.std(0), 0.5, atol=0.02)


def test_class_means_and_plane_ranges():
    z = np.array([[0.0, 0.0], [2.0, 2.0], [10.0, -1.0]])
    means = latent.class_means(z, np.array([1, 1, 4]))
    assert set(means) == {1, 4} and np.allclose(means[1], [1, 1]) and np.allclose(means[4], [10, -1])
    (x0, x1), (y0, y1) = latent.plane_ranges(z, at_least=3.0)
    assert x0 <= -3 and x1 >= 10 and y0 <= -3 and y1 >= 3
    assert x1 - x0 == pytest.approx(y1 - y0)    # square


# ------------------------------------------------ ellipses and density

def test_ellipse_points_lie_on_the_mahalanobis_contour():
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.8], [0.8, 0.5]])
    for k in (1.0, 2.0):
        e = latent.gaussian_ellipse(mean, cov, k, n=200)
        d = e - mean
        maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        assert np.allclose(np.sqrt(maha), k)
        area = 0.5 * abs(np.dot(e[:-1, 0], e[1:, 1]) - np.dot(e[1:, 0], e[:-1, 1]))
        assert area == pytest.approx(math.pi * k * k * math.sqrt(np.linalg.det(cov)), rel=2e-3)
        assert np.allclose(e[0], e[-1])
    axis = latent.gaussian_ellipse([0, 0], np.diag([4.0, 1.0]), 1.0, n=400)
    assert axis[:, 0].max() == pytest.approx(2.0, abs=1e-3) and axis[:, 1].max() == pytest.approx(1.0, abs=1e-3)


def test_ellipse_paths_separate_ellipses_with_nan():
    x, y = latent.ellipse_paths(np.zeros((3, 2)), np.tile(np.eye(2), (3, 1, 1)), 1.0, n=10)
    assert len(x) == 33 and np.isnan(x).sum() == 3 and np.isnan(y).sum() == 3
    assert latent.ellipse_paths(np.zeros((0, 2)), np.zeros((0, 2, 2)))[0].size == 0


def test_ellipse_paths_at_several_levels():
    means = np.array([[0.0, 0.0], [2.0, 1.0]])
    covs = np.stack([np.eye(2), np.diag([4.0, 0.25])])
    both = latent.ellipse_paths(means, covs, (1, 2), n=12)
    one, two = latent.ellipse_paths(means, covs, 1.0, n=12), latent.ellipse_paths(means, covs, 2.0, n=12)
    assert np.array_equal(both[0], np.concatenate([one[0], two[0]]), equal_nan=True)
    assert np.array_equal(both[1], np.concatenate([one[1], two[1]]), equal_nan=True)


def test_aggregate_density_is_the_gaussian_mixture():
    from scipy.stats import multivariate_normal
    xs, ys = np.linspace(-4, 5, 61), np.linspace(-5, 4, 59)
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    one = latent.aggregate_density(np.array([[0.5, -0.5]]), cov[None], xs, ys)
    gx, gy = np.meshgrid(xs, ys)
    ref = multivariate_normal([0.5, -0.5], cov).pdf(np.dstack([gx, gy]))
    assert one.shape == (59, 61) and np.allclose(one, ref, rtol=1e-4, atol=1e-9)   # float32 inside
    means = np.array([[-1.0, 0.0], [2.0, 1.0]])
    covs = np.array([np.eye(2) * 0.2, cov])
    mix = latent.aggregate_density(means, covs, xs, ys)
    ref2 = 0.5 * (multivariate_normal(means[0], covs[0]).pdf(np.dstack([gx, gy]))
                  + multivariate_normal(means[1], covs[1]).pdf(np.dstack([gx, gy])))
    assert np.allclose(mix, ref2, rtol=1e-4, atol=1e-9)
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert mix.sum() * cell == pytest.approx(1.0, abs=0.01)


def test_point_codes_get_a_kernel_density_that_integrates_to_one():
    rng = np.random.default_rng(8)
    pts = np.vstack([rng.standard_normal((200, 2)) * 0.3 - 2, rng.standard_normal((200, 2)) * 0.3 + 2])
    xs = ys = np.linspace(-6, 6, 121)
    dens = latent.aggregate_density(pts, None, xs, ys)
    assert dens.sum() * (xs[1] - xs[0]) ** 2 == pytest.approx(1.0, abs=0.01)
    assert dens[60, 60] < 0.05 * dens.max()     # the hole between the two clusters
    capped = latent.aggregate_density(pts, None, xs, ys, max_components=50, seed=0)
    assert np.allclose(capped, latent.aggregate_density(pts, None, xs, ys, max_components=50, seed=0))
    assert not np.allclose(capped, dens)


# ------------------------------------------------------ toy data views

def test_grid_lines_and_map_lines():
    lines = latent.grid_lines(((0, 1), (0, 2)), n_lines=3, n_points=5)
    assert len(lines) == 6 and all(ln.shape == (5, 2) for ln in lines)
    assert np.allclose(lines[0][:, 1], 0) and np.allclose(lines[2][:, 1], 2)
    assert np.allclose(lines[3][:, 0], 0) and np.allclose(lines[4][:, 0], 0.5)
    x, y = latent.map_lines(lambda p: p * [2.0, -1.0], lines)
    assert len(x) == 6 * 6 and np.isnan(x).sum() == 6
    assert np.allclose(x[:5], lines[0][:, 0] * 2) and np.allclose(y[6:11], -lines[1][:, 1])


def test_encode_returns_posterior_parameters():
    model = _model(shape=(2,))
    x = np.random.default_rng(9).uniform(size=(4, 2))
    mu, lv = latent.encode(model, x)
    ref_mu, ref_lv = model.encode(torch.tensor(x, dtype=torch.float32))
    assert np.allclose(mu, ref_mu.detach().numpy(), atol=1e-6) and np.allclose(lv, ref_lv.detach().numpy(), atol=1e-6)


# ------------------------------------------------------- uploaded images

def _png(img: Image.Image, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _digit_one(bg=255, ink=0, size=(60, 90), mode="L"):
    img = Image.new(mode, size, bg)
    ImageDraw.Draw(img).line([(30, 10), (30, 80)], fill=ink, width=8)
    return img


def test_a_dark_on_light_drawing_becomes_a_centred_light_stroke():
    item = images.prepare_upload(_png(_digit_one()), (1, 8, 8))
    assert item.shape == (1, 8, 8) and item.dtype == np.float32
    assert item.min() >= 0 and item.max() == pytest.approx(1.0)
    cols = item[0].mean(0)
    assert cols[3:5].min() > 0.3 and cols[[0, 7]].max() < 0.05     # a vertical bar in the middle
    assert item[0, :, 0].max() < 0.05                               # dark background


def test_inverted_colours_and_transparency_give_the_same_item():
    a = images.prepare_upload(_png(_digit_one(255, 0)), (1, 28, 28))
    b = images.prepare_upload(_png(_digit_one(0, 255)), (1, 28, 28))
    assert np.allclose(a, b, atol=0.02)
    rgba = Image.new("RGBA", (60, 90), (0, 0, 0, 0))               # black ink on transparency
    ImageDraw.Draw(rgba).line([(30, 10), (30, 80)], fill=(0, 0, 0, 255), width=8)
    c = images.prepare_upload(_png(rgba), (1, 28, 28))
    assert np.allclose(a, c, atol=0.02)
    jpeg = images.prepare_upload(_png(_digit_one().convert("RGB"), "JPEG"), (1, 28, 28))
    assert np.abs(jpeg - a).mean() < 0.05
    # MNIST's margin: the stroke spans about 20 of 28 rows
    rows = np.nonzero(a[0].max(1) > 0.3)[0]
    assert 17 <= rows[-1] - rows[0] + 1 <= 22


def test_colour_datasets_keep_rgb():
    img = Image.new("RGB", (20, 10), (255, 0, 0))
    item = images.prepare_upload(_png(img), (3, 5, 5))
    assert item.shape == (3, 5, 5) and np.allclose(item[0], 1) and np.allclose(item[1:], 0)


@pytest.mark.parametrize("data,fragment", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_bad_files_raise_clear_errors(data, fragment):
    with pytest.raises(images.ImageError, match=fragment):
        images.prepare_upload(data, (1, 8, 8))


def test_other_formats_blank_and_oversized_images_are_refused():
    with pytest.raises(images.ImageError, match="PNG or JPEG"):
        images.prepare_upload(_png(_digit_one(), "GIF"), (1, 8, 8))
    with pytest.raises(images.ImageError, match="blank"):
        images.prepare_upload(_png(Image.new("L", (30, 30), 200)), (1, 8, 8))
    with pytest.raises(images.ImageError, match="MB"):
        images.prepare_upload(_png(_digit_one()), (1, 8, 8), max_bytes=100)
    with pytest.raises(images.ImageError, match="pixels"):
        images.prepare_upload(_png(_digit_one()), (1, 8, 8), max_pixels=1000)
    with pytest.raises(images.ImageError, match="channels"):
        images.prepare_upload(_png(_digit_one()), (4, 8, 8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image (a decompression bomb's calling card)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) \
        + chunk(b"IEND", b"")


def test_decompression_bombs_are_refused_before_decoding():
    assert Image.MAX_IMAGE_PIXELS <= images.MAX_PIXELS          # PIL itself is told the limit
    for w, h in ((100_000, 100_000), (6_000, 6_000)):       # above 2× the limit, and between 1× and 2×
        with pytest.raises(images.ImageError, match="too large|limit"):
            images.prepare_upload(_png_header_only(w, h), (1, 28, 28))


def test_knn_accuracy_tells_separated_classes_from_mixed_ones():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], float)
    apart = centres[labels] + rng.normal(scale=0.5, size=(200, 2))
    assert latent.knn_accuracy(apart, labels) == 1.0
    mixed = rng.normal(size=(200, 2))                              # no structure: about 1/4
    assert latent.knn_accuracy(mixed, labels) < 0.45
    # by hand: 0 0 0 1 1 on a line, k = 1 — each point's nearest other point
    line = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    assert latent.knn_accuracy(line, [0, 0, 0, 1, 1], k=1) == pytest.approx(4 / 5)
    with pytest.raises(ValueError):
        latent.knn_accuracy(line, [0, 0, 0, 1, 1], k=5)
