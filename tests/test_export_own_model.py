"""Opening a model trained elsewhere (explorer.export.own_model): a run zip, or
weights.safetensors + config.json, becomes a new run of the uploader's after the one
validated import; pickles are refused with the three lines that convert them, and a
refused upload writes nothing."""
from __future__ import annotations

import json
import pickle

import pytest
import torch
from conftest import folder_items
from safetensors.torch import save as st_save

from explorer import exchange, paths, store
from explorer.export.own_model import CONVERT, OwnModelError, open_own_model, pickle_refusal

SHIPPED = store.SHIPPED_ROOT / "digits-vae-z2-b4"
MB = 2**20


def _pair(run_dir=SHIPPED) -> dict[str, bytes]:
    return {"weights.safetensors": (run_dir / store.WEIGHTS).read_bytes(),
            "config.json": (run_dir / store.CONFIG).read_bytes()}


def test_a_weights_and_config_pair_opens_as_a_new_run(tmp_path):
    runs = tmp_path / "runs"
    run_id = open_own_model(_pair(), runs, max_bytes=50 * MB, owner="owner-1")
    run = store.open_run(runs / run_id)
    assert run.summary["owner"] == "owner-1" and run.summary["status"] == "stopped"
    assert run.summary["imported"]["file"] == "own-model"
    mine, theirs = run.load_model("cpu").state_dict(), store.load_model(SHIPPED, device="cpu").state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert run.config.to_dict() == store.read_config(SHIPPED).to_dict()
    # the same pair again: another new run, never an overwrite
    assert open_own_model(_pair(), runs, max_bytes=50 * MB, owner="owner-1") != run_id


def test_a_run_zip_opens_as_it_is(tmp_path):
    data = exchange.export_run(SHIPPED)
    run_id = open_own_model({"my-run.zip": data}, tmp_path / "runs", max_bytes=50 * MB, owner="o")
    run = store.open_run(tmp_path / "runs" / run_id)
    assert run.summary["val"] == store.read_summary(SHIPPED)["val"]
    assert (tmp_path / "runs" / run_id / store.PROBE).is_file()


@pytest.mark.parametrize("name", ["model.pt", "checkpoint.PTH", "weights.ckpt", "state.pkl"])
def test_pickles_are_refused_with_the_conversion_snippet(tmp_path, name):
    payload = pickle.dumps({"encoder.1.0.weight": [1.0]})
    with pytest.raises(OwnModelError) as e:
        open_own_model({name: payload, "config.json": b"{}"}, tmp_path / "runs", max_bytes=MB)
    msg = str(e.value)
    assert "never unpickles" in msg and msg.endswith(CONVERT)
    assert len(CONVERT.splitlines()) == 3 and "weights_only=True" in CONVERT
    assert folder_items(tmp_path / "runs") == []                 # nothing written
    assert pickle_refusal("weights.safetensors") is None


def test_a_pickle_renamed_safetensors_is_refused(tmp_path):
    files = _pair()
    files["weights.safetensors"] = pickle.dumps({"x": 1}, protocol=4)
    with pytest.raises(OwnModelError, match="not a safetensors file.*never loaded"):
        open_own_model(files, tmp_path / "runs", max_bytes=50 * MB)
    assert folder_items(tmp_path / "runs") == []


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    files = _pair()
    cfg = json.loads(files["config.json"])
    cfg["model"]["latent_dim"] = 3
    files["config.json"] = json.dumps(cfg).encode()
    with pytest.raises(OwnModelError, match=r"tensor decoder.0.0.weight has shape \(128, 2\).*needs \(128, 3\)"):
        open_own_model(files, tmp_path / "runs", max_bytes=50 * MB)
    tensors = {"encoder.1.0.weight": torch.full((4, 4), float("nan"))}
    with pytest.raises(OwnModelError, match="does not match the model"):
        open_own_model({"weights.safetensors": st_save(tensors), "config.json": _pair()["config.json"]},
                       tmp_path / "runs", max_bytes=50 * MB)
    with pytest.raises(OwnModelError, match="not a valid run configuration"):
        open_own_model({"weights.safetensors": _pair()["weights.safetensors"], "config.json": b'{"x": 1}'},
                       tmp_path / "runs", max_bytes=50 * MB)
    assert folder_items(tmp_path / "runs") == []


