"""Run zips (explorer.exchange) and run management (store.rename_run / delete_run):
export then import gives the same run; every bad import is refused with its own
message and leaves nothing behind; rights to rename and delete."""
import io
import json
import pickle
import re
import warnings
import zipfile

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from explorer import exchange, store
from explorer.config import RunConfig
from explorer.models import build_model

from conftest import replaced_members

SHIPPED = store.SHIPPED_ROOT / "digits-vae-z2-b1"
MB = 2**20


# ----------------------------------------------------------------- helpers

def _tiny_run(root, run_id="tiny", *, config=None, summary=None, rows=None, seed=0):
    cfg = config or RunConfig.from_dict({"name": "tiny", "model": {"hidden": [16], "latent_dim": 2}})
    torch.manual_seed(seed)
    model = build_model(cfg.model, store.data_shape_of(cfg, summary), "cpu")
    rows = rows if rows is not None else [
        {"step": 1, "epoch": 0.5, "loss": 40.25, "recon": 39.0, "kl": 1.25},
        {"step": 2, "epoch": 1.0, "loss": 30.5, "recon": 29.0, "kl": 1.5, "val_elbo": -31.75}]
    s = {"status": "finished", "data_shape": [1, 8, 8], "owner": "session-a",
         "val": {"elbo": -31.75, "recon": 29.5, "kl": 2.25, "active_units": 2}}
    s.update(summary or {})
    return store.save_run(root / run_id, cfg, model, rows, s)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _zip(members, compression=zipfile.ZIP_STORED) -> bytes:
    """A zip of (name, bytes) pairs (a list, so a name may repeat)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")                # "Duplicate name": wanted in one case
        for name, data in (members.items() if isinstance(members, dict) else members):
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good() -> dict[str, bytes]:
    """The members of an exported shipped run."""
    return _members(exchange.export_run(SHIPPED))


def _import(data, root, max_bytes=50 * MB, **kw):
    return exchange.import_run(data, root, max_bytes=max_bytes, **kw)


def _tensors(path):
    return st_load(path.read_bytes())


# --------------------------------------------------------------- round trip

def test_export_then_import_gives_the_same_run(tmp_path, _isolated_runs):
    data = exchange.export_run(SHIPPED)
    assert set(_members(data)) == {"config.json", "weights.safetensors", "metrics.csv", "summary.json",
                                   "probe.safetensors"}
    run_id = _import(data, _isolated_runs, owner="me", file_name="digits-vae-z2-b1.zip")
    new = _isolated_runs / run_id
    assert new.parent == _isolated_runs and run_id != SHIPPED.name and "imported" in run_id

    a, b = _tensors(SHIPPED / store.WEIGHTS), _tensors(new / store.WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert store.read_metrics(new) == store.read_metrics(SHIPPED) and len(store.read_metrics(new)) > 100
    assert store.read_config(new) == store.read_config(SHIPPED)
    assert (new / store.PROBE).read_bytes() == (SHIPPED / store.PROBE).read_bytes()
    old_s, new_s = store.read_summary(SHIPPED), store.read_summary(new)
    assert new_s["val"] == old_s["val"] and new_s["train"] == old_s["train"]
    assert new_s["owner"] == "me" and new_s["run_id"] == run_id
    assert new_s["imported"]["file"] == "digits-vae-z2-b1.zip"
    # the imported model computes exactly what the shipped one does
    x = store.load_probe(SHIPPED)[0][:8]
    assert torch.equal(store.load_model(new, device="cpu").encode_mean(x)[0],
                       store.load_model(SHIPPED, device="cpu").encode_mean(x)[0])


def test_round_trip_of_a_users_run_and_no_owner_leak(tmp_path, _isolated_runs):
    src = _tiny_run(tmp_path)
    data = exchange.export_run(src)
    assert "owner" not in json.loads(_members(data)["summary.json"])   # the session token stays here
    run_id = _import(data, _isolated_runs, owner="session-b")
    new = _isolated_runs / run_id
    assert store.read_metrics(new) == store.read_metrics(src)
    a, b = _tensors(src / store.WEIGHTS), _tensors(new / store.WEIGHTS)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert store.read_summary(new)["owner"] == "session-b"
    assert not (new / store.PROBE).exists()


def test_import_never_overwrites_and_ids_are_fresh(tmp_path, _isolated_runs):
    src = _tiny_run(tmp_path, summary={"run_id": "20260101-digits-vae-abcd"})
    data = exchange.export_run(src)
    ids = {_import(data, _isolated_runs) for _ in range(3)}
    assert len(ids) == 3
    assert all(i.startswith("20260101-digits-vae-abcd-imported-") for i in ids)
    again = _import(exchange.export_run(_isolated_runs / sorted(ids)[0]), _isolated_runs)
    assert again.count("imported") == 1                   # no "-imported-x-imported-y" chains
    assert {r.run_id for r in store.list_runs(_isolated_runs)} == ids | {again}


def test_new_run_dir_takes_the_next_free_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("mine")
    assert store.new_run_dir(tmp_path, "a").name == "a-2"
    assert store.new_run_dir(tmp_path, "a").name == "a-3"
    assert (tmp_path / "a" / "keep.txt").read_text() == "mine"
    with pytest.raises(store.StoreError):
        store.new_run_dir(tmp_path, "../escape")


def test_import_drops_server_paths_from_the_config(tmp_path, _isolated_runs):
    cfg = RunConfig.from_dict({"data": {"name": "file", "path": "/etc/secret/own-data.npz"},
                               "model": {"hidden": [16]}})
    src = _tiny_run(tmp_path, config=cfg, summary={"data_shape": [1, 8, 8]})
    new = store.read_config(_isolated_runs / _import(exchange.export_run(src), _isolated_runs))
    assert new.data.path == "imported-own-data.npz"
    cfg = RunConfig.from_dict({"data": {"name": "mnist", "path": "/home/someone/mnist"},
                               "model": {"hidden": [16]}})
    torch.manual_seed(0)
    model = build_model(cfg.model, (1, 28, 28), "cpu")
    store.save_run(tmp_path / "m", cfg, model, [], {"status": "finished"})
    new = store.read_config(_isolated_runs / _import(exchange.export_run(tmp_path / "m"), _isolated_runs))
    assert new.data.path is None and new.data.name == "mnist"


def test_export_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(exchange.ExchangeError, match="cannot export"):
        exchange.export_run(tmp_path / "x")


# ----------------------------------------------------------------- bad imports

def _replace(good, compression=zipfile.ZIP_STORED, **changes):
    return _zip(replaced_members(good, **changes), compression)


def _weights_of(hidden, latent=2, nan=False, int_dtype=False, rename=False):
    cfg = RunConfig.from_dict({"model": {"hidden": hidden, "latent_dim": latent, "likelihood": "gaussian"}})
    sd = {k: v.contiguous() for k, v in build_model(cfg.model, (1, 8, 8), "cpu").state_dict().items()}
    if nan:
        sd["head.bias"][0] = float("nan")
    if int_dtype:
        sd["head.bias"] = sd["head.bias"].to(torch.int32)
    if rename:
        sd["head.extra"] = sd.pop("head.bias")
    return st_save(sd)


def _torch_save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _config_with(good, **section):
    d = json.loads(good["config.json"])
    for k, v in section.items():
        d[k].update(v) if isinstance(v, dict) else d.__setitem__(k, v)
    return json.dumps(d).encode()


def _set_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' flag of every entry in the zip's central directory."""
    b = bytearray(data)
    for m in re.finditer(rb"PK\x01\x02", bytes(b)):
        b[m.start() + 8] |= 0x01
    return bytes(b)


