"""The Train page under AppTest, and the pure pieces it is built from: the figure builders
of ``explorer.figures.training`` and the helpers of ``explorer.ui.train``."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import streamlit as st
from conftest import app_test, shared_page_engine
from streamlit.testing.v1 import AppTest

from explorer import probe
from explorer.config import ConfigError, RunConfig
from explorer.engine import Engine, set_engine
from explorer.figures import training as training_figures
from explorer.runs import Progress
from explorer.ui import train as train_ui

PAGE = "pages/1_Train.py"


# ===================================================================== figures

def rows_fixture(n=100, beta=1.0):
    return [{"step": s, "recon": 30 - 0.1 * s, "kl": 0.02 * s, "beta_kl": beta * 0.02 * s,
             "loss": 30 - 0.1 * s + beta * 0.02 * s, "beta": beta} for s in range(1, n + 1)]


def test_bin_rows_averages_consecutive_rows():
    rows = [{"step": s, "recon": float(s)} for s in range(1, 11)]
    b = training_figures.bin_rows(rows, ("recon",), max_points=4)          # bins of 3: 1-3, 4-6, 7-9, 10
    assert b["step"].tolist() == [3, 6, 9, 10]
    assert b["recon"].tolist() == [2.0, 5.0, 8.0, 10.0]
    assert training_figures.bin_rows([], ("recon",)).empty


def test_curve_frame_has_every_term_split_and_event():
    val = [{"step": 50, "val_recon": 20.0, "val_kl": 2.0, "beta": 4.0, "val_elbo": -22.0}]
    events = [{"step": 40, "param": "beta", "value": 4.0}, {"step": 60, "param": "lr", "value": 1e-3}]
    df = training_figures.curve_frame(rows_fixture(), val, events, max_points=50)
    curves = df[df["kind"] == "curve"]
    assert set(zip(curves["term"], curves["split"])) == {(t, s) for t in training_figures.TERMS
                                                         for s in ("training", "validation")}
    v = curves[curves["split"] == "validation"].set_index("term")["value"]
    assert v["beta_kl"] == 8.0 and v["total"] == 28.0          # recon + β·KL with the row's β
    assert (curves["split"] == "training").sum() == 4 * 50
    ev = df[df["kind"] == "event"]
    assert ev["param"].tolist() == ["β", "lr"] and ev["step"].tolist() == [40, 60]
    panel = training_figures.panel_frame(df, "kl")
    assert set(panel["term"]) == {"kl", ""} and (panel["kind"] == "event").sum() == 2


def test_loss_panels_have_curves_and_event_rules():
    df = training_figures.curve_frame(rows_fixture(), [], [{"step": 40, "param": "beta", "value": 2.0}])
    for term in training_figures.TERMS:
        chart = training_figures.loss_panel_chart(training_figures.panel_frame(df, term), term)
        d = chart.to_dict()
        marks = [layer["mark"]["type"] for layer in d["layer"]]
        assert marks == ["line", "rule", "text"] and d["title"] == training_figures.TERM_TITLES[term]
        tags = d["layer"][2]                                   # each change is labelled with its value
        assert tags["encoding"]["text"]["field"] == "tag" and "format(datum.value" in \
            tags["transform"][1]["calculate"]


def test_live_spec_does_not_depend_on_the_data():
    """In-place updates need a fixed specification: only the data may change between polls."""
    def spec(chart):
        d = chart.to_dict()
        d.pop("datasets", None)
        d.pop("data", None)
        return d
    a = training_figures.loss_panel_chart(training_figures.panel_frame(training_figures.curve_frame(rows_fixture(10), []), "kl"), "kl", False)
    b = training_figures.loss_panel_chart(training_figures.panel_frame(training_figures.curve_frame(rows_fixture(500), [], [
        {"step": 3, "param": "beta", "value": 2.0}]), "kl"), "kl", False)
    assert spec(a) == spec(b) == training_figures.live_spec("loss", term="kl", legend=False)
    assert spec(training_figures.rd_chart(training_figures.rd_frame(rows_fixture(),
                                                                    2.0))) == training_figures.live_spec("rd")
    mu = np.random.default_rng(0).normal(size=(50, 2))
    lab = np.arange(50) % 10
    names = [str(i) for i in range(10)]
    assert spec(training_figures.latent_chart(mu, lab, names)) == training_figures.live_spec(
        "latent", domain=tuple(names), dims=(0, 1))


def test_rate_distortion_lines():
    beta = 3.0
    df = training_figures.rd_frame(rows_fixture(300, beta), beta)
    now = df[df["kind"] == "now"].iloc[0]
    trail = training_figures.rd_trail(rows_fixture(300, beta))
    assert (now["kl"], now["recon"]) == (trail["kl"].iloc[-1], trail["recon"].iloc[-1])
    x0, y0 = df[df["kind"] == "corner"][["kl", "recon"]].min()
    x1, y1 = df[df["kind"] == "corner"][["kl", "recon"]].max()
    b = df[df["kind"] == "beta"]
    assert len(b) == 2                                          # a segment through the current point
    assert np.allclose(b["recon"] + beta * b["kl"], now["recon"] + beta * now["kl"])
    iso = df[df["kind"] == "iso"]
    assert iso["line"].nunique() >= 3
    for _, seg in iso.groupby("line"):                          # recon + KL = const on each
        assert np.ptp(seg["recon"] + seg["kl"]) < 1e-9
    inside = df[df["kind"] != "corner"]
    assert inside["kl"].between(x0 - 1e-9, x1 + 1e-9).all()
    assert inside["recon"].between(y0 - 1e-9, y1 + 1e-9).all()
    assert training_figures.rd_frame([], 1.0).empty


def test_segment_clips_to_the_box():
    from explorer.analysis.rd import clip_segment
    assert clip_segment(5.0, 1.0, (0, 10, 0, 10)) == ((0, 5.0), (5.0, 0))
    assert clip_segment(50.0, 1.0, (0, 10, 0, 10)) is None


def test_kl_frame_pick_dims_latent_frame():
    k = training_figures.kl_frame([0.5, 0.0, 2.0], [0.3, 0.001, 1.2])
    assert k["state"].tolist() == ["active", "inactive", "active"]
    assert training_figures.pick_dims([0.1, 5.0, 0.2, 3.0]) == (1, 3)
    f = training_figures.latent_frame(np.array([[1.0, 2.0, 3.0]]), [1], ["a", "b"], dims=(0, 2))
    pt = f[f["kind"] == "point"].iloc[0]
    assert (pt["x"], pt["y"], pt["label"]) == (1.0, 3.0, "b")
    assert (f["kind"] == "prior").sum() == 3 * 73
    assert training_figures.label_domain(None) == ("all",) and training_figures.label_domain(np.array([0,
                                                                                                       2])) == ("0", "1", "2")


def test_recon_pairs_puts_each_row_above_its_reconstruction():
    o = np.zeros((10, 1, 8, 8), np.float32)
    r = np.ones((10, 1, 8, 8), np.float32)
    img = training_figures.recon_pairs(o, r, per_row=5, target_px=16)     # 4 rows of 5, upscaled ×2
    assert img.shape == ((4 * 9 + 1) * 2, (5 * 9 + 1) * 2)
    assert img[2:18, 2:18].max() == 0.0                        # first original
    assert img[20:36, 2:18].min() == 1.0                       # its reconstruction below it
    with pytest.raises(ValueError):
        training_figures.recon_pairs(o, r[:3])


# ======================================================================= helpers

def test_widget_state_round_trips_a_config():
    from explorer.ui import train_form
    cfg = RunConfig.from_dict({"data": {"name": "mnist", "path": "/data/m.npz", "binarize": "threshold"},
                               "model": {"hidden": [64, 32], "latent_dim": 8},
                               "train": {"beta": 2.5, "epochs": 7, "beta_schedule": "warmup"}})
    st_ = train_form.widget_state(cfg)
    assert st_["hidden"] == "64, 32" and st_["latent_dim"] == 8 and st_["data_path"] == "/data/m.npz"
    assert st_["beta"] == 2.5 and st_["epochs"] == 7 and st_["beta_schedule"] == "warmup"
    assert train_form.widget_state(RunConfig())["hidden"] == "256, 128"
    for text, msg in [("a, b", "hidden widths"), ("", "at least one")]:
        with pytest.raises(ConfigError, match=msg):
            train_ui.parse_widths(text)
    with pytest.raises(ConfigError, match="conv body"):
        RunConfig.from_dict({"data": {"name": "moons"}, "model": {"body": "conv"}})


def test_collapse_alarm_and_progress_line():
    assert train_ui.collapse_alarm("vae", 0.01, 0, 2, epoch=3) and "β" in train_ui.collapse_alarm("vae",
                                                                                                  0.01, 0, 2,
                                                                                                  3)
    assert train_ui.collapse_alarm("vae", 5.0, 0, 2, epoch=3)        # no active unit
    assert train_ui.collapse_alarm("vae", 5.0, 2, 2, epoch=3) is None
    assert train_ui.collapse_alarm("vae", 0.0, 0, 2, epoch=0.5) is None   # too early to tell
    assert train_ui.collapse_alarm("ae", 0.0, 0, 2, epoch=3) is None
    frac, text = train_ui.progress_line(Progress(step=450, total_steps=1800, epoch=10.0, epochs=40,
                                                 img_s=2500.0, eta_s=75.0))
    assert frac == 0.25 and "epoch 10.0 / 40" in text and "2,500 images/s" in text and "1:15" in text


# ======================================================================= AppTest

def until(pred, timeout: float = 120.0, what: str = "condition"):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def engine_(tmp_path_factory):
    """The process-wide engine the page uses, shared by this module's AppTests (its worker
    is started once: spawning workers is the slow part). AppTest gives every test the same
    session id, so they share one owner too."""
    yield from shared_page_engine(tmp_path_factory.mktemp("train_page") / "runs", max_jobs=2,
                                  snapshot_seconds=0.2, prestart=1, load_existing=True)


@pytest.fixture
def app(engine_):
    at = app_test(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def run_id(at) -> str:
    return at.session_state["train_run"]


def chart_table(node):
    """The table a Vega-Lite chart element carries (Arrow IPC bytes in its proto)."""
    import pyarrow as pa
    return pa.ipc.open_stream(node.proto.data.data).read_all().to_pandas()


def small(at, epochs: int, hidden: str = "32") -> None:
    """A short run with a constant β (the default warms β up over the first steps)."""
    if not at.sidebar.selectbox(key="beta_schedule").disabled:       # (an autoencoder has no β)
        at.sidebar.selectbox(key="beta_schedule").set_value("constant")
    at.sidebar.number_input(key="epochs").set_value(epochs)
    at.sidebar.text_input(key="hidden").set_value(hidden)


def test_page_renders_with_defaults(app):
    at = app
    assert at.sidebar.selectbox(key="dataset").value == "digits"
    assert at.sidebar.number_input(key="latent_dim").value == 2
    assert at.sidebar.number_input(key="epochs").value == RunConfig().train.epochs
    assert at.sidebar.text_input(key="hidden").value == "256, 128"
    assert at.number_input(key="beta").value == 1.0 and at.select_slider(key="lr").value == RunConfig().train.lr
    assert not at.button(key="start").disabled and at.button(key="pause").disabled
    assert "press **Start**" in at.info[0].value
    assert not at.error


def test_short_digits_run_completes_and_shows_its_numbers(app, engine_):
    at = app
    small(at, 3, "64")
    at.button(key="start").click().run()
    assert not at.exception and not at.error
    rid = run_id(at)
    assert at.query_params["run"] in (rid, [rid])
    assert at.button(key="start").disabled                       # one live run per page
    assert engine_.wait(rid, 120) == "finished"
    at.run()
    assert not at.exception and not at.error
    summary = engine_.view(rid).summary
    assert "Finished" in at.success[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ELBO"] == f"{summary['val']['elbo']:.2f}"
    assert metrics["KL"] == f"{summary['val']['kl']:.2f}"
    assert metrics["Active units"] == f"{summary['val']['active_units']} / 2"
    charts = {json.loads(c.proto.spec).get("title"): c for c in at.get("vega_lite_chart")}
    assert set(training_figures.TERM_TITLES.values()) | {"Rate–distortion plane", "Probe set in latent space",
                                                         "KL per latent dimension"} <= set(charts)
    curve = chart_table(charts[training_figures.TERM_TITLES["recon"]])      # the data the browser plots
    spe = engine_.view(rid).info.steps_per_epoch
    val = curve[curve["split"] == "validation"]
    assert val["step"].tolist() == [spe, 2 * spe, 3 * spe]
    assert val["value"].iloc[-1] == pytest.approx(
        engine_.view(rid).val_rows[-1]["val_recon"])
    latent = chart_table(charts["Probe set in latent space"])
    assert (latent["kind"] == "point").sum() == min(probe.PROBE_N, engine_.view(rid).info.n_val)
    assert engine_.view(rid).config.model.hidden == [64]
    assert engine_.view(rid).config.data.subset is None and engine_.view(rid).info.n_train > 1400
    assert not at.button(key="start").disabled


def test_bad_settings_give_messages(app, engine_):
    at = app
    n_runs = len(engine_.list())
    at.sidebar.text_input(key="hidden").set_value("many")
    at.button(key="start").click().run()
    assert "hidden widths" in at.error[0].value and "256, 128" in at.error[0].value
    at.sidebar.text_input(key="hidden").set_value("32")
    at.sidebar.selectbox(key="dataset").set_value("moons").run()
    at.sidebar.radio(key="body").set_value("conv")
    at.button(key="start").click().run()
    assert "conv body needs image data" in at.error[0].value
    at.sidebar.radio(key="body").set_value("mlp")
    at.sidebar.selectbox(key="dataset").set_value("digits").run()
    at.sidebar.selectbox(key="beta_schedule").set_value("warmup")
    at.sidebar.radio(key="kind").set_value("ae").run()          # an AE has no β: no schedule
    assert at.sidebar.selectbox(key="beta_schedule").disabled
    at.sidebar.radio(key="kind").set_value("vae").run()
    assert not at.sidebar.selectbox(key="beta_schedule").disabled
    at.sidebar.selectbox(key="dataset").set_value("file").run()
    at.button(key="start").click().run()
    assert "upload a file" in at.error[0].value
    at.sidebar.selectbox(key="dataset").set_value("digits").run()
    at.sidebar.number_input(key="subset").set_value(5000).run()   # digits has ~1,400 for training
    assert "subset 5000 is larger than the" in at.sidebar.error[0].value
    at.button(key="start").click().run()
    assert "Cannot start" in at.main.error[0].value and "subset 5000" in at.main.error[0].value
    assert not at.exception and len(engine_.list()) == n_runs    # nothing was started


def test_missing_mnist_is_a_clean_message(app, engine_, tmp_path):
    at = app
    n_runs = len(engine_.list())
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    for outside in ("/nonexistent/mnist.npz", "/etc/passwd", "/root", "../../etc"):
        at.sidebar.text_input(key="data_path").set_value(outside).run()
        at.button(key="start").click().run()              # paths typed here stay in the data folders
        err = at.main.error[0].value
        assert "LATENT_EXPLORER_DATA" in err and "does not exist" not in err and "neither" not in err
        assert not at.exception and len(engine_.list()) == n_runs
    at.sidebar.text_input(key="data_path").set_value("mnist-missing.npz").run()   # in the data folder
    at.button(key="start").click().run()
    rid = run_id(at)
    assert engine_.wait(rid, 120) == "failed"
    at.run()
    assert not at.exception
    err = at.error[0].value
    assert "does not exist" in err and "Traceback" not in err


def test_controls_step_pause_resume_stop_and_live_beta(app, engine_):
    at, eng = app, engine_
    small(at, 500)
    at.button(key="step").click().run()                          # no run yet: start paused, one step
    rid = run_id(at)
    until(lambda: eng.view(rid).progress.step == 1, what="one step")
    assert eng.view(rid).status == "paused"
    at.run()
    assert at.button(key="pause").label == "Resume"
    at.number_input(key="beta").set_value(2.5).run()             # live β: reaches the worker
    at.button(key="step").click().run()
    until(lambda: eng.view(rid).progress.step == 2, what="a second step")
    v = eng.view(rid)
    assert v.rows[-1]["beta"] == 2.5 and {"step": 1, "param": "beta", "value": 2.5} in v.events
    at.button(key="pause").click().run()                         # Resume
    assert eng.view(rid).status == "running"
    assert at.button(key="pause").label == "Pause"
    at.button(key="stop").click().run()
    assert eng.wait(rid, 60) == "stopped"
    at.run()
    assert "stopped by the user" in at.warning[0].value
    at.button(key="reset").click().run()                         # a fresh page; the run is kept
    assert "train_run" not in at.session_state and eng.view(rid).status == "stopped"


def test_a_run_opens_from_the_run_list(app, engine_):
    rid = engine_.submit(RunConfig.from_dict({"model": {"hidden": [16]},
                                              "train": {"epochs": 1, "beta": 2.0}}))
    engine_.wait(rid, 120)
    at = app
    at.run()
    at.selectbox(key="open_pick").set_value(rid)
    at.button(key="open_run").click().run()
    assert not at.exception and run_id(at) == rid and "Finished" in at.success[0].value
    assert at.number_input(key="beta").value == 2.0             # the live control shows its β


def test_query_string_reattaches_and_unknown_runs_warn(engine_):
    rid = engine_.submit(RunConfig.from_dict({"model": {"hidden": [16]}, "train": {"epochs": 1}}))
    assert engine_.wait(rid, 120) == "finished"
    at = app_test(PAGE, default_timeout=60)
    at.query_params["run"] = rid
    at.run()
    assert not at.exception and run_id(at) == rid and "Finished" in at.success[0].value
    at2 = app_test(PAGE, default_timeout=60)
    at2.query_params["run"] = "no-such-run"
    at2.run()
    assert not at2.exception and "not known here" in at2.warning[0].value


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_own_uploaded_file_previews_and_trains(app, engine_):
    at = app
    at.sidebar.selectbox(key="dataset").set_value("file").run()
    bad = io.BytesIO()
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)   # a pickle inside
    at.sidebar.get("file_uploader")[0].set_value(("evil.npy", bad.getvalue(), "application/octet-stream")).run()
    assert not at.exception and "evil.npy" in at.sidebar.error[0].value
    x = (np.random.default_rng(0).random((200, 6, 6)) * 255).astype(np.uint8)
    at.sidebar.get("file_uploader")[0].set_value(
        ("mine.npz", npz_bytes(x=x, y=np.arange(200) % 3), "application/octet-stream")).run()
    assert not at.exception and not at.sidebar.error
    assert at.sidebar.selectbox(key="upload_pick").value == "mine.npz"
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "of 1×6×6" in captions and "3 classes" in captions   # the preview: shape, classes, counts
    assert "Labels: 0:" in captions
    assert len(at.sidebar.get("image")) == 1                    # a grid of samples
    small(at, 2, "16")
    at.button(key="start").click().run()
    assert not at.main.error, at.main.error
    rid = run_id(at)
    assert engine_.wait(rid, 120) == "finished"
    v = engine_.view(rid)
    stored = at.session_state["uploads"]["mine.npz"]
    assert v.config.data.path == stored and stored.startswith(str(engine_.runs_dir / "uploads"))
    assert v.info.data_shape == [1, 6, 6] and v.info.class_names == ["0", "1", "2"]


def test_owner_cap_is_a_message(app, engine_):
    from explorer.ui.identity import owner_id_of_token
    at = app
    assert "train_run" not in at.session_state
    owner = owner_id_of_token(at.session_state["_le_token"])
    engine_.quotas.max_runs_per_owner = engine_.runs_of(owner) + 1
    try:
        small(at, 1, "16")
        at.button(key="start").click().run()
        engine_.wait(run_id(at), 120)
        at.run()
        at.button(key="start").click().run()
        assert "limit" in at.error[0].value
        assert "LATENT_EXPLORER_MAX_RUNS_PER_OWNER" in at.error[0].value
    finally:
        engine_.quotas.max_runs_per_owner = 200


@pytest.mark.parametrize("dataset,over,charts", [
    ("moons", {"likelihood": "gaussian"}, {"Data (grey) and reconstructions", "KL per latent dimension"}),
    ("digits", {"kind": "ae", "body": "conv"}, {"Probe set in latent space"}),
])
def test_toy_and_autoencoder_runs_draw_their_views(app, engine_, dataset, over, charts):
    at = app
    at.sidebar.selectbox(key="dataset").set_value(dataset).run()
    for key, value in over.items():
        widget = at.sidebar.radio(key=key) if key in ("kind", "body") else at.sidebar.selectbox(key=key)
        widget.set_value(value).run()
    small(at, 2, "16")
    at.button(key="start").click().run()
    assert not at.error, at.error
    rid = run_id(at)
    assert engine_.wait(rid, 120) == "finished"
    at.run()
    assert not at.exception and not at.error
    titles = {json.loads(c.proto.spec).get("title") for c in at.get("vega_lite_chart")}
    assert charts <= titles
    if over.get("kind") == "ae":                                 # no KL term: no R–D plane, no KL bars
        assert "Rate–distortion plane" not in titles and "KL per latent dimension" not in titles
        assert any("no KL term" in i.value for i in at.info)


def test_a_run_from_an_earlier_server_shows_its_final_state(engine_):
    from explorer import store
    from explorer.models import build_model
    cfg = RunConfig.from_dict({"model": {"hidden": [16]}, "train": {"epochs": 1}})
    store.save_run(engine_.runs_dir / "from-before", cfg, build_model(cfg.model, (1, 8, 8), "cpu"),
                   [{"step": 1.0, "recon": 40.0, "kl": 0.1, "beta_kl": 0.1, "loss": 40.1}],
                   {"status": "finished", "steps": 1, "epochs": 1.0, "data_shape": [1, 8, 8]})
    at = app_test(PAGE, default_timeout=60)
    at.query_params["run"] = "from-before"
    at.run()
    assert not at.exception and not at.error and run_id(at) == "from-before"
    titles = {json.loads(c.proto.spec).get("title") for c in at.get("vega_lite_chart")}
    assert "Probe set in latent space" in titles                 # encoded with the saved weights
    assert any("Final state" in h.value for h in at.subheader)


def test_axes_of_a_chart_with_one_point_read_as_short_numbers():
    """A run's first step: one point per curve. Vega's default labels of a one-point axis read
    "44.601929" and "1.000000"; the live charts format numbers to 4 significant digits and
    steps as whole numbers."""
    d = training_figures.loss_panel_chart(training_figures.panel_frame(training_figures.curve_frame(rows_fixture(1), []), "recon"),
                                          "recon").to_dict()
    enc = d["layer"][0]["encoding"]
    assert enc["y"]["axis"]["format"] == ",.4~g" and enc["x"]["axis"]["format"] == ",d"
    rd = training_figures.rd_chart(training_figures.rd_frame(rows_fixture(1), 1.0)).to_dict()
    assert all(layer["encoding"]["x"]["axis"]["format"] == ",.4~g" for layer in rd["layer"])


def test_the_latent_chart_has_equal_scales():
    """Both axes span the same length on a square plotting area: the prior's circles stay round."""
    mu = np.column_stack([np.linspace(-1, 9, 50), np.linspace(-0.5, 0.5, 50)])   # wide, flat codes
    df = training_figures.latent_frame(mu, np.arange(50) % 3, ["a", "b", "c"])
    c = df[df["kind"] == "corner"]
    assert np.ptp(c["x"]) == pytest.approx(np.ptp(c["y"]))
    pts = df[df["kind"] != "corner"]
    assert c["x"].min() <= pts["x"].min() and c["x"].max() >= pts["x"].max()
    assert c["y"].min() <= pts["y"].min() and c["y"].max() >= pts["y"].max()
    d = training_figures.latent_chart(mu, np.arange(50) % 3, ["a", "b", "c"]).to_dict()
    assert d["width"] == d["height"]
    assert all(layer["encoding"]["x"]["scale"] == {"nice": False, "zero": False} for layer in d["layer"])


