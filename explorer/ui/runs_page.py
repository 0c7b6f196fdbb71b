"""The Runs page's data and actions: the table's entries a page at a time, a run's curves,
latent means and samples (loaded only when the run is compared), and the import, rename
and delete callbacks. Who may rename or delete is :func:`explorer.runs.refusal`'s answer.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from .. import data as data_mod, exchange, settings, store
from ..catalog import list_runs
from ..config import DataConfig
from ..engine import EngineError
from ..export.downloads import onnx_available, onnx_files, zip_bytes
from ..export.script import script_for_run
from ..export.tensorboard import tensorboard_zip
from ..figures import runs as runs_figures
from ..runs import Action, RunEntry
from ..text import md
from . import common, frame

PROBE_N = 2000           # points per latent scatter
CHEAP_DATA = ("digits", "moons", "circles", "swissroll", "pinwheel", "gaussians")


# ------------------------------------------------------------------ entries

def entries_page(per_page: int, offset: int, newest_first: bool) -> list[RunEntry]:
    """One page of the table: every run, shipped ones included, by when it was made, newest
    or oldest first. The shipped runs count as made together, when this app was installed
    (their folders' time), and keep their own order (by id) among themselves."""
    shipped = list_runs(None)
    when = max((e.created for e in shipped), default=0.0)
    users = common.engine().list(limit=offset + per_page, offset=0, newest_first=newest_first)
    sign = -1 if newest_first else 1
    merged = sorted(users + shipped, key=lambda e: sign * (when if e.shipped else e.created))   # stable
    return merged[offset:offset + per_page]


def total_runs() -> int:
    return len(list_runs(None)) + common.engine().count()


def _mtime(run_dir: Path, name: str = store.WEIGHTS) -> float:
    p = Path(run_dir) / name
    return p.stat().st_mtime if p.exists() else 0.0


@st.cache_data(max_entries=64, show_spinner=False)
def _disk_metrics(run_dir: str, mtime: float) -> list[dict]:
    return store.read_metrics(Path(run_dir))


def metrics_rows(entry: RunEntry) -> list[dict]:
    """A run's metrics rows: live from the engine while it trains, else from disk."""
    if entry.status.live:
        view = common.engine().view(entry.run_id)
        return view.rows if view else []
    return _disk_metrics(str(entry.run_dir), _mtime(entry.run_dir, store.METRICS))


@st.cache_data(max_entries=32, show_spinner=False)
def _probe_latents(run_dir: str, mtime: float, cheap_data: bool, data_cfg: dict | None):
    """Latent means of the run's probe images (or of its validation data when that is
    cheap to load): (points N×2, labels, class names, axis titles), or None."""
    probe = store.load_probe(Path(run_dir))
    if probe is None and cheap_data and data_cfg is not None:
        ds = data_mod.load(DataConfig(**data_cfg))
        probe = (ds.x_val[:PROBE_N], None if ds.y_val is None else ds.y_val[:PROBE_N], ds.class_names)
    if probe is None:
        return None
    x, y, names = probe
    mu, _ = common.load_model(Path(run_dir)).encode_mean(x[:PROBE_N])
    z, axes = runs_figures.project_2d(mu.numpy())
    return z, None if y is None else y[:PROBE_N].numpy(), list(names or []), axes


def latents(entry: RunEntry):
    """(points, labels, class names, axis titles) for a run's scatter, or None."""
    view = common.engine().view(entry.run_id) if not entry.shipped and entry.status.live else None
    if view is not None and view.snapshot is not None and view.info is not None:
        z, axes = runs_figures.project_2d(view.snapshot.mu)
        return z, view.info.probe_labels, list(view.info.class_names or []), axes
    cfg = entry.config
    return _probe_latents(str(entry.run_dir), _mtime(entry.run_dir), cfg.data.name in CHEAP_DATA,
                          dataclasses.asdict(cfg.data))


@st.cache_data(max_entries=32, show_spinner=False)
def samples(run_dir: str, mtime: float, n: int) -> np.ndarray | None:
    """Means of p(x|z) for n draws z ~ N(0, I) (seeded, so the grid is stable)."""
    model = common.load_model(Path(run_dir))
    if len(model.data_shape) != 3:
        return None
    return model.sample_prior(n, generator=torch.Generator().manual_seed(0)).numpy()


def sample_grid_of(entry: RunEntry, n: int) -> np.ndarray | None:
    return samples(str(entry.run_dir), _mtime(entry.run_dir), n)


# ------------------------------------------------------------------ exports

EXPORT_HELP = {
    "tb": "TensorBoard event files: every scalar of metrics.csv (the app's tags), the β/lr changes, "
          "reconstructions and samples, the latent means in the projector. Unzip, then "
          "`tensorboard --logdir .` (the CLI's --replay also draws every epoch's images)",
    "script": "One runnable file of plain PyTorch that reproduces this run: `python train_vae.py --help`",
    "onnx": "encoder.onnx (x → μ, log σ²) and decoder.onnx (z → the mean of p(x|z)), for onnxruntime",
}


def export_buttons(entry: RunEntry, disabled: bool) -> None:
    """Downloads of a saved run in other tools' formats (built when clicked)."""
    d, rid = entry.run_dir, entry.run_id
    row = st.container(horizontal=True)                # buttons as wide as their labels
    row.download_button("Download TensorBoard logs (.zip)", data=lambda: tensorboard_zip(d),
                        file_name=f"{rid}-tensorboard.zip", mime="application/zip", on_click="ignore",
                        key="export_tb", disabled=disabled, help=EXPORT_HELP["tb"])
    row.download_button("Download PyTorch script (.py)", data=lambda: script_for_run(d),
                        file_name="train_vae.py", mime="text/x-python", on_click="ignore",
                        key="export_script", disabled=disabled, help=EXPORT_HELP["script"])
    if onnx_available():
        row.download_button("Download ONNX encoder + decoder (.zip)",
                            data=lambda: zip_bytes({f"{rid}/{k}": v for k, v in onnx_files(d).items()}),
                            file_name=f"{rid}-onnx.zip", mime="application/zip", on_click="ignore",
                            key="export_onnx", disabled=disabled, help=EXPORT_HELP["onnx"])


# ------------------------------------------------------------------ actions
# Callbacks run before the page script, so they may set other widgets' state.

def flash(kind: str, text: str, where: str = "manage") -> None:
    """A message for the next run of the page, shown in section ``where`` (manage, import)."""
    st.session_state[f"runs_flash_{where}"] = (kind, text)


def show_flash(where: str) -> None:
    msg = st.session_state.pop(f"runs_flash_{where}", None)
    if msg:
        (st.success if msg[0] == "success" else st.error)(md(msg[1]))   # names come from users


def refusal_now(entry: RunEntry, action: Action) -> str | None:
    """Why the person on this page may not rename or delete the run, checked again at the
    moment of acting (the run's status is read afresh from the engine)."""
    fresh = None if entry.shipped else common.engine().entry(entry.run_id)
    return (fresh or entry).refusal(action, frame.actor(), delete_any=settings.get().delete_any)


def on_import() -> None:
    """The import file uploader changed: validate and import the zip once."""
    f = st.session_state.get("import_zip")
    if f is None:
        return
    limit = settings.get().upload_bytes
    if f.size > limit:
        flash("error", f"Import refused: {f.name} is {f.size / 2**20:.1f} MiB; the limit is "
                       f"{limit / 2**20:.0f} MiB (setting LATENT_EXPLORER_UPLOAD_MB).", "import")
        return
    eng, me = common.engine(), common.owner()
    try:            # a class's rules, the runs and disk caps, then the one validated import
        ticket = eng.admit_store(me, f.size, f.name)
        run_id = exchange.import_run(f.getvalue(), eng.runs_dir, max_bytes=limit, owner=me,
                                     file_name=f.name)
    except (exchange.ExchangeError, EngineError) as e:
        flash("error", f"Import refused: {e}.", "import")
        return
    eng.stored(ticket, run_id)
    st.session_state["manage_run"] = run_id
    flash("success", f"Imported {f.name} as run {run_id}. It is yours: rename or delete it under "
                     "“Export, rename, delete”.", "import")


def on_rename(entry: RunEntry) -> None:
    new_name = st.session_state.get(f"rename_{entry.run_id}", "")
    refusal = refusal_now(entry, Action.RENAME)
    if refusal:
        flash("error", f"Not renamed: {refusal}.")
        return
    try:
        store.rename_run(entry.run_dir, new_name)
        common.engine().forget(entry.run_id)          # re-read from disk with its new name
    except Exception as e:  # noqa: BLE001 - StoreError, EngineError, OSError: say so
        flash("error", f"Not renamed: {e}.")
        return
    flash("success", f"Renamed run {entry.run_id} to “{new_name.strip()}”.")


def on_delete(entry: RunEntry) -> None:
    st.session_state.pop("confirm_delete", None)
    eng = common.engine()
    refusal = refusal_now(entry, Action.DELETE)
    if refusal:
        flash("error", f"Not deleted: {refusal}.")
        return
    try:
        store.delete_run(entry.run_dir, eng.runs_dir)
        eng.forget(entry.run_id)
    except Exception as e:  # noqa: BLE001 - StoreError, EngineError, OSError: say so
        flash("error", f"Not deleted: {e}.")
        return
    st.session_state.pop("manage_run", None)
    flash("success", f"Deleted run {entry.run_id}.")
