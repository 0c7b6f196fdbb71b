"""β sweeps: setting one up, finding its runs again, their final numbers and the
rate–distortion geometry; the reading in words (built from measured numbers, never
canned) and the β lab's figures."""
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from explorer.analysis.beta import reading as beta_reading
from explorer.analysis.beta import report as beta_report
from explorer.analysis.beta import sweep
from explorer.config import RunConfig
from explorer.figures import beta as beta_figures


# ------------------------------------------------------------------ gap

def test_generalisation_gap_signs():
    train = {"elbo": 10.0, "recon": 20.0, "kl": 5.0}
    val = {"elbo": 4.0, "recon": 27.0, "kl": 4.5}
    g = sweep.generalisation_gap(train, val)
    assert g == {"elbo": 6.0, "recon": 7.0, "kl": -0.5}
    p = sweep.BetaPoint(beta=1.0, train=train, val=val)
    assert p.gap == g


def test_point_from_summary_needs_final_numbers():
    good = {"beta": 2.0, "n_train": 400, "train": {"recon": 1.0, "kl": 2.0, "elbo": -3.0},
            "val": {"recon": 1.5, "kl": 2.1, "elbo": -3.6, "active_units": 2, "kl_per_dim": [1.0, 1.1]}}
    p = sweep.point_from_summary(good, run_id="r")
    assert (p.beta, p.run_id, p.n_train) == (2.0, "r", 400)
    assert p.kl_per_dim.tolist() == [1.0, 1.1]
    assert sweep.point_from_summary(good, beta=4.0).beta == 4.0
    assert sweep.point_from_summary(None) is None
    assert sweep.point_from_summary({"val": good["val"]}) is None             # still running
    bad = json.loads(json.dumps(good))
    bad["val"]["elbo"] = None                                             # NaN stored as null
    assert sweep.point_from_summary(bad) is None


# ------------------------------------------------------------------ rate–distortion

def test_iso_elbo_lines_hold_recon_plus_kl_constant():
    rates = np.linspace(0, 50, 11)
    d = sweep.iso_elbo_line(120.0, rates)
    assert np.allclose(d + rates, 120.0)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 4.0])
def test_beta_line_passes_through_the_run_with_slope_minus_beta(beta):
    rates = np.array([0.0, 3.0, 7.0, 20.0])
    d = sweep.beta_line(7.0, 30.0, beta, rates)
    assert d[2] == pytest.approx(30.0)                                    # through the point
    assert np.allclose(np.diff(d) / np.diff(rates), -beta)                # slope −β
    obj = [sweep.beta_objective(r, y, beta) for r, y in zip(rates, d)]
    assert np.allclose(obj, sweep.beta_objective(7.0, 30.0, beta))            # a level line of recon + β·KL
    if beta == 1.0:                                                       # β = 1: an iso-ELBO line
        assert np.allclose(d, sweep.iso_elbo_line(37.0, rates))


def test_iso_elbo_levels_span_the_runs():
    pts = [sweep.BetaPoint(0.0, {"recon": 10.0, "kl": 30.0, "elbo": -40.0},
                       {"recon": 20.0, "kl": 29.0, "elbo": -49.0}),
           sweep.BetaPoint(4.0, {"recon": 25.0, "kl": 2.0, "elbo": -27.0},
                       {"recon": 26.0, "kl": 2.0, "elbo": -28.0})]
    lv = sweep.iso_elbo_levels(pts, 5)
    assert lv[0] == pytest.approx(27.0) and lv[-1] == pytest.approx(49.0) and len(lv) == 5


# ------------------------------------------------------------------ setup helpers

def test_parse_betas():
    assert sweep.parse_betas("4, 0 0.5;1, 1") == [0.0, 0.5, 1.0, 4.0]
    for bad, msg in (("", "at least one"), ("0, abc", "not a number"), ("-1", "out of range"),
                     ("nan", "out of range"), (",".join(str(i) for i in range(11)), "at most")):
        with pytest.raises(ValueError, match=msg):
            sweep.parse_betas(bad)