def _status_line():
    """The Train page's status fragment, drawn once for the run in ``$RID`` (as paused)."""
    import os

    from explorer.engine import Status
    from explorer.ui import live
    live._status_view(os.environ["RID"], Status.PAUSED, False)


def test_the_collapse_alarm_is_in_the_status_line_that_polls_fastest(engine_, monkeypatch):
    """The alarm is drawn with the progress line (every 0.75 s), from the newest snapshot, so
    it clears as soon as the run recovers (issue 31: with the KL bars, polled every 5 s, it
    lingered ~5 s); the KL panel of a live run leaves it out (one alarm, not two)."""
    cfg = RunConfig.from_dict({"model": {"hidden": [16]},
                               "train": {"epochs": 400, "beta": 50.0, "beta_schedule": "constant"}})
    rid = engine_.submit(cfg, "teacher")
    until(lambda: (s := engine_.view(rid).snapshot) is not None and s.epoch >= 2, what="two epochs")
    engine_.pause(rid, "teacher")
    until(lambda: engine_.view(rid).status == "paused", what="paused")
    engine_.step(rid, "teacher", 1)                       # a fresh snapshot of the paused run
    until(lambda: engine_.view(rid).progress.paused and engine_.view(rid).snapshot.epoch >= 2, what="a step")
    snap = engine_.view(rid).snapshot
    assert train_ui.collapse_alarm("vae", float(snap.kl_per_dim.sum()), snap.active_units, 2, snap.epoch)
    monkeypatch.setenv("RID", rid)
    at = AppTest.from_function(_status_line, default_timeout=60).run()
    assert not at.exception
    assert [w.value for w in at.warning if w.value.startswith("Posterior collapse")], "no alarm in the status line"
    page = app_test(PAGE, default_timeout=60)
    page.query_params["run"] = rid
    page.run()
    assert not page.exception
    assert sum(w.value.startswith("Posterior collapse") for w in page.warning) == 1     # once, not twice
    engine_.stop(rid, "teacher")
    engine_.wait(rid, 60)


