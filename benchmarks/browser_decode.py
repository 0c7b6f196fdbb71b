"""Decoding under the pointer, in the browser: frame rate, latency, server messages.

    python benchmarks/browser_decode.py [--steps 200] [--taps 30] [--cold-repeats 3]
                                        [--url http://127.0.0.1:8501]   # reuse a running server

For each shipped 2-D model (MNIST and digits), in headless Chromium on the Explore page:

* hover: the pointer moves along a path across the latent-plane component in ``--steps``
  steps, one step per animation frame (each pointer event is dispatched between frames,
  as the browser delivers real input). Measured in the page: the frames the component drew
  per second of the move (``hover_fps``); the time from each pointer event to the frame
  that shows its image (``frame_ms``: to the start of the next animation frame after the
  draw, when that frame has been presented: an upper bound); the decode+draw time alone
  (``decode_ms``, performance.now() around it); and the websocket messages the page sent
  to the server while the pointer moved (``server_msgs``, counted by Playwright).
* click (issue 17, "click-to-decode within 200 ms, p95"): ``--taps`` taps (touch pointer
  events: no hover before them) at fresh points of the plane; the time from the tap to the
  frame showing its image (``click_ms``). A tap also pins z, one message to the server.

Then the cold first view (``--cold-repeats`` fresh servers and browsers): navigation to
the home page's first image decoded in the browser, and to Explore's (the decoded image
and the drawn plotly plane). The home page's first view must stay within 4 s.

Then the drawing pad (issue 29), on Explore for each model: ``--draw-steps`` pointer
events (a pen: down, moves, up; a new stroke every 40), one per animation frame. Each
move extends the drawing, so each frame renders the drawing at the data's size, encodes
it (the encoder in the browser), draws q(z|x) on the plane and decodes μ. Measured as for
hover: frames per second (``draw_encode_fps``), the time from each pointer event to the
frame that shows its q(z|x) once presented (``draw_frame_p95_ms``, its 95th percentile),
the work of a frame alone, and the messages the page sent to the server while drawing.

The hover line: ``hover_fps=… frame_p95_ms=… server_msgs=… model=…`` for the worse of the
two models (lower fps, then higher p95), then the click and first-view figures. Goals:
hover_fps ≥ 30, frame_p95_ms ≤ 33, server_msgs = 0 while the pointer moves. The last
line: ``draw_encode_fps=… draw_frame_p95_ms=… draw_server_msgs=… model=…`` (the worse
model); goals ≥ 30 fps, p95 ≤ 33 ms, no server messages while drawing.
``--draw-only`` runs only the drawing part.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MODELS = ("shipped:mnist-vae-z2", "shipped:digits-vae-z2-b1")
READY = ("() => { const h = [...document.querySelectorAll('[data-testid=\"stBidiComponentIsolated\"]')]"
         ".find(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-plane'));"
         " const i = h && h.shadowRoot.querySelector('canvas.lp-image');"
         " return !!(i && i.dataset.decoded === 'browser'); }")

MOVE = """async ([steps, kind]) => {
  const host = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .find(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-plane'));
  const canvas = host.shadowRoot.querySelector('canvas.lp-plane');
  const r = canvas.getBoundingClientRect();
  const S = globalThis.__latentPlaneStats;
  const frame = () => new Promise(res => requestAnimationFrame(res));
  const between = () => new Promise(res => { const c = new MessageChannel(); c.port1.onmessage = res; c.port2.postMessage(0); });
  const rafs = [];
  let on = true;
  const loop = (t) => { rafs.push(t); if (on) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  await frame();
  const n0 = S.frames.length, events = [];
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    await frame();
    await between();                      // input arrives between frames, as real input does
    const t = i / (steps - 1);
    let x, y;
    if (kind === 'hover') {               // across the plane, with a wave: every step a new z
      x = r.left + 38 + t * (r.width - 50);
      y = r.top + 12 + (0.5 + 0.4 * Math.sin(6 * Math.PI * t)) * (r.height - 46);
    } else {                              // taps at scattered points
      x = r.left + 38 + ((i * 0.618034) % 1) * (r.width - 50);
      y = r.top + 12 + ((i * 0.381966 + 0.17) % 1) * (r.height - 46);
    }
    const opts = {clientX: x, clientY: y, bubbles: true, pointerId: 1, isPrimary: true,
                  pointerType: kind === 'hover' ? 'mouse' : 'touch'};
    const ev = new PointerEvent(kind === 'hover' ? 'pointermove' : 'pointerdown', opts);
    events.push(ev.timeStamp);
    canvas.dispatchEvent(ev);
    if (kind !== 'hover') { await frame(); canvas.dispatchEvent(new PointerEvent('pointerup', opts)); }
  }
  await frame(); await frame();
  const t1 = performance.now();
  on = false;
  return {frames: S.frames.slice(n0), events, rafs, t0, t1};
}"""


DRAW = """async ([steps]) => {
  // strokes on the drawing pad: a pointer down, one move per animation frame, up; a new
  // stroke every 40 moves (each move extends the drawing, so every frame encodes anew)
  const host = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .find(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-pad'));
  const pad = host.shadowRoot.querySelector('canvas.lp-pad');
  const r = pad.getBoundingClientRect();
  const S = globalThis.__latentPlaneStats;
  S.draw ||= [];
  const frame = () => new Promise(res => requestAnimationFrame(res));
  const between = () => new Promise(res => {
    const c = new MessageChannel(); c.port1.onmessage = res; c.port2.postMessage(0);
  });
  const rafs = [];
  let on = true;
  const loop = (t) => { rafs.push(t); if (on) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  await frame();
  const n0 = S.draw.length, events = [];
  const t0 = performance.now();
  const at = (i) => {
    const t = (i % 40) / 39, k = Math.floor(i / 40);
    const y = 0.2 + 0.15 * (k % 5) + 0.1 * Math.sin(4 * Math.PI * t);
    return [r.left + r.width * (0.15 + 0.7 * t), r.top + r.height * y];
  };
  const send = (type, i) => {
    const [x, y] = at(i);
    const ev = new PointerEvent(type, {clientX: x, clientY: y, bubbles: true, pointerId: 3, isPrimary: true,
                                       pointerType: 'pen', buttons: type === 'pointerup' ? 0 : 1});
    events.push(ev.timeStamp);
    pad.dispatchEvent(ev);
  };
  for (let i = 0; i < steps; i++) {
    await frame();
    await between();
    if (i % 40 === 0) send('pointerdown', i);
    else send('pointermove', i);
    if (i % 40 === 39) pad.dispatchEvent(new PointerEvent('pointerup', {bubbles: true, pointerId: 3}));
  }
  await frame(); await frame();
  const t1 = performance.now();
  on = false;
  return {frames: S.draw.slice(n0), events, rafs, t0, t1};
}"""


def _pct(a, q):
    return float(np.percentile(np.asarray(a, dtype=float), q)) if len(a) else float("nan")


def analyse(got: dict) -> dict:
    """Per pointer event: the frame that drew it (the first drawn after it) and the next
    animation frame after that draw (when it has been presented)."""
    frames, rafs = got["frames"], np.asarray(got["rafs"])
    lat, dec = [], []
    for ev in got["events"]:
        f = next((f for f in frames if f["event"] >= ev - 1e-6), None)
        if f is None:
            continue
        nxt = rafs[rafs > f["end"]]
        if len(nxt):
            lat.append(float(nxt[0] - ev))
        dec.append(f["end"] - f["start"])
    moved = [f for f in frames if got["t0"] <= f["start"] <= got["t1"]]
    dur = (got["t1"] - got["t0"]) / 1000
    return {"fps": len(moved) / dur if dur > 0 else 0.0, "lat": lat, "dec": dec, "n": len(moved)}


def bench_model(url: str, model: str, steps: int, taps: int) -> dict:
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, wait_for_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(time.perf_counter())))
        page.goto(f"{url}/Explore?model={model}", timeout=120_000)
        page.wait_for_function(READY, timeout=120_000)
        wait_for_app(page, timeout=120_000)
        page.wait_for_timeout(1500)
        page.evaluate(MOVE, [40, "hover"])                     # warm the JIT
        n_before = len(sent)
        hover = analyse(page.evaluate(MOVE, [steps, "hover"]))
        msgs = len(sent) - n_before
        tap = analyse(page.evaluate(MOVE, [taps, "tap"]))
        wait_for_app(page, timeout=60_000)
        browser.close()
    return {"model": model.split(":", 1)[1], "fps": hover["fps"], "p95": _pct(hover["lat"], 95),
            "p50": _pct(hover["lat"], 50), "dec95": _pct(hover["dec"], 95), "msgs": msgs,
            "click95": _pct(tap["lat"], 95), "click50": _pct(tap["lat"], 50)}


def bench_draw(url: str, model: str, steps: int) -> dict:
    """Strokes on the drawing pad of Explore: frames encoded and drawn per second, the time
    from each pointer event to the frame that shows its q(z|x), messages to the server."""
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, wait_for_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(time.perf_counter())))
        page.goto(f"{url}/Explore?model={model}", timeout=120_000)
        page.wait_for_function(READY_PAD, timeout=120_000)
        wait_for_app(page, timeout=120_000)
        page.wait_for_timeout(1500)
        page.evaluate(DRAW, [40])                               # warm the JIT
        n_before = len(sent)
        got = analyse(page.evaluate(DRAW, [steps]))
        msgs = len(sent) - n_before
        browser.close()
    return {"model": model.split(":", 1)[1], "fps": got["fps"], "p95": _pct(got["lat"], 95),
            "p50": _pct(got["lat"], 50), "enc95": _pct(got["dec"], 95), "msgs": msgs}


READY_PAD = ("() => [...document.querySelectorAll('[data-testid=\"stBidiComponentIsolated\"]')]"
             ".some(h => h.shadowRoot && h.shadowRoot.querySelector('canvas.lp-pad[data-mu]'))")


FIRST_EXPLORE = ("() => [...document.querySelectorAll('.js-plotly-plot')].some(d => d._fullData"
                 " && d._fullData.some(t => t.name === 'click grid') && d.querySelector('.main-svg'))")


def bench_cold() -> tuple[float, float]:
    """A fresh server and browser: navigation to the first decoded image (home; Explore)."""
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server
    out = []
    for path, extra in (("/", None), ("/Explore?model=shipped:digits-vae-z2-b1", FIRST_EXPLORE)):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "runs").mkdir()
            server = start_server(Path(tmp), {"LATENT_EXPLORER_MAX_JOBS": "1"})
            server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
            try:
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t0 = time.perf_counter()
                    page.goto(server.url + path, timeout=120_000)
                    page.wait_for_function(READY, timeout=120_000, polling="raf")
                    if extra:
                        page.wait_for_function(extra, timeout=120_000, polling="raf")
                    out.append(time.perf_counter() - t0)
                    browser.close()
            finally:
                stop_server(server)
    return out[0], out[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--taps", type=int, default=30)
    ap.add_argument("--url", default=None, help="a running server (default: start one)")
    ap.add_argument("--cold-repeats", type=int, default=3, help="fresh servers for the first view (0: skip)")
    ap.add_argument("--draw-steps", type=int, default=200, help="pointer moves on the drawing pad (0: skip)")
    ap.add_argument("--draw-only", action="store_true", help="only the drawing run (and no cold views)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")

    draws: list[dict] = []

    def run_all(url: str) -> list[dict]:
        out = [bench_model(url, m, args.steps, args.taps) for m in MODELS if not args.draw_only]
        if args.draw_steps:
            draws.extend(bench_draw(url, m, args.draw_steps) for m in MODELS)
        return out
    if args.url:
        results = run_all(args.url)
    else:
        from conftest import start_server, stop_server
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "runs").mkdir()
            server = start_server(Path(tmp), {"LATENT_EXPLORER_MAX_JOBS": "1"})
            server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
            try:
                results = run_all(server.url)
            finally:
                stop_server(server)
    for r in results:
        print(f"{r['model']:>18}: hover {r['fps']:5.1f} fps; pointer → painted median {r['p50']:5.1f} ms, "
              f"p95 {r['p95']:5.1f} ms; decode+draw p95 {r['dec95']:5.2f} ms; server messages while "
              f"moving {r['msgs']}; tap → painted median {r['click50']:5.1f} ms, p95 {r['click95']:5.1f} ms")
    cold = ""
    if args.cold_repeats and not args.draw_only:
        homes, explores = zip(*(bench_cold() for _ in range(args.cold_repeats)))
        print(f"first view, cold server: home median {1000 * np.median(homes):.0f} ms (each "
              + " ".join(f"{1000 * h:.0f}" for h in homes) + f"), Explore median {1000 * np.median(explores):.0f} ms "
              "(each " + " ".join(f"{1000 * e:.0f}" for e in explores) + ")   home target ≤ 4000 ms")
        cold = f" home_first_view_ms={1000 * np.median(homes):.0f} explore_first_view_ms={1000 * np.median(explores):.0f}"
    if results:
        worst = min(results, key=lambda r: (r["fps"], -r["p95"]))
        click95 = max(r["click95"] for r in results)
        print(f"hover_fps={worst['fps']:.1f} frame_p95_ms={worst['p95']:.1f} server_msgs={worst['msgs']} "
              f"model={worst['model']} click_p95_ms={click95:.1f}{cold}")
    if draws:
        for r in draws:
            print(f"{r['model']:>18}: drawing {r['fps']:5.1f} fps; stroke → painted median {r['p50']:5.1f} ms, "
                  f"p95 {r['p95']:5.1f} ms; render+encode+decode+draw p95 {r['enc95']:5.2f} ms; server "
                  f"messages while drawing {r['msgs']}")
        w = min(draws, key=lambda r: (r["fps"], -r["p95"]))
        print(f"draw_encode_fps={w['fps']:.1f} draw_frame_p95_ms={w['p95']:.1f} draw_server_msgs={w['msgs']} "
              f"model={w['model']}")


if __name__ == "__main__":
    main()
