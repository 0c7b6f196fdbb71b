"""The Train page's default run, chosen by measurement: a small search over the settings a
first run depends on, scored by how well its 2-D latent separates the digits.

    python benchmarks/defaults_search.py [--budget 10] [--seeds 0,1,2] [--quick]

Each candidate trains on scikit-learn's 8×8 digits (offline, the page's default dataset) in
this process with one torch thread, as a worker does, for at most ``--budget`` seconds of
training, and is scored by ``knn5_acc``: the leave-one-out 5-nearest-neighbour accuracy of
the validation images' posterior means (``explorer.analysis.latent.knn_accuracy``; the
number ``python -m explorer eval RUN --json`` reports). Candidates vary the likelihood
(Bernoulli on grey pixels, Gaussian with a fixed σ), widths, batch size, learning rate and
epochs; β stays 1 (the VAE of seed eq. 2). The goal (issue 17): knn5_acc ≥ 0.85 within 10 s
of training here. It prints one line per candidate (mean over seeds) and, last, the best
candidate that meets the time budget: ``best=… knn5_acc=… train_s=… img_s=…``.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def candidates(quick: bool, bernoulli: bool = False):
    if bernoulli:                       # the second round: Bernoulli only, schedules and step sizes
        for b, a, e, w in itertools.product([32, 64], [3e-3, 5e-3], [40, 60, 80], [0, 500, 1500]):
            yield {"data": {"name": "digits"},
                   "model": {"hidden": [256, 128], "latent_dim": 2, "likelihood": "bernoulli"},
                   "train": {"batch_size": b, "lr": a, "epochs": e,
                             "beta_schedule": "warmup" if w else "constant", "warmup_steps": max(w, 1)}}
        return
    lik = [("bernoulli", 0.1), ("gaussian", 0.1), ("gaussian", 0.2)]
    hidden = [[256, 128], [512, 256], [128, 64]]
    batch = [32, 64, 128]
    lr = [1e-3, 3e-3]
    epochs = [40, 80, 120]
    if quick:
        lik, hidden, batch, lr, epochs = lik[:2], hidden[:2], batch[:2], lr, epochs[:2]
    for (likelihood, sigma), h, b, a, e in itertools.product(lik, hidden, batch, lr, epochs):
        yield {"data": {"name": "digits"},
               "model": {"hidden": h, "latent_dim": 2, "likelihood": likelihood, "sigma": sigma},
               "train": {"batch_size": b, "lr": a, "epochs": e}}


def score(cfg_dict: dict, seed: int, budget: float) -> dict:
    import torch

    from explorer import data
    from explorer.analysis.latent import knn_accuracy
    from explorer.config import RunConfig
    from explorer.training import Trainer
    cfg = RunConfig.from_dict({**cfg_dict, "train": {**cfg_dict["train"], "seed": seed}})
    ds = data.load(cfg.data)
    tr = Trainer(cfg, ds, device="cpu")
    t0 = time.perf_counter()
    while not tr.done and time.perf_counter() - t0 < budget:
        tr.step()
    seconds = time.perf_counter() - t0
    tr.model.eval()
    with torch.no_grad():
        mu, _ = tr.model.encode_mean(ds.x_val)
    return {"knn5_acc": knn_accuracy(mu.numpy(), ds.y_val.numpy(), 5), "train_s": seconds,
            "done": tr.done, "img_s": tr.samples_seen / max(seconds, 1e-9)}


def label(c: dict) -> str:
    m, t = c["model"], c["train"]
    lik = m["likelihood"] + (f"(σ={m.get('sigma', 0.1):g})" if m["likelihood"] == "gaussian" else "")
    sched = (f" warmup={t['warmup_steps']}" if t.get("beta_schedule", "constant") == "warmup" else "")
    return (f"{lik} hidden={'-'.join(map(str, m['hidden']))} batch={t['batch_size']} lr={t['lr']:g} "
            f"epochs={t['epochs']}{sched}")


def main() -> None:
    import torch
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=10.0, help="seconds of training at most")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--quick", action="store_true", help="a smaller grid")
    ap.add_argument("--bernoulli", action="store_true", help="the second round: Bernoulli variants")
    ap.add_argument("--only", default=None, help="evaluate one candidate: its label as printed")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    best = None
    for c in candidates(a.quick, a.bernoulli):
        if a.only and label(c) != a.only:
            continue
        runs = [score(c, s, a.budget) for s in seeds]
        acc = statistics.mean(r["knn5_acc"] for r in runs)
        secs = statistics.mean(r["train_s"] for r in runs)
        done = all(r["done"] for r in runs)
        img_s = statistics.mean(r["img_s"] for r in runs)
        print(f"{label(c):70s} knn5_acc={acc:.3f} (min {min(r['knn5_acc'] for r in runs):.3f}) "
              f"train_s={secs:.1f} {'finished' if done else 'cut at the budget'} img_s={img_s:,.0f}",
              flush=True)
        if done and (best is None or acc > best[1]):
            best = (c, acc, secs, img_s)
    if best:
        print(f"best={label(best[0]).replace(' ', ',')} knn5_acc={best[1]:.3f} train_s={best[2]:.1f} "
              f"img_s={best[3]:.0f}")


if __name__ == "__main__":
    main()
