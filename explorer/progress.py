"""What a training command prints: a one-line progress bar on stderr, and the final line.

Shared by ``python -m explorer train`` and ``resume`` (:mod:`explorer.cli`,
:mod:`explorer.cli_runs`) and by ``explorer.fit(..., live=True)`` outside a notebook.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path


class Progress:
    """A one-line progress bar on stderr: epoch, step, images/s, ETA, live recon and KL."""

    def __init__(self, total: int, stream=None, every_s: float = 0.2, start_step: int = 0):
        self.total, self.stream, self.every_s, self.start = total, stream or sys.stderr, every_s, start_step
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, row: dict, trainer) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and trainer.step_count < self.total:
            return
        self.last = now
        frac = trainer.step_count / self.total
        elapsed, done = now - self.t0, (trainer.step_count - self.start) / max(1, self.total - self.start)
        eta = elapsed / done - elapsed if done > 0 else float("nan")
        bar = "#" * int(frac * 24)
        self.stream.write(
            f"\r[{bar:<24}] {frac:5.1%} ep {row['epoch']:.1f} step {trainer.step_count}/{self.total} "
            f"recon {row['recon']:.2f} KL {row['kl']:.2f} {row['img_s']:,.0f} img/s ETA {eta:4.0f}s ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def print_summary(summary: dict, out: Path, iwae_k: int = 0, *, kind: str = "vae") -> int:
    """The line a finished ``train`` (or ``resume``) prints; returns the exit code.
    ``kind``: the model's ("ae": an autoencoder has no KL term and no ELBO, its recon is its loss)."""
    v = summary["val"]
    if kind == "ae":
        print(f"{summary['status']}: {out}  val loss (recon) {v['recon']:.2f}  "
              f"(an autoencoder: no KL term, no ELBO, not a bound on log p(x))")
    else:
        print(f"{summary['status']}: {out}  val ELBO {v['elbo']:.2f}  recon {v['recon']:.2f}  "
              f"KL {v['kl']:.2f}  active units {v['active_units']}/{len(v.get('kl_per_dim') or [])}"
              + (f"  IWAE-{iwae_k} {v['iwae']:.2f}" if "iwae" in v else ""))
    if summary["status"] == "diverged":
        print(summary["reason"], file=sys.stderr)
        return 1
    return 0
