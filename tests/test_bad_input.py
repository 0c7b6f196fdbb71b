"""Bad input, faults and limits (issue 8): every case gives a clear message, the UI shows it
without a traceback, the server (the engine) stays up, and what was saved before is intact.

Organised as the issue lists them:

1. uploads: own data (``data.load_array_file`` / ``data.load``, the Train page), images
   (Explore's "encode your image", ``analysis.images.prepare_upload``), run zips
   (``exchange.import_run``, the Runs page), run ids and names (``store``);
2. settings: ``RunConfig.from_dict``, the engine's live controls, the Train page;
3. runtime faults: a diverging loss, a worker killed mid-run, a full disk while saving;
4. limits: the upload size and the number of runs per browser session.

Before each upload, import or save case a known run is saved in the test's runs folder
(:func:`kept`); afterwards its files must be byte-identical and it must still load.
"""
from __future__ import annotations

import errno
import io
import json
import os
import pickle
import re
import signal
import struct
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import app_test, folder_items, replaced_members
from numpy.lib import format as npy_format
from PIL import Image
from safetensors.torch import save as st_save
from streamlit.testing.v1 import AppTest

from explorer import data, exchange, paths, settings, store, training
from explorer.analysis import images
from explorer.analysis import latent
from explorer.config import ConfigError, DataConfig, RunConfig
from explorer.data import DataError
from explorer.engine import Engine, EngineError, set_engine
from explorer.models import build_model
from explorer.store.trainer_state import TRAINER_STATE
from explorer.ui import train as train_ui

PAGES = paths.PROJECT_ROOT / "pages"
MB = 2**20
LIMIT = 50 * MB                       # the default upload limit (LATENT_EXPLORER_UPLOAD_MB=50)
SHIPPED = store.SHIPPED_ROOT / "digits-vae-z2-b1"
MARKER = Path("/tmp/latent-explorer-bad-input-pwned")   # created if a pickle payload ever runs


# ================================================================ helpers

@dataclass
class Kept:
    """A run saved before the bad input arrived."""
    run_dir: Path
    files: dict[str, bytes]

    def assert_intact(self, allowed_new: tuple[str, ...] = ("uploads",)) -> None:
        """Byte-identical files, still loadable, and no other folder appeared beside it
        (``allowed_new``: the Train page keeps uploads in runs/uploads)."""
        now = {p.name: p.read_bytes() for p in self.run_dir.iterdir()}
        assert now.keys() == self.files.keys(), sorted(now)
        for name, before in self.files.items():
            assert now[name] == before, f"{name} changed"
        run = store.open_run(self.run_dir)
        assert run.config.name == "kept" and run.summary["status"] == "finished"
        model = run.load_model("cpu")
        assert all(torch.isfinite(t).all() for t in model.state_dict().values())
        others = sorted(p.name for p in folder_items(self.run_dir.parent)    # (its index aside)
                        if p != self.run_dir and p.name not in allowed_new)
        assert others == [], f"unexpected entries in the runs folder: {others}"


def _save_kept(root: Path) -> Kept:
    cfg = RunConfig.from_dict({"name": "kept", "model": {"hidden": [8]}, "train": {"epochs": 1}})
    torch.manual_seed(0)
    model = build_model(cfg.model, (1, 8, 8), "cpu")
    run_dir = store.save_run(root / "kept-run", cfg, model,
                             [{"step": 1, "epoch": 1.0, "loss": 40.5, "recon": 39.0, "kl": 1.5}],
                             {"status": "finished", "data_shape": [1, 8, 8], "owner": "someone"})
    return Kept(run_dir, {p.name: p.read_bytes() for p in run_dir.iterdir()})


@pytest.fixture
def kept(_isolated_runs) -> Kept:
    """A known run in this test's runs folder (conftest points LATENT_EXPLORER_RUNS there)."""
    return _save_kept(_isolated_runs)


