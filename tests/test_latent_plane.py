"""The latent-plane component's parts: the browser's ONNX runtime against PyTorch (run in
Chromium on the built file), the data it is given, the decoder cache, and the server's
path when there is no browser to decode in."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, _need_chromium, app_test, assert_page_ok

from explorer import store
from explorer.analysis import latent
from explorer.analysis import projections
from explorer.config import ModelConfig, RunConfig
from explorer.decoder_cache import run_decoder, weights_key
from explorer.export.onnx_check import onnx_tag
from explorer.export.onnx_write import decoder_onnx, encoder_onnx
from explorer.models import build_model
from explorer.ui import latent_plane

BUILD = ROOT / "explorer" / "ui" / "components" / "latent_plane" / "build"


# ----------------------------------------------------- the browser's runtime

@pytest.fixture(scope="module")
def js_page():
    """A blank page that has imported the built component module (no Streamlit)."""
    _need_chromium()
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("http://lp.test/**", lambda route: route.fulfill(
            status=200, content_type="text/javascript" if route.request.url.endswith(".js") else "text/html",
            body=(BUILD / "latent_plane.js").read_bytes() if route.request.url.endswith(".js") else b"<p>lp</p>"))
        page.goto("http://lp.test/")
        page.evaluate("async () => { window.LP = await import('http://lp.test/latent_plane.js'); }")
        yield page
        browser.close()


RUN_JS = """([b64, z, batch]) => {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const y = new window.LP.OnnxDecoder(bytes).run(Float32Array.from(z), batch);
  return {shape: y.shape, data: Array.from(y.data)};
}"""


def _js_decode(page, data: bytes, z: np.ndarray) -> np.ndarray:
    got = page.evaluate(RUN_JS, [base64.b64encode(data).decode(), z.ravel().tolist(), len(z)])
    return np.asarray(got["data"], np.float32).reshape(got["shape"])


@pytest.mark.browser
@pytest.mark.parametrize("body,shape", [("mlp", (1, 8, 8)), ("mlp", (1, 28, 28)), ("mlp", (2,)),
                                        ("conv", (1, 28, 28)), ("conv", (3, 13, 11))])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_browser_runtime_matches_pytorch(js_page, body, shape, likelihood):
    torch.manual_seed(4)
    m = build_model(ModelConfig(body=body, likelihood=likelihood, latent_dim=3, hidden=[40, 24]),
                    shape, "cpu").eval()
    for p in m.parameters():
        p.data.add_(0.3 * torch.randn_like(p))
    z = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32) * 2
    got = _js_decode(js_page, decoder_onnx(m), z)
    want = m.decode_mean(torch.as_tensor(z)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)     # float32 weights, float64 sums


@pytest.mark.browser
def test_browser_runtime_runs_a_shipped_decoder(js_page):
    m = store.load_model(store.SHIPPED_ROOT / "mnist-vae-z2", device="cpu")
    z = np.random.default_rng(6).standard_normal((3, 2)).astype(np.float32)
    np.testing.assert_allclose(_js_decode(js_page, decoder_onnx(m), z),
                               m.decode_mean(torch.as_tensor(z)).numpy(), atol=2e-5, rtol=0)


@pytest.mark.browser
def test_browser_runtime_refuses_what_it_cannot_run(js_page):
    enc = encoder_onnx(build_model(ModelConfig(body="conv", hidden=[16]), (1, 8, 8), "cpu"))
    cosh = enc.replace(b"Conv", b"Cosh")           # an operator the exporter never writes
    with pytest.raises(Exception, match="operator Cosh is not supported in the browser"):
        _js_decode(js_page, cosh, np.zeros((1, 64), np.float32))
    with pytest.raises(Exception, match="truncated|no graph"):
        dec = decoder_onnx(build_model(ModelConfig(hidden=[16]), (1, 8, 8), "cpu"))
        _js_decode(js_page, dec[: len(dec) // 2], np.zeros((1, 2), np.float32))


# ------------------------------------------------------------ the data

ENCODE_JS = """([b64, x, shape]) => {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const enc = new window.LP.OnnxEncoder(bytes, shape);
  return Array.from({length: x.length}, (_, k) => {
    const q = enc.encode(Float32Array.from(x[k]));
    return {mu: Array.from(q.mu), logvar: q.logvar ? Array.from(q.logvar) : null};
  });
}"""


@pytest.mark.browser
@pytest.mark.parametrize("body,shape", [("mlp", (1, 8, 8)), ("mlp", (1, 28, 28)), ("conv", (1, 28, 28)),
                                        ("conv", (3, 13, 11)), ("mlp", (1, 32, 32))])
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_browser_encoder_matches_pytorch(js_page, body, shape, kind):
    """The drawing pad's encoder, on the same runtime as the decoder: μ and log σ² as
    PyTorch computes them, to within 1e-4 (float32 weights; conv bodies run Conv)."""
    torch.manual_seed(7)
    m = build_model(ModelConfig(kind=kind, body=body, latent_dim=4, hidden=[48, 24]), shape, "cpu").eval()
    for p in m.parameters():
        p.data.add_(0.2 * torch.randn_like(p))
    x = torch.rand((3,) + shape, generator=torch.Generator().manual_seed(8))
    got = js_page.evaluate(ENCODE_JS, [base64.b64encode(encoder_onnx(m)).decode(),
                                       x.reshape(3, -1).tolist(), list(shape)])
    mu, logvar = m.encode_mean(x)
    np.testing.assert_allclose([g["mu"] for g in got], mu.numpy(), atol=1e-4, rtol=0)
    if kind == "vae":
        np.testing.assert_allclose([g["logvar"] for g in got], logvar.numpy(), atol=1e-4, rtol=0)
        assert np.abs(logvar.numpy()).max() > 0.05            # not a trivial all-zero case
    else:
        assert all(g["logvar"] is None for g in got)


def test_plane_spec_is_the_projection_the_page_uses():
    """The browser lifts a plane point with the spec's numbers exactly as Projection.lift."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 5))
    hold = rng.standard_normal(5)
    for proj in (projections.pca_plane(z, 5), projections.dims_projection(5, (3, 1))):
        spec = latent_plane.plane_spec(proj, hold, ((-3, 3), (-2, 4)))
        mean, comp, held = (np.asarray(spec[k]) for k in ("mean", "comp", "hold"))
        p = np.array([0.7, -1.2])
        t = (held - mean) @ comp.T                       # what view.js computes
        lifted = held + (p - t) @ comp
        np.testing.assert_allclose(lifted, proj.lift(p, hold), atol=1e-3)
        np.testing.assert_allclose((lifted - mean) @ comp.T, p, atol=1e-3)   # it lands on p
        np.testing.assert_allclose(spec["prior_center"], proj.transform(np.zeros(5)), atol=1e-4)
        assert spec["ranges"] == [[-3.0, 3.0], [-2.0, 4.0]] and spec["axis"] == list(proj.axis_titles)


