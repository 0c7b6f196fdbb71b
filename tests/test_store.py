"""Run folders: atomic writes, round trips, validation on load, never a pickle."""
import json
import pickle

import pytest
import torch

from explorer import store
from explorer.config import RunConfig
from explorer.models import build_model


def _model(cfg=None):
    cfg = cfg or RunConfig.from_dict({"model": {"hidden": [16]}})
    torch.manual_seed(0)
    return cfg, build_model(cfg.model, (1, 8, 8), "cpu")


def test_round_trip(tmp_path):
    cfg, m = _model()
    rows = [{"step": 1, "loss": 3.5, "recon": 3.0}, {"step": 2, "loss": 3.0, "recon": 2.6, "val_elbo": -4.0}]
    store.save_run(tmp_path / "r1", cfg, m, rows, {"status": "finished", "data_shape": [1, 8, 8],
                                                   "val": {"elbo": float("nan")}})
    run = store.open_run(tmp_path / "r1")
    assert run.config == cfg and run.run_id == "r1"
    assert run.summary["status"] == "finished" and run.summary["val"]["elbo"] is None
    m2 = run.load_model("cpu")
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    assert run.metrics() == [{"step": 1.0, "loss": 3.5, "recon": 3.0},
                             {"step": 2.0, "loss": 3.0, "recon": 2.6, "val_elbo": -4.0}]
    assert [r.run_id for r in store.list_runs(tmp_path)] == ["r1"]


def test_no_temp_files_left_and_incomplete_folders_skipped(tmp_path):
    cfg, m = _model()
    store.save_run(tmp_path / "ok", cfg, m, [], {"data_shape": [1, 8, 8]})
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text(cfg.to_json())   # no weights
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "weights.safetensors").write_bytes(b"x")   # no config
    assert [r.run_id for r in store.list_runs(tmp_path)] == ["ok"]
    assert not list((tmp_path / "ok").glob(".tmp-*"))


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    store.atomic_write_text(p, "old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(store.atomic.os, "replace", boom)
    with pytest.raises(OSError):
        store.atomic_write_text(p, "new")
    assert p.read_text() == "old"
    assert not list(tmp_path.glob(".tmp-*"))


def test_rejects_pickle_and_wrong_shapes(tmp_path):
    cfg, m = _model()
    store.save_run(tmp_path / "r", cfg, m, [], {"data_shape": [1, 8, 8]})
    w = tmp_path / "r" / "weights.safetensors"
    w.write_bytes(pickle.dumps({"evil": 1}))
    with pytest.raises(store.StoreError, match="not a valid safetensors"):
        store.load_model(tmp_path / "r")
    # weights of another architecture
    other = RunConfig.from_dict({"model": {"hidden": [8]}})
    _, m_other = _model(other)
    store.save_weights(tmp_path / "r", m_other)
    with pytest.raises(store.StoreError, match="shape"):
        store.load_model(tmp_path / "r")


def test_rejects_bad_config(tmp_path):
    cfg, m = _model()
    store.save_run(tmp_path / "r", cfg, m, [], {"data_shape": [1, 8, 8]})
    (tmp_path / "r" / "config.json").write_text(json.dumps({"model": {"latent_dim": "many"}}))
    with pytest.raises(store.StoreError, match="invalid config.json"):
        store.open_run(tmp_path / "r")
    assert store.list_runs(tmp_path) == []


def test_probe_round_trip(tmp_path):
    x = torch.randint(0, 256, (10, 1, 4, 4)).float() / 255
    y = torch.arange(10)
    store.save_probe(tmp_path, x, y, ["a", "b"])
    x2, y2, names = store.load_probe(tmp_path)
    assert torch.equal(x2, x) and torch.equal(y2, y) and names == ["a", "b"]
    xf = torch.randint(0, 17, (5, 3)).float() / 16
    store.save_probe(tmp_path, xf, None)
    x3, y3, _ = store.load_probe(tmp_path)
    assert torch.equal(x3, xf) and y3 is None


@pytest.mark.parametrize("bad", ["../x", "a/b", "", ".hidden", "a" * 200, "x\n", None])
def test_run_id_check(bad):
    with pytest.raises(store.StoreError):
        store.check_run_id(bad)


def test_binarised_probe_images_are_shown_grey(tmp_path):
    """A dynamically binarised dataset trains on binary speckle; pages show the grey images
    it was drawn from (the dataset's x_val_grey, the probe file's x_grey)."""
    import numpy as np

    from explorer import data
    from explorer.config import DataConfig
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 28, 28)).astype(np.uint8)
    y = rng.integers(0, 10, 60).astype(np.uint8)
    npz = tmp_path / "m.npz"
    np.savez(npz, x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    ds = data.load(DataConfig(name="mnist", path=str(npz), binarize="dynamic"))
    assert set(torch.unique(ds.x_val).tolist()) <= {0.0, 1.0}              # trained on: binary
    grey = ds.val_display(16)
    assert torch.allclose(grey, torch.from_numpy(x[40:56, None] / 255.0).float())   # shown: grey
    plain = data.load(DataConfig(name="mnist", path=str(npz), binarize="none"))
    assert plain.x_val_grey is None and torch.equal(plain.val_display(5), plain.x_val[:5])
    store.save_probe(tmp_path / "run", ds.x_val, ds.y_val, ds.class_names, grey=ds.x_val_grey)
    px, py, _ = store.load_probe(tmp_path / "run")
    assert torch.equal(px, ds.x_val) and torch.equal(store.load_probe_display(tmp_path / "run"), ds.x_val_grey)


def test_an_index_of_an_older_layout_is_rebuilt_from_the_folders(tmp_path):
    """Version 1 of the runs folder's index had a status column; version 2 reads the status
    from the summary only. An old index file is dropped and rebuilt, not misread."""
    import sqlite3

    from explorer.store.index import INDEX_FILE, RunIndex
    cfg, m = _model()
    store.save_run(tmp_path / "a", cfg, m, [], {"status": "stopped"})
    conn = sqlite3.connect(tmp_path / INDEX_FILE)
    conn.executescript("CREATE TABLE runs (run_id TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, "
                       "valid INTEGER NOT NULL, created REAL, name TEXT, owner TEXT, status TEXT, config TEXT, "
                       "summary TEXT, size INTEGER, saved INTEGER);"
                       "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                       "INSERT INTO meta VALUES ('version', '1');")
    conn.close()
    index = RunIndex(tmp_path)
    try:
        assert [(e.run_id, e.status) for e in index.entries()] == [("a", "stopped")]
    finally:
        index.close()
