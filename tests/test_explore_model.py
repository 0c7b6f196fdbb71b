"""Explore's view-model without Streamlit (explorer.ui.explore_model): the points, the plane
each projection gives, the z a point of the plane decodes, and what a selection refers to."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.analysis import latent
from explorer.analysis import projections
from explorer.config import RunConfig
from explorer.figures import latent as latent_figures
from explorer.models import build_model
from explorer.runs import RunEntry, Status
from explorer.ui import explore_model

D, N = 3, 40


@pytest.fixture(scope="module")
def run() -> explore_model.Run:
    cfg = RunConfig.from_dict({"model": {"hidden": [16], "latent_dim": D}})
    torch.manual_seed(0)
    model = build_model(cfg.model, (1, 8, 8), "cpu").eval()
    entry = RunEntry(run_id="r", run_dir=Path("/nowhere/r"), status=Status.FINISHED)
    return explore_model.Run("run:r", entry, Path("/nowhere/r"), 1.0, model, cfg)


def _points(run, position="μ") -> explore_model.Points:
    rng = np.random.default_rng(0)
    x = torch.rand(60, 1, 8, 8)
    y = torch.arange(60) % 3
    idx = np.arange(0, 60, 60 // N)[:N]
    mu, logvar = latent.encode(run.model, x[idx])
    enc = {"idx": idx, "mu": mu + rng.normal(0, 0.5, mu.shape), "logvar": logvar, "y": y.numpy()[idx]}
    return explore_model.make_points(run, "probe", enc, position, (x, y, ["a", "b", "c"]))


def _view(run, pts, proj_kind, dims=None, embed=projections.tsne_embed, hold=None, z=None):
    specs = latent.slider_specs(D, pts.mu, pts.logvar, run.kind)
    return explore_model.build_view(run, pts, specs, proj_kind, dims, 500, "0", hold,
                                     np.zeros(D) if z is None else z, embed=embed)


def test_points_and_their_positions(run):
    pts = _points(run)
    assert pts.any and pts.z.shape == (N, D) and np.array_equal(pts.z, pts.mu.astype(np.float64))
    sampled = _points(run, "sampled z")
    assert not np.allclose(sampled.z, sampled.mu)                       # one draw z = μ + σ·ε
    assert pts.classes() == [0, 1, 2] and pts.class_label(1) == "b" and pts.class_label(7) == "7"
    empty = explore_model.make_points(run, None, None, "μ")
    assert not empty.any and empty.mu.shape == (0, D)


def test_two_dimensions_are_the_plane(run):
    pts = _points(run)
    v = _view(run, pts, "dims", dims=(2, 0), z=np.array([0.1, 0.2, 0.3]))
    assert np.allclose(v.plane_pts, pts.z[:, [2, 0]])
    assert v.invertible and np.array_equal(v.z, [0.1, 0.2, 0.3])
    (x0, x1), (y0, y1) = v.ranges
    assert x0 <= v.plane_pts[:, 0].min() and v.plane_pts[:, 0].max() <= x1
    assert y0 <= v.plane_pts[:, 1].min() and v.plane_pts[:, 1].max() <= y1
    lifted = v.z_at((1.5, -0.5))                                      # the unshown dimension held at 0
    assert np.allclose(lifted, [-0.5, 0.0, 1.5])


def test_pca_plane_round_trips_the_codes_it_shows(run):
    pts = _points(run)
    v = _view(run, pts, "pca", hold=np.full(D, 0.25))
    p = v.plane_pts[5]
    z = v.z_at(p)
    assert np.allclose(v.projection.transform(z[None])[0], p, atol=1e-9)   # lifted, then projected: p
    assert v.projection.explained.sum() <= 1.0 + 1e-9


def test_tsne_decodes_the_nearest_embedded_point(run):
    pts = _points(run)
    calls = []

    def embed(z, cap):                        # a stand-in embedding: every other code, on its first two axes
        calls.append(cap)
        idx = np.arange(0, len(z), 2)
        return idx, z[idx][:, :2] * 10
    v = _view(run, pts, "tsne", embed=embed)
    assert calls == [500] and not v.invertible
    assert np.array_equal(v.tsne_idx, np.arange(0, N, 2)) and len(v.shown_z) == N // 2
    target = v.plane_pts[3] + 1e-3
    assert np.array_equal(v.z_at(target), pts.z[6])                     # row 3 of the embedded subset


@pytest.mark.parametrize("proj_kind", ["dims", "pca"])
def test_the_pages_two_planes_share_their_axes(run, proj_kind):
    """Explore's plotly plane (drawn over ``view.ranges``) and the latent-plane component
    beside it (``view.component_plane()``) have the same ranges, the same ticks and equal
    scales, and put each code at the same coordinates."""
    pts = _points(run)
    v = _view(run, pts, proj_kind, dims=(2, 0))
    fig = latent_figures.plane_figure(v.plane_pts, pts.labels, ranges=v.ranges)
    spec = v.component_plane()
    assert [list(fig.layout.xaxis.range), list(fig.layout.yaxis.range)] == spec["ranges"]
    assert [list(fig.layout.xaxis.tickvals), list(fig.layout.yaxis.tickvals)] == spec["ticks"]
    (x0, x1), (y0, y1) = spec["ranges"]
    assert x1 - x0 == pytest.approx(y1 - y0) and fig.layout.yaxis.scaleanchor == "x"
    assert all(x0 <= t <= x1 for t in spec["ticks"][0]) and len(spec["ticks"][0]) >= 3
    # the component's map, p = (z − mean) · compᵀ, puts each code where the plotly plane does
    p = (pts.z - np.array(spec["mean"])) @ np.array(spec["comp"]).T
    assert np.allclose(p, v.plane_pts, atol=1e-3)
    assert spec["axis"] == list(v.projection.axis_titles)


def test_a_tsne_plane_has_the_pca_plane_beside_it(run):
    v = _view(run, _points(run), "tsne", embed=lambda z, cap: (np.arange(len(z)), z[:, :2] * 10))
    spec = v.component_plane()                                   # t-SNE has no inverse: PCA, on its own axes
    assert spec["ranges"] == [list(r) for r in v.grid_ranges] and spec["axis"][0].startswith("PC")


def test_a_selection_refers_to_what_the_plane_shows(run):
    pts = _points(run)
    a, b = _view(run, pts, "pca"), _view(run, _points(run, "sampled z"), "pca")
    assert a.sig == _view(run, pts, "pca").sig and a.sig != b.sig
    assert "PCA of 40 codes" in explore_model.plane_title(a)


def test_model_ids_are_short_stable_and_distinct():
    assert explore_model.model_id("run:a") == explore_model.model_id("run:a")
    assert explore_model.model_id("run:a") != explore_model.model_id("shipped:a")
    assert len(explore_model.model_id("run:a")) == 10
    assert explore_model.default_model(["run:x", explore_model.DEFAULT_MODEL], None) == explore_model.DEFAULT_MODEL
    assert explore_model.default_model(["run:x", "run:y"], "run:y") == "run:y"
    assert explore_model.default_model(["run:x"], "run:gone") == "run:x"


def test_sigma_ellipses_of_two_selections_join_into_one_set_of_gaussians():
    proj = projections.dims_projection(D, (0, 2))
    rng = np.random.default_rng(0)
    mu, logvar = rng.normal(size=(5, D)), rng.normal(size=(5, D))
    one = explore_model.sigma_ellipses(proj, mu[:2], logvar[:2])
    two = explore_model.sigma_ellipses(proj, mu[2:], logvar[2:])
    means, covs = explore_model.join_gaussians([one, two])
    assert means.shape == (5, 2) and covs.shape == (5, 2, 2)
    assert np.allclose(means, mu[:, [0, 2]])                                  # each code's mean on the plane
    assert np.allclose(covs[3], np.diag(np.exp(logvar[3, [0, 2]])))           # and its σ² on the plane's axes
    assert explore_model.join_gaussians([]) is None
