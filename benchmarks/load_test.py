"""A classroom on one server: N concurrent browser sessions for a bounded time, on loopback.

    python benchmarks/load_test.py [--sessions 20] [--minutes 10] [--trainers 6] [--max-jobs 2]

Starts `streamlit run app.py` on a free loopback port (its own runs folder), then drives N
sessions of one headless Debian Chromium (Playwright, one browser context per session):

* every session repeatedly moves the home page's decode slider (the latency is the time from
  the key press to the decoded image's new caption) and now and then opens the Explore and
  Theory pages (time to a rendered page);
* the first ``--trainers`` sessions also start a short digits run on the Train page at the
  beginning (so training runs while the others move sliders) and record their queue wait:
  the time from Start until the page shows the run's progress.

Bounded in count and time, loopback only. Reports interactions served, errors, p50/p95
latency per kind (slider latency separately while training ran), queue waits, and the
server's memory (server + workers, RSS) at start and end. Last line:
``sessions=… interactions=… errors=… slider_p50_ms=… slider_p95_ms=… slider_train_p95_ms=…
mem_start_mb=… mem_end_mb=… mem_growth=…``
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MAX_INTERACTIONS_PER_SESSION = 2000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, max_jobs: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "LATENT_EXPLORER_RUNS": str(runs), "LATENT_EXPLORER_MAX_JOBS": str(max_jobs)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port",
                             str(port), "--server.address", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def server_rss_mb(proc: subprocess.Popen) -> tuple[float, float]:
    """(server process RSS, its worker processes' RSS), in MiB."""
    p = psutil.Process(proc.pid)
    workers = 0
    for q in p.children(recursive=True):
        try:
            workers += q.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return p.memory_info().rss / 2**20, workers / 2**20


class Stats:
    def __init__(self):
        self.lat: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.queue_waits: list[float] = []
        self.training = False          # a worker process is busy right now

    def add(self, kind: str, seconds: float) -> None:
        self.lat.setdefault(kind, []).append(seconds * 1000)


async def wait_ready(page, timeout=60_000):
    await page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)


async def error_text(page) -> str:
    """The text of the first error element on the page, or ''."""
    loc = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return (await loc.first.inner_text())[:160] if await loc.count() else ""


async def slider_move(page, stats: Stats, direction: str) -> None:
    caption = page.get_by_text("decoder mean at z").first
    before = await caption.inner_text()
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    await thumb.focus()
    t0 = time.perf_counter()
    await thumb.press(direction)
    await page.wait_for_function(
        "(b) => { const e = [...document.querySelectorAll('*')].find(n => n.childElementCount === 0"
        " && n.textContent.startsWith('decoder mean at z')); return e && e.textContent !== b; }",
        arg=before, timeout=30_000)
    dt = time.perf_counter() - t0
    stats.add("slider", dt)
    if stats.training:
        stats.add("slider_while_training", dt)


async def open_page(page, url: str, kind: str, stats: Stats) -> None:
    t0 = time.perf_counter()
    await page.goto(url)
    await wait_ready(page)
    stats.add(kind, time.perf_counter() - t0)


async def start_training(page, url: str, stats: Stats, epochs: int) -> None:
    await page.goto(url + "/Train")
    await wait_ready(page, timeout=120_000)
    await page.get_by_text("Training", exact=True).click()      # open the sidebar's expander
    ep = page.get_by_role("spinbutton", name="Epochs")
    await ep.fill(str(epochs), timeout=120_000)
    await ep.press("Enter")
    await wait_ready(page)
    t0 = time.perf_counter()
    await page.get_by_role("button", name="Start").click()
    await page.get_by_text("images/s").first.wait_for(timeout=600_000)
    stats.queue_waits.append(time.perf_counter() - t0)


