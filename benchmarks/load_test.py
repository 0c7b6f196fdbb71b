"""A classroom on one server: N concurrent sessions for a bounded time, on loopback.

    python benchmarks/load_test.py [--sessions 20] [--minutes 10] [--trainers 6] [--max-jobs 2]
                                   [--epochs 60] [--browsers 0]

Starts ``streamlit run app.py`` on a free loopback port (its own runs folder), then drives N
sessions through the app's own websocket protocol (``benchmarks/st_client.py``: what a
browser tab sends and receives, without rendering it):

* every session opens the home page and moves its decoder slider at a person's pace
  (0.5-1 s apart); the latency is from sending the new value to the fragment's run finished
  and its new image fetched; now and then it opens the Explore page (a shipped model) or
  the Theory page and comes back;
* the first ``--trainers`` sessions stay on the Train page: they start a digits run and
  watch it — their tab polls the server as a browser tab does (the Train page's fragments
  rerun every 0.75 s, 3 s and 5 s) — until it ends, then start the next, for the whole
  test, so the workers are busy throughout and the queue is never empty. Their queue wait
  is the time from Start until the page shows the run's images/s.

Why the protocol and not browsers: the server has 2 cores. Twenty Chromium renderers on the
same 2 cores measured the load generator (page loads timed out at 30 s while the server
itself was idle half the time). ``--browsers K`` adds K real headless Chromium sessions that
move the home slider alongside, as a check on what a person sees (key press to new image).

``--classroom N`` runs a lesson instead: one teacher session creates a class and keeps its
dashboard open (the dashboard fragment, timed at each 2 s refresh: ``dashboard_p95_ms``);
N students join it through the Class page under a name and wait on the Train page (their
follow-mode fragment polls every second); the teacher pushes "β = 4, latent 2, start"
through the Follow me form and each student's page is timed from the push until the server
moved it to the started run (``follow_p95_ms``); they watch their runs, then explore (the
Explore page's slider, ``slider_p95_ms``) until the time is up. ``--ladder 0,0.25,…`` pushes a
β ladder (the server starts each student's run with its rung and an own seed); ``--vote``
first asks a ready question, each student answers it on their Class page (``vote_p95_ms``:
the answer's click), then the teacher pushes. Last line: ``students=… errors=…
distinct_beta=… [vote_p95_ms=…] dashboard_p95_ms=… follow_p95_ms=… slider_p95_ms=… mem_growth=…``
(``distinct_beta``: the base β values among the pushed runs, read from their folders).

Bounded in count and time, loopback only. Reports interactions served, errors, p50/p95
latency per kind (slider latency separately while a training run was using a worker),
queue waits, the fragment polls served, and the memory (server; workers) at start and
end. Last line: ``sessions=… interactions=… errors=… slider_p50_ms=… slider_p95_ms=…
slider_train_p95_ms=… mem_start_mb=… mem_end_mb=… mem_growth=…``
"""
from __future__ import annotations

import argparse
import json
import asyncio
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402
from st_client import ClientError, Session  # noqa: E402

MAX_INTERACTIONS_PER_SESSION = 5000
EXPLORE_QUERY = "model=shipped:digits-vae-z2-b1"


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
        self.polls = 0
        self.server_cpu: list[float] = []
        self.memory: list[int] = []        # server RSS (MiB) every 30 s
        self.training_seconds = 0

    def add(self, kind: str, seconds: float) -> None:
        self.lat.setdefault(kind, []).append(seconds * 1000)

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what}"[:220])

    def pct(self, kind: str, q: float) -> float:
        v = self.lat.get(kind, [])
        return float(np.percentile(v, q)) if v else float("nan")


# ------------------------------------------------------------------ protocol sessions

async def open_page(s: Session, page: str, query: str, kind: str, stats: Stats, who: str) -> None:
    r = await s.open(page, query)
    stats.add(kind, r.seconds)
    for e in r.errors:
        stats.error(who, f"{page or 'home'}: {e}")