def _paused_status_line():
    """The Train page's status fragment for the paused run in ``$RID``, polling; counts its runs."""
    import os

    import streamlit as st

    from explorer.engine import Status
    from explorer.ui import live
    st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    live._status_view(os.environ["RID"], Status.PAUSED, True)


def test_a_paused_runs_views_are_drawn_once_and_redrawn_when_it_moves(engine_, monkeypatch):
    """A paused run's curves and latent views are not polled (nothing changes: polling them
    cost the tab ~15% of a core and the server ~5%); its status line polls and reruns the page
    when the run moves: a Step, or β set from another tab."""
    from explorer.engine import Status
    from explorer.ui import live
    cfg = RunConfig.from_dict({"model": {"hidden": [16]}, "train": {"epochs": 400}})
    rid = engine_.submit(cfg, "teacher", start_paused=True)
    until(lambda: engine_.view(rid).status == Status.PAUSED and engine_.view(rid).progress.paused, what="paused")
    still = live.moment(engine_.view(rid))
    assert live.moment(engine_.view(rid)) == still                    # paused: the same moment
    monkeypatch.setenv("RID", rid)
    at = AppTest.from_function(_paused_status_line, default_timeout=60).run()
    at.run()                                                          # a poll: nothing moved
    assert not at.exception and at.session_state["runs"] == 2 and at.session_state[live.SEEN] == (rid, still)
    engine_.step(rid, "teacher", 1)
    until(lambda: live.moment(engine_.view(rid)) != still and engine_.view(rid).progress.paused, what="a step")
    at.run()                                                          # a poll after the Step: one rerun
    assert not at.exception and at.session_state["runs"] == 4
    stepped = live.moment(engine_.view(rid))
    assert stepped[0] == still[0] + 1 and at.session_state[live.SEEN] == (rid, stepped)
    engine_.set_beta(rid, "teacher", 3.0)
    until(lambda: live.moment(engine_.view(rid)) != stepped, what="the β change")
    at.run()
    assert at.session_state["runs"] == 6                              # the β change redraws too
    page = app_test(PAGE, default_timeout=60)                         # the page draws its views once
    page.query_params["run"] = rid
    page.run()
    assert not page.exception and page.get("vega_lite_chart")
    engine_.stop(rid, "teacher")
    engine_.wait(rid, 60)


