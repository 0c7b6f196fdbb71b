"""How far the latent scatter trails the curves, in what the engine publishes (issue 31).

    python benchmarks/live_lag.py [--epochs 60] [--dataset digits] [--batch-size 32]

One run of the Train page's defaults on an engine in this process (one worker). Every
0.25 s it reads ``Engine.view`` as a page does and notes how many epochs the newest
snapshot (the latent scatter, reconstructions, KL bars) trails the newest row (the curves).
The server's CPU is this process's (the engine's dispatcher applying the worker's messages),
per second of training. Last line:
``epochs_per_s=… lag_p50_epochs=… lag_max_epochs=… snapshots=… server_cpu_ms_per_s=…``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.config import RunConfig  # noqa: E402
from explorer.engine import Engine  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    cfg = RunConfig.from_dict({"data": {"name": a.dataset},
                               "train": {"epochs": a.epochs, "batch_size": a.batch_size}})
    eng = Engine(Path(tempfile.mkdtemp()), prestart=1, max_jobs=1)
    eng.wait_workers_ready(60)
    rid = eng.submit(cfg, "bench", estimate=False)
    lags, t0, cpu0, steps = [], None, 0.0, set()
    while True:
        v = eng.view(rid)
        if v.status.ended:
            break
        if v.rows and v.snapshot is not None and v.snapshot.step > 0:
            if t0 is None:
                t0, cpu0 = time.time(), time.process_time()
            lags.append(float(v.rows[-1]["epoch"]) - float(v.snapshot.epoch))
            steps.add(v.snapshot.step)
        time.sleep(0.25)
    wall, cpu = time.time() - (t0 or time.time()), time.process_time() - cpu0
    v = eng.view(rid)
    eng.shutdown()
    lags.sort()
    snaps = len(v.history)
    rate = float(v.progress.epoch) / max(float(v.progress.elapsed_s or 1), 1e-9)
    print(f"epochs_per_s={rate:.1f} lag_p50_epochs={lags[len(lags) // 2] if lags else float('nan'):.2f} "
          f"lag_max_epochs={max(lags, default=float('nan')):.2f} snapshots={snaps} "
          f"server_cpu_ms_per_s={1000 * cpu / max(wall, 1e-9):.1f}")


if __name__ == "__main__":
    main()
