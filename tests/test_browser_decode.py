"""Decoding under the pointer, in a real Chromium against `streamlit run`.

The latent-plane component decodes the z under the pointer in the browser: the image it
draws must be the server's decode of that z (PyTorch, here in the test) to within
2/255 per pixel (the browser's float sums and rounding to 8 bits), change as the pointer
moves, cost no server message while it moves, and a click (a tap, Enter) must bring the
z back to Python. Where the browser cannot decode, the page decodes on the server.

The tests share the test process's server (``shared_server``: they read the shipped runs; the
last trains a run of its own and stops it) and one Chromium profile, one person: what a page
keeps (a pinned z, a decoder the tab forgot) lives in that tab's session, and each test opens
its own tabs and closes them at its end.
"""
from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
import torch
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from conftest import POLL_MS, assert_no_error, module_profile, painted, screenshot, wait_for_app
from explorer import store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("close_tabs")]

PIXEL_TOL = 2          # of 255, per pixel
READY = ("() => { const i = [...document.querySelectorAll('[data-testid=\"stBidiComponentIsolated\"]')]"
         ".map(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-image')).find(i => i);"
         " return !!(i && i.dataset.decoded === 'browser'); }")
PIXELS = """([el, h, w]) => {
  // the drawn image, read at the centre of each of the item's h × w pixels (red channel)
  const g = el.getContext('2d'), out = [];
  const d = g.getImageData(0, 0, el.width, el.height).data;
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
    const x = Math.floor((j + 0.5) * el.width / w), y = Math.floor((i + 0.5) * el.height / h);
    out.push(d[4 * (y * el.width + x)]);
  }
  return out;
}"""
FRAME = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# the component's module, as Streamlit loaded it (the same instance: the same URL)
MODULE = "import(document.querySelector('script[type=module][src*=\"latent_plane.js\"]').src)"

@pytest.fixture(scope="module")
def server(shared_server):
    return shared_server


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """One Chromium profile for the module (a launch per test cost ~2.5 CPU-s)."""
    yield from module_profile(tmp_path_factory, "decode_profile")


def _open(page, url: str) -> list:
    """Go to ``url``; returns the list that collects the websocket messages the page sends."""
    sent: list = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(payload)))
    page.goto(url, timeout=120_000)
    page.wait_for_function(READY, timeout=120_000, polling=POLL_MS)
    wait_for_app(page, timeout=60_000)
    return sent


def _shown(page, index: int = 0):
    """(the z drawn now, its image canvas) of the ``index``-th component, after two frames."""
    page.evaluate(FRAME)
    img = page.locator("canvas.lp-image").nth(index)
    return np.asarray(json.loads(img.get_attribute("data-z")), dtype=np.float64), img


def _pixels(page, img, shape) -> np.ndarray:
    _, h, w = shape
    return np.asarray(page.evaluate(PIXELS, [img.element_handle(), h, w]), dtype=np.int64).reshape(h, w)


def _server_pixels(model, z) -> np.ndarray:
    x = model.decode_mean(torch.as_tensor(np.asarray(z)[None], dtype=torch.float32))[0, 0].numpy()
    return np.round(255 * np.clip(x, 0, 1)).astype(np.int64)


def _at(page, fx: float, fy: float, index: int = 0) -> tuple[float, float]:
    box = page.locator("canvas.lp-plane").nth(index).bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def _hover_matches_server(page, model, fx, fy, index=0) -> tuple[np.ndarray, np.ndarray]:
    page.mouse.move(*_at(page, fx, fy, index), steps=4)
    z, img = _shown(page, index)
    got = _pixels(page, img, model.data_shape)
    want = _server_pixels(model, z)
    assert np.abs(got - want).max() <= PIXEL_TOL, (z, np.abs(got - want).max())
    return z, got


def _pinned_caption(page) -> str:
    page.get_by_text(re.compile(r"^📌 Pinned: z = ")).first.wait_for(timeout=30_000)
    return page.get_by_text(re.compile(r"^📌 Pinned: z = ")).first.inner_text()