async def session(i: int, browser, url: str, stats: Stats, t_end: float, trainer: bool,
                  epochs: int) -> None:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    page.on("pageerror", lambda e: stats.errors.append(f"s{i} pageerror: {e}"))
    n = 0
    await asyncio.sleep(1.5 * i)                 # people arrive over half a minute, not at once
    try:
        if trainer:
            try:
                await start_training(page, url, stats, epochs)
            except Exception as e:  # noqa: BLE001 - counted as an error, the session goes on
                stats.errors.append(f"s{i} start training: {type(e).__name__}: {str(e)[:120]}")
        try:
            await open_page(page, url, "open_home", stats)
        except Exception as e:  # noqa: BLE001
            stats.errors.append(f"s{i} first view: {type(e).__name__}: {str(e)[:120]}")
        while time.time() < t_end and n < MAX_INTERACTIONS_PER_SESSION:
            n += 1
            try:
                if n % 25 == 0:
                    await open_page(page, url + ("/Explore" if n % 50 == 0 else "/Theory"), "open_page", stats)
                    await open_page(page, url, "open_home", stats)
                else:
                    await slider_move(page, stats, "ArrowRight" if (n // 10) % 2 == 0 else "ArrowLeft")
                err = await error_text(page)
                if err:
                    stats.errors.append(f"s{i}: error on the page: {err}")
                    await open_page(page, url, "open_home", stats)
            except Exception as e:  # noqa: BLE001 - a failed interaction is counted, not fatal
                stats.errors.append(f"s{i}: {type(e).__name__}: {str(e)[:120]}")
                try:
                    await open_page(page, url, "open_home", stats)
                except Exception as e2:  # noqa: BLE001
                    stats.errors.append(f"s{i} reopen: {type(e2).__name__}")
            await asyncio.sleep(0.5 + 0.5 * np.random.rand())   # a person's pace
    finally:
        await ctx.close()


async def watch_workers(proc: subprocess.Popen, stats: Stats, t_end: float) -> None:
    """Sets ``stats.training`` while any worker process (a child of the server) uses CPU."""
    server = psutil.Process(proc.pid)
    while time.time() < t_end:
        busy = False
        for c in server.children(recursive=True):
            try:
                busy |= c.cpu_percent(interval=None) > 30
            except psutil.NoSuchProcess:
                pass
        stats.training = busy
        await asyncio.sleep(1.0)


async def main_async(a) -> None:
    from playwright.async_api import async_playwright
    runs = Path(tempfile.mkdtemp(prefix="load-runs-"))
    proc, url = start_server(runs, a.max_jobs)
    stats = Stats()
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                              args=CHROMIUM_ARGS)
            # warm the server once (first view of a shipped model)
            ctx = await browser.new_context()
            page = await ctx.new_page()
            await open_page(page, url, "cold_first_view", stats)
            await page.get_by_text("decoder mean at z").first.wait_for(timeout=60_000)
            for path in ("/Explore", "/Theory", "/Train"):     # every page the sessions visit
                await page.goto(url + path)
                await wait_ready(page)
                await page.wait_for_timeout(3000)
            await ctx.close()
            await asyncio.sleep(8)          # the engine's pre-started worker is up by now
            mem_start, workers_start = server_rss_mb(proc)
            t_start = time.time()
            t_end = t_start + a.minutes * 60
            tasks = [session(i, browser, url, stats, t_end, i < a.trainers, a.epochs)
                     for i in range(a.sessions)] + [watch_workers(proc, stats, t_end)]
            await asyncio.gather(*tasks, return_exceptions=True)
            mem_end, workers_end = server_rss_mb(proc)
            await browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    def pct(kind, q):
        v = stats.lat.get(kind, [])
        return float(np.percentile(v, q)) if v else float("nan")

    served = sum(len(v) for v in stats.lat.values())
    print(f"duration {a.minutes} min, sessions {a.sessions}, trainers {a.trainers}, max jobs {a.max_jobs}")
    for kind, v in sorted(stats.lat.items()):
        print(f"  {kind:24s} n={len(v):5d}  p50={np.percentile(v, 50):7.0f} ms  p95={np.percentile(v, 95):7.0f} ms")
    if stats.queue_waits:
        qw = np.array(stats.queue_waits)
        print(f"  queue waits (Start -> progress): n={len(qw)} median={np.median(qw):.1f} s max={qw.max():.1f} s")
    print(f"  errors: {len(stats.errors)}")
    for e in stats.errors[:10]:
        print("    ", e)
    growth = (mem_end - mem_start) / mem_start
    print(f"  memory: server {mem_start:.0f} -> {mem_end:.0f} MiB; workers {workers_start:.0f} -> "
          f"{workers_end:.0f} MiB (at most max-jobs workers, ~430 MiB each)")
    print(f"sessions={a.sessions} interactions={served} errors={len(stats.errors)} "
          f"slider_p50_ms={pct('slider', 50):.0f} slider_p95_ms={pct('slider', 95):.0f} "
          f"slider_train_p95_ms={pct('slider_while_training', 95):.0f} "
          f"mem_start_mb={mem_start:.0f} mem_end_mb={mem_end:.0f} mem_growth={growth:.1%}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--trainers", type=int, default=6, help="sessions that start a run first")
    ap.add_argument("--epochs", type=int, default=150, help="epochs of each digits run")
    ap.add_argument("--max-jobs", type=int, default=2)
    a = ap.parse_args()
    if not 1 <= a.sessions <= 50 or not 0 < a.minutes <= 30:
        raise SystemExit("bounded: 1-50 sessions, at most 30 minutes")
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