def test_sweep_configs_differ_only_in_beta_and_are_found_again_by_name():
    base = sweep.base_config("digits", subset=300, latent_dim=3, epochs=5)
    base = base.replace(model={"kind": "ae"}, train={"beta_schedule": "warmup"})
    cfgs = sweep.sweep_configs(base, [0.0, 2.0], "t1")
    assert [c.train.beta for c in cfgs] == [0.0, 2.0]
    for c in cfgs:
        assert c.model.kind == "vae" and c.train.beta_schedule == "constant"
        assert c.data.subset == 300 and c.model.latent_dim == 3 and c.train.epochs == 5
    assert sweep.parse_run_name(cfgs[1].name) == ("t1", 2.0)
    assert sweep.parse_run_name("my run") is None
    entries = [SimpleNamespace(name=cfgs[1].name, run_id="b"), SimpleNamespace(name="other", run_id="x"),
               SimpleNamespace(name=cfgs[0].name, run_id="a"), SimpleNamespace(name=sweep.run_name("t2", 1),
                                                                               run_id="c")]
    groups = sweep.group_sweep_runs(entries)
    assert set(groups) == {"t1", "t2"}
    assert [(e.run_id, beta) for beta, e in groups["t1"]] == [("a", 0.0), ("b", 2.0)]


def test_base_config_pixels_choose_binarisation_and_likelihood():
    cfg = sweep.base_config("digits")
    assert (cfg.data.binarize, cfg.model.likelihood) == ("threshold", "bernoulli")
    cfg = sweep.base_config("mnist", pixels="grey-bernoulli")
    assert (cfg.data.binarize, cfg.model.likelihood) == ("none", "bernoulli")
    cfg = sweep.base_config("mnist", pixels="grey-gaussian", sigma=0.2)
    assert (cfg.data.binarize, cfg.model.likelihood, cfg.model.sigma) == ("none", "gaussian", 0.2)
    assert sweep.base_config("digits").train.free_bits == 0.0          # a plain β·KL, no floor
    with pytest.raises(ValueError, match="pixels"):
        sweep.base_config("digits", pixels="colour")


def test_shipped_sweeps_reads_the_manifest_sweep_key(tmp_path):
    m = {"runs": [{"id": "a", "sweep": "s", "config": {"train": {"beta": 4.0}}},
                  {"id": "b", "sweep": "s", "config": {"train": {"beta": 0.0}}},
                  {"id": "c", "config": {"train": {"beta": 1.0}}}]}
    (tmp_path / "m.json").write_text(json.dumps(m))
    assert sweep.shipped_sweeps(tmp_path / "m.json") == {"s": ["b", "a"]}
    (tmp_path / "bad.json").write_text("{not json")
    assert sweep.shipped_sweeps(tmp_path / "bad.json") == {}


def test_pick_examples_takes_one_image_per_class_first():
    labels = np.array([3, 1, 1, 0, 2, 3, 0])
    idx = sweep.pick_examples(labels, 5)
    assert len(set(idx.tolist())) == 5
    assert labels[idx[:4]].tolist() == [0, 1, 2, 3]
    assert sweep.pick_examples(None, 3).tolist() == [0, 1, 2]


# ------------------------------------------------------------------ the reading

def _m(beta, rs, ss, p, r, gap, se, val, mr, ms, au, gap_elbo=None, radius=4.0, err=0.01):
    """One β's row as :func:`beta_report.aggregate` makes it, every measure with a standard
    error (``err`` for the shares, ``se`` for the nats)."""
    q = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    m = {"beta": beta, "seeds": 3, "n": 1000, "recon_sharpness": rs, "sample_sharpness": ss, "precision": p,
         "recall": r, "code_radius": radius, "latent_dim": 16, "sample_quality": q, "gap_iwae": gap,
         "gap_iwae_se": se, "val_iwae": val, "val_iwae_se": se, "memorised_recon": mr, "memorised_samples": ms,
         "active_units": au, "gap_elbo": gap if gap_elbo is None else gap_elbo, "gap_elbo_se": se, "iwae_k": 100}
    for k in ("recon_sharpness", "sample_sharpness", "precision", "recall", "sample_quality",
              "memorised_recon", "memorised_samples"):
        m[f"{k}_se"] = err
    return m