def test_what_is_missing_or_too_large_is_named(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(OwnModelError, match="expected a run zip .* got config.json"):
        open_own_model({"config.json": b"{}"}, runs, max_bytes=MB)
    with pytest.raises(OwnModelError, match="upload limit is 1 MiB.*LATENT_EXPLORER_UPLOAD_MB"):
        open_own_model(_pair(store.SHIPPED_ROOT / "mnist-vae-z20"), runs, max_bytes=MB)
    with pytest.raises(OwnModelError, match="run zip on its own"):
        open_own_model({"a.zip": b"PK", **_pair()}, runs, max_bytes=50 * MB)
    # a model of one's own data: the data shape comes from summary.json, or is asked for
    own = _pair()
    cfg = json.loads(own["config.json"])
    cfg["data"] = {"name": "file", "path": "mine.npz"}
    own["config.json"] = json.dumps(cfg).encode()
    with pytest.raises(OwnModelError, match="data shape"):
        open_own_model(own, runs, max_bytes=50 * MB)
    own["summary.json"] = json.dumps({"data_shape": [1, 8, 8]}).encode()
    run_id = open_own_model(own, runs, max_bytes=50 * MB)
    assert store.open_run(runs / run_id).config.data.path == "imported-mine.npz"   # no server path kept


def test_explore_page_opens_an_uploaded_pair(page_engine):
    """The Explore page's uploader under AppTest: a .pt gets the message and the snippet; a
    weights + config pair becomes a new run of this session's, opened on the page."""
    from conftest import app_factory, assert_page_ok
    from explorer.ui import own_model
    at = app_factory(str(paths.PROJECT_ROOT / "pages" / "2_Explore.py"))()
    at.run()
    assert_page_ok(at)
    up = at.file_uploader(key=own_model.KEY)
    assert {".zip", ".safetensors", ".json", ".pt", ".pth"} <= set(up.allowed_type) and up.accept_multiple_files

    up.set_value(("model.pt", pickle.dumps({"w": 1}), "application/octet-stream")).run()
    assert any("never unpickles" in e.value for e in at.error)
    assert any(c.value == CONVERT for c in at.code)
    assert not [p for p in page_engine.runs_dir.iterdir() if not p.name.startswith(".")]

    at.file_uploader(key=own_model.KEY).set_value([(k, v, "application/octet-stream") for k,
                                                   v in _pair().items()]).run()
    assert_page_ok(at)
    assert any("Opened as your run" in m.value for m in at.success)
    key = at.session_state["ex_model"]
    run_id = key.split(":", 1)[1]
    assert at.selectbox(key="ex_model").value == key
    assert (page_engine.runs_dir / run_id / store.WEIGHTS).is_file()
    assert store.read_summary(page_engine.runs_dir / run_id)["owner"]          # this session's run
    assert any(run_id in c.value for c in at.caption)                          # the page shows it


def _listed(runs, run_id):
    from explorer.store.index import RunIndex
    index = RunIndex(runs)
    index.refresh(force=True)
    return index.get(run_id)


def test_an_opened_model_is_listed_as_imported_with_only_the_beta_its_config_gives(tmp_path):
    """A model trained elsewhere is no run of this app's: it is listed as imported (not
    "stopped · 0.0 epochs"), with its config's β, or no β at all when the config gives none."""
    import math

    from explorer.figures import runs as runs_figures
    runs = tmp_path / "runs"
    pair = _pair()
    config = json.loads(pair["config.json"])
    del config["train"]                                          # a config that says nothing of β
    e = _listed(runs, open_own_model(dict(pair, **{"config.json": json.dumps(config).encode()}), runs,
                                     max_bytes=50 * MB, owner="o"))
    assert e.status_text == "imported" and e.epochs is None and e.beta_text() == ""
    assert e.label == f"📥 {e.name} (imported model)" and "stopped" not in e.label
    row = runs_figures.table_row(e, "o")
    assert row["Status"] == "imported" and row["Source"] == "yours (imported)"
    assert math.isnan(row["base β"]) and math.isnan(row["β now"]) and math.isnan(row["Epochs"])
    given = _listed(runs, open_own_model(_pair(), runs, max_bytes=50 * MB, owner="o"))   # β = 4 in its config
    assert given.beta_text() == "base β = 4" and runs_figures.table_row(given, "o")["base β"] == 4.0
    assert given.shown_name.endswith(" (imported model)")
    copy = _listed(runs, open_own_model({"b4.zip": exchange.export_run(SHIPPED)}, runs, max_bytes=50 * MB,
                                        owner="o"))                # a run zip: a copy of a run
    assert copy.shown_name == f"{copy.name} (imported copy)" and copy.status_text == "finished"
    assert copy.epochs == store.read_summary(SHIPPED)["epochs"] and copy.imported_from().startswith(
        "imported from b4.zip on ")