def test_explore_following_a_run_reloads_at_its_end_and_at_new_checkpoints():
    """Explore's follow: a newer checkpoint reloads the page while following, and the run's
    end always does (issue 31: the last checkpoint landed just before the run was marked
    ended, so its picker said "(running)" after the end)."""
    from explorer.engine import Status
    from explorer.ui.live import follow_reload
    assert follow_reload(Status.FINISHED, 10.0, 10.0, follow=True)            # ended, no newer weights
    assert follow_reload(Status.STOPPED, 10.0, 10.0, follow=False)
    assert follow_reload(Status.RUNNING, 11.0, 10.0, follow=True)
    assert not follow_reload(Status.RUNNING, 11.0, 10.0, follow=False)        # offered, not forced
    assert not follow_reload(Status.RUNNING, 10.0, 10.0, follow=True)
    assert not follow_reload(None, 10.0, 10.0, follow=True)                   # gone: nothing to show


def _picker_script():
    import streamlit as st

    from explorer.ui import common
    labels = {"r1": f"▶️ r1 ({st.session_state.get('phase', 'running')})", "r2": "✅ r2 (finished)"}
    common.fresh_label("pick", labels)
    st.selectbox("Open a run", list(labels), key="pick", format_func=labels.get)


def test_a_pickers_chosen_label_follows_its_runs_status():
    """The browser keeps a keyed selectbox's chosen text unless the server sets the value
    again: when the chosen run's status (in its label) moves, the page does, with the new
    text (issue 31: "(running)" after the run ended)."""
    at = AppTest.from_function(_picker_script).run()
    at.run()
    assert not at.selectbox[0].proto.set_value                     # nothing moved: nothing sent
    at.session_state["phase"] = "stopped"
    at.run()
    proto = at.selectbox[0].proto
    assert proto.set_value and proto.raw_value == "▶️ r1 (stopped)" and at.selectbox[0].value == "r1"
    at.run()
    assert not at.selectbox[0].proto.set_value