def _sweep():
    """Holes at β = 0, the best samples at β = 1, blur at β = 8."""
    return [_m(0.0, 0.9, 0.8, 0.2, 0.3, 40.0, 2.0, -120.0, 1.3, 1.12, 16, 60.0, radius=30.0),
            _m(1.0, 0.6, 0.5, 0.8, 0.7, 10.0, 1.0, -95.0, 1.05, 1.04, 12, 14.0),
            _m(8.0, 0.3, 0.2, 0.6, 0.1, 1.0, 0.5, -130.0, 0.98, 1.0, 3, 2.0)]


def _curve(values):
    return {"epoch": list(range(1, len(values) + 1)), "elbo": list(values)}


def test_reading_quotes_the_numbers_and_says_what_they_show():
    rng = np.random.default_rng(0)
    flat = -100 + rng.normal(0, 0.3, 40)
    falling = np.r_[np.linspace(-150, -100, 20), -100 - 0.5 * np.arange(20)] + rng.normal(0, 0.3, 40)
    curves = {0.0: _curve(flat), 1.0: _curve(falling), 8.0: _curve(flat - 30)}
    text = " ".join(beta_reading.reading(_sweep(), curves, latent_dim=16))
    assert "Every ± below is one standard error over 3 training seeds" in text
    assert "keep 90% ± 1% of their inputs' fine detail at β = 0 and 30% ± 1% at β = 8, falling at every step" in text
    assert "score best at β = 1: quality 0.75 ± 0.01, above every other β by more than two standard errors" in text
    assert "At β = 0 they score 0.24 ± 0.01 (precision 0.20 ± 0.01, recall 0.30 ± 0.01): fewer of them look " \
           "like the data (precision below β = 1's; the codes of the images lie at an RMS radius of 30.0, the " \
           "prior's samples at 4.0, so many samples decode holes between the codes) and they cover less" in text
    assert "At β = 8 they score 0.17 ± 0.01, keep 20% ± 1% of the data's fine detail (against 50% ± 1% at " \
           "β = 1) and their recall is 0.10 ± 0.01: blurry and too alike." in text
    assert "from β = 0 to β = 8 the train − validation IWAE-100 gap falls steadily from 40.0 ± 2.0 to 1.0 ± 0.5" in text
    assert "The KL term limits" in text
    assert "better), is 60.0 ± 2.0 at β = 0 and 2.0 ± 0.5 at β = 8" in text
    assert "at β = 8 the validation IWAE-100 is -130.0 ± 0.5 nats, below β = 1's -95.0 ± 1.0 by more than two " \
           "standard errors: β = 8 is over-regularised against it, although its own gap (1.0 ± 0.5 nats) shows " \
           "it still overfits" not in text                             # 1.0 ± 0.5 is not beyond two s.e.
    assert "β = 8 is over-regularised against it." in text
    assert "lie 30% closer (± 1%) to their nearest training image than to their nearest other validation " \
           "image at β = 0 (the most, beyond two standard errors); 2% farther (± 1%) at β = 8" in text
    # dynamics: only β = 1's second half falls (a slope across epochs, not one epoch's change)
    assert "kept falling at β = 1 (-49 ± 1.4 nats per 100 epochs)" in text
    assert "kept falling at β = 0" not in text and ", 8 (" not in text
    assert "those runs overfit as training went on" in text
    assert "16 of 16 at β = 0, 3 at β = 8" in text


def test_differences_within_error_are_not_worded_as_differences():
    """The issue's case: β values whose measures differ by less than their errors give no
    "most"/"least"/"falls" wording, and the sweet spot is a set."""
    ms = _sweep()
    for m, q in zip(ms, (0.70, 0.74, 0.72)):
        m.update(sample_quality=q, sample_quality_se=0.03, memorised_recon=1.10 + q / 10, memorised_recon_se=0.05,
                 recon_sharpness=0.8 + q / 10, recon_sharpness_se=0.05, gap_iwae=10 + q, gap_iwae_se=3.0,
                 val_iwae=-100 - q, val_iwae_se=3.0)
    text = " ".join(beta_reading.reading(ms, {}, latent_dim=16))
    assert "(the most" not in text and "least" not in text and "falls" not in text and "rises" not in text
    assert "over-regularised" not in text and "The KL term limits" not in text
    assert "score best at β = 0, 1, 8: their qualities (0.70 ± 0.03 at β = 0, 0.74 ± 0.03 at β = 1, 0.72 ± 0.03 " \
           "at β = 8) lie within two standard errors of each other" in text
    assert "none is the most" in text and "did not blur them" in text and "did not shrink it" in text
    assert "may lie beyond this sweep's range" in text
    assert beta_report.sweet_spot(ms) == [0.0, 1.0, 8.0]


