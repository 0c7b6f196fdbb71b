"""The Train page's presets, measured: how long each trains here and how readable its latent is.

    python benchmarks/presets.py [--only "2-minute MNIST"] [--mnist ../shared/data/mnist.npz] [--browser]

Each preset (``explorer.presets``) trains headless in this process with one torch thread, as a
worker does, on its own data (MNIST from ``--mnist``, the standard .npz). For each it prints the
training seconds, images/s, the final validation numbers and ``knn5_acc`` (the leave-one-out
5-NN accuracy of the validation posterior means, as ``python -m explorer eval --json``). The
page trains a little slower than this with the live page open in a browser on the same cores
(``benchmarks/live_overhead.py`` measures that ratio). Last line, for the MNIST preset:
``preset=… train_s=… epochs=… knn5_acc=…`` ("2-minute MNIST" has a 120 s time budget:
train_s is that plus the final evaluation, epochs what fitted).

``--browser`` measures a preset as a teacher runs it instead: a real ``streamlit run app.py``
(tests/conftest.py's ``start_server``) whose data folder (``LATENT_EXPLORER_DATA``) holds the
MNIST file, its Train page open in Debian Chromium (a fresh profile), the preset picked on the
page and Start clicked; the page stays open, live, until it says the run finished.
``wall_s`` is from the click to that "Finished" line on the page (queueing, the worker's
start, loading the data, training, the final evaluation and saving, and the page's own
polling); ``knn5_acc`` is then computed from the saved run folder as above. Last line:
``preset=… mode=browser wall_s=… epochs=… knn5_acc=…``.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(name: str, mnist: str | None) -> dict:
    import torch

    from explorer import data
    from explorer.analysis.latent import knn_accuracy
    from explorer.presets import PRESETS
    from explorer.training import fit
    cfg = PRESETS[name].config
    if cfg.data.name in ("mnist", "fashion-mnist") and mnist:
        cfg = cfg.replace(data={"path": mnist})
    ds = data.load(cfg.data, max_bytes=2**30)
    t0 = time.perf_counter()
    trainer, _, summary = fit(cfg, ds, device="cpu")
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        mu, _ = trainer.model.encode_mean(ds.x_val)
    acc = knn_accuracy(mu.numpy(), ds.y_val.numpy()) if ds.y_val is not None else float("nan")
    return {"train_s": seconds, "img_s": trainer.samples_seen / seconds, "knn5_acc": acc,
            "epochs": trainer.epoch_float, "reason": summary.get("reason"),
            "val": summary["val"], "train": summary["train"]}


def _knn_of_folder(run_dir: Path, mnist: str | None) -> tuple[float, float]:
    """(knn5_acc of the run's validation posterior means, its epochs), from its saved folder."""
    import torch

    from explorer import data, store
    from explorer.analysis.latent import knn_accuracy
    run = store.open_run(run_dir)
    cfg = run.config
    if cfg.data.name in ("mnist", "fashion-mnist") and mnist:
        cfg = cfg.replace(data={"path": mnist})
    ds = data.load(cfg.data, max_bytes=2**30)
    model = run.load_model()
    with torch.no_grad():
        mu, _ = model.encode_mean(ds.x_val)
    return knn_accuracy(mu.cpu().numpy(), ds.y_val.numpy()), float(run.summary.get("epochs") or 0.0)


def measure_browser(name: str, mnist: str) -> dict:
    """The preset picked and started on the Train page of a real server, in real Chromium."""
    import shutil
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CHROMIUM, CHROMIUM_ARGS, choose, start_server, stop_server, wait_for_app
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="presets-browser-"))
    data_dir = tmp / "data"
    (data_dir / "mnist").mkdir(parents=True)
    shutil.copyfile(mnist, data_dir / "mnist" / "mnist.npz")       # where the app looks for it
    server = start_server(tmp, {"LATENT_EXPLORER_DATA": str(data_dir)})
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(server.url + "/Train")
            wait_for_app(page)
            pick = page.locator('[data-testid="stSelectbox"]').filter(has_text="Preset").first
            choose(page, pick, name, exact=True)
            page.get_by_text("What to watch:").first.wait_for(timeout=30_000)
            wait_for_app(page)
            start = page.get_by_role("button", name="Start")
            t0 = time.perf_counter()
            start.click()
            page.get_by_text(f"Finished {name}").first.wait_for(timeout=600_000)
            wall = time.perf_counter() - t0
            ARTIFACTS = ROOT / "artifacts"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "presets_browser_finished.png"), full_page=True)
            rid = re.search(r"run=([^&]+)", page.url)
            ctx.close()
    finally:
        stop_server(server)
    run_dir = server.runs / rid.group(1) if rid else next(p.parent for p in server.runs.glob("*/summary.json"))
    acc, epochs = _knn_of_folder(run_dir, mnist)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"wall_s": wall, "epochs": epochs, "knn5_acc": acc}


def main() -> None:
    import torch
    torch.set_num_threads(1)
    from explorer.presets import PRESETS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=None)
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    ap.add_argument("--browser", action="store_true",
                    help="start the preset on the Train page of a real server, in Chromium")
    a = ap.parse_args()
    if a.browser:
        for name in PRESETS:
            if a.only and name != a.only:
                continue
            r = measure_browser(name, a.mnist)
            print(f"preset={name} mode=browser wall_s={r['wall_s']:.1f} epochs={r['epochs']:.1f} "
                  f"knn5_acc={r['knn5_acc']:.3f}", flush=True)
        return
    last = None
    for name in PRESETS:
        if a.only and name != a.only:
            continue
        r = measure(name, a.mnist)
        v, t = r["val"], r["train"]
        print(f"{name:16s} train_s={r['train_s']:.1f} img_s={r['img_s']:,.0f} knn5_acc={r['knn5_acc']:.3f} "
              f"val recon {v['recon']:.2f} KL {v['kl']:.2f} · train recon {t['recon']:.2f} KL {t['kl']:.2f}",
              flush=True)
        if name == "2-minute MNIST":
            last = (name, r)
    if last:
        print(f"preset={last[0].replace(' ', '-')} train_s={last[1]['train_s']:.1f} "
              f"epochs={last[1]['epochs']:.1f} knn5_acc={last[1]['knn5_acc']:.3f}")


if __name__ == "__main__":
    main()
