"""The memory estimate (explorer/memory.py) against measured peaks.

Each configuration trains a few steps in a fresh process set up as a worker is
(``worker.warm_up``: one torch thread, the imports), then writes its final summary; the
process's peak resident memory (``ru_maxrss``) is compared with ``memory.estimate``.
The estimate should be at or above the measurement, not far above it.

    python benchmarks/memory_estimate.py [--mnist /work/shared/data/mnist.npz]

Last line: ``configs=… under=… worst_ratio=… median_ratio=…`` (ratio = estimate / peak;
``under`` counts configurations whose estimate was below the measured peak).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from explorer.engine.worker import warm_up
warm_up(1)
from explorer import data
from explorer.config import RunConfig
from explorer.training import Trainer, summarize
cfg = RunConfig.from_dict(json.loads(sys.argv[2]))
ds = data.load(cfg.data, max_bytes=2**31)
tr = Trainer(cfg, ds, device="cpu")
for _ in range(3):
    tr.step()
summarize(tr, "finished", 1.0, iwae_k=int(sys.argv[3]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def configs(mnist: str | None) -> list[tuple[dict, int]]:
    out = [({"data": {"name": "digits"}}, 0),
           ({"data": {"name": "digits"}, "train": {"batch_size": 1024, "mc_samples": 10}}, 0),
           ({"data": {"name": "moons", "n_points": 200_000}, "model": {"likelihood": "gaussian"},
             "train": {"batch_size": 4096, "mc_samples": 8}}, 0),
           ({"data": {"name": "digits"}, "model": {"body": "conv"}, "train": {"batch_size": 512,
                                                                               "mc_samples": 4}}, 50)]
    if mnist:
        m = {"name": "mnist", "path": mnist, "binarize": "dynamic"}
        out += [({"data": m, "train": {"batch_size": 128}}, 0),
                ({"data": m, "train": {"batch_size": 2000, "mc_samples": 10}}, 0),
                ({"data": m, "train": {"batch_size": 4000, "mc_samples": 20}}, 0),
                ({"data": m, "model": {"hidden": [1024, 512]}, "train": {"batch_size": 8000, "mc_samples": 5}}, 0),
                ({"data": m, "model": {"body": "conv"}, "train": {"batch_size": 1000, "mc_samples": 4}}, 100)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", default="/work/shared/data/mnist.npz" if Path("/work/shared/data/mnist.npz").exists()
                    else None, help="an MNIST .npz (x_train, y_train, x_test, y_test)")
    ns = ap.parse_args()
    from explorer import memory
    from explorer.config import RunConfig
    ratios, under = [], 0
    for d, iwae_k in configs(ns.mnist):
        cfg = RunConfig.from_dict(d)
        est = memory.estimate(cfg, memory.footprint(cfg.data), iwae_k=iwae_k)
        out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), json.dumps(d), str(iwae_k)],
                             capture_output=True, text=True, check=True)
        peak = int(out.stdout.strip().splitlines()[-1])
        ratio = est.total / peak
        ratios.append(ratio)
        under += est.total < peak
        print(f"{json.dumps(d)[:110]:110s} iwae={iwae_k:<3d} estimate={est.mb:7.0f} MB  peak={peak / 2**20:7.0f} MB  "
              f"ratio={ratio:.2f}", flush=True)
    print(f"configs={len(ratios)} under={under} worst_ratio={min(ratios):.2f} "
          f"median_ratio={statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
