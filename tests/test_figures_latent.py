"""explorer.figures.latent: the plane and its layers, image strips, the manifold figure and
the toy data view — built directly, checked trace by trace."""
import base64
import functools
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer import store
from explorer.analysis import latent
from explorer.figures import latent as latent_figures
from explorer.figures import plane_layers


def _decode_uri(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def _trace(fig, name):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r}; have {[t.name for t in fig.data]}"
    return found[0]


RANGES = ((-4.0, 4.0), (-3.0, 5.0))


def test_latent_scatter_still_works_for_the_home_page():
    z = np.random.default_rng(0).standard_normal((50, 2))
    fig = latent_figures.latent_scatter(z, np.arange(50) % 3, ["a", "b", "c"], title="t")
    names = [t.name for t in fig.data]
    assert names[:3] == ["prior 1σ", "prior 2σ", "prior 3σ"] and names[3:] == ["a", "b", "c"]
    assert np.array_equal(_trace(fig, "b").customdata, np.arange(1, 50, 3))
    unlabelled = latent_figures.latent_scatter(z, show_prior=False)
    assert np.array_equal(unlabelled.data[0].customdata, np.arange(50))
    assert isinstance(latent_figures.latent_scatter(np.zeros((2000, 2))).data[-1], go.Scattergl)
    with pytest.raises(ValueError):
        latent_figures.latent_scatter(np.zeros(5))


def test_plane_has_an_invisible_selectable_click_grid_over_its_exact_ranges():
    z = np.random.default_rng(1).standard_normal((30, 2))
    fig = latent_figures.plane_figure(z, np.arange(30) % 2, ["even", "odd"], ranges=RANGES, click_grid=11)
    grid = _trace(fig, "click grid")
    assert isinstance(grid, go.Scatter) and len(grid.x) == 121       # SVG beside SVG points
    assert set(np.asarray(grid.customdata).tolist()) == {latent_figures.CLICK_GRID_ID}
    assert grid.marker.opacity == 0 and not grid.showlegend
    assert (min(grid.x), max(grid.x), min(grid.y), max(grid.y)) == (-4, 4, -3, 5)
    assert np.allclose(np.unique(grid.x), np.linspace(-4, 4, 11))
    assert tuple(fig.layout.xaxis.range) == (-4, 4) and tuple(fig.layout.yaxis.range) == (-3, 5)
    assert fig.layout.yaxis.scaleanchor == "x"
    # data points keep their look when something else is selected, and report their index
    even = _trace(fig, "even")
    assert even.unselected.marker.opacity == even.marker.opacity
    assert np.array_equal(even.customdata, np.arange(0, 30, 2))
    assert latent_figures.plane_figure(z, ranges=RANGES, click_grid=0).data[-1].name != "click grid"
    many = latent_figures.plane_figure(np.zeros((1500, 2)), ranges=RANGES)
    assert isinstance(_trace(many, "click grid"), go.Scattergl)       # WebGL beside WebGL points


def test_plane_layers_line_up_with_the_axes():
    z = np.zeros((5, 2))
    img = np.random.default_rng(2).uniform(size=(6, 6))
    means, covs = np.array([[0.5, 1.0]]), np.array([[[0.25, 0.0], [0.0, 0.04]]])   # σ 0.5 and 0.2: visible
    path = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    fig = latent_figures.plane_figure(z, ranges=RANGES, image=img, image_opacity=0.4, ellipses=(means, covs),
                                      paths=[(path, "linear path", "#123456")], marker=[1.5, -0.5],
                                      extra_markers=[([[2.0, 2.0]], "your image (μ)", "red", "star")],
                                      lines=(np.array([0.0, 1.0]), np.array([0.0, 1.0])), prior_center=(1.0,
                                                                                                        -1.0))
    (li,) = fig.layout.images
    assert (li.x, li.y, li.sizex, li.sizey) == (-4, 5, 8, 8)
    assert li.xref == "x" and li.yref == "y" and li.layer == "below" and li.opacity == 0.4
    assert li.xanchor == "left" and li.yanchor == "top" and li.sizing == "stretch"
    shown = _decode_uri(li.source)
    factor = shown.shape[0] // 6
    assert shown.shape[:2] == (6 * factor, 6 * factor) and factor > 1
    assert np.allclose(shown[::factor, ::factor] / 255, img, atol=1 / 255)
    ell = _trace(fig, "q(z|x): 1σ, 2σ")                           # true to size: no note
    assert np.nanmax(ell.x) == pytest.approx(0.5 + 2 * 0.5, abs=1e-3) and np.nanmax(ell.y) == pytest.approx(1.4, abs=1e-3)
    assert np.isnan(ell.x).sum() == 2                             # a 1σ and a 2σ ring
    assert np.allclose(_trace(fig, "linear path").y, path[:, 1])
    assert tuple(_trace(fig, "decoded z").x) == (1.5,)
    assert _trace(fig, "your image (μ)").marker.symbol == "star"
    ring = _trace(fig, "prior 2σ")
    assert np.mean(ring.x[:-1]) == pytest.approx(1.0, abs=1e-6) and np.max(ring.y) == pytest.approx(1.0, abs=1e-3)


