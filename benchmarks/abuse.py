"""A shared server against its least careful visitors (issue 25): hostile cases, replayed.

    python benchmarks/abuse.py [--budget-mb 2500] [--mnist /work/shared/data/mnist.npz]

Starts a fresh ``streamlit run app.py`` on loopback (its own runs folder; two runs at once;
``LATENT_EXPLORER_RUN_MEMORY_MB=--budget-mb``), then replays, through Streamlit's own
websocket protocol (``benchmarks/st_client.py``) and one headless Chromium for the upload:

* ``over_budget``: "2-minute MNIST" with batch size 20,000 and 1,000 samples of z, 1 epoch,
  Start: held when the page refuses it naming the settings and no worker grows;
* ``big_run``: a large run that fits (MNIST, batch 4,000 × 20 samples of z): held when it
  trains to its end with its worker's peak within the budget + 10%;
* ``wide_csv``: a 40 MB CSV of 10 million columns uploaded on the Train page: held when it
  is refused with a message and the server grew by less than 100 MB meanwhile;
* ``identities``: four cookie-less clients fill their queues with long runs, then a fifth
  starts one run: held when it is at most fifth in line (the fair queue), and when 100 more
  fresh clients from the same address are told to wait (new owners per minute);
* ``side_doors``: a class with locked hyperparameters, one run per student and a 5 s run
  time; the student tries the β lab's own sweep (β "0, 50") and Train with their own
  settings: held when both are refused naming the class setting and no run starts;
* ``code_guessing``: one client tries 40 wrong class codes: held when the server slows it
  down (a wait is asked) before the 25th;
* ``crafted``: widget messages no browser sends (a number where the learning-rate slider
  expects its option, a text where β expects a number, β = 10⁹): held when no traceback and
  no server path reaches the client, and β is not taken;
* ``worker_kill``: a running run's worker gets SIGKILL: held when the run's folder says
  failed, with the reason, and the server serves on.

Last line: ``probes=… held=… worker_peak_rss_mb=… server_peak_rss_mb=… budget_mb=…`` (peaks:
the processes' high-water marks, ``VmHWM``). Goal: every probe held; a worker's peak within
its budget + 10%; the server under 1 GB.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402
from st_client import Session  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

PATH_LEAK = re.compile(r"(/root/|/work/|site-packages|Traceback|File \")")


def hwm_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM), MiB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peaks:
    """The server's and its workers' high-water marks, sampled every 0.2 s (workers come and go)."""

    def __init__(self, pid: int):
        self.pid, self.server, self.workers, self.stop = pid, 0.0, {}, False

    def sample(self) -> None:
        self.server = max(self.server, hwm_mb(self.pid))
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for c in children:
            self.workers[c.pid] = max(self.workers.get(c.pid, 0.0), hwm_mb(c.pid))

    async def run(self) -> None:
        while not self.stop:
            self.sample()
            await asyncio.sleep(0.2)

    def worker_peak(self) -> float:
        return max(self.workers.values(), default=0.0)

    def rss_mb(self) -> float:
        return psutil.Process(self.pid).memory_info().rss / 2**20


def text(s: Session) -> str:
    return "\n".join(s.texts())


async def train_page(url: str, cookies: dict | None = None) -> Session:
    s = Session(url, fetch_media=False, cookies=cookies)
    await s.open("Train")
    return s


async def set_select(s: Session, label: str, option: str) -> None:
    it = s.find("selectbox", label)
    s.widgets[it.proto.id] = WidgetState(id=it.proto.id, string_value=option)
    await s.rerun()


# ------------------------------------------------------------------ the probes

async def over_budget(url, peaks, a) -> tuple[bool, str]:
    s = await train_page(url)
    try:
        if a.mnist:
            await set_select(s, "Dataset", "MNIST 28×28")
        before = peaks.worker_peak()
        s.stage_number("Batch size", 20_000)
        s.stage_number("L samples of z per image", 1000)
        s.stage_number("Epochs", 1)
        await s.rerun()
        await s.click("Start")
        t = text(s)
        refused = "would need about" in t and "Batch size" in t and "LATENT_EXPLORER_RUN_MEMORY_MB" in t
        await asyncio.sleep(3)
        grew = peaks.worker_peak() - before
        return refused and grew < 200, f"refused={refused} worker_growth_mb={grew:.0f}"
    finally:
        await s.close()


async def big_run(url, peaks, a, runs: Path) -> tuple[bool, str]:
    if not a.mnist:
        return True, "skipped (no MNIST)"
    s = await train_page(url)
    try:
        await set_select(s, "Dataset", "MNIST 28×28")
        s.stage_number("Batch size", 4000)
        s.stage_number("L samples of z per image", 20)
        s.stage_number("Epochs", 1)
        await s.rerun()
        await s.click("Start")
        rid = re.search(r"run=([^&]+)", s.query)
        if rid is None:
            return False, f"not started: {text(s)[:200]}"
        summary = runs / rid.group(1) / "summary.json"
        t_end = time.time() + 600
        while time.time() < t_end:
            if summary.is_file() and json.loads(summary.read_text()).get("status") not in ("running", None):
                break
            await asyncio.sleep(1)
        status = json.loads(summary.read_text()).get("status") if summary.is_file() else "none"
        peak = peaks.worker_peak()
        return status == "finished" and peak <= 1.1 * a.budget_mb, f"status={status} worker_peak_mb={peak:.0f}"
    finally:
        await s.close()


def wide_csv(url, peaks, work: Path) -> tuple[bool, str]:
    from playwright.sync_api import sync_playwright
    path = work / "wide.csv"
    with open(path, "w") as f:                                  # 40 MB: a header and a row
        f.write(",".join(f"{i % 10}" for i in range(10_000_000)) + "\n")
        f.write(",".join("1" for _ in range(10_000_000)) + "\n")
    before = peaks.rss_mb()
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(work / "profile"), executable_path=CHROMIUM,
                                                   headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.goto(url + "/Train")
        page.wait_for_selector('[data-testid="stSidebar"]', timeout=60_000)
        page.get_by_label("Dataset").click()
        page.get_by_role("option", name=re.compile("your own file", re.I)).click()
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
        msg = page.get_by_text("10,000,000 columns")
        try:
            msg.first.wait_for(timeout=180_000)
            refused = True
        except Exception:  # noqa: BLE001 - reported below
            refused = False
        ctx.close()
    peaks.sample()
    grew = max(peaks.server, peaks.rss_mb()) - before
    return refused and grew < 100, f"refused={refused} server_growth_mb={grew:.0f}"


async def identities(url) -> tuple[bool, str]:
    hogs = []
    for i in range(4):
        s = await train_page(url)
        s.stage_number("Epochs", 100_000)
        await s.rerun()
        for _ in range(12):
            await s.click("Start")
            await s.open("Train")                          # a fresh form: another run
            s.stage_number("Epochs", 100_000)
        hogs.append(s)
    late = await train_page(url)
    await late.click("Start")
    pos = re.search(r"position (\d+)", text(late))
    position = int(pos.group(1)) if pos else 0
    waited = 0
    for _ in range(100):                                    # fresh clients, one address
        s = Session(url, fetch_media=False)
        await s.open("Train")
        waited += any("Many new visitors" in t for t in s.texts())
        await s.close()
    for s in hogs + [late]:
        await s.close()
    return 0 < position <= 5 and waited > 0, f"fifth_owner_position={position} told_to_wait={waited}/100"


async def side_doors(url) -> tuple[bool, str]:
    t = Session(url, fetch_media=False)
    await t.open("Class")
    t.stage_text("Class name", "Locked")
    await t.click("Create the class")
    code = re.search(r"class=([A-Z0-9]+)", t.query).group(1)
    await t.open("Class", f"class={code}")
    # the settings form: lock, one run per student, 5 s
    box = t.find("checkbox", "Lock hyperparameters")
    t.widgets[box.proto.id] = WidgetState(id=box.proto.id, bool_value=True)
    t.stage_number("Runs per student", 1)
    t.stage_number("Run time per run (s)", 5)
    await t.click("Save the settings")
    s = Session(url, fetch_media=False)
    await s.open("Class", f"class={code}")
    s.stage_text("Your name", "Sam")
    await s.click("Join")
    await s.open("Beta_lab")                            # the form is in a folded expander
    s.stage_text("β values", "0, 50")
    r = await s.click("Start the sweep")
    sweep_refused = any("lock hyperparameters" in e or "runs per student" in e for e in r.errors + s.texts())
    await s.open("Train")
    await s.click("Start")
    train_refused = "lock hyperparameters" in text(s)
    await s.open("Class", f"class={code}")
    none_started = "None yet" in text(s)
    await s.close()
    await t.close()
    return sweep_refused and train_refused and none_started, \
        f"sweep_refused={sweep_refused} train_refused={train_refused} none_started={none_started}"


async def code_guessing(url) -> tuple[bool, str]:
    s = Session(url, fetch_media=False)
    await s.open("Class")
    asked_to_wait = None
    for i in range(40):
        s.stage_text("Class code", f"ZZZZ{i:04d}".replace("0", "A").replace("1", "B"))
        s.stage_text("Your name", "Guess")
        await s.click("Join")
        if any("too many wrong class codes" in x for x in s.texts()):
            asked_to_wait = i + 1
            break
    await s.close()
    return asked_to_wait is not None and asked_to_wait < 25, f"asked_to_wait_at={asked_to_wait}"


async def crafted(url) -> tuple[bool, str]:
    """Each crafted message in a fresh session: the page that met one stops and asks for a
    reload, and a reload is a new session (this one would send the crafted value again)."""
    leaks, messages, taken, exceptions = [], 0, False, []

    async def send(kind: str, label: str, **value) -> tuple:
        s = await train_page(url)
        try:
            it = s.find(kind, label)
            s.widgets[it.proto.id] = WidgetState(id=it.proto.id, **value)
            r = await s.rerun()
            return r, s, [x for x in s.items.values() if x.kind == "exception"]
        finally:
            await s.close()

    r, _, exc = await send("slider", "Learning rate", double_value=50.0)              # not an option
    leaks += [e for e in r.errors if PATH_LEAK.search(e)]
    messages += any("cannot handle" in e or "did not work" in e for e in r.errors)
    exceptions += exc
    r, _, exc = await send("number_input", "β", string_value="lots")                  # not a number
    leaks += [e for e in r.errors if PATH_LEAK.search(e)]
    messages += any("cannot handle" in e or "did not work" in e for e in r.errors)
    exceptions += exc
    r, s, exc = await send("number_input", "β", double_value=1e9)                     # out of range
    beta = next((x for x in s.items.values() if x.kind == "number_input"
                 and getattr(x.proto, "label", "") == "β"), None)
    taken = beta is not None and beta.proto.HasField("value") and beta.proto.value >= 1e9
    leaks += [e for e in r.errors if PATH_LEAK.search(e)]
    exceptions += exc
    return not leaks and messages == 2 and not taken and not exceptions, \
        f"leaks={len(leaks)} messages={messages}/2 beta_taken={taken}"


async def worker_kill(url, server_pid: int, runs: Path) -> tuple[bool, str]:
    s = await train_page(url)
    try:
        s.stage_number("Epochs", 100_000)
        await s.rerun()
        await s.click("Start")
        rid = re.search(r"run=([^&]+)", s.query).group(1)
        summary = runs / rid / "summary.json"
        for _ in range(240):                   # its first epoch saved: its worker trains now
            if summary.is_file():
                break
            await asyncio.sleep(0.5)
        children = psutil.Process(server_pid).children(recursive=True)
        for c in children:
            c.cpu_percent(None)
        await asyncio.sleep(1.0)
        load = {c.pid: c.cpu_percent(None) for c in children if c.is_running()}
        busy = max(load, key=load.get) if load else None   # the busiest: the one training
        if busy is None or load[busy] < 30:
            return False, "no training worker found"
        os.kill(busy, signal.SIGKILL)
        for _ in range(120):
            if summary.is_file() and json.loads(summary.read_text()).get("status") == "failed":
                break
            await asyncio.sleep(0.5)
        rec = json.loads(summary.read_text()) if summary.is_file() else {}
        await s.open("Train")                                   # the server serves on
        return rec.get("status") == "failed" and "signal 9" in (rec.get("reason") or ""), \
            f"status={rec.get('status')} reason={(rec.get('reason') or '')[:60]!r}"
    finally:
        await s.close()


# ------------------------------------------------------------------ main

async def main_async(a) -> None:
    work = Path(tempfile.mkdtemp(prefix="abuse-"))
    env = {"LATENT_EXPLORER_MAX_JOBS": "2", "LATENT_EXPLORER_RUN_MEMORY_MB": str(a.budget_mb),
           "LATENT_EXPLORER_DATA": str(work / "data")}
    if a.mnist:
        (work / "data").mkdir()
        os.symlink(a.mnist, work / "data" / "mnist.npz")
    server = start_server(work, env, timeout=120)
    server.wait_for_log("Latent Explorer warmed up")
    peaks = Peaks(server.proc.pid)
    watcher = asyncio.create_task(peaks.run())
    results = {}
    try:
        probes = [("over_budget", lambda: over_budget(server.url, peaks, a)),
                  ("big_run", lambda: big_run(server.url, peaks, a, server.runs)),
                  ("wide_csv", lambda: asyncio.to_thread(wide_csv, server.url, peaks, work)),
                  ("crafted", lambda: crafted(server.url)),
                  ("side_doors", lambda: side_doors(server.url)),   # before code_guessing: wrong codes
                  ("code_guessing", lambda: code_guessing(server.url)),   # slow this address's lookups
                  ("worker_kill", lambda: worker_kill(server.url, server.proc.pid, server.runs)),
                  ("identities", lambda: identities(server.url))]
        for name, probe in probes:
            if a.only and name not in a.only.split(","):
                continue
            t0 = time.time()
            try:
                held, detail = await probe()
            except Exception as e:  # noqa: BLE001 - a probe that breaks is a probe not held
                held, detail = False, f"{type(e).__name__}: {e}"
            results[name] = held
            print(f"  {name:14s} {'held' if held else 'NOT HELD':9s} {time.time() - t0:5.0f} s  {detail}",
                  flush=True)
    finally:
        peaks.stop = True
        await watcher
        peaks.sample()
        stop_server(server)
    print(f"probes={len(results)} held={sum(results.values())} worker_peak_rss_mb={peaks.worker_peak():.0f} "
          f"server_peak_rss_mb={peaks.server:.0f} budget_mb={a.budget_mb}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-mb", type=int, default=2500, help="LATENT_EXPLORER_RUN_MEMORY_MB of the server")
    default = "/work/shared/data/mnist.npz"
    ap.add_argument("--mnist", default=default if Path(default).exists() else None,
                    help="an MNIST .npz (the over-budget and big-run probes use it)")
    ap.add_argument("--only", default="", help="probes to run, separated by commas (default: all)")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