def test_every_number_quoted_is_the_one_of_the_beta_it_names():
    ms = _sweep()
    ms.insert(1, _m(0.25, 0.76, 0.7, 0.7, 0.6, 30.0, 1.0, -100.0, 1.1, 1.05, 16, 35.0))
    ms[0].update(val_kl=7000.0)                                     # β = 0: a point posterior, left out
    text = " ".join(beta_reading.trade_off(ms) + beta_reading.reading(ms, latent_dim=16))
    # the audit's bug: "from β = 0.25 … (84% → 18%)" quoted β = 0's sharpness
    assert "Going from β = 0.25 to β = 8 buys a smaller overfitting gap (30.0 → 1.0 nats) with blur (76% → 30% " in text
    by_beta = {f"{m['beta']:g}": m for m in ms}
    sharp = re.search(r"reconstructions keep (\d+)% ± [\d.]+% of their inputs' fine detail at β = ([\d.]*\d) "
                      r"and (\d+)% ± [\d.]+% at β = ([\d.]*\d)", text).groups()
    for value, beta in (sharp[:2], sharp[2:]):
        assert int(value) == round(100 * by_beta[beta]["recon_sharpness"]), (value, beta)
    for value, beta in re.findall(r"(-?[\d.]+) ± [\d.]+ at β = ([\d.]*\d)", text):
        m = by_beta[beta]
        assert any(abs(float(value) - m[k]) < 0.051 for k in ("gap_elbo", "sample_quality")), (value, beta)


def test_reading_does_not_claim_what_the_numbers_do_not_show():
    ms = _sweep()
    ms[0].update(precision=0.9, recall=0.9, sample_quality=0.9)     # β = 0 samples are best now
    ms[2].update(recon_sharpness=0.95, gap_iwae=39.0)               # no blur, no smaller gap
    text = " ".join(beta_reading.reading(ms, {}, latent_dim=16))
    assert "score best at β = 0" in text and "holes" not in text
    assert "smallest β tried" in text
    assert "did not blur them" in text
    assert "The KL term limits" not in text and "did not shrink it" in text
    assert "Validation curves" not in text                          # none given
    assert beta_reading.reading(ms[:1])[0].startswith("Two or more")
    nolabels = [dict(m, precision=None, recall=None, sample_quality=None) for m in ms]
    assert "needs labels" in " ".join(beta_reading.reading(nolabels, latent_dim=16))
    # one epoch's drop at the end of a flat curve is not a trend
    rng = np.random.default_rng(1)
    flat = -100 + rng.normal(0, 0.3, 40)
    text = " ".join(beta_reading.reading(_sweep(), {0.0: _curve(flat), 1.0: _curve(np.r_[flat[:-1], -103.0]),
                                         8.0: _curve(flat)}, latent_dim=16))
    assert "No run's validation ELBO fell over the second half of training" in text


def test_a_trend_over_seeds_needs_the_seeds_to_agree():
    rng = np.random.default_rng(2)
    ep = np.arange(40)
    up, down = -100 + 0.05 * ep + rng.normal(0, 0.1, 40), -100 - 0.05 * ep + rng.normal(0, 0.1, 40)
    seeds = {1.0: {0: _curve(down), 1: _curve(up), 2: _curve(down)}, 8.0: {0: _curve(down), 1: _curve(down - 1),
                                                                          2: _curve(down + 1)}}
    s = beta_reading.curves_sentence({1.0: _curve(down), 8.0: _curve(down)}, seed_curves=seeds)
    assert "kept falling at β = 8 (" in s and "β = 1 (" not in s and "across 3 training seeds" in s


