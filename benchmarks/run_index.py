"""Run lists as runs pile up: page times with 3,000 runs in the runs folder against an empty one.

    python benchmarks/run_index.py [--runs 3000] [--repeats 3]

For each runs folder (empty, then ``--runs`` copies of a shipped run), this starts
``streamlit run app.py`` and measures, in headless Chromium (a fresh browser each time):

* ``healthy``: launch to the server answering its health check (start-up warm-up included;
  the runs folder's index is built on the first start and then kept in the folder);
* ``train``: navigation to the Train page's "Runs on this server" table drawn;
* ``runs``: navigation to the Runs page's table drawn.

It also times the library calls behind them: the index's rescan (one stat a folder) and one
page of :meth:`explorer.engine.Engine.list`. Goal (the engine-redesign issue): with 3,000
runs, each page's time within 10% of the empty case. The last line:
``runs=N train_ratio=… runs_ratio=… healthy_ratio=…`` (medians, full / empty).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def fill(folder: Path, n: int) -> None:
    """``n`` copies of a shipped run (hard links where possible: only the folders differ)."""
    src = ROOT / "trained" / "digits-vae-z2-b1"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        d = folder / f"20260101-{i:06d}-digits-vae-copy"
        d.mkdir()
        for f in src.iterdir():
            try:
                (d / f.name).hardlink_to(f)
            except OSError:
                shutil.copy(f, d / f.name)


def page_times(runs_dir: Path, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server, wait_for_app
    out: dict[str, list[float]] = {"healthy": [], "train": [], "runs": []}
    work = Path(tempfile.mkdtemp())
    (work / "runs").symlink_to(runs_dir)
    for _ in range(repeats):
        t0 = time.perf_counter()
        server = start_server(work, {"LATENT_EXPLORER_MAX_JOBS": "1"}, timeout=300)
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
        out["healthy"].append(time.perf_counter() - t0)
        try:
            with sync_playwright() as p:
                for page_name, path, marker in (("train", "/Train", "Runs on this server"),
                                                ("runs", "/Runs", "Export, rename, delete")):
                    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t0 = time.perf_counter()
                    page.goto(server.url + path)
                    page.get_by_text(marker).first.wait_for(timeout=120_000)
                    if page_name == "runs":
                        page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
                    wait_for_app(page)
                    out[page_name].append(time.perf_counter() - t0)
                    browser.close()
        finally:
            stop_server(server)
    return out


def library_times(runs_dir: Path) -> dict[str, float]:
    from explorer.engine import Engine
    eng = Engine(runs_dir, max_jobs=1)
    try:
        t0 = time.perf_counter()
        eng.index.refresh(force=True)
        rescan = time.perf_counter() - t0
        t0 = time.perf_counter()
        eng.list(limit=20)
        page = time.perf_counter() - t0
        return {"rescan_ms": 1000 * rescan, "list_page_ms": 1000 * page, "count": eng.count()}
    finally:
        eng.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="run-index-"))
    empty, full = base / "empty", base / "full"
    empty.mkdir()
    fill(full, a.runs)
    results = {}
    for name, folder in (("empty", empty), ("full", full)):
        results[name] = page_times(folder, a.repeats)
        lib = library_times(folder)
        med = {k: statistics.median(v) for k, v in results[name].items()}
        print(f"{name:5s} ({lib['count']} runs): healthy {med['healthy']:.2f} s, Train {med['train']:.2f} s, "
              f"Runs {med['runs']:.2f} s; index rescan {lib['rescan_ms']:.1f} ms, one list page "
              f"{lib['list_page_ms']:.1f} ms; each: {results[name]}", flush=True)
    ratio = {k: statistics.median(results["full"][k]) / statistics.median(results["empty"][k])
             for k in ("train", "runs", "healthy")}
    shutil.rmtree(base, ignore_errors=True)
    print(f"runs={a.runs} train_ratio={ratio['train']:.3f} runs_ratio={ratio['runs']:.3f} "
          f"healthy_ratio={ratio['healthy']:.3f}")


if __name__ == "__main__":
    main()
