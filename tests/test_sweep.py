"""β sweeps: the metrics (blur score, gap, rate–distortion geometry, the reading) and
the measured trends of the shipped digits sweep (trained/sweep-digits-*)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import data, store
from explorer.analysis import sweep as S
from explorer.config import DataConfig, ModelConfig
from explorer.figures import beta as fb
from explorer.models import build_model
from explorer.training import active_units


def _digits(n=64):
    ds = data.load(DataConfig(name="digits"))
    return ds.x_val[:n].numpy(), ds.y_val[:n].numpy()


def _box_blur(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x).float()
    return F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False).numpy()


# ------------------------------------------------------------------ blur score

def test_edge_strength_ranks_every_blurred_digit_below_its_original():
    x, _ = _digits()
    sharp, blurred = S.edge_strength(x), S.edge_strength(_box_blur(x))
    assert sharp.shape == (len(x),)
    assert np.all(blurred < sharp)
    # and blurring twice loses more
    assert S.edge_strength(_box_blur(_box_blur(x))).mean() < blurred.mean()


def test_blur_score_is_zero_for_the_data_one_for_flat_images_and_rises_with_blur():
    x, _ = _digits()
    assert S.blur_score(x, x) == pytest.approx(0.0, abs=1e-12)
    assert S.blur_score(np.full_like(x, 0.3), x) == pytest.approx(1.0)
    once, twice = S.blur_score(_box_blur(x), x), S.blur_score(_box_blur(_box_blur(x)), x)
    assert 0 < once < twice < 1


def test_edge_strength_by_hand_and_bad_input():
    img = np.zeros((1, 1, 3, 3))
    img[0, 0, :, 2] = 1.0          # a vertical edge between columns 1 and 2
    # forward differences on the 2x2 grid: dx = [0, 1] in each row, dy = 0
    assert S.edge_strength(img)[0] == pytest.approx(0.5)
    assert S.edge_strength(img[:, 0])[0] == pytest.approx(0.5)        # N×H×W works too
    with pytest.raises(ValueError):
        S.edge_strength(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no edges"):
        S.blur_score(img, np.zeros((1, 1, 3, 3)))


# ------------------------------------------------------------------ gap

def test_generalisation_gap_signs():
    train = {"elbo": 10.0, "recon": 20.0, "kl": 5.0}
    val = {"elbo": 4.0, "recon": 27.0, "kl": 4.5}
    g = S.generalisation_gap(train, val)
    assert g == {"elbo": 6.0, "recon": 7.0, "kl": -0.5}
    p = S.BetaPoint(beta=1.0, train=train, val=val)
    assert p.gap == g


def test_point_from_summary_needs_final_numbers():
    good = {"beta": 2.0, "n_train": 400, "train": {"recon": 1.0, "kl": 2.0, "elbo": -3.0},
            "val": {"recon": 1.5, "kl": 2.1, "elbo": -3.6, "active_units": 2, "kl_per_dim": [1.0, 1.1]}}
    p = S.point_from_summary(good, run_id="r")
    assert (p.beta, p.run_id, p.n_train) == (2.0, "r", 400)
    assert p.kl_per_dim.tolist() == [1.0, 1.1]
    assert S.point_from_summary(good, beta=4.0).beta == 4.0
    assert S.point_from_summary(None) is None
    assert S.point_from_summary({"val": good["val"]}) is None             # still running
    bad = json.loads(json.dumps(good))
    bad["val"]["elbo"] = None                                             # NaN stored as null
    assert S.point_from_summary(bad) is None


# ------------------------------------------------------------------ rate–distortion

def test_iso_elbo_lines_hold_recon_plus_kl_constant():
    rates = np.linspace(0, 50, 11)
    d = S.iso_elbo_line(120.0, rates)
    assert np.allclose(d + rates, 120.0)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 4.0])
def test_beta_line_passes_through_the_run_with_slope_minus_beta(beta):
    rates = np.array([0.0, 3.0, 7.0, 20.0])
    d = S.beta_line(7.0, 30.0, beta, rates)
    assert d[2] == pytest.approx(30.0)                                    # through the point
    assert np.allclose(np.diff(d) / np.diff(rates), -beta)                # slope −β
    obj = [S.beta_objective(r, y, beta) for r, y in zip(rates, d)]
    assert np.allclose(obj, S.beta_objective(7.0, 30.0, beta))            # a level line of recon + β·KL
    if beta == 1.0:                                                       # β = 1: an iso-ELBO line
        assert np.allclose(d, S.iso_elbo_line(37.0, rates))


def test_iso_elbo_levels_span_the_runs():
    pts = [S.BetaPoint(0.0, {"recon": 10.0, "kl": 30.0, "elbo": -40.0},
                       {"recon": 20.0, "kl": 29.0, "elbo": -49.0}),
           S.BetaPoint(4.0, {"recon": 25.0, "kl": 2.0, "elbo": -27.0},
                       {"recon": 26.0, "kl": 2.0, "elbo": -28.0})]
    lv = S.iso_elbo_levels(pts, 5)
    assert lv[0] == pytest.approx(27.0) and lv[-1] == pytest.approx(49.0) and len(lv) == 5


# ------------------------------------------------------------------ setup helpers

def test_parse_betas():
    assert S.parse_betas("4, 0 0.5;1, 1") == [0.0, 0.5, 1.0, 4.0]
    for bad, msg in (("", "at least one"), ("0, abc", "not a number"), ("-1", "out of range"),
                     ("nan", "out of range"), (",".join(str(i) for i in range(11)), "at most")):
        with pytest.raises(ValueError, match=msg):
            S.parse_betas(bad)


def test_sweep_configs_differ_only_in_beta_and_are_found_again_by_name():
    base = S.base_config("digits", subset=300, latent_dim=3, epochs=5)
    base = base.replace(model={"kind": "ae"}, train={"beta_schedule": "warmup"})
    cfgs = S.sweep_configs(base, [0.0, 2.0], "t1")
    assert [c.train.beta for c in cfgs] == [0.0, 2.0]
    for c in cfgs:
        assert c.model.kind == "vae" and c.train.beta_schedule == "constant"
        assert c.data.subset == 300 and c.model.latent_dim == 3 and c.train.epochs == 5
    assert S.parse_run_name(cfgs[1].name) == ("t1", 2.0)
    assert S.parse_run_name("my run") is None
    from types import SimpleNamespace as E
    entries = [E(name=cfgs[1].name, run_id="b"), E(name="other", run_id="x"),
               E(name=cfgs[0].name, run_id="a"), E(name=S.run_name("t2", 1), run_id="c")]
    groups = S.group_sweep_runs(entries)
    assert set(groups) == {"t1", "t2"}
    assert [(e.run_id, beta) for beta, e in groups["t1"]] == [("a", 0.0), ("b", 2.0)]


def test_base_config_likelihood_follows_the_data():
    assert S.base_config("digits").model.likelihood == "gaussian"
    assert S.base_config("mnist").model.likelihood == "bernoulli"
    assert S.base_config("mnist", likelihood="gaussian").model.likelihood == "gaussian"


def test_shipped_sweeps_reads_the_manifest_sweep_key(tmp_path):
    m = {"runs": [{"id": "a", "sweep": "s", "config": {"train": {"beta": 4.0}}},
                  {"id": "b", "sweep": "s", "config": {"train": {"beta": 0.0}}},
                  {"id": "c", "config": {"train": {"beta": 1.0}}}]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    assert S.shipped_sweeps(tmp_path / "m.json") == {"s": ["b", "a"]}
    (tmp_path / "bad.json").write_text("{not json")
    assert S.shipped_sweeps(tmp_path / "bad.json") == {}


def test_pick_examples_takes_one_image_per_class_first():
    labels = np.array([3, 1, 1, 0, 2, 3, 0])
    idx = S.pick_examples(labels, 5)
    assert len(set(idx.tolist())) == 5
    assert labels[idx[:4]].tolist() == [0, 1, 2, 3]
    assert S.pick_examples(None, 3).tolist() == [0, 1, 2]


# ------------------------------------------------------------------ images and latents

def test_plane_keeps_two_dims_and_projects_more_through_the_origin():
    rng = np.random.default_rng(0)
    mu2 = rng.normal(size=(50, 2))
    p, titles = S.plane_of(mu2)
    assert np.allclose(p, mu2) and titles == ("z₁", "z₂")
    mu = rng.normal(size=(400, 6)) * np.array([5, 3, 1, 0.1, 0.1, 0.1]) + 2.0
    p, titles = S.plane_of(mu)
    assert p.shape == (400, 2) and titles[0].startswith("PC1")
    # linear, through the origin: the zero vector lands on the origin, and it preserves
    # lengths of vectors in the plane it spans (orthonormal rows)
    both = np.vstack([np.zeros((1, 6)), mu])
    assert np.allclose(S.plane_of(both)[0][0], 0.0)
    assert (np.linalg.norm(p, axis=1) <= np.linalg.norm(mu, axis=1) + 1e-9).all()


def test_look_at_model_shapes_and_shared_prior_samples():
    x, y = _digits(40)
    cfg = ModelConfig(latent_dim=3, hidden=[16], likelihood="gaussian")
    torch.manual_seed(0)
    m1, m2 = build_model(cfg, (1, 8, 8), "cpu"), build_model(cfg, (1, 8, 8), "cpu")
    show = S.pick_examples(y, 6)
    l1 = S.look_at_model(m1, x, show=show, n_samples=50)
    l2 = S.look_at_model(m2, x, show=show, n_samples=50)
    assert l1.recon.shape == (6, 1, 8, 8) and l1.samples.shape == (6, 1, 8, 8)
    assert l1.plane.shape == (40, 2)
    assert np.allclose(l1.recon, m1.reconstruct(torch.from_numpy(x[show])).numpy(), atol=1e-6)
    # the same z ~ N(0, I) for both models: decoding it with m1 reproduces m1's samples
    z = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    assert np.allclose(l1.samples, m1.decode_mean(z)[:6].numpy(), atol=1e-6)
    assert not np.allclose(l1.samples, l2.samples)
    assert l1.blur_recon == pytest.approx(1 - l1.edge_recon / S.edge_strength(x).mean())


# ------------------------------------------------------------------ the reading

def _pts(kl, recon_t, recon_v, gap, au, n_train=100):
    out = []
    for b, k, rt, rv, g, a in zip([0.0, 1.0, 8.0], kl, recon_t, recon_v, gap, au):
        tr = {"recon": rt, "kl": k, "elbo": -(rt + k), "active_units": a}
        ev = -(rt + k) - g
        va = {"recon": rv, "kl": k, "elbo": ev, "active_units": a, "kl_per_dim": [k / 4] * 4}
        out.append(S.BetaPoint(b, tr, va, n_train=n_train))
    return out


def test_reading_is_built_from_the_numbers():
    pts = _pts(kl=[40.0, 10.0, 2.0], recon_t=[5.0, 9.0, 30.0], recon_v=[25.0, 20.0, 33.0],
               gap=[12.0, 6.0, 1.0], au=[4, 4, 2])
    text = " ".join(S.reading(pts, latent_dim=4))
    assert "falls steadily from 40.0 to 2.0" in text
    assert "rises steadily from 5.0 to 30.0" in text
    assert "lowest at β = 1 (20.0)" in text
    assert "12.0 nats at β = 0 (the largest) and 1.0 at β = 8 (the smallest)" in text
    assert "shrank the gap" in text and "100 training images" in text
    assert "From β = 8 on, fewer than 4 are active" in text
    # other numbers, other words: nothing is canned
    pts = _pts(kl=[2.0, 10.0, 40.0], recon_t=[30.0, 9.0, 31.0], recon_v=[25.0, 20.0, 33.0],
               gap=[1.0, 6.0, 12.0], au=[3, 3, 3])
    text = " ".join(S.reading(pts, latent_dim=4))
    assert "rises steadily from 2.0 to 40.0" in text
    assert "rises overall from 30.0 to 31.0" in text
    assert "did not shrink the gap" in text
    pts = _pts(kl=[2.0, 10.0, 40.0], recon_t=[30.0, 9.0, 31.0], recon_v=[25.0, 20.0, 33.0],
               gap=[-1.0, -0.5, -2.0], au=[3, 3, 3])
    assert "no overfitting to see" in " ".join(S.reading(pts, latent_dim=4))
    assert "3 of 4 latent dimensions are active at every β" in text
    assert "Two or more" in S.reading(pts[:1])[0]


def test_reading_reports_blur_from_the_looks():
    pts = _pts(kl=[40.0, 10.0, 2.0], recon_t=[5.0, 9.0, 30.0], recon_v=[25.0, 20.0, 33.0],
               gap=[12.0, 6.0, 1.0], au=[4, 4, 2])

    def look(er, es, r):
        return S.RunLook(np.zeros(1), np.zeros(1), np.zeros((1, 2)), ("a", "b"), er, es,
                         1 - er / 0.4, 1 - es / 0.4, r)
    looks = {0.0: look(0.38, 0.2, 9.0), 1.0: look(0.36, 0.35, 2.0), 8.0: look(0.3, 0.29, 1.0)}
    text = " ".join(S.reading(pts, looks, data_edge=0.4, latent_dim=4))
    assert "keep 95% of the data's edge strength at β = 0 and 75% at β = 8" in text
    assert "prior samples keep 50% and 72%" in text
    assert "RMS radius of 9.0 at β = 0 and 1.0 at β = 8" in text and "√4 = 2.0" in text
    assert "4.5× farther out" in text and "huddle inside" in text
    looks = {0.0: look(0.38, 0.2, 2.5), 8.0: look(0.3, 0.29, 1.9)}
    text = " ".join(S.reading(pts, looks, data_edge=0.4, latent_dim=4))
    assert "RMS radius of 2.5 at β = 0" in text
    assert "farther out" not in text and "huddle" not in text


# ------------------------------------------------------------------ figures

def test_figures_build_from_points_and_looks():
    pts = _pts(kl=[40.0, 10.0, 2.0], recon_t=[5.0, 9.0, 30.0], recon_v=[25.0, 20.0, 33.0],
               gap=[12.0, 6.0, 1.0], au=[4, 4, 2])
    fig = fb.train_val_figure(pts)
    assert list(fig.data[-1].y) == pytest.approx([12.0, 6.0, 1.0])                  # the gap bars
    for log in (False, True):
        fig = fb.rd_figure(pts, log_rate=log)
        vals = [t for t in fig.data if t.name and t.name.startswith("β=")]
        assert [float(t.x[0]) for t in vals] == [40.0, 10.0, 2.0]
        lines = [t for t in fig.data if t.legendgroup == "betaline"]
        assert len(lines) == len(pts)
        for t, p in zip(lines, pts):     # each β-line: recon + β·KL of the run's training point
            want = S.beta_objective(p.train["kl"], p.train["recon"], p.beta)
            got = [S.beta_objective(r, d, p.beta) for r, d in zip(t.x, t.y)]
            assert np.allclose(got, want)
    fig = fb.active_units_figure(pts, 4)
    assert list(fig.data[0].y) == [4, 4, 2]
    x, y = _digits(16)
    fig = fb.image_columns([("data", x[:4]), ("β=1", x[4:8])])
    assert len(fig.data) == 2 and fig.data[0].z.shape[2] == 3
    fig = fb.latent_grid([("β=0", np.zeros((16, 2))), ("β=1", np.ones((16, 2)))], y, ["0"] * 10)
    assert sum(t.type == "scattergl" for t in fig.data) == 2
    fig = fb.blur_figure([0, 1], [0.38, 0.3], [0.2, 0.29], 0.4)
    assert list(fig.data[0].y) == [0.4, 0.4]
    df = fb.numbers_table(pts)
    assert df["gap ELBO"].tolist() == pytest.approx([12.0, 6.0, 1.0])


# ------------------------------------------------------------------ the shipped digits sweep

@pytest.fixture(scope="module")
def digits_sweep():
    ids = S.shipped_sweeps(store.SHIPPED_ROOT / "manifest.json").get("digits")
    assert ids, "the shipped digits sweep is missing from trained/manifest.json"
    runs = [store.open_run(store.SHIPPED_ROOT / i) for i in ids]
    pts = [S.point_from_summary(r.summary, beta=r.config.train.beta, run_id=r.run_id) for r in runs]
    x, y, _ = store.load_probe(runs[0].path)
    looks, au = {}, {}
    for r, p in zip(runs, pts):
        model = r.load_model("cpu")
        looks[p.beta] = S.look_at_model(model, x, show=S.pick_examples(y.numpy(), 8))
        au[p.beta] = active_units(model.encode_mean(x)[0])[0]
    return runs, S.sort_points(pts), looks, au, x


def test_shipped_digits_sweep_is_one_config_with_the_default_betas(digits_sweep):
    runs, pts, *_ = digits_sweep
    assert [p.beta for p in pts] == list(S.DEFAULT_BETAS)
    assert all(p is not None for p in pts)

    def without_beta(cfg):
        d = cfg.to_dict()
        d["train"].pop("beta")
        d.pop("name")
        return d
    assert all(without_beta(r.config) == without_beta(runs[0].config) for r in runs)
    assert runs[0].config.model.kind == "vae" and runs[0].config.data.subset == 400


def test_shipped_digits_sweep_kl_falls_and_recon_rises_with_beta(digits_sweep):
    _, pts, *_ = digits_sweep
    for split in ("train", "val"):
        assert np.all(np.diff(S.series(pts, split, "kl")) < 0), split
    # the distortion that β trades against the rate is the training one (what the runs
    # minimised); on validation images overfitting at small β muddles it
    assert np.all(np.diff(S.series(pts, "train", "recon")) > 0)
    assert S.series(pts, "val", "recon")[-1] > S.series(pts, "val", "recon")[0]


def test_shipped_digits_sweep_reconstructions_blur_as_beta_grows(digits_sweep):
    _, pts, looks, _, x = digits_sweep
    blur = [looks[p.beta].blur_recon for p in pts]
    assert np.all(np.diff(blur) > 0), blur
    assert blur[0] > 0                     # even β = 0 loses a little of the data's edges


def test_shipped_digits_sweep_active_units_fall_at_the_largest_beta(digits_sweep):
    _, pts, _, au, _ = digits_sweep
    recorded = [int(p.val["active_units"]) for p in pts]
    measured = [au[p.beta] for p in pts]
    assert measured == recorded
    assert recorded[-1] < recorded[0] == pts[0].kl_per_dim.size
    assert recorded[-1] == min(recorded)


def test_shipped_digits_sweep_overfits_less_at_large_beta(digits_sweep):
    _, pts, *_ = digits_sweep
    gap = S.series(pts, "gap", "elbo")
    assert np.all(gap > 0)                                # every run does better on its training images
    assert gap[-1] < gap[0]


def test_reading_of_the_shipped_digits_sweep_agrees_with_its_numbers(digits_sweep):
    _, pts, looks, _, x = digits_sweep
    lines = S.reading(pts, looks, data_edge=float(S.edge_strength(x).mean()), latent_dim=8)
    kl = S.series(pts, "val", "kl")
    assert f"falls steadily from {kl[0]:.1f} to {kl[-1]:.1f}" in lines[0]
    assert "rises steadily" in lines[0]
    assert f"{pts[-1].val['active_units']} at β = 8" in lines[-1]