def test_a_point_posterior_gap_is_said_to_measure_no_overfitting():
    ms = _sweep()
    ms[0].update(val_kl=7000.0, gap_iwae=-374.0, gap_iwae_se=156.0)     # β = 0: KL 437 nats a dimension
    text = " ".join(beta_reading.reading(ms, latent_dim=16))
    assert "At β = 0 the IWAE-100 gap is -374.0 ± 156.0 nats, but it does not measure overfitting" in text
    assert "KL 7000 nats per image" in text
    assert "from β = 1 to β = 8 the train − validation IWAE-100 gap falls steadily from 10.0 ± 1.0 to 1.0 ± 0.5" in text
    assert "buys a smaller overfitting gap (10.0 → 1.0 nats)" in " ".join(beta_reading.trade_off(ms))
    assert not beta_reading.pointlike(ms[1]) and beta_reading.pointlike(ms[0])


def test_tour_steps_are_built_from_the_same_sentences():
    steps = beta_reading.tour_steps(_sweep(), {0.0: {"epoch": [1, 2], "elbo": [-10.0, -12.0]},
                                    8.0: {"epoch": [1, 2], "elbo": [-10.0, -9.0]}})
    assert [s["show"] for s in steps] == ["pictures", "pictures", "sharpness", "gap", "curves", "quality"]
    assert all(s["betas"] == [0.0, 1.0, 8.0] for s in steps)
    assert beta_reading.sharpness_sentence(_sweep()) in steps[0]["text"]
    assert "score best at β = 1" in steps[-1]["text"]
    assert "(40.0 → 1.0 nats)" in steps[-1]["text"] and "(90% → 30%" in steps[-1]["text"]
    gap = steps[3]["text"]                                  # step 4: short, two numbers, no wall of IWAE
    assert gap.count("IWAE") == 0 and len(gap) < 400 and "40.0 at β = 0, 1.0 at β = 8" in gap
    assert beta_reading.tour_steps(_sweep()[:1]) == []


def test_likelihood_notes_explain_negative_densities_and_grey_bernoulli():
    gauss = RunConfig.from_dict({"model": {"likelihood": "gaussian", "sigma": 0.1}})
    notes = beta_reading.likelihood_notes(gauss, 64, mse=0.0121)
    assert "50 nats per unit of squared error" in notes[0] and "-88.6 nats for D = 64" in notes[0]
    assert "either sign" in notes[0] and "0.0121 per pixel (RMS 0.110" in notes[1]
    # the constant is −log N(x; x, σ²I) of a perfect reconstruction
    assert beta_reading.gaussian_constant(64,
                                          0.1) == pytest.approx(64 * (0.5 * np.log(2 * np.pi) + np.log(0.1)))
    grey = RunConfig.from_dict({"data": {"name": "mnist", "binarize": "none"}, "model": {"likelihood": "bernoulli"}})
    assert "not a bound on log p(x)" in beta_reading.likelihood_notes(grey, 784)[0]
    binary = RunConfig.from_dict({"data": {"name": "mnist", "binarize": "threshold"}})
    assert beta_reading.likelihood_notes(binary, 784) == []
    toy = RunConfig.from_dict({"data": {"name": "moons"}})
    assert beta_reading.likelihood_notes(toy, 2) == []


# ------------------------------------------------------------------ figures

def _pts():
    out = []
    for b, k, rt, rv in ((0.0, 40.0, 5.0, 25.0), (1.0, 10.0, 9.0, 20.0), (8.0, 2.0, 30.0, 33.0)):
        out.append(sweep.BetaPoint(b, {"recon": rt, "kl": k, "elbo": -(rt + k), "active_units": 4},
                               {"recon": rv, "kl": k, "elbo": -(rv + k), "active_units": 4,
                                "kl_per_dim": [k / 4] * 4}))
    return out


