"""The β lab page under AppTest: a shipped sweep at once (pictures, the three measures,
a reading that quotes its measured numbers, validation curves, the details), the "show
me" tour, a live sweep through the engine that fills in and is measured, own data from
the data folders, and bad input that gives a message and starts nothing."""
from pathlib import Path

import numpy as np
import pytest

from conftest import app_factory, assert_page_ok
from explorer import cli_sweep, store
from explorer.analysis.beta import report as beta_report
from explorer.analysis.beta import sweep

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "3_Beta_lab.py")
SHIPPED = list(sweep.shipped_sweeps(store.SHIPPED_ROOT / "manifest.json"))


@pytest.fixture
def app(page_engine):
    return app_factory(PAGE)


_ok = assert_page_ok


def _reading(at) -> str:
    """The reading as a learner reads it (the page escapes Markdown characters)."""
    return next(m.value for m in at.markdown if m.value.startswith("- Every ±")).replace("\\", "")


def _q(at, key):
    v = at.query_params[key]
    return v[0] if isinstance(v, list) else v


def _n_altair(at) -> int:
    return len(at.get("vega_lite_chart"))


@pytest.mark.parametrize("name", SHIPPED)
def test_page_shows_a_shipped_sweep_with_its_measured_numbers(app, name):
    at = app(sweep=f"shipped:{name}")
    at.run()
    _ok(at)
    assert at.selectbox(key="bl_sweep").value == f"shipped:{name}"
    heads = [h.value for h in at.subheader]
    assert heads[:4] == ["What each β makes of the same images", "Three measures against β",
                         "What the numbers say", "Validation curves, one per β"]
    got = beta_report.load(beta_report.shipped_folder(name))
    betas = got.betas
    assert len(betas) >= 7 and betas[0] == 0.0 and betas[-1] == 8.0
    assert len(at.get("image")) == len(betas)             # one row of four strips per β
    assert _n_altair(at) == 4                             # three measures + the validation curves
    text = _reading(at)
    rs = [m["recon_sharpness"] for m in got.measures]
    assert f"keep {100 * rs[0]:.0f}% ± " in text and f"fine detail at β = 0 and {100 * rs[-1]:.0f}% ± " in text
    sweet = beta_report.sweet_spot(got.measures)
    assert "score best at β = " + ", ".join(f"{b:g}" for b in sweet) in text
    stars = [m.value for m in at.markdown if m.value.endswith("⭐ sweet spot")]
    assert stars == [f"**β = {b:g}** ⭐ sweet spot" for b in sweet]      # the sweet spot's rows
    assert any("expected calibration error" in c.value and "uniform noise scores" in c.value
               for c in at.caption)                                      # the judge's own numbers
    assert not at.dataframe and not at.get("plotly_chart")             # the details wait to be asked for
    at.toggle(key="bl_more").set_value(True).run()
    _ok(at)
    assert len(at.get("plotly_chart")) == 2                            # rate–distortion, active units
    df = at.dataframe[0].value
    assert df["β"].tolist() == betas
    assert df["gap IWAE"].tolist() == pytest.approx([m["gap_iwae"] for m in got.measures])
    assert any("binarised pixels" in c.value for c in at.caption)
    assert _q(at, "sweep") == f"shipped:{name}"


def test_show_me_walks_through_the_sweep_and_ends(app):
    at = app(sweep=f"shipped:{SHIPPED[0]}")
    at.run()
    at.button(key="bl_show_me").click().run()
    _ok(at)
    titles = [m.value for m in at.markdown if m.value.startswith("#### ")]
    assert titles and titles[0].startswith("#### 1 · Look at the reconstructions (1 of ")
    n = int(titles[0].rsplit(" of ", 1)[1].rstrip(")"))
    seen = [titles[0]]
    for _ in range(n - 1):
        at.button(key="tour_next").click().run()
        _ok(at)
        seen.append(next(m.value for m in at.markdown if m.value.startswith("#### ")))
    assert seen[-1].startswith(f"#### {n} · The sweet spot ({n} of {n})")
    assert len(set(seen)) == n
    assert not [b for b in at.button if b.key == "tour_next"]        # the last step has no Next
    at.button(key="tour_back").click().run()
    assert any(m.value.startswith(f"#### {n - 1} ·") for m in at.markdown)
    at.button(key="tour_end").click().run()
    assert not any(m.value.startswith("#### ") for m in at.markdown)


def test_an_unknown_sweep_in_the_url_falls_back_with_a_warning(app):
    at = app(sweep="live:nope-0000")
    at.run()
    assert not at.exception
    assert "not on this server" in at.warning[0].value
    assert at.selectbox(key="bl_sweep").value.startswith("shipped:")