def test_density_image_is_flipped_log_scaled_and_transparent_in_holes():
    d = np.zeros((4, 5))
    d[0, 2] = 2.0          # the bottom row (smallest y) has the peak
    d[3, 0] = 0.02         # two decades below it
    d[2, 2] = 2e-5         # five decades below: a hole
    rgba = latent_figures.density_image(d, max_alpha=0.5, decades=3, top=2.0)
    assert rgba.shape == (4, 5, 4)
    assert rgba[3, 2, 3] == pytest.approx(0.5)                  # peak drawn in the last image row
    assert rgba[0, 0, 3] == pytest.approx(0.5 / 3)              # 1 - 2/3 of the way
    assert rgba[1, 2, 3] == 0 and rgba[1, 1, 3] == 0
    assert np.all(latent_figures.density_image(np.zeros((2, 2)))[..., 3] == 0)
    above = latent_figures.density_image(d, max_alpha=0.5, decades=3, top=0.02)   # denser cells saturate
    assert above[3, 2, 3] == pytest.approx(0.5) and above[0, 0, 3] == pytest.approx(0.5)


# ------------------------------------------------ MNIST's tiny posteriors, visible and truthful

@functools.cache
def _mnist_codes():
    """The shipped 2-D MNIST VAE's codes of the 2,000 validation images it carries: their
    means, q(z|x)'s covariances and the plane's ranges as Explore computes them."""
    folder = store.SHIPPED_ROOT / "mnist-vae-z2"
    x, _, _ = store.load_probe(folder)
    mu, logvar = latent.encode(store.load_model(folder), x)
    covs = np.stack([np.diag(v) for v in np.exp(logvar.astype(np.float64))])
    return mu.astype(np.float64), covs, latent.plane_extent(mu, (0.0, 0.0))


def test_sigma_ellipses_on_an_mnist_plane_are_enlarged_to_be_seen_and_say_so():
    mu, covs, ranges = _mnist_codes()
    span = max(b - a for a, b in ranges)
    sigma = np.sqrt(covs[:3, [0, 1], [0, 1]])                      # each code's σ on each axis
    assert np.median(sigma) / span < 0.005                        # true size: a pixel or two on a 560-px plane
    fig = latent_figures.plane_figure(mu, ranges=ranges, ellipses=(mu[:3], covs[:3]))
    k = plane_layers.ellipse_scale(covs[:3], ranges)
    assert k in plane_layers.ELLIPSE_STEPS and k > 1
    ell = _trace(fig, f"q(z|x): 1σ, 2σ, drawn {k}× larger")      # the legend says so
    assert ell.meta["scale"] == k
    x, y = np.asarray(ell.x, float), np.asarray(ell.y, float)
    first = slice(0, np.flatnonzero(np.isnan(x))[0])              # the first code's 1σ ring, drawn at kσ
    r = np.hypot((x[first] - mu[0, 0]) / sigma[0, 0], (y[first] - mu[0, 1]) / sigma[0, 1])
    assert np.allclose(r, k, atol=1e-6)                           # the true shape, k times larger
    radius = k * np.median(sigma.max(1))                          # the median 1σ ring's semi-major axis
    assert plane_layers.ELLIPSE_MIN_SHARE * span <= radius < 2.5 * plane_layers.ELLIPSE_MIN_SHARE * span
    note = plane_layers.ellipse_note(covs[:3], ranges)
    assert f"drawn {k}× their true size" in note and f"{np.median(sigma.max(1)):.2g}" in note
    # σ already visible on the plane: drawn true to size, no note
    wide = np.tile(np.eye(2) * 0.09, (3, 1, 1))
    assert plane_layers.ellipse_scale(wide, ranges) == 1 and plane_layers.ellipse_note(wide, ranges) == ""
    assert _trace(latent_figures.plane_figure(mu, ranges=ranges, ellipses=(mu[:3], wide)), "q(z|x): 1σ, 2σ")


