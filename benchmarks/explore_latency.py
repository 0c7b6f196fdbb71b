"""Explore page latency: slider move to decoded image, and the first view from a cold server.

    python benchmarks/explore_latency.py [--moves 30] [--model shipped:digits-vae-z2-b1]
                                         [--url http://127.0.0.1:8501]   # reuse a running server

Three measurements, each printed as median / p95 in milliseconds:

(a) compute: what one slider move costs the server in pure Python — the decoder's forward
    pass for one z, the enlargement, and the PNG encoding ``st.image`` does — looped in
    this process (no Streamlit);
(b) server: the decoder panel's own time in the running app (the page's
    "decoded in … ms on the server" caption: the fragment's run from its first line to the
    image and sliders), read after each slider move in the browser;
(c) browser: in headless Chromium, from the key press that moves a slider (ArrowRight on
    the focused slider) to the new decoded image loaded in the page (its <img> fires
    "load": the delta has arrived, React has rendered it, the PNG has been fetched).

Then (d) first view: a fresh ``streamlit run`` (no page run yet; the server answers its
health check once its start-up warm-up is done, see ``explorer/ui/warmup.py``) and a fresh
browser (nothing cached), the time from navigation to the decoded image and the drawn
plane; repeated ``--cold-repeats`` times with a new server each time. Targets (the issue): (b) p95 ≤ 50 ms, (c) p95 ≤ 300 ms, (d) ≤ 4 s.

The machine matters: on a shared, busy CPU every number grows; the load average is
printed with the results.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CAPTION = re.compile(r"decoder mean at z = \(")
SERVER_MS = re.compile(r"decoded in ([\d.]+) ms on the server")


def stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    return f"median {np.median(a):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={len(a)})"


def bench_compute(model_key: str, n: int) -> list[float]:
    """(a) decode one z + enlarge + PNG-encode, as the decoder panel does."""
    from PIL import Image

    from explorer import store
    from explorer.analysis import latent
    from explorer.figures.common import image_grid, upscale
    run_dir = store.SHIPPED_ROOT / model_key.split(":", 1)[1]
    model = store.load_model(run_dir)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n + 5):
        t0 = time.perf_counter()
        img = latent.decode(model, rng.standard_normal((1, model.latent_dim)))[0]
        tile = image_grid(img[None], pad=0)
        big = upscale(tile, max(1, 280 // tile.shape[0]))
        Image.fromarray(np.uint8(big * 255)).save(io.BytesIO(), format="PNG")
        if i >= 5:                       # the first few warm torch up
            out.append(1000 * (time.perf_counter() - t0))
    return out


def _launch(p):
    from conftest import CHROMIUM, CHROMIUM_ARGS
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    return browser, browser.new_page(viewport={"width": 1400, "height": 1000})


WATCH = """() => {
  // the time the decoded image (the <img> beside the "decoder mean at z" caption) has
  // loaded a new picture; key presses are time-stamped by the browser itself
  window.__changes = [];
  const img = () => {
    const cap = [...document.querySelectorAll('[data-testid="stImageCaption"]')]
        .find(n => n.textContent.startsWith('decoder mean at z = ('));
    return cap && cap.parentElement.querySelector('img');
  };
  let last = img() && img().src;
  new MutationObserver(() => {
    const i = img();
    if (i && i.src !== last) {
      last = i.src;
      const done = () => window.__changes.push(performance.now());
      if (i.complete && i.naturalWidth > 0) done(); else i.addEventListener('load', done, {once: true});
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  window.__keys = [];
  document.addEventListener('keydown', e => window.__keys.push(e.timeStamp), true);
}"""


def bench_slider(url: str, model_key: str, moves: int) -> tuple[list[float], list[float]]:
    """(b) and (c): move the first latent slider with the keyboard ``moves`` times."""
    from playwright.sync_api import sync_playwright

    from conftest import wait_for_app
    server_ms, browser_ms = [], []
    with sync_playwright() as p:
        browser, page = _launch(p)
        page.goto(f"{url}/Explore?model={model_key}&decode=server", timeout=120_000)   # the server path
        page.get_by_text(CAPTION).first.wait_for(timeout=120_000)
        wait_for_app(page, timeout=120_000)
        page.wait_for_timeout(1000)
        page.evaluate(WATCH)
        slider = page.locator('input[type="range"][aria-label^="z"]').first
        slider.focus()
        for i in range(moves):
            n0 = page.evaluate("window.__changes.length")
            page.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
            page.wait_for_function(f"window.__changes.length > {n0}", timeout=30_000)
            wait_for_app(page, timeout=30_000)
            keys, changes = page.evaluate("[window.__keys, window.__changes]")
            browser_ms.append(changes[-1] - keys[-1])
            m = SERVER_MS.search(page.get_by_text(SERVER_MS).first.inner_text())
            server_ms.append(float(m.group(1)))
        browser.close()
    return server_ms, browser_ms


def bench_cold(model_key: str) -> tuple[float, float]:
    """(d) a fresh server; navigation to decoded image + drawn plane. Returns (s, server start s)."""
    from playwright.sync_api import sync_playwright

    from conftest import start_server, stop_server
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "runs").mkdir()
        t_start = time.perf_counter()
        server = start_server(tmp, {"LATENT_EXPLORER_MAX_JOBS": "1"})
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
        started = time.perf_counter() - t_start
        try:
            with sync_playwright() as p:
                browser, page = _launch(p)
                t0 = time.perf_counter()
                page.goto(f"{server.url}/Explore?model={model_key}&decode=server", timeout=120_000)
                page.wait_for_selector('[data-testid="stImage"] img', timeout=120_000)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.js-plotly-plot')].some(d => d._fullData"
                    " && d._fullData.some(t => t.name === 'click grid') && d.querySelector('.main-svg'))",
                    timeout=120_000)
                first_view = time.perf_counter() - t0
                browser.close()
        finally:
            stop_server(server)
    return first_view, started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=30)
    ap.add_argument("--model", default="shipped:digits-vae-z2-b1")
    ap.add_argument("--url", default=None, help="a running server (default: start one)")
    ap.add_argument("--skip-cold", action="store_true")
    ap.add_argument("--cold-repeats", type=int, default=3, help="fresh servers for (d)")
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} "
          f"{os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    print(f"(a) compute, decode + PNG:      {stats(bench_compute(args.model, 200))}")
    if not args.skip_cold:
        views, starts = zip(*(bench_cold(args.model) for _ in range(args.cold_repeats)))
        each = " ".join(f"{1000 * v:.0f}" for v in views)
        print(f"(d) first view, cold server:   median {1000 * float(np.median(views)):7.0f} ms   "
              f"(each: {each} ms; server ready {np.median(starts):.1f} s after launch, "
              f"warm-up included)   target ≤ 4000 ms")
    if args.url:
        server_ms, browser_ms = bench_slider(args.url, args.model, args.moves)
    else:
        from conftest import start_server, stop_server
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "runs").mkdir()
            server = start_server(Path(tmp), {"LATENT_EXPLORER_MAX_JOBS": "1"})
            server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
            try:
                server_ms, browser_ms = bench_slider(server.url, args.model, args.moves)
            finally:
                stop_server(server)
    print(f"(b) server, slider → image:    {stats(server_ms)}   target p95 ≤ 50 ms")
    print(f"(c) browser, key → new image:  {stats(browser_ms)}   target p95 ≤ 300 ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
