"""The Train page's presets, measured: how long each trains here and how readable its latent is.

    python benchmarks/presets.py [--only "2-minute MNIST"] [--mnist ../shared/data/mnist.npz]

Each preset (``explorer.presets``) trains headless in this process with one torch thread, as a
worker does, on its own data (MNIST from ``--mnist``, the standard .npz). For each it prints the
training seconds, images/s, the final validation numbers and ``knn5_acc`` (the leave-one-out
5-NN accuracy of the validation posterior means, as ``python -m explorer eval --json``). The
page trains a little slower than this with the live page open in a browser on the same cores
(``benchmarks/live_overhead.py`` measures that ratio). Last line, for the MNIST preset:
``preset=… train_s=… epochs=… knn5_acc=…`` ("2-minute MNIST" has a 120 s time budget:
train_s is that plus the final evaluation, epochs what fitted).
"""
from __future__ import annotations

import argparse
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


def main() -> None:
    import torch
    torch.set_num_threads(1)
    from explorer.presets import PRESETS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default=None)
    ap.add_argument("--mnist", default=str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    a = ap.parse_args()
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