def _fmt(z) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in z) + ")"


def test_home_plane_decodes_under_the_pointer_and_a_click_pins_z(server, browser_context):
    model = store.load_model(store.SHIPPED_ROOT / "digits-vae-z2-b1", device="cpu")
    page = browser_context.new_page()
    sent = _open(page, server.url + "/?model=digits-vae-z2-b1")     # the 8×8 model (home opens on MNIST)
    assert_no_error(page)
    n0 = len(sent)
    z1, img1 = _hover_matches_server(page, model, 0.30, 0.35)
    z2, img2 = _hover_matches_server(page, model, 0.70, 0.62)
    for fx in np.linspace(0.2, 0.8, 25):                 # a sweep across the plane
        page.mouse.move(*_at(page, fx, 0.5))
    z3, img3 = _hover_matches_server(page, model, 0.55, 0.25)
    assert len(sent) == n0, "the pointer's moves sent messages to the server"
    assert np.abs(z1 - z2).min() > 0.3 and np.abs(img1 - img2).mean() > 5      # a new z, a new image
    screenshot(page, "browser_decode_home_hover")

    page.mouse.click(*_at(page, 0.62, 0.40))             # a click pins z: Python gets it
    z_click, _ = _shown(page)
    wait_for_app(page)
    assert _pinned_caption(page).startswith(f"📌 Pinned: z = {_fmt(z_click)}")
    assert len(sent) > n0
    link = page.get_by_role("link", name="open it in Explore")
    assert f"z={z_click[0]:.2f},{z_click[1]:.2f}" in link.get_attribute("href")

    plane = page.locator("canvas.lp-plane").first        # the keyboard: arrows move, Enter pins
    plane.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowUp")
    z_keys, _ = _shown(page)
    assert z_keys[0] > z_click[0] + 0.1 and z_keys[1] > z_click[1] + 0.05
    page.keyboard.press("Enter")
    wait_for_app(page)
    page.wait_for_function(f"() => document.body.innerText.includes('Pinned: z = {_fmt(z_keys)}')",
                           timeout=30_000, polling=POLL_MS)

    x, y = _at(page, 0.25, 0.75)                         # a finger: touch down, drag, lift
    page.evaluate("""([x, y]) => {
      const c = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
          .map(h => h.shadowRoot.querySelector('canvas.lp-plane')).find(c => c);
      const ev = (type, dx) => c.dispatchEvent(new PointerEvent(type, {clientX: x + dx, clientY: y,
          pointerType: 'touch', pointerId: 7, isPrimary: true, bubbles: true}));
      ev('pointerdown', -30); ev('pointermove', -15); ev('pointerup', 0);
    }""", [x, y])
    z_touch, _ = _shown(page)
    wait_for_app(page)
    page.wait_for_function(f"() => document.body.innerText.includes('Pinned: z = {_fmt(z_touch)}')",
                           timeout=30_000, polling=POLL_MS)
    assert_no_error(page)
    screenshot(page, "browser_decode_home_pinned")

    # a tab that lost its decoder (the cache dropped it) asks, and the server sends it again
    key = page.locator("canvas.lp-image").first.get_attribute("data-key")
    keys = page.evaluate(MODULE + ".then(m => { m.forget(arguments[0]); return m.decoderKeys(); })"
                         .replace("arguments[0]", repr(key)))
    assert key not in keys
    page.mouse.click(*_at(page, 0.45, 0.55))             # a pin reruns the page: the component
    wait_for_app(page)                                   # finds no decoder and says `need`
    page.wait_for_function(MODULE + f".then(m => m.decoderKeys().includes({key!r}))", timeout=30_000, polling=POLL_MS)
    _hover_matches_server(page, model, 0.33, 0.66)