class _Evil:
    """A pickle payload: unpickling it would run a shell command that creates MARKER."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _torch_pt() -> bytes:
    """A PyTorch .pt file (a zip holding a pickle) carrying the payload."""
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "payload": _Evil()}, buf)
    return buf.getvalue()


def _npy(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npz(compressed: bool = False, **arrays) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _lying_npy(shape: tuple[int, ...]) -> bytes:
    """A tiny .npy whose header claims ``shape`` (numpy would allocate all of it first)."""
    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    buf.write(b"\x00" * 64)
    return buf.getvalue()


def _zip_of(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def _big_image_npz() -> bytes:
    """One 10,000×10,000 uint8 image in a compressed .npz: ~100 KB that unpack to 95 MiB
    (streamed into the zip, so the test never holds the 100 MB array)."""
    buf = io.BytesIO()
    with (zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
          zf.open("x.npy", "w", force_zip64=True) as f):
        npy_format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (1, 10_000, 10_000)})
        zeros = bytes(10_000_000)
        for _ in range(10):                           # 10 × 10,000,000 = 10,000 × 10,000 bytes
            f.write(zeros)
    return buf.getvalue()


def _csv(text: str) -> bytes:
    return text.encode()


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes that claim to be a width×height grey PNG (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + _png_chunk(b"IEND", b""))


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), 0).save(buf, format="GIF")
    return buf.getvalue()


def _stroke_png() -> bytes:
    img = Image.new("L", (40, 60), 255)
    img.paste(0, (16, 8, 24, 52))                     # a dark vertical bar: a "1"
    return _png(img)


@pytest.fixture(scope="module")
def good_zip_members() -> dict[str, bytes]:
    """The members of an exported shipped run (a valid run zip to spoil)."""
    with zipfile.ZipFile(io.BytesIO(exchange.export_run(SHIPPED))) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


_with = replaced_members          # ``_with(members, config__json=...)``


def _config(members: dict[str, bytes], **sections) -> bytes:
    d = json.loads(members["config.json"])
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key].update(value)
        else:
            d[key] = value
    return json.dumps(d).encode()


def _no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    for el in list(at.error) + list(at.warning):
        assert "Traceback" not in el.value and 'File "' not in el.value, el.value


def _page_engine():
    """A fresh process-wide engine for a page that does not train here (no worker)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    eng = Engine(prestart=0)
    set_engine(eng)
    return eng


def _drop_page_engine():
    old = set_engine(None)
    if old is not None:
        old.shutdown()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def page_engine(_isolated_runs):
    eng = _page_engine()
    yield eng
    _drop_page_engine()


# ====================================================== 1a. uploads: own data files

BAD_DATA = {   # case: (file name, bytes, words the message must contain)
    "wrong shape: a flat vector": ("flat.npy", lambda: _npy(np.arange(64, dtype=np.uint8)),
                                   r"expected images of shape N×H×W"),
    "wrong shape: 5 channels last": ("five.npy", lambda: _npy(np.zeros((4, 8, 8, 5), np.uint8)),
                                     r"5 channels in the last axis"),
    "labels of the wrong length": ("lab.npz", lambda: _npz(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(3)),
                                   r"3 labels for 4 examples"),
    "NaN pixels": ("nan.npy", lambda: _npy(np.full((4, 8, 8), np.nan, np.float32)), r"NaN or infinite"),
    "inf pixels": ("inf.npz", lambda: _npz(x=np.where(np.eye(8) > 0, np.inf, 0.5)[None].repeat(3, 0)),
                   r"NaN or infinite"),
    "NaN in a CSV table": ("nan.csv", lambda: _csv("a,b\n1,2\nnan,3\n4,5\n"), r"line 3: contains NaN"),
    "empty array": ("empty.npy", lambda: _npy(np.zeros((0, 8, 8), np.uint8)), r"the array is empty"),
    "empty file": ("nothing.npz", lambda: b"", r"not a valid \.npz"),
    "empty CSV": ("nothing.csv", lambda: b"\n\n", r"holds no data"),
    "single pixel images": ("pixel.npy", lambda: _npy(np.ones((10, 1, 1), np.uint8)),
                            r"images are 1×1 pixels.*between 2 and 256"),
    "a single image": ("one.npy", lambda: _npy(np.ones((1, 8, 8), np.uint8)), r"at least 2 are needed"),
    "10,000×10,000 image (compressed)": ("huge.npz", _big_image_npz,
                                         r"unpacks to 95\.4 MiB, more than the limit of 50\.0 MiB"),
    "10,000×10,000 images (lying .npy header)": ("huge.npy", lambda: _lying_npy((2, 10_000, 10_000)),
                                                 r"header promises an array of shape 2×10000×10000"),
    "an exabyte (lying header in an .npz)": ("exa.npz", lambda: _zip_of({"x.npy": _lying_npy((2**30, 2**30))}),
                                             r"header promises .* the file is damaged"),
    "non-image text renamed .npy": ("notes.npy", lambda: b"just some notes, not an array",
                                    r"not a \.npy file"),
    "pickle payload renamed .npy": ("evil.npy", lambda: pickle.dumps(_Evil()), r"not a \.npy file"),
    "object array (pickle inside .npy)": ("obj.npy", lambda: _npy(np.array([_Evil()], dtype=object), True),
                                          r"never unpickled"),
    ".pt with a pickle renamed .npz": ("model.npz", _torch_pt, r"is not a NumPy array"),
    "truncated .npz": ("cut.npz", lambda: _npz(x=np.zeros((50, 8, 8), np.uint8))[:300],
                       r"not a valid \.npz"),
    "text in a CSV table": ("words.csv", lambda: _csv("a,b\n1,2\n3,four\n"), r"'four' is not a number"),
    "unsupported type": ("data.pt", _torch_pt, r"unsupported file type \.pt"),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_own_data_file_is_refused_with_its_reason(case, tmp_path, kept):
    name, make, pattern = BAD_DATA[case]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(DataError, match=pattern):           # the upload check (Train page)
        data.check_array_file(path, max_bytes=LIMIT)
    with pytest.raises(DataError, match=pattern):           # the full read
        data.load_array_file(path, max_bytes=LIMIT)
    with pytest.raises(DataError, match=pattern):           # the worker's load, same reason
        data.load(DataConfig(name="file", path=str(path)), max_bytes=LIMIT)
    assert not MARKER.exists(), "a pickle payload was executed"
    kept.assert_intact()


def test_train_page_shows_bad_uploads_as_messages(kept, page_engine, monkeypatch):
    """Own-data uploads on the Train page: each bad file gives a message naming the file, no
    traceback, it is not offered for training, and nothing is started or lost."""
    monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "1")
    at = app_test(PAGES / "1_Train.py", default_timeout=60)
    at.run()
    _no_traceback(at)
    at.sidebar.selectbox(key="dataset").set_value("file").run()
    cases = [("nan.npy", _npy(np.full((4, 8, 8), np.nan, np.float32)), "NaN or infinite"),
             ("huge.npy", _lying_npy((2, 10_000, 10_000)), "header promises"),
             ("evil.npy", pickle.dumps(_Evil()), "not a .npy file"),
             ("big.npy", _npy(np.zeros((2, 1100, 1100), np.uint8)), "1 MiB limit (LATENT_EXPLORER_UPLOAD_MB)")]
    for name, payload, words in cases:
        at.sidebar.get("file_uploader")[0].set_value((name, payload, "application/octet-stream")).run()
        _no_traceback(at)
        errors = [e.value for e in at.sidebar.error]
        assert any(name in e and words in e for e in errors), (name, errors)
        assert name not in at.session_state["uploads"]
    assert not list((page_engine.runs_dir / "uploads").glob("*"))   # a rejected file is not kept
    at.button(key="start").click().run()                    # nothing usable was uploaded
    _no_traceback(at)
    assert "upload a file" in at.main.error[0].value
    assert [r.run_id for r in page_engine.list()] == ["kept-run"] and not MARKER.exists()
    good = _npy(np.zeros((4, 8, 8), np.uint8) + 7)          # a good file is kept, once
    at.sidebar.get("file_uploader")[0].set_value(("good.npy", good, "application/octet-stream")).run()
    _no_traceback(at)
    assert "good.npy" in at.session_state["uploads"]
    assert len(list((page_engine.runs_dir / "uploads").glob("*"))) == 1
    newer = _npy(np.zeros((4, 8, 8), np.uint8) + 9)        # a newer upload is the one picked
    at.sidebar.get("file_uploader")[0].set_value(("newer.npy", newer, "application/octet-stream")).run()
    _no_traceback(at)
    assert at.sidebar.selectbox(key="upload_pick").value == "newer.npy"
    assert at.sidebar.selectbox(key="upload_pick").options == ["good.npy", "newer.npy"]
    kept.assert_intact()


