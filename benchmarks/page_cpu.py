"""What a Train page left open on a run costs while nobody touches it: the tab (Chromium's
processes) and the app server, in % of one core, for a paused run and then a running one.

    python benchmarks/page_cpu.py [--seconds 8]

Starts ``streamlit run app.py`` on loopback and Debian's Chromium (Playwright, a fresh
profile), presses Step on the Train page (a run that trains one step and waits, paused),
measures, then Resume (the run trains on) and measures again; the worker's share is
printed too. A paused run's page polls only its status line (explorer/ui/live.py); its
curves and latent views are drawn once. Run it on a quiet machine. Last line:
``paused_tab_pct=… paused_server_pct=… running_tab_pct=… running_server_pct=… running_worker_pct=…``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from conftest import launch_profile, start_server, stop_server, wait_for_app, wait_settled  # noqa: E402
from suite_cpu import kind as process_kind  # noqa: E402


def _kind(cmdline: list[str]) -> str:
    """The tab (every Chromium process), the server, the worker, or other (suite_cpu's kinds)."""
    k = process_kind(cmdline)
    return "tab" if k.startswith("chromium") else {"streamlit server": "server", "worker (spawned)": "worker",
                                                   "workers (fork server)": "worker"}.get(k, "other")


def _cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for q in psutil.Process().children(recursive=True):
        try:
            t = q.cpu_times()
            out[q.pid] = (_kind(q.cmdline()), t.user + t.system)
        except psutil.Error:
            pass
    return out


def measure(seconds: float) -> dict[str, float]:
    """% of one core each kind of process used over ``seconds``."""
    a = _cpu()
    time.sleep(seconds)
    b = _cpu()
    pct: dict[str, float] = {}
    for pid, (kind, v) in b.items():
        pct[kind] = pct.get(kind, 0.0) + (v - a.get(pid, (kind, 0.0))[1]) / seconds * 100
    return pct


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each state is measured")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="le-page-cpu-"))
    server = start_server(tmp, {"LATENT_EXPLORER_MAX_JOBS": "1"})
    result = {}
    try:
        server.wait_for_log("Latent Explorer warmed up")
        with sync_playwright() as p:
            ctx = launch_profile(p, tmp / "profile")
            page = ctx.new_page()
            page.goto(server.url + "/Train")
            wait_settled(page)
            page.get_by_text("Training", exact=True).click()          # the sidebar's folded section
            page.get_by_label("Epochs").fill("2000")                    # trains through the measurement
            page.get_by_label("Epochs").press("Enter")
            wait_for_app(page)
            page.get_by_role("button", name="Step", exact=True).click()
            page.get_by_text("paused ·").wait_for(timeout=120_000)
            wait_settled(page)
            time.sleep(2)                                   # the step's last redraw is done
            paused = measure(args.seconds)
            page.get_by_role("button", name="Resume", exact=True).click()
            wait_for_app(page)
            page.get_by_text("paused ·").wait_for(state="detached", timeout=60_000)
            time.sleep(2)
            running = measure(args.seconds)
            page.get_by_role("button", name="Stop", exact=True).click()
            page.get_by_text("Run stopped").wait_for(timeout=60_000)
            ctx.close()
    finally:
        stop_server(server)
    result = {"paused_tab_pct": paused.get("tab", 0), "paused_server_pct": paused.get("server", 0),
              "running_tab_pct": running.get("tab", 0), "running_server_pct": running.get("server", 0),
              "running_worker_pct": running.get("worker", 0)}
    print(" ".join(f"{k}={v:.0f}" for k, v in result.items()))
    return result


if __name__ == "__main__":
    main()