def _q(page) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """The pad's last encoding: (its input image, μ, log σ², the 1σ ellipse on the plane)."""
    page.evaluate(FRAME)
    pad = page.locator("canvas.lp-pad").first
    x = np.asarray(pad.evaluate("el => Array.from(el.lastX)"), dtype=np.float32)
    return (x, np.asarray(json.loads(pad.get_attribute("data-mu"))),
            np.asarray(json.loads(pad.get_attribute("data-logvar"))),
            json.loads(pad.get_attribute("data-ellipse") or "null"))


def _stroke(page, points, steps=6):
    """Draw one stroke on the pad through ``points`` (shares of its side), with the mouse."""
    pad = page.locator("canvas.lp-pad").first
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for xy in at[1:]:
        page.mouse.move(*xy, steps=steps)
    page.mouse.up()


def test_drawing_moves_q_on_the_plane_as_pytorch_encodes_it(server, browser_context):
    """Draw and watch the encoder: strokes on the pad are encoded in the browser (μ and log σ²
    as PyTorch gives them for the same image), the 1σ ellipse and the readout move with each
    stroke, nothing goes to the server while drawing; sample z, clear, a starting drawing."""
    model = store.load_model(store.SHIPPED_ROOT / "digits-vae-z2-b1", device="cpu")
    page = browser_context.new_page()
    sent = _open(page, server.url + "/?model=digits-vae-z2-b1")
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stBidiComponentIsolated\"]')]"
                           ".some(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-pad[data-mu]'))",
                           timeout=60_000, polling=POLL_MS)
    assert_no_error(page)
    n0 = len(sent)
    _, mu_blank, _, _ = _q(page)
    readout = page.locator(".lp-draw-q").first
    _stroke(page, [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)])                 # a 1
    x1, mu1, lv1, e1 = _q(page)
    text1 = readout.inner_text()
    _stroke(page, [(0.25, 0.2), (0.75, 0.2)])                              # ... and a bar: a 7-ish
    _stroke(page, [(0.3, 0.5), (0.7, 0.5)])
    x2, mu2, lv2, e2 = _q(page)
    assert x1.shape == (64,) and x1.max() > 0.5 and np.abs(x2 - x1).sum() > 1.0
    for x, mu, lv in ((x1, mu1, lv1), (x2, mu2, lv2)):                     # the browser's q = PyTorch's
        want_mu, want_lv = model.encode_mean(torch.as_tensor(x).reshape(1, 1, 8, 8))
        np.testing.assert_allclose(mu, want_mu[0].numpy(), atol=1e-4)
        np.testing.assert_allclose(lv, want_lv[0].numpy(), atol=1e-4)
    assert np.abs(mu1 - mu_blank).max() > 0.1 and np.abs(mu2 - mu1).max() > 0.1
    assert np.hypot(*np.subtract(e2["centre"], e1["centre"])) > 3            # the ellipse moved (pixels)
    assert e1["axes"] == pytest.approx(sorted(np.exp(lv1 / 2), reverse=True), rel=1e-3)   # 2-D: axes = σ
    assert readout.inner_text() != text1 and "μ = " in text1
    z_img, _ = _shown(page)                                                # the image beside: decoder at μ
    np.testing.assert_allclose(z_img, mu2, atol=1e-4)
    assert len(sent) == n0, "drawing sent messages to the server"
    screenshot(page, "browser_draw_home")

    page.get_by_role("button", name=re.compile("Sample z")).first.click()  # z = μ + σ ⊙ ε
    page.get_by_role("button", name=re.compile("Sample z")).first.click()
    samples = page.locator(".lp-samples").first
    assert samples.get_attribute("data-n") == "2"
    eps = np.asarray(json.loads(samples.get_attribute("data-eps")))
    z = mu2 + np.exp(lv2 / 2) * eps
    # as the component writes a number: |v| < 0.005 is "0.00", never "-0.00" (a z₂ of -0.003 failed here)
    shown = ", ".join("0.00" if abs(v) < 5e-3 else f"{v:.2f}" for v in z)
    assert f"z = μ + σ ⊙ ε = ({shown})" in samples.inner_text()
    assert page.locator("figure.lp-sample-fig canvas").count() == 2

    page.get_by_role("button", name="clear").first.click()                 # clear: back to a blank pad
    _, mu_clear, _, _ = _q(page)
    np.testing.assert_allclose(mu_clear, mu_blank, atol=1e-6)
    page.get_by_role("combobox", name="start from a drawing").first.select_option(label="a 0")
    x0, mu0, _, _ = _q(page)
    assert x0.max() > 0.5 and np.abs(mu0 - mu_blank).max() > 0.1
    page.get_by_role("button", name="invert").first.click()                # invert: ink becomes paper
    xi, _, _, _ = _q(page)
    np.testing.assert_allclose(xi, 1 - x0, atol=1e-6)
    assert len(sent) == n0, "the pad's buttons sent messages to the server"
    assert_no_error(page)


