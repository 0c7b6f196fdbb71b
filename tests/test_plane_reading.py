"""A classifier's reading of the latent plane: its calibration, the layer against a direct
decode-then-classify of the same points, the labels along a path, the layer on Explore,
and a run without labels, which gets no layer and a reason."""
from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, app_factory, assert_page_ok
from explorer import data, store
from explorer.analysis import latent, plane_reading
from explorer.config import DataConfig, RunConfig
from explorer.figures import plane_reading as figures
from explorer.figures.common import CLASS_COLORS
from explorer.training import fit
from explorer.ui import plane_reading as ui_reading

RUN = store.SHIPPED_ROOT / "digits-vae-z2-b1"


@pytest.fixture(scope="module")
def digits_reader():
    ds = data.load(DataConfig(name="digits"))
    return plane_reading.classifier_for(ds.x_train.numpy(), ds.y_train.numpy(), ds.class_names), ds


def test_a_fitted_temperature_recovers_the_one_the_labels_were_drawn_with():
    rng = np.random.default_rng(0)
    logits = 3.0 * rng.standard_normal((20000, 5))
    p = np.exp(logits / 2.5)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    assert plane_reading.fit_temperature(logits, y) == pytest.approx(2.5, rel=0.06)


def test_the_classifier_reads_real_images_and_is_calibrated(digits_reader):
    clf, ds = digits_reader
    probs = clf.read(ds.x_val.numpy())
    acc = float(np.mean(probs.argmax(1) == ds.y_val.numpy()))
    assert acc > 0.85 and clf.accuracy > 0.85 and clf.temperature > 0
    assert plane_reading.calibration_error(probs, ds.y_val.numpy()) < 0.08
    assert np.allclose(probs.sum(1), 1.0)


def test_the_layer_is_a_direct_decode_then_classify_of_the_grid(digits_reader):
    clf, _ = digits_reader
    model = store.load_model(RUN, device="cpu")
    ranges, n = ((-3.0, 2.0), (-2.5, 3.5)), 7
    got = plane_reading.read_grid(model, clf, ranges, n)
    xs = -3.0 + (np.arange(n) + 0.5) * 5.0 / n                     # cell centres, top row first
    ys = 3.5 - (np.arange(n) + 0.5) * 6.0 / n
    z = np.array([[x, y] for y in ys for x in xs], dtype=np.float32)
    with torch.no_grad():
        images = model.mean(model.decode(torch.as_tensor(z)))         # the decoder's mean
        probs = torch.softmax(clf.model(images).double() / clf.temperature, 1).numpy()
    np.testing.assert_allclose(got.z, z, atol=1e-6)
    assert np.array_equal(got.labels, probs.argmax(1))
    np.testing.assert_allclose(got.confidence, probs.max(1), atol=1e-6)
    assert len(set(got.labels.tolist())) >= 3                          # the plane holds several digits

    img = figures.reading_image(got.labels, got.confidence, n, 10)
    assert img.shape == (n, n, 4)
    k = int(np.argmax(got.confidence))
    r, c = divmod(k, n)
    hexc = CLASS_COLORS[int(got.labels[k])].lstrip("#")
    assert tuple(np.round(img[r, c, :3] * 255)) == tuple(int(hexc[i:i + 2], 16) for i in (0, 2, 4))
    assert 0 < img[..., 3].min() and img[..., 3].max() <= 1                 # floats in [0, 1], as layers take them
    lo = int(np.argmin(got.confidence))
    assert img[r, c, 3] > img[lo // n, lo % n, 3]                      # surer: more opaque


def test_a_path_is_labelled_at_every_step(digits_reader):
    clf, ds = digits_reader
    model = store.load_model(RUN, device="cpu")
    mu, _ = model.encode_mean(ds.x_val)
    y = ds.y_val.numpy()
    a, b = mu[np.nonzero(y == 0)[0][0]].numpy(), mu[np.nonzero(y == 6)[0][0]].numpy()
    zs = latent.lerp(a, b, np.linspace(0, 1, 9))
    got = plane_reading.read_path(model, clf, zs)
    assert clf.class_names[got.labels[0]] == "0" and clf.class_names[got.labels[-1]] == "6"
    changes = plane_reading.label_changes(got)
    assert changes and all(got.labels[i] != got.labels[i - 1] for i in changes)
    labels = figures.path_strip_labels(got.labels, got.confidence, clf.class_names)
    assert labels[0].startswith("0 · ") and labels[0].endswith("%")


def test_a_run_without_labels_gets_no_classifier_and_a_reason(tmp_path):
    x = np.random.default_rng(1).random((120, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "mine.npz", x=x)                                # images, no labels
    cfg = RunConfig.from_dict({"data": {"name": "file", "path": str(tmp_path / "mine.npz")},
                               "model": {"hidden": [16]}, "train": {"epochs": 1}})
    fit(cfg, data.load(cfg.data), tmp_path / "run")
    got = ui_reading._classifier(str(tmp_path / "run"), str(tmp_path / "run"), cfg.to_json())
    assert isinstance(got, str) and "no labels" in got
    # the page's question "is the layer offered?" gives the same reason, from the labels alone
    assert ui_reading._unavailable(str(tmp_path / "run"), str(tmp_path / "run"), cfg.to_json()) == got


def test_explore_shows_the_layer_and_its_confidence(page_engine, monkeypatch):
    from explorer.analysis import offload
    trained, real = [], offload.train_plane_classifier

    def counted(*args, **kwargs):                 # the real training (a child process), counted
        trained.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(offload, "train_plane_classifier", counted)
    at = app_factory(str(ROOT / "pages" / "2_Explore.py"))(model="shipped:digits-vae-z2-b1")
    at.run()
    assert_page_ok(at)
    radio = at.radio(key="ex_bg")
    assert "what a classifier reads in the decodes" in radio.options        # the options' labels
    assert trained == []                           # offered without training it (a child's seconds)
    radio.set_value("classifier").run()
    assert_page_ok(at)
    assert trained == [1]                          # trained once it is chosen
    assert any(c.value.startswith("**What a classifier reads**") for c in at.caption)
    plane = next(c for c in at.get("plotly_chart") if "click grid" in c.proto.spec)
    spec = json.loads(plane.proto.spec)
    assert spec["layout"]["images"], "no coloured layer on the plane"
    png = Image.open(io.BytesIO(base64.b64decode(spec["layout"]["images"][0]["source"].split(",", 1)[1])))
    rgba = np.asarray(png.convert("RGBA"))                                  # coloured, not blank
    assert len({tuple(px) for px in rgba[..., :3].reshape(-1, 3)}) >= 3 and rgba[..., 3].max() < 255
    grid = next(t for t in spec["data"] if t.get("name") == "click grid")
    assert all(t.startswith("reads ") and t.endswith("% sure)") for t in grid["text"])


def test_the_interpolation_tab_labels_every_step_of_both_paths(page_engine):
    at = app_factory(str(ROOT / "pages" / "2_Explore.py"))(model="shipped:digits-vae-z2-b1", tab="Interpolation")
    at.run()
    assert_page_ok(at)
    k = at.slider(key="ex_int_k").value
    table = next(d.value for d in at.dataframe if list(d.value.index) == ["linear", "spherical"])
    assert list(table.columns) == [f"t = {t:.2f}" for t in np.linspace(0, 1, k)]
    assert all(re.fullmatch(r"\d · \d+%", cell) for cell in table.to_numpy().ravel())
    note = next(c.value for c in at.caption if c.value.startswith("What the classifier reads at each step"))
    assert "linear: " in note and "spherical: " in note