def test_points_are_capped_by_a_fixed_subset_with_their_labels():
    xy = np.arange(2 * 9000, dtype=float).reshape(9000, 2) / 100
    labels = np.arange(9000) % 10
    a, b = latent_plane.points_spec(xy, labels, list("abcdefghij")), latent_plane.points_spec(xy, labels,
                                                                                              list("abcdefghij"))
    assert a == b and len(a["xy"]) == 2 * latent_plane.MAX_POINTS and len(a["labels"]) == latent_plane.MAX_POINTS
    pts = np.asarray(a["xy"]).reshape(-1, 2)
    rows = np.round(pts[:, 0] * 50).astype(int)          # x = 2 row / 100
    assert (np.asarray(a["labels"]) == rows % 10).all()  # each point keeps its own label
    assert latent_plane.points_spec(xy[:10])["labels"] is None and len(latent_plane.points_spec(xy[:10])["xy"]) == 20


def test_payload_sends_the_decoder_only_when_asked():
    dec = latent_plane.BrowserDecoder("k" * 32, "QUJD", 3)
    specs = latent.slider_specs(3, None, None, "vae")
    zs = np.zeros((2, 3))
    with_bytes = latent_plane.payload(dec, latent_dim=3, out_shape=(1, 8, 8), z=[0.123456, 1, 2],
                                      send_decoder=True,
                                      sliders=specs, paths=[("z1", zs, ("−3", "+3"))])
    without = latent_plane.payload(dec, latent_dim=3, out_shape=(1, 8, 8), z=[0.123456, 1, 2],
                                   send_decoder=False)
    assert with_bytes["decoder"] == {"key": dec.key, "b64": "QUJD"} and without["decoder"] == {"key": dec.key}
    assert with_bytes["z"] == [0.1235, 1.0, 2.0] and with_bytes["out_shape"] == [1, 8, 8]
    assert [s["dim"] for s in with_bytes["sliders"]] == [s.dim for s in specs]
    assert with_bytes["paths"] == [{"name": "z1", "zs": [[0.0] * 3] * 2, "ends": ["−3", "+3"]}]
    json.dumps(with_bytes)                                # plain JSON, as the component gets it
    # the decoded image's text alternative names the model; the page's pause switch stops playing
    named = latent_plane.payload(dec, latent_dim=3, out_shape=(1, 8, 8), z=[0, 0, 0], send_decoder=False,
                       model="digits-vae-z2-b1", paused=True)
    assert (named["model"], named["paused"]) == ("digits-vae-z2-b1", True)
    assert (without["model"], without["paused"]) == ("", False)