def test_explore_plane_sliders_and_play_decode_in_the_browser(server, browser_context):
    """A 20-D model: the PCA plane with the other coordinates held; the sliders decode while
    dragged and play, without the server; a click sets the page's z (the URL shows it)."""
    model = store.load_model(store.SHIPPED_ROOT / "mnist-vae-z20", device="cpu")
    page = browser_context.new_page()
    sent = _open(page, f"{server.url}/Explore?model=shipped:mnist-vae-z20")
    assert_no_error(page)
    n0 = len(sent)
    z1, _ = _hover_matches_server(page, model, 0.35, 0.40)
    z2, _ = _hover_matches_server(page, model, 0.75, 0.70)
    assert z1.shape == (20,) and np.abs(z1 - z2).max() > 0.3
    slider = page.locator(".lp-slider input[type=range]").first      # the most important dimension
    dim = int(re.match(r"z(\d+)", slider.get_attribute("aria-label")).group(1)) - 1
    page.mouse.move(10, 10)                                           # off the plane: back to the pinned z
    slider.evaluate("el => { el.value = el.max * 0.8; el.dispatchEvent(new Event('input')); }")
    z3, img = _shown(page)
    assert abs(z3[dim] - float(slider.get_attribute("max")) * 0.8) < 0.011
    assert np.abs(_pixels(page, img, model.data_shape) - _server_pixels(model, z3)).max() <= PIXEL_TOL
    play = page.locator(".lp-slider .lp-play").first
    play.click()
    seen = set()
    for _ in range(12):
        painted(page, 4)                                  # a few frames of the animation
        seen.add(round(float(_shown(page)[0][dim]), 3))
    assert len(seen) >= 6, seen                                       # it animates, in the browser
    assert len(sent) == n0, "hovering, dragging or playing sent messages to the server"
    play.click()                                                      # stop: pins where it is
    wait_for_app(page)

    page.mouse.click(*_at(page, 0.6, 0.3))                            # a click: the page's z
    z_click, _ = _shown(page)
    wait_for_app(page)
    want = ",".join(f"{v:.2f}" for v in z_click)
    page.wait_for_function(f"() => decodeURIComponent(location.search).includes('z={want}')", timeout=30_000, polling=POLL_MS)
    assert_no_error(page)
    screenshot(page, "browser_decode_explore")


