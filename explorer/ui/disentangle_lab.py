"""The disentanglement lab's pieces (the page is ``pages/7_Disentangle.py``).

It shows a shipped factor sweep (:mod:`explorer.analysis.disentangle.lab`), read from
``trained/sweeps/<name>/`` without loading a model: the data and their factors, a
traversal grid per β (one seed at a time), MIG and DCI against β with their standard
errors, the reading generated from the numbers, and every number in tables.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from .. import store
from ..analysis.disentangle import lab
from ..analysis.disentangle import reading as sweep_reading
from ..data import shapes
from ..figures import disentangle as figures
from ..figures.common import image_grid, upscale

MANIFEST = store.SHIPPED_ROOT / "manifest.json"


@st.cache_data(show_spinner=False, max_entries=4)
def _load(folder: str, mtime_ns: int):
    return lab.load(folder)


def load(name: str) -> lab.FactorSweep | None:
    """The shipped factor sweep ``name`` (re-read when its measures change)."""
    folder = lab.shipped_folder(name)
    try:
        mtime = (folder / lab.MEASURES).stat().st_mtime_ns
    except OSError:
        return None
    return _load(str(folder), mtime)


def names() -> list[str]:
    return lab.shipped_names(MANIFEST)


def dataset_preview(n: int = 8) -> None:
    """A row of the data's images, each captioned with its five factors."""
    x, f = shapes.generate(n, seed=0)
    values = shapes.factor_values(f)
    cols = st.columns(n)
    for k, col in enumerate(cols):
        img = upscale(x[k, 0].astype(np.float32) / 255, 3)
        col.image(img, width="stretch", clamp=True,
                  alt=f"A {values['shape'][k]} at scale {values['scale'][k]:g}, rotated {values['rotation'][k]:g}°, "
                      f"at x {values['x'][k]:.0f}, y {values['y'][k]:.0f}.")
        col.caption(f"{values['shape'][k]}, ×{values['scale'][k]:g}, {values['rotation'][k]:g}°, "
                    f"x {values['x'][k]:.0f}, y {values['y'][k]:.0f}")


def traversals(fs: lab.FactorSweep, seed: int, per_row: int = 2) -> None:
    """One traversal figure per β for training seed ``seed``, ``per_row`` to a row."""
    betas = fs.betas
    for start in range(0, len(betas), per_row):
        cols = st.columns(per_row)
        for col, beta in zip(cols, betas[start:start + per_row]):
            run = fs.run(beta, seed)
            grid = fs.grids.get((beta, seed))
            if run is None or grid is None:
                col.info(f"β = {beta:g}: no run with seed {seed}.")
                continue
            title = f"β = {beta:g} · MIG {run['mig']:.2f} · DCI {run['dci']:.2f}"
            col.plotly_chart(figures.traversal_figure(grid, run, span=fs.traverse, title=title, scale=2),
                             width="stretch", key=f"dl_trav_{beta:g}_{seed}",
                             config={"displayModeBar": False, "staticPlot": True})


def reference_picture(fs: lab.FactorSweep) -> np.ndarray:
    return upscale(image_grid(fs.reference[None].astype(np.float32) / 255, pad=0), 3)


def reading(fs: lab.FactorSweep) -> list[str]:
    return sweep_reading.reading(fs.rows, fs.factors)


def _pm(v, se, digits=3) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if se is None else f"{v:.{digits}f} ± {se:.{digits}f}"


def numbers_table(fs: lab.FactorSweep) -> pd.DataFrame:
    """Every number per β: mean ± standard error over the seeds, and each seed's MIG."""
    out = []
    for r in fs.rows:
        out.append({"β": f"{r['beta']:g}", "seeds": r["n_seeds"], "MIG": _pm(r["mig"], r["mig_se"]),
                    "MIG per seed": ", ".join(f"{v:.3f}" for v in r["mig_seeds"]),
                    "DCI disentanglement": _pm(r["dci"], r["dci_se"]),
                    "completeness": _pm(r["completeness"], r["completeness_se"]),
                    "informativeness": _pm(r["informativeness"], r["informativeness_se"]),
                    "active dimensions": _pm(r["active_units"], r.get("active_units_se"), 1),
                    "reconstruction (nats)": _pm(r["val_recon"], r.get("val_recon_se"), 1),
                    "KL (nats)": _pm(r["val_kl"], r.get("val_kl_se"), 2)})
    return pd.DataFrame(out)


def per_factor_table(fs: lab.FactorSweep) -> pd.DataFrame:
    """MIG of each factor per β (mean ± standard error over the seeds)."""
    out = []
    for r in fs.rows:
        se = r.get("mig_per_factor_se") or [None] * len(fs.factors)
        out.append({"β": f"{r['beta']:g}", **{name: _pm(v, s, 2) for name, v, s in
                                             zip(fs.factors, r["mig_per_factor"], se)}})
    return pd.DataFrame(out)