def test_density_of_mnist_codes_shows_on_a_scale_that_fits_it():
    mu, covs, ranges = _mnist_codes()
    (x0, x1), (y0, y1) = ranges
    dens = latent.aggregate_density(mu, covs, np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    fig = latent_figures.plane_figure(mu, np.arange(len(mu)) % 10, ranges=ranges, density=dens)
    (li,) = fig.layout.images
    assert (li.x, li.y) == (x0, y1) and li.opacity == 1
    alpha = _decode_uri(li.source)[..., 3] / 255
    top = plane_layers.density_top(dens)
    assert top < 0.1 * dens.max()                                 # not the highest of MNIST's narrow peaks
    occupied = alpha > 0
    assert 0.05 < occupied.mean() < 0.9                           # the codes' regions coloured, the holes clear
    assert np.median(alpha[occupied]) > 0.4                       # and strongly enough to see
    old = latent_figures.density_image(dens, max_alpha=0.6, top=dens.max())[..., 3]   # the scale of the peak
    assert np.median(alpha[occupied]) > 2 * np.median(old[old > 0])
    key = _trace(fig, plane_layers.density_name(top))             # its scale in numbers, in the legend
    assert key.meta["top"] == top and f"{top:.2g}" in key.name and f"{top / 1000:.2g}" in key.name
    assert all(t.marker.opacity == plane_layers.FADED_POINTS for t in fig.data if t.name in map(str, range(10)))
    assert "holes" in plane_layers.density_note(top)


def test_png_data_uri_round_trips():
    grey = np.linspace(0, 1, 12).reshape(3, 4)
    assert np.array_equal(_decode_uri(latent_figures.png_data_uri(grey)), np.uint8(np.round(grey * 255)))
    rgba = np.random.default_rng(3).uniform(size=(2, 3, 4))
    assert _decode_uri(latent_figures.png_data_uri(rgba)).shape == (2, 3, 4)


def test_image_pairs_put_reconstructions_under_originals():
    x = np.stack([np.full((1, 2, 2), v) for v in (0.1, 0.2, 0.3)])
    xh = x + 0.5
    out = latent_figures.image_pairs(x, xh, ncol=2)
    assert out.shape == (4 * 3 + 1, 2 * 3 + 1)                   # 4 rows of 2 tiles, pad 1
    tile = lambda r, c: out[1 + 3 * r: 3 + 3 * r, 1 + 3 * c: 3 + 3 * c]   # noqa: E731
    assert np.allclose(tile(0, 1), 0.2) and np.allclose(tile(1, 1), 0.7)
    assert np.allclose(tile(2, 0), 0.3) and np.allclose(tile(3, 0), 0.8)
    assert np.allclose(tile(2, 1), 1.0)                          # blank filler


def test_image_rows_figure_labels_rows_and_columns():
    imgs = np.random.default_rng(4).uniform(size=(3, 4, 1, 5, 5))
    fig = latent_figures.image_rows_figure(imgs, ["z1", "z2", "z3"], ["-1", "0", "1", "2"], title="T")
    (im,) = fig.data
    assert isinstance(im, go.Image) and np.asarray(im.z).shape == (3 * 6 + 1, 4 * 6 + 1, 3)
    assert list(fig.layout.yaxis.ticktext) == ["z1", "z2", "z3"]
    assert list(fig.layout.yaxis.tickvals) == [3.0, 9.0, 15.0]    # row centres
    assert list(fig.layout.xaxis.ticktext) == ["-1", "0", "1", "2"]
    z = np.asarray(im.z)
    assert z[1, 1, 0] == round(imgs[0, 0, 0, 0, 0] * 255)


def test_manifold_figure_spans_the_plane():
    tiled = np.random.default_rng(5).uniform(size=(40, 40))
    fig = latent_figures.manifold_figure(tiled, RANGES, axis_titles=("PC1", "PC2"))
    (li,) = fig.layout.images
    assert (li.x, li.y, li.sizex, li.sizey) == (-4, 5, 8, 8)
    assert tuple(fig.layout.xaxis.range) == (-4, 4) and fig.layout.xaxis.title.text == "PC1"
    assert len(fig.data) == 3                                    # the prior's circles
    assert len(latent_figures.manifold_figure(tiled, RANGES, show_prior=False).data) == 0


def test_data_space_figure_layers():
    x = np.random.default_rng(6).uniform(size=(100, 2))
    fig = latent_figures.data_space_figure(x, np.arange(100) % 2, ["a", "b"], samples=np.zeros((7, 2)),
                                           lines=(np.array([0.0, 1.0]), np.array([1.0, 0.0])),
                                           path=np.array([[0.1, 0.1], [np.nan, np.nan], [0.2, 0.3]]),
                                           point=[0.5, 0.5])
    assert len(_trace(fig, "a").x) == 50 and len(_trace(fig, "decoded prior samples").x) == 7
    assert _trace(fig, "decoded path").y[2] == 0.3
    assert tuple(_trace(fig, "decoded z").y) == (0.5,)
    assert _trace(fig, "decoder's image of a latent grid").hoverinfo == "skip"
    capped = latent_figures.data_space_figure(x, max_points=10)
    assert len(capped.data[0].x) == 10


def test_read_selection_separates_clicks_points_boxes_and_lassos():
    sel = latent_figures.read_selection({"selection": {"points": [
        {"customdata": latent_figures.CLICK_GRID_ID, "x": 1.5, "y": -2.0}, {"customdata": [7], "x": 0,
                                                                            "y": 0},
        {"customdata": latent_figures.CLICK_GRID_ID, "x": 9.0, "y": 9.0}, {"customdata": 3},
                                                                  {"customdata": None},
        {"customdata": []}], "box": [{"x": [0, 1], "y": [0, 1]}, {"x": [-1.0, 3.0], "y": [2.0, 4.0]}]}})
    assert sel.points == [7, 3] and sel.grid == (1.5, -2.0) and sel.box == (1.0, 3.0) and not sel.lasso
    lasso = latent_figures.read_selection({"selection": {"points": [], "lasso": [{"x": [0], "y": [0]}]}})
    assert lasso.lasso and lasso.box is None and lasso.grid is None and lasso.points == []
    for empty in (None, {}, {"selection": None}, {"selection": {"points": []}}):
        assert latent_figures.read_selection(empty) == latent_figures.PlaneSelection()


def test_item_image_and_widened_enlarge_by_whole_factors():
    item = np.random.default_rng(7).uniform(size=(1, 8, 8))
    img = latent_figures.item_image(item, 200)
    assert img.shape == (200, 200) and np.allclose(img[::25, ::25], item[0])
    assert latent_figures.item_image(item, 4).shape == (8, 8)                      # never smaller
    assert latent_figures.widened(np.zeros((10, 30)), 100).shape == (30, 90)
    assert latent_figures.widened(np.zeros((10, 300, 3)), 100).shape == (10, 300, 3)


def test_manifold_tiles_match_single_decodes_with_a_gap_between_them():
    """The tiled manifold is assembled right: tile (r, c) is the decode of grid point r·n + c
    (the top row first), and a 1-pixel grey gap separates the tiles."""
    model = store.load_model(store.SHIPPED_ROOT / "digits-vae-z2-b1")
    n = 8
    z, imgs = latent.decode_grid(model, ((-3.0, 3.0), (-3.0, 3.0)), n)
    tiled = latent_figures.manifold_tiles(imgs, n)
    h = w = 8
    assert tiled.shape == (n * (h + 1) + 1, n * (w + 1) + 1)
    for r, c in ((0, 0), (0, n - 1), (n - 1, 0), (3, 5)):
        tile = tiled[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w]
        single = latent.decode(model, z[r * n + c][None])[0][0]
        assert np.abs(tile - single).max() < 1e-5
    assert z[0, 1] > z[-1, 1] and z[0, 0] < z[n - 1, 0]           # top-left is (−x, +y)
    gaps = tiled[::h + 1, :]                                      # every gap row is the gap grey
    assert np.all(gaps == latent_figures.MANIFOLD_GAP) and np.all(tiled[:,
                                                                        ::w + 1] == latent_figures.MANIFOLD_GAP)
    tiles = imgs.reshape(n * n, -1)
    assert tiles.std(0).mean() > 0.05                             # the tiles differ from each other
    fig = latent_figures.manifold_figure(tiled, ((-3.0, 3.0), (-3.0, 3.0)))
    assert fig.layout.xaxis.zeroline is False and fig.layout.yaxis.zeroline is False
    assert fig.layout.yaxis.scaleanchor == "x"                    # equal scales: circles stay round