def test_traversal_plays_in_the_browser(server, browser_context):
    model = store.load_model(store.SHIPPED_ROOT / "digits-vae-z2-b1", device="cpu")
    page = browser_context.new_page()
    sent = _open(page, f"{server.url}/Explore?model=shipped:digits-vae-z2-b1&tab=Traversals")
    page.locator(".lp-paths .lp-play").first.wait_for(timeout=60_000)
    wait_for_app(page)
    n0 = len(sent)
    scrub = page.locator(".lp-scrub").first
    scrub.evaluate("el => { el.value = 900; el.dispatchEvent(new Event('input')); }")
    idx = page.locator("canvas.lp-image").count() - 1                 # the traversal's own image
    z, img = _shown(page, idx)
    assert np.abs(_pixels(page, img, model.data_shape) - _server_pixels(model, z)).max() <= PIXEL_TOL
    page.locator(".lp-paths .lp-play").first.click()
    zs = set()
    for _ in range(10):
        painted(page, 4)                                  # a few frames of the animation
        zs.add(tuple(np.round(_shown(page, idx)[0], 3)))
    assert len(zs) >= 5 and len(sent) == n0
    assert_no_error(page)
    page.locator(".lp-scrub").first.scroll_into_view_if_needed()
    screenshot(page, "browser_decode_traversal")


def test_without_the_component_the_server_decodes(server, browser_context):
    """The fallback: asked for in the link, or a browser that cannot draw the decoded image
    (its canvas refuses): a one-line notice, then the server's sliders and image."""
    page = browser_context.new_page()
    page.goto(f"{server.url}/?decode=server", timeout=120_000)
    wait_for_app(page, timeout=60_000)
    page.get_by_text("ⓘ Decoding on the server: asked for in the link").wait_for(timeout=30_000)
    page.locator('[data-testid="stSlider"]').nth(1).wait_for(timeout=30_000)     # z₁ and z₂
    page.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
    assert page.locator("canvas.lp-plane").count() == 0

    broken = browser_context.new_page()
    broken.add_init_script("CanvasRenderingContext2D.prototype.putImageData = function () {"
                           " throw new Error('no canvas here'); };")
    broken.goto(server.url, timeout=120_000)
    broken.get_by_text(re.compile("ⓘ Decoding on the server: this browser could not run the decoder"
                                  r" \(no canvas here\)")).wait_for(timeout=60_000)
    wait_for_app(broken)
    broken.locator('[data-testid="stSlider"]').nth(1).wait_for(timeout=30_000)
    broken.locator('[data-testid="stImage"] img').first.wait_for(timeout=30_000)
    assert broken.locator("canvas.lp-plane").count() == 0
    assert_no_error(broken)
    screenshot(broken, "browser_decode_fallback")


def test_a_live_run_decodes_with_its_latest_checkpoint(server, browser_context):
    page = browser_context.new_page()
    page.goto(f"{server.url}/Train", timeout=120_000)
    wait_for_app(page, timeout=60_000)
    page.get_by_role("button", name="Start").click()
    page.wait_for_function(READY, timeout=120_000, polling=POLL_MS)
    key = lambda: page.locator("canvas.lp-image").first.get_attribute("data-key")  # noqa: E731
    first = key()
    t_end = time.time() + 60
    while key() == first and time.time() < t_end:         # a newer checkpoint reaches the browser
        page.wait_for_timeout(500)
    assert key() != first
    page.mouse.move(*_at(page, 0.4, 0.4), steps=3)
    page.evaluate(FRAME)
    assert page.locator("canvas.lp-image").first.get_attribute("data-decoded") == "browser"
    assert_no_error(page)
    # the drawing pad beside the live plane: the latest checkpoint's encoder reads a stroke
    page.locator("canvas.lp-pad[data-mu]").first.wait_for(timeout=60_000)
    _stroke(page, [(0.5, 0.15), (0.5, 0.85)])
    _, mu, lv, ellipse = _q(page)
    assert mu.shape == (2,) and lv.shape == (2,) and ellipse is not None
    page.locator("canvas.lp-plane").first.scroll_into_view_if_needed()
    screenshot(page, "browser_decode_train")
    # the run has served: stopped unless it has finished (the server is shared)
    stop = page.get_by_role("button", name="Stop")
    if stop.count():
        try:
            stop.click(timeout=5_000)
        except PlaywrightTimeout:                         # it finished meanwhile: no button
            pass
    page.get_by_text(re.compile(r"^(Run stopped .* at step [0-9,]+; it is saved|Finished )")).first.wait_for(timeout=60_000)
