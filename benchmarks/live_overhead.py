"""What training beside the UI costs: the same run headless and through the app.

    python benchmarks/live_overhead.py [--epochs 40] [--dataset digits] [--hidden 256,128]
                                       [--batch-size 32] [--smoke]

(a) headless: ``python -m explorer train ...`` (the CLI), one torch thread;
(b) in the app: ``streamlit run app.py`` on loopback, the Train page open in Chromium
    (Debian's /usr/bin/chromium through Playwright), the same settings typed into the
    page and Start clicked; the page polls and redraws its live charts throughout. While
    it trains, ``/_stcore/health`` is fetched every 100 ms and its latency recorded;
(c) two jobs at once: the engine (``explorer.engine``, 2 workers of one thread each) runs
    the run alone, then two copies side by side; the scaling is their total images/s over
    the single one's.

Images/s of a run = samples / elapsed seconds of training, from its summary.json (data
loading and the final evaluation excluded, the same way for both). Goals: app ≥ 0.9 ×
headless, two-job scaling ≥ 1.7 on 2 cores, health p95 ≤ 50 ms. Run it on a quiet
machine: other processes on the cores change every number. ``--smoke`` is a short run
that only checks that everything works. Last line:
``headless_img_s=… app_img_s=… ratio=… two_job_scaling=… health_p95_ms=…``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server  # noqa: E402


def img_s(summary: dict) -> float:
    return summary["samples"] / summary["elapsed_s"]


def config_flags(a) -> list[str]:
    return ["--dataset", a.dataset, "--epochs", str(a.epochs), "--hidden", a.hidden,
            "--batch-size", str(a.batch_size), "--threads", "1"]


# ------------------------------------------------------------------ (a) headless

def headless(a, work: Path) -> float:
    out = work / "headless"
    subprocess.run([sys.executable, "-m", "explorer", "train", "--quiet", "--out", str(out),
                    *config_flags(a)], cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    s = json.loads((out / "summary.json").read_text())
    print(f"headless: {s['samples']} images in {s['elapsed_s']:.2f} s = {img_s(s):,.0f} images/s",
          flush=True)
    return img_s(s)


# ------------------------------------------------------------------ (b) in the app

class HealthProbe(threading.Thread):
    """Fetches /_stcore/health every ``every`` seconds and records the latencies (ms)."""

    def __init__(self, url: str, every: float = 0.1):
        super().__init__(daemon=True)
        self.url, self.every = url + "/_stcore/health", every
        self.ms: list[float] = []
        self.recording = False
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            t = time.perf_counter()
            try:
                urllib.request.urlopen(self.url, timeout=5).read()
                if self.recording:
                    self.ms.append((time.perf_counter() - t) * 1000)
            except OSError:
                pass
            self.done.wait(max(0.0, self.every - (time.perf_counter() - t)))

    def p95(self) -> float:
        if not self.ms:
            return float("nan")
        xs = sorted(self.ms)
        return xs[min(len(xs) - 1, int(0.95 * len(xs)))]


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time (user + system) so far of the server process, its worker processes, and the
    Chromium processes: who shares the two cores with the run."""
    import psutil
    out = {"server": 0.0, "workers": 0.0, "chromium": 0.0}
    server = psutil.Process(server_pid)
    for proc, kind in [(server, "server")] + [(c, "workers") for c in server.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            out[kind] += t.user + t.system
        except psutil.Error:
            pass
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "chrom" in (proc.info["name"] or "").lower():
                t = proc.cpu_times()
                kind = next((a[7:] for a in proc.info["cmdline"] or [] if a.startswith("--type=")), "browser")
                out["chromium"] += t.user + t.system
                out[f"chromium {kind}"] = out.get(f"chromium {kind}", 0.0) + t.user + t.system
        except psutil.Error:
            pass
    return out


def in_app(a, work: Path) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    server = start_server(work, {"LATENT_EXPLORER_MAX_JOBS": "2"}, timeout=120)
    server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
    runs, url = work / "runs", server.url
    probe = HealthProbe(url)
    try:
        probe.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/Train" + os.environ.get("LIVE_QUERY", ""))
            page.get_by_role("button", name="Start").wait_for(timeout=60_000)
            if a.dataset != "digits":
                from explorer.ui.train import DATASET_LABELS
                page.get_by_role("combobox", name="Dataset").click()
                page.get_by_role("option", name=DATASET_LABELS[a.dataset]).click()
            hidden = page.get_by_role("textbox", name="Hidden widths")
            hidden.fill(a.hidden)
            hidden.press("Enter")
            page.get_by_text("Training", exact=True).click()
            for label, value in (("Epochs", a.epochs), ("Batch size", a.batch_size)):
                box = page.get_by_role("spinbutton", name=label)
                box.fill(str(value))
                box.press("Enter")
            page.wait_for_timeout(1500)
            page.get_by_role("button", name="Start").click()
            page.get_by_text("images/s").wait_for(timeout=120_000)     # training has started
            probe.recording = True
            cpu0 = cpu_seconds(server.proc.pid)
            page.get_by_text(re.compile(r"^Finished .*steps in")).wait_for(timeout=3_600_000)
            probe.recording = False
            used = {k: v - cpu0.get(k, 0.0) for k, v in cpu_seconds(server.proc.pid).items()}
            print("CPU seconds while it trained: " + ", ".join(f"{k} {v:.1f}" for k, v in used.items()),
                  flush=True)
            browser.close()
        summaries = [json.loads(p.read_text()) for p in runs.glob("*/summary.json")]
        s = max(summaries, key=lambda d: d.get("elapsed_s", 0))
        print(f"in the app: {s['samples']} images in {s['elapsed_s']:.2f} s = {img_s(s):,.0f} images/s; "
              f"health p95 {probe.p95():.1f} ms over {len(probe.ms)} probes", flush=True)
        return img_s(s), probe.p95()
    finally:
        probe.done.set()
        stop_server(server)


# ------------------------------------------------------------------ (c) two jobs

def two_jobs(a, work: Path) -> float:
    from explorer import cli
    from explorer.engine import Engine

    ns = cli.build_parser().parse_args(["train", *config_flags(a)])
    cfg = cli.config_from_args(ns)
    eng = Engine(work / "engine-runs", max_jobs=2, torch_threads=1, prestart=2, load_existing=False)
    try:
        t_end = time.time() + 120
        while not all(w["ready"] for w in eng.workers()) and time.time() < t_end:
            time.sleep(0.1)
        one = eng.submit(cfg)
        eng.wait(one, 3600)
        single = img_s(eng.view(one).summary)
        pair = [eng.submit(cfg), eng.submit(cfg)]
        for r in pair:
            eng.wait(r, 3600)
        rates = [img_s(eng.view(r).summary) for r in pair]
    finally:
        eng.shutdown()
    scaling = sum(rates) / single
    print(f"engine: one job {single:,.0f} images/s; two at once {rates[0]:,.0f} + {rates[1]:,.0f} "
          f"= {sum(rates):,.0f} images/s; scaling {scaling:.2f}", flush=True)
    return scaling


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--smoke", action="store_true", help="a short run that checks the script works")
    a = ap.parse_args()
    if a.smoke:
        a.epochs = 3
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} (should be near 0)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="live-overhead-"))
    try:
        h = headless(a, work)
        app_rate, p95 = in_app(a, work)
        scaling = two_jobs(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"headless_img_s={h:.0f} app_img_s={app_rate:.0f} ratio={app_rate / h:.3f} "
          f"two_job_scaling={scaling:.3f} health_p95_ms={p95:.1f}")


if __name__ == "__main__":
    main()