def _latent_column():
    """The latent scatter's column of the Train page: the replay slider over the history in the
    session, then what stands for the chart (drawn from the frame the slider picked)."""
    import streamlit as st

    from explorer.ui import live
    frame = live.replay_scrubber(st.session_state["history"])
    st.markdown(f"the latent chart at epoch {frame['epoch']:g}")


def test_the_replay_slider_appearing_leaves_the_latent_chart_in_its_place():
    """The slider appears with the second snapshot. Its place is taken before: the chart keeps
    its index, so the browser updates it in place instead of replacing it (a blank frame)."""
    at = AppTest.from_function(_latent_column, default_timeout=60)
    at.session_state["history"] = [{"epoch": 1.0, "step": 10}]
    at.run()
    assert not at.slider and at.markdown[0].value == "the latent chart at epoch 1"
    before = [i for i, e in at.main.children.items() if getattr(e, "type", "") == "markdown"]
    at.session_state["history"] = [{"epoch": 1.0, "step": 10}, {"epoch": 2.0, "step": 20}]
    at.run()
    assert at.slider[0].value == 2.0 and at.markdown[0].value == "the latent chart at epoch 2"   # following
    after = [i for i, e in at.main.children.items() if getattr(e, "type", "") == "markdown"]
    assert before == after == [1]
    at.slider[0].set_value(1.0).run()                          # scrubbed back: the first snapshot
    assert at.markdown[0].value == "the latent chart at epoch 1"