def _fill(at, *, dataset="digits", betas="0, 4", subset=100, latent=2, epochs=2, pixels="binary",
          path=None, start=True):
    at.selectbox(key="sw_dataset").set_value(dataset).run()
    at.number_input(key="sw_subset").set_value(subset)
    at.number_input(key="sw_latent").set_value(latent)
    at.number_input(key="sw_epochs").set_value(epochs)
    at.selectbox(key="sw_pixels").set_value(pixels)
    at.text_input(key="sw_betas").input(betas)
    if path is not None:
        at.text_input(key="sw_path").input(path)
    at.run()
    if start:
        at.button(key="sw_start").click()
        at.run()
    return at


def test_bad_beta_values_give_a_message_and_start_nothing(app, page_engine):
    at = app()
    at.run()
    _fill(at, betas="0, lots")
    assert not at.exception
    assert "'lots' is not a number" in at.error[0].value
    assert page_engine.list() == []
    _fill(at, betas="0, 1", subset=5000)
    assert "larger than the 1438 training images" in at.error[0].value
    assert page_engine.list() == []


def test_a_sweep_larger_than_the_owner_allows_is_refused(app, page_engine):
    page_engine.quotas.max_runs_per_owner = 3         # LATENT_EXPLORER_MAX_RUNS_PER_OWNER=3
    at = app()
    at.run()
    _fill(at, betas="0, 0.5, 1, 2")
    assert "asks for 4 more; the limit (LATENT_EXPLORER_MAX_RUNS_PER_OWNER) is 3" in at.error[0].value
    assert page_engine.list() == []


def test_own_data_paths_must_lie_in_the_data_folders(app, page_engine, tmp_path, monkeypatch):
    folder = tmp_path / "class-data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    x = (rng.random((300, 8, 8)) > 0.7).astype(np.uint8) * 255
    np.savez(folder / "blobs.npz", x=x, y=rng.integers(0, 3, 300))
    outside = tmp_path / "elsewhere.npz"
    np.savez(outside, x=x)
    monkeypatch.setenv("LATENT_EXPLORER_DATA_DIRS", str(folder))
    at = app()
    at.run()
    _fill(at, dataset="file", path=str(outside), start=False)
    assert "not in a data folder" in at.error[0].value
    assert at.button(key="sw_start").disabled                # nothing can be started from there
    assert page_engine.list() == []
    _fill(at, dataset="file", path=str(folder / "blobs.npz"), subset=200)
    _ok(at)
    runs = page_engine.list()
    assert len(runs) == 2 and {r.config.data.name for r in runs} == {"file"}
    assert {r.config.data.path for r in runs} == {str((folder / "blobs.npz").resolve())}
    assert {r.config.data.subset for r in runs} == {200}
    for r in runs:
        page_engine.stop(r.run_id, r.owner)


def test_a_live_sweep_runs_one_job_per_beta_fills_in_and_is_measured(app, page_engine):
    at = app()
    at.run()
    _fill(at, betas="0, 4", pixels="grey-gaussian")
    _ok(at)
    key = _q(at, "sweep")
    assert key.startswith("live:")
    tag = key[5:]
    assert any("of 2 runs finished" in c.value for c in at.caption)       # progress while training
    pairs = sweep.group_sweep_runs(page_engine.list())[tag]
    assert [beta for beta, _ in pairs] == [0.0, 4.0]
    for beta, r in pairs:
        cfg = r.config
        assert (cfg.data.subset, cfg.model.latent_dim, cfg.train.epochs) == (100, 2, 2)
        assert cfg.train.beta == beta and cfg.model.kind == "vae" and cfg.model.likelihood == "gaussian"
        assert r.owner                                      # submitted for this browser
    runs = [r for _, r in pairs]
    for r in runs:
        assert page_engine.wait(r.run_id, timeout=180) == "finished"
    at.run()
    _ok(at)
    assert at.selectbox(key="bl_sweep").value == key
    assert "digits, 100 training images, z=2, 2 β values" in at.selectbox(key="bl_sweep").format_func(key)
    assert not any("runs finished" in c.value for c in at.caption)      # all done: no progress line
    text = _reading(at)
    assert "fine detail at β = 0" in text and "IWAE-100 gap" in text
    caption = next(c.value for c in at.caption if "digits, 100 training images" in c.value)
    assert "either sign" in caption and "per pixel" in caption          # the Gaussian's numbers explained
    assert _n_altair(at) == 4
    at.toggle(key="bl_more").set_value(True).run()
    df = at.dataframe[0].value
    assert df["β"].tolist() == [0.0, 4.0]
    assert "0.5 = no pull" in at.dataframe[0].proto.columns           # every column explained
    # one measurement, one set of numbers: sweep-report on the same runs prints the page's
    rep = cli_sweep.sweep_report(str(page_engine.runs_dir))
    assert [r["beta"] for r in rep["rows"]] == [0.0, 4.0]
    for row, (_, t) in zip(rep["rows"], df.iterrows()):
        assert row["gap_iwae"] == pytest.approx(t["gap IWAE"], rel=1e-9)
        assert row["recon_sharpness"] == pytest.approx(t["recon sharpness"], rel=1e-9)
        assert row["sample_quality"] == pytest.approx(t["sample quality"], rel=1e-9)