# ====================================================== 1b. uploads: images (Explore)

BAD_IMAGES = {   # case: (bytes, words the message must contain)
    "non-image renamed .png": (lambda: b"this is not an image at all", r"not an image"),
    ".pt pickle renamed .png": (_torch_pt, r"not an image"),
    "empty file": (lambda: b"", r"the file is empty"),
    "single pixel": (lambda: _png(Image.new("L", (1, 1), 0)), r"blank"),
    "a blank white page": (lambda: _png(Image.new("L", (40, 40), 255)), r"blank"),
    "10,000×10,000 PNG (decompression bomb)": (lambda: _png_claiming(10_000, 10_000),
                                               r"too large: at most 25 million pixels"),
    "6,000×6,000 PNG (over 25 million pixels)": (lambda: _png_claiming(6_000, 6_000),
                                                 r"too large: at most 25 million pixels"),
    "truncated PNG": (lambda: _stroke_png()[:60], r"damaged or incomplete"),
    "GIF instead of PNG": (lambda: _gif(), r"GIF file; upload a PNG or JPEG"),
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_bad_image_upload_is_refused_with_its_reason(case, kept):
    make, pattern = BAD_IMAGES[case]
    with pytest.raises(images.ImageError, match=pattern):
        images.prepare_upload(make(), (1, 8, 8))
    assert not MARKER.exists()
    kept.assert_intact()


def test_explore_page_shows_bad_images_as_messages(kept, page_engine):
    """Explore's "encode your image": each bad file gives "Could not use this file: <why>",
    never a traceback, and a good image afterwards is still encoded."""
    at = app_test(PAGES / "2_Explore.py", default_timeout=120)
    at.query_params.update(model="shipped:digits-vae-z2-b1", tab="Encode your image")
    at.run()
    _no_traceback(at)
    for name, payload, words in [("notes.png", b"not an image", "not an image"),
                                 ("empty.png", b"", "empty"),
                                 ("pixel.png", _png(Image.new("L", (1, 1), 0)), "blank"),
                                 ("bomb.png", _png_claiming(10_000, 10_000), "too large")]:
        at.file_uploader(key="ex_upload").clear().upload(name, payload, "image/png")
        at.run()
        _no_traceback(at)
        errors = [e.value for e in at.error]
        assert any("Could not use this file" in e and words in e for e in errors), (name, errors)
    at.file_uploader(key="ex_upload").clear().upload("one.png", _stroke_png(), "image/png")
    at.run()
    _no_traceback(at)
    assert not at.error and any(m.value.startswith("**μ** = (") for m in at.markdown)
    kept.assert_intact()


# ====================================================== 1c. uploads: run zips

def _truncated(m):
    whole = _zip_of(m)
    return whole[:len(whole) * 6 // 10]


def _pt_weights(m):
    return _zip_of(_with(m, weights__safetensors=_torch_pt()))


def _wrong_shapes(m):
    cfg = RunConfig.from_dict({"model": {"hidden": [64, 32], "likelihood": "gaussian"}})
    tensors = {k: v.contiguous() for k, v in build_model(cfg.model, (1, 8, 8), "cpu").state_dict().items()}
    return _zip_of(_with(m, weights__safetensors=st_save(tensors)))


BAD_ZIPS = {   # case: (make(members) -> zip bytes, words the message must contain)
    "not a zip (an image renamed .zip)": (lambda m: _stroke_png(), r"not a zip archive"),
    "truncated zip": (_truncated, r"not a zip archive|damaged"),
    "zip bomb": (lambda m: _zip_of(_with(m, metrics__csv=b"0" * (8 * MB)), zipfile.ZIP_DEFLATED),
                 r"compressed \d+ times: refused as a possible zip bomb"),
    ".pt pickle payload renamed weights.safetensors": (_pt_weights,
                                                       r"a PyTorch \.pt/\.pth file or a pickle is never loaded"),
    "raw pickle as weights": (lambda m: _zip_of(_with(m, weights__safetensors=pickle.dumps(_Evil()))),
                              r"weights\.safetensors is not a safetensors file"),
    "safetensors with wrong shapes": (_wrong_shapes,
                                      r"tensor \S+ has shape \(\d+, \d+\), but the model in config\.json needs"),
    "config: a number given as text": (lambda m: _zip_of(_with(m, config__json=_config(m, train={"epochs": "ten"}))),
                                       r"train\.epochs: expected a whole number, got 'ten'"),
    "config: true/false given as text": (lambda m: _zip_of(_with(m, config__json=_config(
        m, model={"learn_sigma": "yes"}))), r"model\.learn_sigma: expected true or false"),
    "config: a list instead of an object": (lambda m: _zip_of(_with(m, config__json=b"[1, 2, 3]")),
                                            r"config: expected a JSON object"),
    "config: unknown top-level key": (lambda m: _zip_of(_with(m, config__json=_config(m, exec="rm -rf /"))),
                                      r"unknown key\(s\) \['exec'\]"),
    "config: unknown key in a section": (lambda m: _zip_of(_with(m, config__json=_config(
        m, train={"momentum": 0.9}))), r"train: unknown key\(s\) \['momentum'\]"),
    "config: β < 0": (lambda m: _zip_of(_with(m, config__json=_config(m, train={"beta": -1}))),
                      r"train\.beta: -1 is out of range"),
    "member ../config.json": (lambda m: _zip_of({**_with(m, config__json=None), "../config.json": m["config.json"]}),
                              r"top level"),
    "member with an absolute path": (lambda m: _zip_of({**m, "/etc/cron.d/evil": b"* * * * * root id"}),
                                     r"top level"),
    "member ..\\config.json": (lambda m: _zip_of({**_with(m, config__json=None), "..\\config.json": m["config.json"]}),
                               r"top level"),
    "member name with a line break": (lambda m: _zip_of({**m, "config.json\nx": b"{}"}),
                                      r"unexpected file\(s\): 'config\.json\\nx'"),
    "member name with a terminal escape": (lambda m: _zip_of({**m, "\x1b[2Jevil": b""}),
                                           r"unexpected file\(s\): '\\x1b\[2Jevil'"),
}


@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_bad_run_zip_is_refused_and_writes_nothing(case, good_zip_members, kept):
    make, pattern = BAD_ZIPS[case]
    with pytest.raises(exchange.ExchangeError, match=pattern):
        exchange.import_run(make(good_zip_members), kept.run_dir.parent, max_bytes=LIMIT,
                            owner="me", file_name="upload.zip")
    assert not MARKER.exists(), "a pickle payload was executed"
    kept.assert_intact(allowed_new=())


def test_imported_names_with_dot_dot_and_control_characters_are_made_safe(good_zip_members, kept):
    """A file name with ../ and a line break, and a run name with terminal escapes: the import
    is accepted, lands inside the runs folder under a plain id, and the name shows safely."""
    m = _with(good_zip_members, config__json=_config(good_zip_members, name="evil\x1b[2J\nname\u2028 " + "x" * 150))
    run_id = exchange.import_run(_zip_of(m), kept.run_dir.parent, max_bytes=LIMIT, owner="me",
                                 file_name="../../etc/pass\nwd.zip")
    new = kept.run_dir.parent / run_id
    assert new.parent == kept.run_dir.parent and store.check_run_id(run_id) == run_id
    name = store.read_config(new).name
    assert name.startswith("evil [2J name") and len(name) <= store.MAX_NAME
    assert store.check_run_name(name) == name                   # a name the Runs page could set too
    store.load_model(new)
    kept.assert_intact(allowed_new=(run_id,))


def test_runs_page_shows_bad_imports_as_messages(good_zip_members, kept, page_engine):
    """The Runs page's import: each bad zip gives "Import refused: <why>", no traceback, and
    no run is added; the kept run is untouched."""
    at = app_test(PAGES / "5_Runs.py", default_timeout=120)
    at.run()
    _no_traceback(at)
    m = good_zip_members
    for name, payload, words in [
            ("cut.zip", _truncated(m), "not a zip archive"),
            ("bomb.zip", _zip_of(_with(m, metrics__csv=b"0" * (8 * MB)), zipfile.ZIP_DEFLATED), "zip bomb"),
            ("evil.zip", _pt_weights(m), "never loaded"),
            ("beta.zip", _zip_of(_with(m, config__json=_config(m, train={"beta": -1}))), "train.beta"),
            ("../../evil\n.zip", _zip_of({**m, "../x": b""}), "top level")]:
        at.file_uploader(key="import_zip").set_value((name, payload, "application/zip")).run()
        _no_traceback(at)
        shown = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error]    # the page escapes Markdown
        assert any("Import refused" in e and words in e for e in shown), (name, shown)
    assert not MARKER.exists()
    kept.assert_intact(allowed_new=())


# ====================================================== 1d. run ids and names

@pytest.mark.parametrize("bad", ["../kept-run", "..", "a/b", "a\\b", "/etc", "x\n", "a\x00b",
                                 "\x1b[2J", "tab\there", ""])
def test_bad_run_ids_are_refused(bad, kept):
    with pytest.raises(store.StoreError, match="invalid run id"):
        store.check_run_id(bad)
    with pytest.raises(store.StoreError, match="invalid run id"):
        store.new_run_dir(kept.run_dir.parent, bad)
    kept.assert_intact(allowed_new=())


@pytest.mark.parametrize("bad,words", [("two\nlines", "control characters"), ("tab\there", "control"),
                                       ("bell\x07", "control"), ("esc\x1b[31mred", "control"),
                                       ("line\u2028sep", "control"), ("   ", "cannot be empty"),
                                       ("x" * 101, "at most 100 characters")])
def test_bad_run_names_are_refused_and_the_run_is_unchanged(bad, words, kept):
    with pytest.raises(store.StoreError, match=words):
        store.rename_run(kept.run_dir, bad)
    kept.assert_intact(allowed_new=())


def test_a_name_with_dot_dot_is_only_a_label(kept):
    """Names are display text: ``../../etc`` renames nothing on disk."""
    store.rename_run(kept.run_dir, "../../etc/passwd")
    assert store.read_config(kept.run_dir).name == "../../etc/passwd"
    assert sorted(p.name for p in kept.run_dir.parent.iterdir()) == ["kept-run"]
    assert sorted(p.name for p in kept.run_dir.iterdir()) == sorted(kept.files)
    store.load_model(kept.run_dir)


# ====================================================== 2. settings

BAD_SETTINGS = {   # case: (config dict, words the message must contain)
    "β < 0": ({"train": {"beta": -1.0}}, r"train\.beta: -1 is out of range \[0, 1000\]"),
    "lr 1e3": ({"train": {"lr": 1e3}}, r"train\.lr: 1000 is out of range \[1e-07, 1\]"),
    "lr 0": ({"train": {"lr": 0.0}}, r"train\.lr: 0 is out of range"),
    "lr NaN": ({"train": {"lr": float("nan")}}, r"train\.lr: must be finite"),
    "latent dimension 0": ({"model": {"latent_dim": 0}}, r"model\.latent_dim: 0 is out of range \[1, 256\]"),
    "latent dimension 10,000": ({"model": {"latent_dim": 10_000}}, r"model\.latent_dim: 10000 is out of range"),
    "batch size 0": ({"train": {"batch_size": 0}}, r"train\.batch_size: 0 is out of range"),
    "a hidden width of 0": ({"model": {"hidden": [64, 0]}}, r"model\.hidden\[\]: 0 is out of range"),
    "epochs as text": ({"train": {"epochs": "ten"}}, r"train\.epochs: expected a whole number"),
    "latent dimension as true": ({"model": {"latent_dim": True}}, r"model\.latent_dim: expected a whole number"),
    "unknown setting": ({"train": {"momentum": 0.9}}, r"train: unknown key\(s\) \['momentum'\]"),
    "unknown dataset": ({"data": {"name": "imagenet"}}, r"data\.name: 'imagenet' is not one of"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_are_refused_with_the_setting_named(case):
    d, pattern = BAD_SETTINGS[case]
    with pytest.raises(ConfigError, match=pattern):
        RunConfig.from_dict(d)


def test_live_controls_refuse_out_of_range_values():
    """β and the learning rate changed during a run: checked before they reach a worker."""
    eng = Engine(prestart=0, load_existing=False)
    try:
        with pytest.raises(EngineError, match=r"learning rate must be in \[1e-7, 1\], got 1000"):
            eng.set_lr("any-run", "me", 1e3)
        with pytest.raises(EngineError, match=r"β must be in \[0, 1000\], got -1"):
            eng.set_beta("any-run", "me", -1.0)
        with pytest.raises(EngineError, match="no run 'any-run'"):
            eng.set_beta("any-run", "me", 2.0)
    finally:
        eng.shutdown()


def test_batch_larger_than_the_dataset_uses_the_whole_set():
    """Not an error: the trainer clamps the batch to the training set (one step per epoch)."""
    cfg = RunConfig.from_dict({"model": {"hidden": [8]}, "train": {"batch_size": 50_000, "epochs": 2}})
    ds = data.load(cfg.data)
    tr = training.Trainer(cfg, ds)
    n = len(ds.x_train)
    assert tr.batch_size == n and tr.steps_per_epoch == 1 and tr.total_steps == 2
    row = tr.step()
    assert row["samples"] == n and np.isfinite(row["loss"])
    note = train_ui.batch_note(50_000, n)
    assert f"{n:,} training examples" in note and "one step per epoch" in note
    assert train_ui.batch_note(32, n) is None and train_ui.batch_note(50_000, None) is None


def test_train_page_settings_out_of_range_never_reach_a_run(page_engine):
    """Train page: values outside a widget's range fall back to its default (Streamlit
    1.67 resets them; the browser does not even send them); values the widgets cannot bound
    (hidden widths, the run name) are refused with the reason; a batch larger than the data
    gives a warning, not a failure. Nothing is started and there is never a traceback."""
    at = app_test(PAGES / "1_Train.py", default_timeout=60)
    at.run()
    _no_traceback(at)
    at.number_input(key="beta").set_value(-1.0).run()
    at.sidebar.number_input(key="latent_dim").set_value(0).run()
    _no_traceback(at)
    # Streamlit resets an out-of-range entry to the widget's default; the widgets are keyed
    # (their state set once, no value=), so that default is their range's low end
    assert at.number_input(key="beta").value == 0.0 and at.sidebar.number_input(key="latent_dim").value == 1
    from explorer.ui import train_form
    state = train_form.widget_state(RunConfig())       # the widgets' values describe a valid run
    assert state["beta"] == 1.0 and state["latent_dim"] == 2

    for key, value, words in [("hidden", "64, 0", "model.hidden[]: 0 is out of range"),
                              ("hidden", "-5", "model.hidden[]: -5 is out of range"),
                              ("run_name", "tab\there", "control characters")]:
        at.sidebar.text_input(key=key).set_value(value)
        at.button(key="start").click().run()
        _no_traceback(at)
        assert "Cannot start" in at.main.error[0].value and words in at.main.error[0].value, at.main.error
        at.sidebar.text_input(key=key).set_value("32" if key == "hidden" else "").run()

    at.sidebar.number_input(key="batch_size").set_value(5000).run()
    _no_traceback(at)
    warnings = [w.value for w in at.sidebar.warning]
    assert any("Batch size 5,000 is larger than the" in w and "one step per epoch" in w for w in warnings)
    at.sidebar.number_input(key="batch_size").set_value(64).run()
    assert not any("Batch size" in w.value for w in at.sidebar.warning)
    assert page_engine.list() == []


@pytest.mark.parametrize("d,words", [({"model": {"latent_dim": 0}}, "model.latent_dim: 0 is out of range"),
                                     ({"train": {"beta": -0.5}}, "train.beta: -0.5 is out of range"),
                                     ({"train": {"lr": 1e3}}, "train.lr: 1000 is out of range")])
def test_the_config_the_page_builds_names_the_bad_setting(d, words):
    """The Train page's widgets build a RunConfig directly: its validation names the setting."""
    with pytest.raises(ConfigError, match=re.escape(words)):
        RunConfig.from_dict(d)
    with pytest.raises(ConfigError, match="hidden widths"):
        train_ui.parse_widths("a lot")


# ====================================================== 3. runtime faults

DIVERGES = {"model": {"hidden": [16], "likelihood": "gaussian", "sigma": 0.001},
            "train": {"lr": 1.0, "epochs": 5, "seed": 0,       # measured: inf gradient at step 12
                      "beta_schedule": "constant"}}


def _tiny(epochs: int = 1, **over) -> RunConfig:
    return RunConfig.from_dict({"model": {"hidden": [8]}, "train": {"epochs": epochs, **over}})


def _finite_weights(run_dir: Path) -> bool:
    model = store.load_model(run_dir)
    return all(torch.isfinite(t).all() for t in model.state_dict().values())


@pytest.fixture(scope="module")
def fault_engine(tmp_path_factory):
    """One engine (one job at a time, a worker started at once) for the runtime faults and the
    session cap; its cap comes from the environment, as on a server."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_EXPLORER_MAX_RUNS_PER_OWNER", "2")
        eng = Engine(tmp_path_factory.mktemp("faults") / "runs", max_jobs=1, snapshot_seconds=0.2,
                     prestart=1, load_existing=False)
    yield eng
    eng.shutdown()


def _train_page_showing(eng: Engine, run_id: str) -> AppTest:
    """The Train page attached to ``run_id`` (as from a link), served by ``eng``."""
    st.cache_resource.clear()
    old = set_engine(eng)
    try:
        at = app_test(PAGES / "1_Train.py", default_timeout=60)
        at.query_params["run"] = run_id
        at.run()
        _no_traceback(at)
        return at
    finally:
        set_engine(old)
        st.cache_resource.clear()


@pytest.mark.slow
def test_a_diverging_run_ends_as_diverged_and_keeps_finite_weights(fault_engine):
    eng = fault_engine
    rid = eng.submit(RunConfig.from_dict(DIVERGES))
    assert eng.wait(rid, 120) == "diverged"
    v = eng.view(rid)
    assert "learning rate" in v.reason and "diverged at step" in v.reason
    run = store.open_run(v.run_dir)
    assert run.summary["status"] == "diverged" and "learning rate" in run.summary["reason"]
    assert _finite_weights(v.run_dir)                        # the last good weights

    at = _train_page_showing(eng, rid)
    shown = [w.value for w in at.warning]
    assert any("diverged" in w and "smaller learning rate" in w for w in shown), shown


def test_a_killed_worker_fails_its_run_and_the_engine_goes_on(fault_engine):
    eng = fault_engine
    first = eng.submit(_tiny(1))
    assert eng.wait(first, 120) == "finished"
    first_dir = eng.view(first).run_dir
    first_files = {p.name: p.read_bytes() for p in first_dir.iterdir()}

    long = eng.submit(_tiny(500, batch_size=16))
    long_dir = eng.view(long).run_dir
    t_end = time.time() + 120
    while time.time() < t_end and not (long_dir / store.CONFIG).is_file():   # first epoch saved
        time.sleep(0.05)
    assert (long_dir / store.CONFIG).is_file(), "the long run never checkpointed"
    (pid,) = [w["pid"] for w in eng.workers() if w["run_id"] == long]
    os.kill(pid, signal.SIGKILL)
    assert eng.wait(long, 30) == "failed"
    reason = eng.view(long).reason
    assert "worker process died" in reason and "signal 9" in reason and "checkpoint" in reason
    assert _finite_weights(long_dir)                            # its last epoch checkpoint loads
    at = _train_page_showing(eng, long)
    assert any("The run failed" in e.value and "worker process died" in e.value for e in at.error)

    after = eng.submit(_tiny(1))                                # a fresh worker takes the next run
    assert eng.wait(after, 120) == "finished"
    assert {p.name: p.read_bytes() for p in first_dir.iterdir()} == first_files
    assert _finite_weights(first_dir)


class _FullDisk:
    """Stands in for the ``os`` module inside explorer.store: the ``fail_at``-th file opened
    for writing takes half its bytes, then fails with ENOSPC, as a full disk does."""

    def __init__(self, fail_at: int, on_fail=None):
        self.fail_at, self.on_fail, self.opened = fail_at, on_fail, 0

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, *args, **kwargs):
        f = os.fdopen(fd, *args, **kwargs)
        self.opened += 1
        return _HalfWriter(f, self) if self.opened == self.fail_at else f


class _HalfWriter:
    def __init__(self, f, disk: _FullDisk):
        self.f, self.disk = f, disk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        return False

    def write(self, payload: bytes) -> int:
        self.f.write(payload[:len(payload) // 2])
        self.f.flush()
        if self.disk.on_fail:
            self.disk.on_fail()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("fail_at,file", [(1, store.WEIGHTS), (2, store.METRICS), (3, store.SUMMARY),
                                          (4, store.CONFIG)])
def test_a_full_disk_while_saving_over_a_run_keeps_a_loadable_run(fail_at, file, kept, monkeypatch):
    """Overwriting a run (a checkpoint) when the disk fills at any of its files: the error
    says the disk is full, no half-written file is left, and the run still loads; the files
    from the failed one on are byte-identical to the previous save."""
    cfg = store.read_config(kept.run_dir)
    torch.manual_seed(1)
    newer = build_model(cfg.model, (1, 8, 8), "cpu")            # different weights
    disk = _FullDisk(fail_at)
    with monkeypatch.context() as mp, pytest.raises(OSError, match="No space left on device") as e:
        mp.setattr(store.atomic, "os", disk)             # the atomic writes' os
        store.save_run(kept.run_dir, cfg, newer, [{"step": 2, "loss": 30.0}],
                       {"status": "finished", "data_shape": [1, 8, 8], "owner": "someone"})
    assert e.value.errno == errno.ENOSPC and disk.opened == fail_at
    order = [store.WEIGHTS, store.METRICS, store.SUMMARY, store.CONFIG]
    assert order[fail_at - 1] == file
    names = sorted(p.name for p in kept.run_dir.iterdir())
    assert names == sorted(kept.files), names                   # no temporary file left behind
    for name in order[fail_at - 1:]:
        assert (kept.run_dir / name).read_bytes() == kept.files[name], f"{name} changed"
    run = store.open_run(kept.run_dir)
    assert run.config.name == "kept"
    assert _finite_weights(kept.run_dir)


def test_a_full_disk_during_training_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """training.fit checkpoints at every epoch end; the disk fills during the second one: the
    error surfaces, and the first checkpoint is complete, byte for byte, and loads."""
    run_dir = tmp_path / "runs" / "filling"
    snapshot: dict[str, bytes] = {}

    def remember():                                             # the folder as the disk filled
        snapshot.update({p.name: p.read_bytes() for p in run_dir.iterdir() if not p.name.startswith(".tmp-")})

    disk = _FullDisk(fail_at=6, on_fail=remember)               # 5 files per checkpoint (the trainer's state first)
    cfg = _tiny(3, batch_size=256)
    ds = data.load(cfg.data)
    with monkeypatch.context() as mp, pytest.raises(OSError, match="No space left on device"):
        mp.setattr(store.atomic, "os", disk)             # the atomic writes' os
        training.fit(cfg, ds, run_dir)
    assert disk.opened == 6 and set(snapshot) == {TRAINER_STATE, store.WEIGHTS, store.METRICS, store.SUMMARY,
                                                  store.CONFIG}
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == snapshot
    run = store.open_run(run_dir)
    assert run.summary["status"] == "running" and run.summary["epochs"] == 1.0
    assert _finite_weights(run_dir)


# ====================================================== 4. limits

def test_the_upload_limit_comes_from_the_setting(monkeypatch, tmp_path, good_zip_members, kept):
    monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "1")
    limit = settings.get().upload_bytes
    assert limit == MB
    big = _npy(np.zeros((2, 1100, 1100), np.uint8))            # 2.3 MiB
    eng = Engine(tmp_path / "engine-runs", prestart=0)
    try:
        with pytest.raises(store.UploadError,
                           match=r"larger than the 1 MiB limit \(LATENT_EXPLORER_UPLOAD_MB\)"):
            eng.save_upload(big, "big.npy")             # the engine's limit: the setting
    finally:
        eng.shutdown()
    path = tmp_path / "big.npy"
    path.write_bytes(big)
    with pytest.raises(DataError, match=r"big\.npy is 2\.3 MiB, more than the limit of 1\.0 MiB"):
        data.load_array_file(path, max_bytes=limit)
    zipped = exchange.export_run(SHIPPED) + b"\x00" * MB
    with pytest.raises(exchange.ExchangeError, match=r"the upload limit is 1\.0 MiB"):
        exchange.import_run(zipped, kept.run_dir.parent, max_bytes=limit)
    with pytest.raises(images.ImageError, match=r"the limit is 1 MB"):
        images.prepare_upload(b"\x89PNG" + b"\x00" * (limit + 1), (1, 8, 8), max_bytes=limit)
    kept.assert_intact(allowed_new=())


@pytest.mark.parametrize("var,value,words", [("LATENT_EXPLORER_UPLOAD_MB", "lots", "expected a whole number"),
                                             ("LATENT_EXPLORER_UPLOAD_MB", "0", "must lie in [1, 4096]"),
                                             ("LATENT_EXPLORER_MAX_RUNS_PER_OWNER", "-3", "must lie in")])
def test_a_bad_limit_setting_names_the_variable(var, value, words, monkeypatch):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=re.escape(f"{var}=") + ".*" + re.escape(words)):
        settings.get()


@pytest.mark.parametrize("page", ["home.py", "pages/1_Train.py", "pages/2_Explore.py", "pages/5_Runs.py"])
def test_a_malformed_setting_is_a_message_on_every_page_not_a_traceback(page, monkeypatch, global_engine):
    monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "lots")
    at = app_test(page, default_timeout=120).run()
    assert not at.exception
    assert any("settings are wrong" in e.value and "LATENT_EXPLORER_UPLOAD_MB='lots'" in e.value
               for e in at.error)


def test_the_runs_per_owner_cap_is_a_message_and_per_owner(fault_engine):
    eng = fault_engine
    assert eng.quotas.max_runs_per_owner == 2                          # from LATENT_EXPLORER_MAX_RUNS_PER_OWNER
    ids = [eng.submit(_tiny(1), "pupil-1") for _ in range(2)]
    with pytest.raises(EngineError, match=r"already have 2 runs on this server; the limit "
                                          r"\(LATENT_EXPLORER_MAX_RUNS_PER_OWNER\) is 2"):
        eng.submit(_tiny(1), "pupil-1")
    other = eng.submit(_tiny(1), "pupil-2")                     # another owner is not affected
    for rid in ids + [other]:
        assert eng.wait(rid, 120) == "finished"
    assert sum(1 for r in eng.list() if r.owner == "pupil-1") == 2