# ---------------------------------------------------------- the decoder cache

def _user_run(root: Path, seed: int = 0) -> Path:
    cfg = RunConfig.from_dict({"data": {"name": "digits"}, "model": {"hidden": [32]}})
    torch.manual_seed(seed)
    model = build_model(cfg.model, (1, 8, 8), "cpu")
    run_dir = store.new_run_dir(root, "lp-run")
    store.save_run(run_dir, cfg, model, [], {"status": "finished"})
    return run_dir


def test_run_decoder_is_exported_once_per_weights_and_cached_in_the_run(_isolated_runs):
    run_dir = _user_run(_isolated_runs)
    data, key = run_decoder(run_dir)
    cached = run_dir / store.DECODER_ONNX
    assert cached.is_file() and cached.read_bytes() == data and onnx_tag(data) == key == weights_key(run_dir)
    stamp = cached.stat().st_mtime_ns
    assert run_decoder(run_dir) == (data, key) and cached.stat().st_mtime_ns == stamp   # read back
    model = store.load_model(run_dir)                     # new weights: a new key and a new file
    with torch.no_grad():
        model.decoder[-1].bias.add_(1.0)
    store.save_weights(run_dir, model)
    data2, key2 = run_decoder(run_dir)
    assert key2 != key and data2 != data and cached.read_bytes() == data2
    cached.write_bytes(b"not onnx")                       # a damaged cache is replaced
    assert run_decoder(run_dir) == (data2, key2)


def test_a_shipped_run_is_cached_under_the_runs_folder(_isolated_runs):
    run_dir = store.SHIPPED_ROOT / "digits-vae-z2-b1"
    data, key = run_decoder(run_dir)
    assert (_isolated_runs / ".cache" / "decoders" / "digits-vae-z2-b1.onnx").read_bytes() == data
    assert not (run_dir / store.DECODER_ONNX).exists()   # trained/ is never written


def test_a_decoder_over_the_browser_cap_names_the_setting(_isolated_runs):
    cfg = RunConfig.from_dict({"data": {"name": "mnist"}, "model": {"hidden": [2048, 2048]}})
    run_dir = store.new_run_dir(_isolated_runs, "big")
    store.save_run(run_dir, cfg, build_model(cfg.model, (1, 28, 28), "cpu"), [], {"status": "finished"})
    from explorer.export.onnx_check import OnnxError
    with pytest.raises(OnnxError, match=r"model\.hidden"):
        run_decoder(run_dir)


# ------------------------------------------------- no browser: the server decodes

def test_without_a_browser_the_home_page_decodes_on_the_server(page_engine):
    """AppTest is a client that runs no JavaScript: the page says so and keeps its sliders."""
    at = app_test("home.py", default_timeout=120).run()
    assert_page_ok(at)
    assert any(c.value.startswith("ⓘ Decoding on the server: this client is not a web browser")
               for c in at.caption)
    assert len(at.slider) == 2 and at.get("image")


def test_missing_built_files_are_reported_and_the_server_decodes(page_engine, monkeypatch, tmp_path):
    monkeypatch.setattr(latent_plane, "ASSETS", tmp_path / "nothing")
    at = app_test("home.py", default_timeout=120).run()
    assert_page_ok(at)
    (note,) = [c.value for c in at.caption if c.value.startswith("ⓘ Decoding on the server")]
    assert "built files are missing" in note and "README" in note
    assert len(at.slider) == 2 and at.get("image")
