"""A full garbage collection in the server process, before and after the start-up's
``gc.freeze()`` (``explorer.ui.warmup.freeze_heap``).

    python benchmarks/gc_pause.py [--repeats 5]

Imports what the server holds after its warm-up (torch, plotly, Streamlit, the explorer
modules), then times ``gc.collect()``: first as Python's automatic full collections would
walk the heap, then after ``freeze_heap()``. Prints the object count and median / max
milliseconds of each.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def collect_ms(repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect()
        out.append(1000 * (time.perf_counter() - t0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    import plotly.graph_objects  # noqa: F401
    import streamlit.elements.plotly_chart  # noqa: F401
    import torch  # noqa: F401

    from explorer import data, jobs, models, objective, store  # noqa: F401
    from explorer.analysis import latent  # noqa: F401
    from explorer.figures import latent as latent_figures  # noqa: F401
    from explorer.ui import warmup
    n = len(gc.get_objects())
    before = sorted(collect_ms(a.repeats))
    warmup.freeze_heap()
    after = sorted(collect_ms(a.repeats))
    print(f"objects tracked: {n:,}; frozen: {gc.get_freeze_count():,}")
    print(f"full collection before freeze: median {before[len(before) // 2]:.1f} ms, max {before[-1]:.1f} ms")
    print(f"full collection after freeze:  median {after[len(after) // 2]:.2f} ms, max {after[-1]:.2f} ms")


if __name__ == "__main__":
    main()