def _damaged(good) -> bytes:
    data = bytearray(_zip(good))
    i = bytes(data).index(b'"model"')      # inside config.json's stored bytes
    data[i + 1] ^= 0x20                    # "model" -> "Model": the CRC no longer matches
    return bytes(data)


BAD = {   # name: (make(good) -> zip bytes, message pattern)
    "not a zip": (lambda g: b"just some text, not a zip", "not a zip archive"),
    "empty zip": (lambda g: _zip({}), "the zip is empty"),
    "missing metrics": (lambda g: _replace(g, metrics__csv=None), r"lacks metrics\.csv"),
    "missing weights": (lambda g: _replace(g, weights__safetensors=None), r"lacks weights\.safetensors"),
    "extra file": (lambda g: _zip({**g, "evil.py": b"import os"}), r"unexpected file.*evil\.py"),
    "folder inside": (lambda g: _zip({("run/" + k): v for k, v in g.items()}), "top level"),
    "dot-dot name": (lambda g: _zip({**{k: v for k, v in g.items() if k != "config.json"},
                                     "../config.json": g["config.json"]}), "top level"),
    "too many entries": (lambda g: _zip({**g, **{f"x{i}": b"" for i in range(95)}}), "holds 100 entries"),
    "duplicate member": (lambda g: _zip(list(g.items()) + [("config.json", g["config.json"])]),
                         r"config\.json more than once"),
    "weights are a pickle": (lambda g: _replace(g, weights__safetensors=pickle.dumps({"a": [1, 2]})),
                             "not a safetensors file"),
    "weights are a .pt file": (lambda g: _replace(g, weights__safetensors=_torch_save({"w": torch.ones(2)})),
                               r"not a safetensors file \(a PyTorch"),
    "weights are garbage": (lambda g: _replace(g, weights__safetensors=b"\x00\x01garbage" * 10),
                            "not a safetensors file"),
    "weights of another model": (lambda g: _replace(g, weights__safetensors=_weights_of([64, 32])),
                                 r"tensor \S+ has shape .* needs"),
    "weights with a wrong name": (lambda g: _replace(g, weights__safetensors=_weights_of([256, 128], rename=True)),
                                  r"does not match the model.*missing head\.bias.*unexpected head\.extra"),
    "weights with NaN": (lambda g: _replace(g, weights__safetensors=_weights_of([256, 128], nan=True)),
                         "NaN or infinite"),
    "weights of integers": (lambda g: _replace(g, weights__safetensors=_weights_of([256, 128], int_dtype=True)),
                            "not floating-point"),
    "config not JSON": (lambda g: _replace(g, config__json=b"{nope"), r"config\.json is not a valid.*JSON"),
    "config out of range": (lambda g: _replace(g, config__json=_config_with(g, train={"lr": 5.0})),
                            r"config\.json is not a valid run configuration: train\.lr"),
    "config unknown key": (lambda g: _replace(g, config__json=_config_with(g, hack=1)), r"unknown key.*hack"),
    "config not UTF-8": (lambda g: _replace(g, config__json=b"\xff\xfe{}"), r"config\.json is not UTF-8"),
    "metrics not numbers": (lambda g: _replace(g, metrics__csv=b"step,loss\n1,2.5\n2,abc\n"),
                            r"metrics\.csv line 3, column 'loss': 'abc' is not a number"),
    "metrics ragged": (lambda g: _replace(g, metrics__csv=b"step,loss\n1,2.5,7\n"), r"line 2: 3 cells"),
    "metrics bad header": (lambda g: _replace(g, metrics__csv=b"step,,loss\n1,2,3\n"), "name each column once"),
    "summary not an object": (lambda g: _replace(g, summary__json=b"[1, 2]"), r"summary\.json must hold a JSON object"),
    "summary not JSON": (lambda g: _replace(g, summary__json=b"{'a': 1}"), r"summary\.json is not valid JSON"),
    "summary huge data shape": (lambda g: _replace(g, summary__json=b'{"data_shape": [100000, 100000]}'),
                                "not a valid item shape"),
    "probe is a pickle": (lambda g: _replace(g, probe__safetensors=pickle.dumps([1])),
                          r"probe\.safetensors is not a safetensors file"),
    "probe of the wrong shape": (lambda g: _replace(g, probe__safetensors=st_save({"x": torch.zeros(4, 1, 5, 5)})),
                                 r"probe\.safetensors: x has shape \(4, 1, 5, 5\)"),
    "probe labels wrong": (lambda g: _replace(g, probe__safetensors=st_save(
        {"x": torch.zeros(4, 1, 8, 8), "y": torch.zeros(3, dtype=torch.int64)})), "one whole-number label per item"),
    "encrypted": (lambda g: _set_encrypted(_zip(g)), "encrypted"),
    "damaged member": (_damaged, r"config\.json in the zip is damaged"),
    "zip bomb": (lambda g: _replace(g, zipfile.ZIP_DEFLATED, metrics__csv=b"0" * (40 * MB)), "possible zip bomb"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_import_gives_its_message_and_writes_nothing(case, good, _isolated_runs):
    make, pattern = BAD[case]
    with pytest.raises(exchange.ExchangeError, match=pattern):
        _import(make(good), _isolated_runs)
    assert list(_isolated_runs.iterdir()) == []


def test_size_limits(good, _isolated_runs):
    data = _zip(good)
    with pytest.raises(exchange.ExchangeError, match="upload limit is"):
        _import(data, _isolated_runs, max_bytes=len(data) - 1)
    # a small zip that unpacks to far more than the limit allows
    bomb = _replace(good, zipfile.ZIP_DEFLATED, metrics__csv=b"1.0\n" * (3 * MB))
    with pytest.raises(exchange.ExchangeError, match="unpacks to"):
        _import(bomb, _isolated_runs, max_bytes=len(bomb) + 1)
    assert list(_isolated_runs.iterdir()) == []


def test_weights_are_checked_without_building_a_huge_model(good, _isolated_runs):
    """A config describing an enormous model is refused from the shapes alone (meta device)."""
    huge = _config_with(good, model={"hidden": [4096] * 8, "latent_dim": 256})
    summary = json.dumps({"data_shape": [3, 1024, 1024]}).encode()
    with pytest.raises(exchange.ExchangeError, match="does not match the model"):
        _import(_replace(good, config__json=huge, summary__json=summary), _isolated_runs)


# --------------------------------------------------------- rename and delete

def test_rename_changes_only_the_name(tmp_path):
    run = _tiny_run(tmp_path)
    weights = (run / store.WEIGHTS).read_bytes()
    cfg = store.rename_run(run, "  my best run  ")
    assert cfg.name == "my best run" and store.read_config(run).name == "my best run"
    assert store.read_config(run).model == RunConfig.from_dict({"model": {"hidden": [16]}}).model
    assert (run / store.WEIGHTS).read_bytes() == weights and run.name == "tiny"


@pytest.mark.parametrize("name, pattern", [("", "empty"), ("x" * 101, "at most 100"),
                                           ("two\nlines", "control characters"), ("tab\there", "control")])
def test_rename_rejects_bad_names(tmp_path, name, pattern):
    run = _tiny_run(tmp_path)
    with pytest.raises(store.StoreError, match=pattern):
        store.rename_run(run, name)
    assert store.read_config(run).name == "tiny"


def test_shipped_runs_are_read_only():
    before = (SHIPPED / store.CONFIG).read_bytes()
    with pytest.raises(store.StoreError, match="read-only"):
        store.rename_run(SHIPPED, "mine now")
    with pytest.raises(store.StoreError, match="read-only"):
        store.delete_run(SHIPPED, store.SHIPPED_ROOT)
    assert (SHIPPED / store.CONFIG).read_bytes() == before


def test_delete_removes_the_folder_and_nothing_else(tmp_path):
    root = tmp_path / "runs"
    a, b = _tiny_run(root, "a"), _tiny_run(root, "b")
    store.delete_run(a, root)
    assert not a.exists() and b.exists()
    assert [p.name for p in root.iterdir()] == ["b"]          # no trash left behind
    assert [r.run_id for r in store.list_runs(root)] == ["b"]


def test_delete_refuses_folders_outside_the_runs_folder(tmp_path):
    root = tmp_path / "runs"
    root.mkdir(exist_ok=True)
    outside = _tiny_run(tmp_path, "outside")
    with pytest.raises(store.StoreError, match="not a run folder inside"):
        store.delete_run(outside, root)
    with pytest.raises(store.StoreError):
        store.delete_run(root / ".." / "outside", root)
    assert outside.exists()
    with pytest.raises(store.StoreError, match="no run"):
        store.delete_run(root / "missing", root)


@pytest.mark.parametrize("kw, refused", [
    (dict(shipped=True, status="finished", run_owner="me", delete_any=True), "read-only"),
    (dict(shipped=False, status="running", run_owner="me", delete_any=False), "stop it first"),
    (dict(shipped=False, status="queued", run_owner="me", delete_any=True), "stop it first"),
    (dict(shipped=False, status="finished", run_owner="someone", delete_any=False), "only its owner"),
    (dict(shipped=False, status="finished", run_owner="", delete_any=False), "only its owner"),
    (dict(shipped=False, status="finished", run_owner="someone", delete_any=True), None),
    (dict(shipped=False, status="stopped", run_owner="me", delete_any=False), None),
])
def test_who_may_rename_or_delete(kw, refused):
    from explorer.runs import refusal
    reason = refusal("delete", actor="me", **kw)
    assert (reason is None) if refused is None else (refused in reason)
