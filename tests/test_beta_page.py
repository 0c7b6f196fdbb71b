"""The β lab page under AppTest: the shipped digits sweep at once, with a reading that
quotes its numbers; a live sweep through the engine that fills in; bad input gives a
message and starts nothing."""
from pathlib import Path

import pytest

from conftest import app_factory, assert_page_ok
from explorer import store
from explorer.analysis import sweep as S

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "3_Beta_lab.py")


@pytest.fixture
def app(page_engine):
    return app_factory(PAGE)


_ok = assert_page_ok



def _reading(at) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("- As β goes"))


def _q(at, key):
    v = at.query_params[key]
    return v[0] if isinstance(v, list) else v


def test_page_shows_the_shipped_digits_sweep_with_its_numbers(app):
    at = app()
    at.run()
    _ok(at)
    assert at.selectbox(key="bl_sweep").value == "shipped:digits"
    heads = [h.value for h in at.subheader]
    for h in ("What the numbers say", "Blur, measured", "Overfitting: training against validation",
              "The rate–distortion plane", "Active units and posterior collapse",
              "Latent spaces, one per β"):
        assert h in heads
    assert len(at.get("plotly_chart")) == 7
    ids = S.shipped_sweeps(store.SHIPPED_ROOT / "manifest.json")["digits"]
    first, last = (store.read_summary(store.SHIPPED_ROOT / i) for i in (ids[0], ids[-1]))
    text = _reading(at)
    assert f"from {first['val']['kl']:.1f} to {last['val']['kl']:.1f} nats" in text
    assert f"{last['val']['active_units']} at β = 8" in text
    df = at.dataframe[0].value
    assert df["β"].tolist() == list(S.DEFAULT_BETAS)
    assert df["val KL"].iloc[0] == pytest.approx(first["val"]["kl"])
    assert df["blur recon"].is_monotonic_increasing
    assert _q(at, "sweep") == "shipped:digits"


def test_page_shows_the_shipped_mnist_sweep_from_its_probe_images(app):
    at = app(sweep="shipped:mnist")          # no MNIST file needed: the runs carry probe images
    at.run()
    _ok(at)
    assert at.selectbox(key="bl_sweep").value == "shipped:mnist"
    assert len(at.get("plotly_chart")) == 7
    ids = S.shipped_sweeps(store.SHIPPED_ROOT / "manifest.json")["mnist"]
    summaries = [store.read_summary(store.SHIPPED_ROOT / i) for i in ids]
    text = _reading(at)
    assert f"from {summaries[0]['val']['kl']:.1f} to {summaries[-1]['val']['kl']:.1f} nats" in text
    assert f"its {summaries[0]['n_train']} training images" in text
    assert at.dataframe[0].value["val ELBO"].tolist() == pytest.approx(
        [s["val"]["elbo"] for s in summaries])
    assert any("2-D latent, bernoulli likelihood" in c.value for c in at.caption)


def test_an_unknown_sweep_in_the_url_falls_back_with_a_warning(app):
    at = app(sweep="live:nope-0000")
    at.run()
    assert not at.exception
    assert "not on this server" in at.warning[0].value
    assert at.selectbox(key="bl_sweep").value.startswith("shipped:")


def _fill_form(at, *, betas="0, 4", subset=100, latent=2, epochs=2):
    at.selectbox(key="sw_dataset").set_value("digits")
    at.number_input(key="sw_subset").set_value(subset)
    at.number_input(key="sw_latent").set_value(latent)
    at.number_input(key="sw_epochs").set_value(epochs)
    at.text_input(key="sw_betas").input(betas)
    at.button[0].click()          # the form's submit button
    return at.run()


def test_bad_beta_values_give_a_message_and_start_nothing(app, page_engine):
    at = app()
    at.run()
    _fill_form(at, betas="0, lots")
    assert not at.exception
    assert "'lots' is not a number" in at.error[0].value
    assert page_engine.list() == []
    _fill_form(at, betas="0, 1", subset=5000)
    assert "larger than the 1438 training images" in at.error[0].value
    assert page_engine.list() == []


def test_a_sweep_larger_than_the_owner_allows_is_refused(app, page_engine, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_MAX_RUNS_PER_OWNER", "3")
    at = app()
    at.run()
    _fill_form(at, betas="0, 0.5, 1, 2")
    assert "may keep 3 runs" in at.error[0].value and "LATENT_EXPLORER_MAX_RUNS_PER_OWNER" in at.error[0].value
    assert page_engine.list() == []


def test_a_live_sweep_runs_one_job_per_beta_and_fills_in(app, page_engine):
    at = app()
    at.run()
    _fill_form(at, betas="0, 4")
    _ok(at)
    key = _q(at, "sweep")
    assert key.startswith("live:")
    tag = key[5:]
    assert any("of 2 runs finished" in c.value for c in at.caption)       # progress while training
    pairs = S.group_sweep_runs(page_engine.list())[tag]
    assert [beta for beta, _ in pairs] == [0.0, 4.0]
    for beta, r in pairs:
        cfg = r.config
        assert (cfg.data.subset, cfg.model.latent_dim, cfg.train.epochs) == (100, 2, 2)
        assert cfg.train.beta == beta and cfg.model.kind == "vae"
        assert r.owner                                      # submitted for this browser
    runs = [r for _, r in pairs]
    for r in runs:
        assert page_engine.wait(r.run_id, timeout=120) == "finished"
    at.run()
    _ok(at)
    assert at.selectbox(key="bl_sweep").value == key
    assert "digits, 100 training images, z=2, 2 β values" in at.selectbox(key="bl_sweep").format_func(key)
    assert not any("runs finished" in c.value for c in at.caption)      # all done: no progress line
    text = _reading(at)
    kl = [page_engine.view(r.run_id).summary["val"]["kl"] for r in runs]
    assert f"from {kl[0]:.1f} to {kl[1]:.1f} nats" in text
    assert at.dataframe[0].value["β"].tolist() == [0.0, 4.0]
    assert len(at.get("plotly_chart")) == 7
