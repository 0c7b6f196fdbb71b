"""The Runs page: its figure builders (explorer.figures.runs) called directly, and the
page under AppTest: the table, comparing runs (from the URL and from ticked rows),
import, rename, delete with confirmation, and who may do what."""
import io
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import folder_items, app_factory
from PIL import Image

from explorer import exchange, paths, store
from explorer.config import RunConfig
from explorer.figures import runs as runs_figures
from explorer.figures.common import class_color, image_grid
from explorer.models import build_model

PAGE = str(paths.PROJECT_ROOT / "pages" / "5_Runs.py")
DIGITS = ["digits-ae-z2", "digits-vae-z2-b1", "digits-vae-z2-b4"]


def _shipped_entries():
    from explorer.catalog import shipped_runs
    return shipped_runs()


def _png(data: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def _has_colour(a: np.ndarray, hex_colour: str) -> bool:
    rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return bool((a == rgb).all(-1).any())


# ============================================================== figures

def test_runs_table_shows_each_runs_numbers():
    entries = _shipped_entries()
    df = runs_figures.runs_table(entries)
    assert df["Run id"].tolist() == [e.run_id for e in entries]
    assert set(df["Source"]) == {"📦 shipped"}
    for e, (_, row) in zip(entries, df.iterrows()):
        s = e.summary
        if e.config.model.kind == "ae":           # an autoencoder has no ELBO: left blank
            assert math.isnan(row["Val ELBO"]) and math.isnan(row["Train ELBO"])
            continue
        assert row["Val ELBO"] == pytest.approx(s["val"]["elbo"])
        assert row["Val KL"] == pytest.approx(s["val"]["kl"])
        assert row["Latent dim"] == e.config.model.latent_dim
        iwae = s["val"].get("iwae")
        assert math.isnan(row["IWAE"]) if iwae is None else row["IWAE"] == pytest.approx(iwae)
        assert (math.isnan(row["Train ELBO"]) if "train" not in s
                else row["Train ELBO"] == pytest.approx(s["train"]["elbo"]))
    assert all(str(df[c].dtype) == "float64" for c in runs_figures.NUMBER_COLUMNS)   # sortable as numbers


def test_run_labels_tell_runs_with_the_same_name_apart():
    cfg = RunConfig.from_dict({"name": "same"})
    other = RunConfig.from_dict({"name": "other"})
    labels = runs_figures.run_labels([SimpleNamespace(run_id="a", config=cfg), SimpleNamespace(run_id="b",
                                                                                               config=cfg),
                                      SimpleNamespace(run_id="c", config=other)])
    assert labels == {"a": "same [a]", "b": "same [b]", "c": "other"}


def _rows(n=1000, every=100):
    rows = []
    for i in range(1, n + 1):
        r = {"step": i, "epoch": i / every, "samples": 32 * i, "loss": 2.0 * i, "recon": float(i), "kl": 3.0}
        if i % every == 0:
            r["val_elbo"] = -float(i) / 10
        rows.append(r)
    return rows


def test_curves_frame_bins_training_rows_and_keeps_validation_rows():
    rows = _rows()
    f = runs_figures.curves_frame({"A": rows, "B": rows[:500]}, "train_elbo", "step", max_points=300)
    a = f[f["run"] == "A"]
    assert len(a) == 300 and len(f[f["run"] == "B"]) == 300
    # each point is a bin mean of -(recon + kl) = -(step + 3): a line of slope -1
    assert np.allclose(a["train_elbo"], -(a["step"] + 3))
    assert a["step"].iloc[0] < 5 and a["step"].iloc[-1] > 995
    v = runs_figures.curves_frame({"A": rows}, "val_elbo", "epoch")
    assert v["epoch"].tolist() == [float(k) for k in range(1, 11)]
    assert v["val_elbo"].tolist() == [-10.0 * k for k in range(1, 11)]
    assert runs_figures.curves_frame({"A": [{"step": 1, "loss": 1.0}]}, "val_kl").empty
    with pytest.raises(ValueError, match="unknown metric"):
        runs_figures.curves_frame({"A": rows}, "accuracy")


def test_curves_chart_and_png_use_one_colour_per_run():
    f = runs_figures.curves_frame({"A": _rows(), "B": _rows(400)}, "loss", "samples")
    spec = runs_figures.curves_chart(f, "loss", "samples", runs=["A", "B"]).to_dict()
    assert spec["encoding"]["color"]["scale"]["domain"] == ["A", "B"]
    assert spec["encoding"]["color"]["scale"]["range"] == [class_color(0), class_color(1)]
    assert spec["encoding"]["x"]["field"] == "samples" and spec["encoding"]["y"]["field"] == "loss"
    img = _png(runs_figures.curves_png(f, "loss", "samples", runs=["A", "B"], width=700, height=400))
    assert img.shape[:2] == (400, 700)
    assert _has_colour(img, class_color(0)) and _has_colour(img, class_color(1))
    assert not _has_colour(img, class_color(2))


def test_scatter_png_draws_each_class():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    y = np.repeat([0, 3], 150)
    img = _png(runs_figures.scatter_png(z, y, [str(i) for i in range(10)], title="β test", size=400))
    assert img.shape[0] == 400 and img.shape[1] > 400             # the legend widens it
    assert _has_colour(img, class_color(0)) and _has_colour(img, class_color(3))
    assert not _has_colour(img, class_color(5))
    with pytest.raises(ValueError):
        runs_figures.scatter_png(np.zeros(5))


def test_grid_png_is_the_image_grid_enlarged():
    imgs = np.random.default_rng(1).random((6, 1, 8, 8)).astype(np.float32)
    a = np.asarray(Image.open(io.BytesIO(runs_figures.grid_png(imgs, ncol=3, scale=2))))
    grid = image_grid(imgs, ncol=3)
    assert a.shape == (grid.shape[0] * 2, grid.shape[1] * 2)
    assert np.abs(a[::2, ::2] / 255.0 - grid).max() <= 0.5 / 255 + 1e-6


def test_project_2d_keeps_2d_and_finds_principal_axes():
    rng = np.random.default_rng(2)
    z2 = rng.normal(size=(50, 2))
    p, axes = runs_figures.project_2d(z2)
    assert np.allclose(p, z2, atol=1e-6) and axes == ("z₁", "z₂")
    p1, axes1 = runs_figures.project_2d(z2[:, :1])
    assert np.allclose(p1[:, 1], 0) and axes1[0] == "z₁"
    z5 = rng.normal(size=(400, 5)) * np.array([5.0, 0.1, 2.0, 0.1, 0.1])
    p5, axes5 = runs_figures.project_2d(z5)
    # independently: the top two eigenvectors of the covariance matrix
    c = z5 - z5.mean(0)
    w, v = np.linalg.eigh(c.T @ c / len(c))
    ref = c @ v[:, np.argsort(w)[::-1][:2]]
    assert axes5[0].startswith("PC1") and axes5[1].startswith("PC2")
    assert np.allclose(np.abs(p5), np.abs(ref), atol=1e-4)
    assert p5[:, 0].var() > p5[:, 1].var() > 3.0


# ============================================================== the page

@pytest.fixture
def app(page_engine):
    return app_factory(PAGE)



def _plain(markdown: str) -> str:
    """Text as shown: the page escapes user text (run names) in Markdown."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _ids(at) -> list[str]:
    return at.dataframe[0].value["Run id"].tolist()


def _row(at, run_id):
    df = at.dataframe[0].value
    return df[df["Run id"] == run_id].iloc[0]


def test_page_lists_runs_and_compares_the_runs_in_the_url(app):
    at = app(runs="digits-vae-z2-b1,digits-ae-z2")
    at.run()
    _ok(at)
    assert set(DIGITS) <= set(_ids(at))
    s = store.read_summary(store.SHIPPED_ROOT / "digits-vae-z2-b4")
    assert _row(at, "digits-vae-z2-b4")["Val ELBO"] == pytest.approx(s["val"]["elbo"])
    assert "Compare" in [h.value for h in at.header]
    assert len(at.get("vega_lite_chart")) == 1          # the overlaid curves
    assert len(at.get("plotly_chart")) == 2                   # one latent scatter per run
    assert len(at.get("image")) == 2                           # one sample grid per run
    labels = [b.label for b in at.get("download_button")]
    assert {"Download curves (CSV)", "Download curves (PNG)", "Export run (.zip)"} <= set(labels)
    assert at.query_params["runs"] == ["digits-vae-z2-b1,digits-ae-z2"] or \
        at.query_params["runs"] == "digits-vae-z2-b1,digits-ae-z2"
    link = at.code[0].value
    assert link.startswith("/Runs?") and "runs=digits-vae-z2-b1%2Cdigits-ae-z2" in link
    assert "metric=val_elbo" in link

    at.selectbox(key="metric").set_value("val_kl").run()
    _ok(at)
    assert "metric=val_kl" in at.code[0].value


def test_ticked_rows_are_compared_and_go_into_the_url(app):
    at = app()
    at.run()
    _ok(at)
    assert "Tick one or more rows" in at.info[0].value
    ids = _ids(at)
    at.session_state["runs_table"] = {"selection": {"rows": [0, 2], "columns": []}}
    at.run()
    _ok(at)
    assert len(at.get("plotly_chart")) == 2
    q = at.query_params["runs"]
    assert (q[0] if isinstance(q, list) else q) == f"{ids[0]},{ids[2]}"


def _zip_of_shipped():
    return exchange.export_run(store.SHIPPED_ROOT / "digits-vae-z2-b4")


def test_import_rename_and_delete_a_run(app, page_engine):
    at = app()
    at.run()
    before = _ids(at)
    at.file_uploader(key="import_zip").set_value(("b4.zip", _zip_of_shipped(), "application/zip")).run()
    _ok(at)
    assert "Imported b4.zip as run" in _plain(at.success[0].value)
    new = [r for r in _ids(at) if r not in before]
    assert len(new) == 1 and new[0].startswith("b4-imported-")   # named after the file
    run_id = new[0]
    assert _row(at, run_id)["Source"] == "yours (imported)"
    name = store.read_config(store.SHIPPED_ROOT / "digits-vae-z2-b4").name
    assert _row(at, run_id)["Name"] == f"{name} (imported copy)"            # marked as a copy
    assert any("imported from b4.zip on " in _plain(c.value) for c in at.caption)   # and where from
    assert at.selectbox(key="manage_run").value == run_id
    run_dir = page_engine.runs_dir / run_id
    assert store.read_summary(run_dir)["owner"]          # this session's token

    # rename
    at.text_input(key=f"rename_{run_id}").input("my copy of β=4")
    at.button(key="rename_button").click().run()
    _ok(at)
    assert _row(at, run_id)["Name"] == "my copy of β=4 (imported copy)"     # still marked
    assert store.read_config(run_dir).name == "my copy of β=4"

    # an empty name is refused with a message, and the name stays
    at.text_input(key=f"rename_{run_id}").input("   ")
    at.button(key="rename_button").click().run()
    assert "Not renamed: a run name cannot be empty" in _plain(at.error[0].value)
    assert store.read_config(run_dir).name == "my copy of β=4"

    # delete asks first; Cancel keeps the run
    at.button(key="delete_button").click().run()
    assert "for good" in _plain(at.warning[0].value)
    at.button(key="delete_no").click().run()
    assert run_id in _ids(at) and run_dir.is_dir()
    at.button(key="delete_button").click().run()
    at.button(key="delete_yes").click().run()
    _ok(at)
    assert f"Deleted run {run_id}" in _plain(at.success[0].value)
    assert run_id not in _ids(at) and not run_dir.exists()
    assert set(DIGITS) <= set(_ids(at))                      # shipped runs untouched


def test_a_bad_import_shows_its_message_and_adds_nothing(app, page_engine):
    at = app()
    at.run()
    before = _ids(at)
    at.file_uploader(key="import_zip").set_value(("weights.zip", b"PK not really", "application/zip")).run()
    assert not at.exception
    assert "Import refused" in _plain(at.error[0].value) and "not a zip archive" in _plain(at.error[0].value)
    assert _ids(at) == before
    assert folder_items(page_engine.runs_dir) == []


def test_shipped_runs_are_read_only_on_the_page(app):
    at = app(run="digits-vae-z2-b1")
    at.run()
    _ok(at)
    assert at.selectbox(key="manage_run").value == "digits-vae-z2-b1"
    assert at.text_input(key="rename_digits-vae-z2-b1").disabled
    assert at.button(key="rename_button").disabled
    assert not [b for b in at.button if b.key == "delete_button"]
    assert any("shipped runs are read-only" in c.value for c in at.caption)


def _someone_elses_run(runs_dir):
    cfg = RunConfig.from_dict({"name": "their run", "model": {"hidden": [16]}})
    torch.manual_seed(0)
    store.save_run(runs_dir / "20260101-000000-digits-vae-0000", cfg,
                   build_model(cfg.model, (1, 8, 8), "cpu"), [{"step": 1, "loss": 3.0}],
                   {"status": "finished", "owner": "another-session", "data_shape": [1, 8, 8]})
    return "20260101-000000-digits-vae-0000"


def test_another_sessions_run_cannot_be_changed(app, page_engine):
    run_id = _someone_elses_run(page_engine.runs_dir)
    page_engine.refresh_from_disk()
    at = app(run=run_id)
    at.run()
    _ok(at)
    assert _row(at, run_id)["Source"] == "another visitor"
    assert at.button(key="rename_button").disabled
    assert not [b for b in at.button if b.key == "delete_button"]
    assert any("only its owner may" in c.value for c in at.caption)


def test_the_delete_any_setting_lets_a_session_delete_others_runs(app, page_engine, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DELETE_ANY", "1")
    run_id = _someone_elses_run(page_engine.runs_dir)
    page_engine.refresh_from_disk()
    at = app(run=run_id)
    at.run()
    at.button(key="delete_button").click().run()
    at.button(key="delete_yes").click().run()
    _ok(at)
    assert run_id not in _ids(at)
    assert not (page_engine.runs_dir / run_id).exists()


def test_ticked_runs_stay_ticked_when_the_list_changes(app, page_engine):
    at = app()
    at.run()
    for name in ("first.zip", "second.zip"):
        at.file_uploader(key="import_zip").set_value((name, _zip_of_shipped(), "application/zip")).run()
    ids = _ids(at)
    first, second = ids[-2], ids[-1]
    assert first.startswith("first-") and second.startswith("second-")
    at.session_state["runs_table"] = {"selection": {"rows": [0, len(ids) - 1], "columns": []}}
    at.run()
    at.selectbox(key="manage_run").set_value(first).run()
    at.button(key="delete_button").click().run()
    at.button(key="delete_yes").click().run()
    _ok(at)
    assert first not in _ids(at)
    # the second import moved up one row, and is still the one compared
    q = at.query_params["runs"]
    assert (q[0] if isinstance(q, list) else q) == f"{ids[0]},{second}"
    assert len(at.get("plotly_chart")) == 2


def test_the_upload_limit_setting_applies_to_imports(app, page_engine, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "1")
    at = app()
    at.run()
    assert at.file_uploader(key="import_zip").proto.max_upload_size_mb == 1      # the browser enforces it too
    at.file_uploader(key="import_zip").set_value(("big.zip", b"0" * (2**20 + 10), "application/zip")).run()
    assert not at.exception
    assert "the limit is 1 MiB" in _plain(at.error[0].value)
    assert folder_items(page_engine.runs_dir) == []


def test_newest_first_sorts_every_run_by_time_shipped_ones_included(app, page_engine):
    """"Newest first" puts this server's newest runs above the shipped ones (made when the app
    was installed); off, the oldest come first, the shipped runs before runs made since."""
    made = []
    for i, name in enumerate(["older run", "newer run"]):
        cfg = RunConfig.from_dict({"name": name, "model": {"hidden": [16]}})
        run_id = f"2026010{i + 1}-000000-digits-vae-000{i}"
        store.save_run(page_engine.runs_dir / run_id, cfg, build_model(cfg.model, (1, 8, 8), "cpu"),
                       [{"step": 1, "loss": 3.0}], {"status": "finished", "owner": "me", "data_shape": [1, 8, 8],
                                                    "created": 4.0e9 + i})       # after any checkout's files
        made.append(run_id)
    page_engine.refresh_from_disk()
    shipped = [e.run_id for e in _shipped_entries()]
    at = app()
    at.run()
    _ok(at)
    assert _ids(at) == shipped + made                     # oldest first: the shipped runs, then ours
    at.toggle(key="runs_newest").set_value(True).run()
    _ok(at)
    assert _ids(at) == made[::-1] + shipped               # newest first: ours, newest on top