def test_measure_charts_carry_the_numbers_and_mark_the_sweet_spot():
    ms = _sweep()
    df = beta_figures.measure_frame(ms, "gap", sweet=1.0)
    iwae = df[df["series"].str.startswith("IWAE")]
    assert iwae["value"].tolist() == [40.0, 10.0, 1.0]
    assert (iwae["hi"] - iwae["lo"]).tolist() == pytest.approx([4.0, 2.0, 1.0])     # ±1 s.e.
    assert df[df["series"].str.startswith("ELBO")]["value"].tolist() == [60.0, 14.0, 2.0]
    assert df[df["kind"] == "ref"]["value"].tolist() == [0.0]                        # the zero line
    assert df[df["kind"] == "sweet"]["beta"].tolist() == ["1"]
    q = beta_figures.measure_frame(ms, "quality")
    assert q[q["series"].str.startswith("quality")]["value"].tolist() == pytest.approx(
        [m["sample_quality"] for m in ms])
    assert "sweet" not in set(q["kind"])
    spec = beta_figures.measure_chart(ms, "quality", sweet=1.0).to_dict()
    rules = [l for l in spec["layer"] if l.get("mark", {}).get("color") == beta_figures.SWEET_COLOR]
    assert len(rules) == 1 and spec["height"] == beta_figures.SMALL_H
    rows = spec["datasets"][spec["data"]["name"]]
    assert [r["beta"] for r in rows if r["kind"] == "sweet"] == ["1"]
    assert list(beta_figures.measure_frame(ms,
                                           "sharpness").query("kind == 'point'")["beta"].unique()) == ["0",
                                                                                                       "1",
                                                                                                       "8"]


def test_curves_chart_marks_each_runs_best_epoch():
    curves = {0.0: {"epoch": [1.0, 2.0, 3.0], "elbo": [-150.0, -140.0, -145.0]},
              4.0: {"epoch": [1.0, 2.0], "elbo": [-160.0, -150.0]}}
    df = beta_figures.curves_frame(curves)
    assert df[df["best"]][["beta", "epoch"]].values.tolist() == [["0", 2.0], ["4", 2.0]]
    assert len(df) == 5
    assert beta_figures.curves_chart(curves).to_dict()["layer"][1]["mark"]["type"] == "point"


def test_plotly_figures_and_the_table():
    pts = _pts()
    for log in (False, True):
        fig = beta_figures.rd_figure(pts, log_rate=log)
        vals = [t for t in fig.data if t.name and t.name.startswith("β=")]
        assert [float(t.x[0]) for t in vals] == [40.0, 10.0, 2.0]
        lines = [t for t in fig.data if t.legendgroup == "betaline"]
        for t, p in zip(lines, pts):     # each β-line: recon + β·KL of the run's training point
            want = sweep.beta_objective(p.train["kl"], p.train["recon"], p.beta)
            assert np.allclose([sweep.beta_objective(r, d, p.beta) for r, d in zip(t.x, t.y)], want)
    assert list(beta_figures.active_units_figure(pts, 4).data[0].y) == [4, 4, 4]
    df = beta_figures.numbers_table(pts, _sweep())
    assert df["gap IWAE"].tolist() == [40.0, 10.0, 1.0]
    assert df["sample quality"].tolist() == pytest.approx([m["sample_quality"] for m in _sweep()])
    assert df["val KL"].tolist() == [40.0, 10.0, 2.0]
    imgs = np.random.default_rng(0).random((4, 1, 8, 8))
    img = beta_figures.strip(imgs, target_px=40)     # 8×8 enlarged 5× (40 px) in a 1 px frame (42), gaps of 42/4 ≈ 10 px
    assert img.shape == (10 + 42 + 10, 10 + 4 * 52, 3)
    assert np.allclose(img[11:51, 11:51, 0], np.repeat(np.repeat(imgs[0, 0], 5, 0), 5, 1))
    assert np.allclose(img[10, 10:52], beta_figures.FRAME_RGB) and np.allclose(img[30, 51], beta_figures.FRAME_RGB)
    assert np.allclose(img[0, 0], beta_figures.PAD_RGB) and np.allclose(img[30, 57], beta_figures.PAD_RGB)   # between pictures
    row = beta_figures.picture_row([imgs, imgs[:2]], target_px=40, gap_px=30)
    assert row.shape == (62, img.shape[1] + 30 + (10 + 2 * 52), 3)


def test_every_column_of_the_numbers_table_is_explained():
    shown = {"β", "train ELBO", "val ELBO", "train recon", "val recon", "train KL", "val KL",
             *beta_figures.TABLE_COLUMNS.values()}
    assert shown <= set(beta_figures.TABLE_HELP), shown - set(beta_figures.TABLE_HELP)
    # a tie counts half in the share nearer a training image: its "no pull" value is 0.5
    assert "0.5 = no pull" in beta_figures.TABLE_HELP["recon nearer a training image"]
    assert "tie" in beta_figures.TABLE_HELP["recon nearer a training image"]