async def slider_move(s: Session, stats: Stats, who: str, value: float) -> None:
    r = await s.set_slider("z₁", value)
    caption = s.image_caption("decoder mean at z")
    if not caption.startswith(f"decoder mean at z = ({value:.2f},"):
        stats.error(who, f"slider set to {value:.2f} but the image says {caption!r}")
    stats.add("slider", r.seconds)
    if stats.training:
        stats.add("slider_while_training", r.seconds)
    for e in r.errors:
        stats.error(who, f"slider: {e}")


async def train_and_watch(s: Session, stats: Stats, who: str, epochs: int, t_end: float) -> None:
    """Open Train, start a run, and watch it (the page polls) until it ends or time is up."""
    await open_page(s, "Train", "", "open_train", stats, who)
    polls0 = s.auto_runs
    await s.set_number("Epochs", epochs)
    t0 = time.perf_counter()
    r = await s.click("Start")
    stats.add("start_click", r.seconds)
    for e in r.errors:
        stats.error(who, f"start: {e}")
    started, idle = False, 0
    while time.time() < t_end:
        if not started and "images/s" in " ".join(s.texts()):
            started = True
            stats.queue_waits.append(time.perf_counter() - t0)
        idle = idle + 1 if started and not s.auto else 0
        if idle >= 4:                       # the page stopped polling: the run has ended
            break
        await asyncio.sleep(0.5)
    stats.add("watched_run", time.perf_counter() - t0)
    stats.polls += s.auto_runs - polls0
    for e in s.page_errors():
        stats.error(who, f"train page: {e}")


async def session(i: int, url: str, stats: Stats, t_end: float, trainer: bool, epochs: int) -> None:
    who = f"s{i}"
    await asyncio.sleep(1.5 * i)                  # people arrive over half a minute, not at once
    s = Session(url)
    rng = random.Random(i)
    n = 0
    try:
        while trainer and time.time() < t_end:       # runs back to back, each watched
            try:
                await train_and_watch(s, stats, who, epochs, t_end)
            except Exception as e:  # noqa: BLE001 - counted as an error, the session goes on
                stats.error(who, f"training: {type(e).__name__}: {e}")
                await asyncio.sleep(5)
        if trainer:
            return
        try:
            await open_page(s, "", "", "open_home", stats, who)
        except Exception as e:  # noqa: BLE001
            stats.error(who, f"first view: {type(e).__name__}: {e}")
        while time.time() < t_end and n < MAX_INTERACTIONS_PER_SESSION:
            n += 1
            try:
                if n % 25 == 0:
                    if n % 50 == 0:
                        await open_page(s, "Explore", EXPLORE_QUERY, "open_explore", stats, who)
                        await s.set_slider("z1", rng.choice([-1.0, 0.5, 1.5]))
                    else:
                        await open_page(s, "Theory", "", "open_theory", stats, who)
                    await open_page(s, "", "", "open_home", stats, who)
                else:
                    await slider_move(s, stats, who, round(rng.uniform(-3, 3) / 0.05) * 0.05)
            except Exception as e:  # noqa: BLE001 - a failed interaction is counted, not fatal
                stats.error(who, f"{type(e).__name__}: {e}")
                await s.close()
                s = Session(url)
                try:
                    await open_page(s, "", "", "open_home", stats, who)
                except Exception as e2:  # noqa: BLE001
                    stats.error(who, f"reopen: {type(e2).__name__}: {e2}")
            await asyncio.sleep(0.5 + 0.5 * rng.random())   # a person's pace
    finally:
        await s.close()


# ------------------------------------------------------------------- real browsers

