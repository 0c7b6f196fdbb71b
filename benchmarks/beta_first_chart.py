"""β lab: time from navigation to the shipped sweep's first chart, on a warm server.

    python benchmarks/beta_first_chart.py [--sweep mnist] [--repeats 5] [--url http://127.0.0.1:8501]

A server is started (or ``--url`` reused) and warmed: one visit of the β lab, so its
caches hold what a second visitor finds there. Then, ``--repeats`` times, a fresh headless
Chromium profile (nothing cached in the browser) opens ``/Beta_lab?sweep=shipped:<name>``
and the time is taken from navigation to the first chart drawn (the first Vega-Lite chart
of the page with its marks in the DOM), and to the whole first screen (the picture rows'
images loaded and the three measure charts drawn). The target (issue 17): the first chart
within 3 s. The machine matters: the load average is printed with the results. The last
line is ``key=value`` figures.
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

FIRST_CHART = ("() => [...document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]')]"
               ".some(c => c.querySelector('svg .mark-line, svg .mark-symbol, canvas'))")
FULL_SCREEN = ("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg .mark-line')"
               ".length >= 3 && [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
               ".filter(i => i.complete && i.naturalWidth > 0).length >= 7")


def visit(url: str, sweep: str, profile: Path) -> tuple[float, float]:
    """One fresh browser profile: seconds to the first chart, and to the full first screen."""
    from playwright.sync_api import sync_playwright

    from conftest import launch_profile
    with sync_playwright() as p:
        ctx = launch_profile(p, profile)
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(f"{url}/Beta_lab?sweep=shipped:{sweep}", wait_until="commit", timeout=120_000)
        page.wait_for_function(FIRST_CHART, timeout=120_000, polling=50)
        first = time.perf_counter() - t0
        page.wait_for_function(FULL_SCREEN, timeout=120_000, polling=50)
        full = time.perf_counter() - t0
        ctx.close()
    return first, full


def run(url: str, sweep: str, repeats: int) -> tuple[list[float], list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        visit(url, sweep, Path(tmp) / "warm")               # warms the server's caches
        got = [visit(url, sweep, Path(tmp) / f"p{i}") for i in range(repeats)]
    return [g[0] for g in got], [g[1] for g in got]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sweep", default="mnist", help="a shipped sweep's name")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--url", default=None, help="a running server (default: start one)")
    args = ap.parse_args()
    load0 = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}")
    if args.url:
        first, full = run(args.url, args.sweep, args.repeats)
    else:
        from conftest import start_server, stop_server
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "runs").mkdir()
            server = start_server(Path(tmp), {"LATENT_EXPLORER_MAX_JOBS": "1"}, timeout=120)
            server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
            try:
                first, full = run(server.url, args.sweep, args.repeats)
            finally:
                stop_server(server)
    each = " ".join(f"{v:.2f}" for v in first)
    print(f"first chart:  median {np.median(first):.2f} s, max {max(first):.2f} s (each: {each})  target ≤ 3 s")
    print(f"first screen: median {np.median(full):.2f} s, max {max(full):.2f} s (pictures and the three charts)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"first_chart_median_s={np.median(first):.2f} first_chart_max_s={max(first):.2f} "
          f"first_screen_median_s={np.median(full):.2f} load={load0[0]:.1f}")


if __name__ == "__main__":
    main()