async def browser_session(i: int, browser, url: str, stats: Stats, t_end: float) -> None:
    """A real Chromium tab on the home page: key press to the decoded image's new caption."""
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    try:
        await page.goto(url + "/?decode=server", timeout=120_000)    # the server's slider path
        caption = page.get_by_text("decoder mean at z").first
        await caption.wait_for(timeout=120_000)
        thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
        n = 0
        while time.time() < t_end and n < MAX_INTERACTIONS_PER_SESSION:
            n += 1
            try:
                before = await caption.inner_text()
                await thumb.focus()
                t0 = time.perf_counter()
                await thumb.press("ArrowRight" if (n // 10) % 2 == 0 else "ArrowLeft")
                await page.wait_for_function(
                    "(b) => { const e = [...document.querySelectorAll('[data-testid=\"stImageCaption\"]')]"
                    ".find(n => n.textContent.startsWith('decoder mean at z'));"
                    " return e && e.textContent !== b; }", arg=before, timeout=30_000)
                stats.add("browser_slider", time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001
                stats.error(f"b{i}", f"{type(e).__name__}: {str(e)[:120]}")
            await asyncio.sleep(0.5 + 0.5 * np.random.rand())
    finally:
        await ctx.close()


async def browsers(k: int, url: str, stats: Stats, t_end: float) -> None:
    if k <= 0:
        return
    from playwright.async_api import async_playwright
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        await asyncio.gather(*(browser_session(i, browser, url, stats, t_end) for i in range(k)))
        await browser.close()


# ------------------------------------------------------------------------ watchers

async def watch(proc: subprocess.Popen, stats: Stats, t_end: float) -> None:
    """Sets ``stats.training`` while any worker process uses CPU; samples the server's CPU
    every second and its memory every 30 s."""
    server = psutil.Process(proc.pid)
    server.cpu_percent(interval=None)
    children: dict[int, psutil.Process] = {}    # cpu_percent needs the same object twice
    t_mem = 0.0
    while time.time() < t_end:
        busy = False
        for c in server.children(recursive=True):
            c = children.setdefault(c.pid, c)
            try:
                busy |= c.cpu_percent(interval=None) > 30
            except psutil.NoSuchProcess:
                pass
        stats.training = busy
        stats.training_seconds += busy
        if time.time() - t_mem >= 30:
            t_mem = time.time()
            stats.memory.append(round(server.memory_info().rss / 2**20))
        await asyncio.sleep(1.0)
        stats.server_cpu.append(server.cpu_percent(interval=None))


async def gather_counted(stats: Stats, tasks: list) -> None:
    """Run the sessions together; one that raised counts as an error."""
    for r in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(r, Exception):
            stats.error("driver", f"{type(r).__name__}: {r}")


async def main_async(a, server=None) -> None:
    """The sessions' load test. ``server``: a running server (``tests/conftest.Server``) to
    load instead of starting one; it is left running (the test of this script uses it)."""
    own = server is None
    if own:
        t_launch = time.perf_counter()
        server = start_server(Path(tempfile.mkdtemp(prefix="load-test-")),
                              {"LATENT_EXPLORER_MAX_JOBS": str(a.max_jobs)}, timeout=120)
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
        print(f"server ready {time.perf_counter() - t_launch:.1f} s after launch (warm-up included)")
    proc, url = server.proc, server.url
    stats = Stats()
    try:
        warm = Session(url)           # one visit of each page first (each page's first run compiles it)
        for page, query in (("", ""), ("Explore", EXPLORE_QUERY), ("Theory", ""), ("Train", "")):
            r = await warm.open(page, query)
            print(f"  first view of {page or 'home':8s} {1000 * r.seconds:6.0f} ms (server side)")
        await warm.close()
        mem_start, workers_start = server_rss_mb(proc)
        t_end = time.time() + a.minutes * 60
        tasks = [session(i, url, stats, t_end, i < a.trainers, a.epochs) for i in range(a.sessions)]
        tasks += [watch(proc, stats, t_end), browsers(a.browsers, url, stats, t_end)]
        await gather_counted(stats, tasks)
        mem_end, workers_end = server_rss_mb(proc)
    finally:
        if own:
            stop_server(server)

    pct = stats.pct
    served = sum(len(v) for v in stats.lat.values())
    print(f"duration {a.minutes} min, sessions {a.sessions} (+{a.browsers} browsers), trainers "
          f"{a.trainers} x {a.epochs} epochs, max jobs {a.max_jobs}")
    for kind, v in sorted(stats.lat.items()):
        print(f"  {kind:24s} n={len(v):5d}  p50={np.percentile(v, 50):7.0f} ms  "
              f"p95={np.percentile(v, 95):7.0f} ms  max={max(v):7.0f} ms")
    if stats.queue_waits:
        qw = np.array(stats.queue_waits)
        print(f"  queue waits (Start -> images/s on the page): n={len(qw)} median={np.median(qw):.1f} s "
              f"max={qw.max():.1f} s")
    print(f"  Train-page polls (fragment auto-reruns) sent: {stats.polls}")
    if stats.server_cpu:
        print(f"  server process CPU: mean {np.mean(stats.server_cpu):.0f}% "
              f"p95 {np.percentile(stats.server_cpu, 95):.0f}% (100% = one core)")
    print(f"  a worker was training during {stats.training_seconds} s of the {60 * a.minutes:.0f} s")
    print(f"  server RSS every 30 s (MiB): {stats.memory}")
    print(f"  errors: {len(stats.errors)}")
    for e in stats.errors[:15]:
        print("    ", e)
    growth = (mem_end - mem_start) / mem_start
    print(f"  memory: server {mem_start:.0f} -> {mem_end:.0f} MiB; workers {workers_start:.0f} -> "
          f"{workers_end:.0f} MiB (at most max-jobs workers)")
    print(f"sessions={a.sessions} interactions={served} errors={len(stats.errors)} "
          f"slider_p50_ms={pct('slider', 50):.0f} slider_p95_ms={pct('slider', 95):.0f} "
          f"slider_train_p95_ms={pct('slider_while_training', 95):.0f} "
          f"mem_start_mb={mem_start:.0f} mem_end_mb={mem_end:.0f} mem_growth={growth:.1%}")


# ------------------------------------------------------------------------ classroom

VOTE_QUESTION = "β ladder: Which β gives the sharpest reconstructions?"


async def class_teacher(url: str, stats: Stats, n: int, ready: asyncio.Queue, t_end: float,
                        pushed: list, epochs: int, ladder: str = "", vote: bool = False,
                        asked: list | None = None) -> None:
    asked = asked if asked is not None else []
    t = Session(url)
    try:
        await open_page(t, "Class", "", "open_class", stats, "teacher")
        t.stage_text("Class name", "Benchmark lesson")
        await t.click("Create the class")
        code = next(m.group(1) for m in (re.search(r"Join code \*\*`([A-Z0-9]{4}-?[A-Z0-9]{0,4})`", x) for x in t.texts()) if m)
        await ready.put(code)
        board = next(it.fragment_id for it in t.items.values()      # the dashboard's fragment: its
                     if it.fragment_id and (it.kind == "vega_lite_chart"  # R–D plane, or the line
                                            or "rate–distortion plane" in getattr(it.proto, "body", "")))
        t._stop_auto()                      # the teacher's refreshes are timed here, every 2 s
        t_push = None
        while time.time() < t_end:
            r = await t.rerun(fragment_id=board)
            stats.add("dashboard", r.seconds)
            for e in r.errors:
                stats.error("teacher", f"dashboard: {e}")
            if vote and not asked and stats.joined >= n:    # predict first: a ready question
                t.stage_choice("selectbox", "Question", VOTE_QUESTION)
                r = await t.click("Ask the class")
                asked.append(time.time())
                for e in r.errors:
                    stats.error("teacher", f"ask: {e}")
            voted = not vote or stats.voted >= n or (asked and time.time() - asked[0] > 60)
            if t_push is None and stats.joined >= n and voted:   # everyone is in: push and start
                t.stage_number("β", 4.0)
                t.stage_number("Epochs", epochs)
                if ladder:
                    t.stage_choice("selectbox", "Ladder: spread over the class", "β")
                    t.stage_text("Ladder values", ladder)
                t_push = time.perf_counter()
                r = await t.click("Push to the class")
                pushed.append(t_push)
                for e in r.errors:
                    stats.error("teacher", f"push: {e}")
            await asyncio.sleep(max(0.0, 2.0 - r.seconds))
    finally:
        await t.close()


async def class_vote(s: Session, code: str, stats: Stats, who: str, asked: list, t_end: float, rng) -> None:
    """The student answers the teacher's question on their Class page (timed: the answer's click)."""
    while not asked and time.time() < t_end:
        await asyncio.sleep(0.1)
    await open_page(s, "Class", f"class={code}", "open_class", stats, who)
    s.stage_choice("radio", "Your answer", rng.choice(["0", "0.5", "1", "4", "8"]))
    r = await s.click("Send my answer")
    stats.add("vote", r.seconds)
    if not any("Your answer:" in x for x in s.texts()):
        stats.error(who, f"the answer was not taken: {r.errors or s.texts()[:2]}")
    stats.voted += 1
    await open_page(s, "Train", "", "open_train", stats, who)


async def class_student(i: int, url: str, stats: Stats, code_q: asyncio.Queue, t_end: float,
                        pushed: list, asked: list | None = None) -> None:
    who = f"student{i}"
    await asyncio.sleep(0.5 * i)
    code = await _peek(code_q)
    s = Session(url)
    rng = random.Random(i)
    try:
        await open_page(s, "Class", f"class={code}", "open_class", stats, who)
        s.stage_text("Your name", f"Student {i:02d}")
        r = await s.click("Join")
        if not any("You are in this class" in x for x in s.texts()):
            stats.error(who, f"join failed: {r.errors or s.texts()[:2]}")
        stats.joined += 1
        await open_page(s, "Train", "", "open_train", stats, who)
        if asked is not None:
            await class_vote(s, code, stats, who, asked, t_end, rng)
        while not pushed and time.time() < t_end:
            await asyncio.sleep(0.1)
        def arrived():
            return next((t for t, q in s.query_log if t >= pushed[0] and "run=" in q), None) if pushed else None
        while time.time() < t_end and arrived() is None:
            await asyncio.sleep(0.05)
        if arrived() is not None:
            stats.add("follow", arrived() - pushed[0])
        else:
            stats.error(who, "the push never reached this page")
        idle = 0
        while time.time() < t_end and idle < 4:            # watch the run until it ends: only
            idle = idle + 1 if not set(s.auto.values()) - {1.0} else 0   # the follow poll (1 s) is left
            await asyncio.sleep(0.5)
        for _ in range(3):             # the rerun the Train page asked for as its run ended can
            await open_page(s, "Explore", EXPLORE_QUERY, "open_explore", stats, who)   # land last
            try:
                if s.page == "Explore" and s.find("slider", "z1"):
                    break
            except ClientError:
                pass
        while time.time() < t_end:
            r = await s.set_slider("z1", round(rng.uniform(-2, 2), 2))
            stats.add("explore_slider", r.seconds)
            for e in r.errors:
                stats.error(who, f"explore: {e}")
            await asyncio.sleep(0.5 + 0.5 * rng.random())
    except Exception as e:  # noqa: BLE001 - counted
        stats.error(who, f"{type(e).__name__}: {e}")
    finally:
        await s.close()


async def _peek(q: asyncio.Queue):
    v = await q.get()
    q.put_nowait(v)
    return v


async def classroom_async(a, server=None) -> None:
    """The lesson's load test; ``server`` as in ``main_async``."""
    own = server is None
    if own:
        server = start_server(Path(tempfile.mkdtemp(prefix="class-load-")),
                              {"LATENT_EXPLORER_MAX_JOBS": str(a.max_jobs),
                               "LATENT_EXPLORER_MAX_QUEUED_PER_OWNER": "2"}, timeout=120)
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
    proc, url = server.proc, server.url
    stats, pushed, code_q = Stats(), [], asyncio.Queue()
    stats.joined = stats.voted = 0
    asked = [] if a.vote else None
    try:
        warm = Session(url)
        for page, query in (("Class", ""), ("Train", ""), ("Explore", EXPLORE_QUERY)):
            await warm.open(page, query)
        await warm.close()
        mem_start, _ = server_rss_mb(proc)
        t_end = time.time() + a.minutes * 60
        tasks = [class_teacher(url, stats, a.classroom, code_q, t_end, pushed, a.epochs, a.ladder, a.vote, asked),
                 watch(proc, stats, t_end)]
        tasks += [class_student(i, url, stats, code_q, t_end, pushed, asked) for i in range(a.classroom)]
        await gather_counted(stats, tasks)
        mem_end, _ = server_rss_mb(proc)
        betas = pushed_betas(server.runs)
    finally:
        if own:
            stop_server(server)

    pct = stats.pct
    for kind, v in sorted(stats.lat.items()):
        print(f"  {kind:16s} n={len(v):5d}  p50={np.percentile(v, 50):7.0f} ms  "
              f"p95={np.percentile(v, 95):7.0f} ms  max={max(v):7.0f} ms")
    print(f"  server RSS every 30 s (MiB): {stats.memory}; errors: {len(stats.errors)}")
    for e in stats.errors[:15]:
        print("    ", e)
    vote = f"vote_p95_ms={pct('vote', 95):.0f} " if a.vote else ""
    print(f"students={a.classroom} errors={len(stats.errors)} distinct_beta={len(set(betas))} {vote}"
          f"dashboard_p95_ms={pct('dashboard', 95):.0f} "
          f"follow_p95_ms={pct('follow', 95):.0f} slider_p95_ms={pct('explore_slider', 95):.0f} "
          f"mem_growth={(mem_end - mem_start) / mem_start:.1%}")


def pushed_betas(runs: Path) -> list[float]:
    """The base β of every run the teacher's pushes started (from the class file and the runs'
    config.json)."""
    db = runs / ".classroom.sqlite"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        ids = [r for (r,) in con.execute("SELECT run_id FROM class_runs WHERE push > 0")]
    finally:
        con.close()
    out = []
    for rid in ids:
        cfg = runs / rid / "config.json"
        if cfg.is_file():
            out.append(float(json.loads(cfg.read_text())["train"]["beta"]))
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked against its bounds."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--trainers", type=int, default=6, help="sessions that train (runs back to back) instead of moving sliders")
    ap.add_argument("--epochs", type=int, default=60, help="epochs of each digits run")
    ap.add_argument("--max-jobs", type=int, default=2)
    ap.add_argument("--browsers", type=int, default=0, help="real Chromium sessions alongside")
    ap.add_argument("--classroom", type=int, default=0, help="a lesson: one teacher, N students")
    ap.add_argument("--ladder", default="", help="with --classroom: push a β ladder, e.g. 0,0.25,0.5,1,2,4,8")
    ap.add_argument("--vote", action="store_true", help="with --classroom: a question first, every student answers")
    a = ap.parse_args(argv)
    if a.classroom:
        if not 1 <= a.classroom <= 40 or not 0 < a.minutes <= 30:
            raise SystemExit("bounded: 1-40 students, at most 30 minutes")
        return a
    if not 1 <= a.sessions <= 50 or not 0 < a.minutes <= 30 or not 0 <= a.browsers <= 5:
        raise SystemExit("bounded: 1-50 sessions, at most 30 minutes, at most 5 browsers")
    if not 0 <= a.trainers <= a.sessions or not 1 <= a.epochs <= 1000:
        raise SystemExit("trainers: 0..sessions; epochs: 1..1000")
    return a


def run(argv: list[str] | None = None, server=None) -> None:
    """The load test the command line asks for, on its own server or on ``server``."""
    a = parse(argv)
    asyncio.run(classroom_async(a, server) if a.classroom else main_async(a, server))


def main() -> None:
    run()


if __name__ == "__main__":
    main()
