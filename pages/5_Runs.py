"""Runs: every run in one sortable table; compare runs; export, import, rename, delete.

- The table lists shipped runs (read-only) and every run on this server (live and
  saved) with its configuration and final numbers. Tick rows to compare them:
  their curves overlaid, their latent scatters and prior samples side by side.
- A run exports as a zip (config.json, weights.safetensors, metrics.csv,
  summary.json, and the probe images when the run has them); a run zip imports as
  a NEW run after full validation (:mod:`explorer.exchange`: nothing in the file
  is executed or unpickled). Figures download as PNG, curves as CSV.
- A session renames and deletes only its own runs (unless the server setting
  ``LATENT_EXPLORER_DELETE_ANY=1`` allows more); deleting asks for confirmation.

State in the URL, for sharing: ``?runs=<id>,<id>`` (compared), ``run=<id>``
(the run being managed), ``metric=`` and ``x=`` (the curve shown).
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explorer import exchange, settings, store
from explorer.figures import runs as fr
from explorer.figures.common import image_grid, upscale
from explorer.figures.latent import latent_scatter
from explorer.ui import common

common.page_setup("Runs", "🗂️")

TABLE_KEY = "runs_table"
MAX_COMPARE = 6          # curves of at most this many runs
MAX_SIDE_BY_SIDE = 4     # scatters and sample grids of the first this many
N_SAMPLES = 36           # prior samples per run
PROBE_N = 2000           # points per latent scatter
CHEAP_DATA = ("digits", "moons", "circles", "swissroll", "pinwheel", "gaussians")


def md(text: str) -> str:
    """User text (run names) shown in Markdown without being read as Markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$:])", r"\\\1", str(text))


# =================================================================== data

def collect_entries(me: str) -> list[dict]:
    """Every run for the table: shipped runs first, then this server's runs, oldest first
    (so a new run is added at the bottom and ticked rows keep their places)."""
    entries = []
    for r in store.list_runs(store.SHIPPED_ROOT):
        entries.append({"run_id": r.run_id, "config": r.config, "summary": r.summary,
                        "status": r.summary.get("status", "finished"), "source": "📦 shipped",
                        "run_dir": r.path, "shipped": True, "owner": None})
    seen = {e["run_id"] for e in entries}
    for j in sorted(common.engine().list(), key=lambda j: j["created"]):
        if j["run_id"] in seen:
            continue
        summary = j["summary"] or store.read_summary(j["run_dir"])
        run_owner = j["owner"] or summary.get("owner") or ""
        source = "yours" if run_owner and run_owner == me else "another session"
        if summary.get("imported"):
            source += " (imported)"
        entries.append({"run_id": j["run_id"], "config": j["config"], "summary": summary,
                        "status": j["status"], "source": source, "run_dir": Path(j["run_dir"]),
                        "shipped": False, "owner": run_owner})
    return entries


def has_weights(entry: dict) -> bool:
    return (Path(entry["run_dir"]) / store.WEIGHTS).is_file()


def _mtime(run_dir: Path, name: str = store.WEIGHTS) -> float:
    p = Path(run_dir) / name
    return p.stat().st_mtime if p.exists() else 0.0


@st.cache_data(max_entries=64, show_spinner=False)
def _disk_metrics(run_dir: str, mtime: float) -> list[dict]:
    return store.read_metrics(Path(run_dir))


def metrics_rows(entry: dict) -> list[dict]:
    """A run's metrics rows: live from the engine while it trains, else from disk."""
    if entry["status"] in exchange.ACTIVE:
        view = common.engine().view(entry["run_id"])
        return view["rows"] if view else []
    return _disk_metrics(str(entry["run_dir"]), _mtime(entry["run_dir"], store.METRICS))


@st.cache_data(max_entries=32, show_spinner=False)
def _probe_latents(run_dir: str, mtime: float, cheap_data: bool, data_cfg: dict | None):
    """Latent means of the run's probe images (or of its validation data when that is
    cheap to load): (points N×2, labels, class names, axis titles), or None."""
    from explorer import data as data_mod
    from explorer.config import DataConfig
    probe = store.load_probe(Path(run_dir))
    if probe is None and cheap_data and data_cfg is not None:
        ds = data_mod.load(DataConfig(**data_cfg))
        probe = (ds.x_val[:PROBE_N], None if ds.y_val is None else ds.y_val[:PROBE_N], ds.class_names)
    if probe is None:
        return None
    x, y, names = probe
    model = common.load_model(Path(run_dir))
    mu, _ = model.encode_mean(x[:PROBE_N])
    z, axes = fr.project_2d(mu.numpy())
    return z, None if y is None else y[:PROBE_N].numpy(), list(names or []), axes


def latents(entry: dict):
    """(points, labels, class names, axis titles) for a run's scatter, or None."""
    view = common.engine().view(entry["run_id"]) if not entry["shipped"] else None
    if view and view.get("snapshot") is not None:          # the engine's latest snapshot
        z, axes = fr.project_2d(view["snapshot"]["mu"])
        labels = view["meta"].get("probe_labels")
        return z, labels, list(view["meta"].get("class_names") or []), axes
    cfg = entry["config"]
    return _probe_latents(str(entry["run_dir"]), _mtime(entry["run_dir"]),
                          cfg.data.name in CHEAP_DATA, dataclasses.asdict(cfg.data))


@st.cache_data(max_entries=32, show_spinner=False)
def _samples(run_dir: str, mtime: float, n: int) -> np.ndarray | None:
    """Means of p(x|z) for n draws z ~ N(0, I) (seeded, so the grid is stable)."""
    model = common.load_model(Path(run_dir))
    if len(model.data_shape) != 3:
        return None
    return model.sample_prior(n, generator=torch.Generator().manual_seed(0)).numpy()


# ============================================================ callbacks
# Callbacks run before the page script, so they may set other widgets' state.

def flash(kind: str, text: str, where: str = "manage") -> None:
    """A message for the next run of the page, shown in section ``where`` (manage, import)."""
    st.session_state[f"runs_flash_{where}"] = (kind, text)


def show_flash(where: str) -> None:
    msg = st.session_state.pop(f"runs_flash_{where}", None)
    if msg:
        (st.success if msg[0] == "success" else st.error)(md(msg[1]))   # names come from users


def on_import() -> None:
    """The import file uploader changed: validate and import the zip once."""
    f = st.session_state.get("import_zip")
    if f is None:
        return
    limit = settings.get().upload_bytes
    if f.size > limit:
        flash("error", f"Import refused: {f.name} is {f.size / 2**20:.1f} MiB; the limit is "
                       f"{limit / 2**20:.0f} MiB.", "import")
        return
    try:
        run_id = exchange.import_run(f.getvalue(), common.engine().runs_dir, max_bytes=limit,
                                     owner=common.owner(), file_name=f.name)
    except exchange.ExchangeError as e:
        flash("error", f"Import refused: {e}.", "import")
        return
    common.engine().refresh_from_disk()
    st.session_state["manage_run"] = run_id
    flash("success", f"Imported {f.name} as run {run_id}. It is yours: rename or delete it under "
                     "“Export, rename, delete”.", "import")


def refusal_now(entry: dict, me: str) -> str | None:
    """Why this session may not rename or delete the run, checked again at the moment of
    acting (the run's status is read from the engine, not from the page)."""
    view = common.engine().view(entry["run_id"]) if not entry["shipped"] else None
    status = view["status"] if view else entry["status"]
    return exchange.modify_refusal(shipped=entry["shipped"], status=status, run_owner=entry["owner"],
                                   owner=me, delete_any=settings.get().delete_any)


def on_rename(entry: dict, me: str) -> None:
    new_name = st.session_state.get(f"rename_{entry['run_id']}", "")
    refusal = refusal_now(entry, me)
    if refusal:
        flash("error", f"Not renamed: {refusal}.")
        return
    try:
        store.rename_run(entry["run_dir"], new_name)
        eng = common.engine()
        eng.forget(entry["run_id"])          # re-read from disk with its new name
        eng.refresh_from_disk()
    except Exception as e:  # noqa: BLE001 - StoreError, EngineError, OSError: say so
        flash("error", f"Not renamed: {e}.")
        return
    flash("success", f"Renamed run {entry['run_id']} to “{new_name.strip()}”.")


def on_delete(entry: dict, me: str) -> None:
    st.session_state.pop("confirm_delete", None)
    eng = common.engine()
    refusal = refusal_now(entry, me)
    if refusal:
        flash("error", f"Not deleted: {refusal}.")
        return
    try:
        store.delete_run(entry["run_dir"], eng.runs_dir)
        eng.forget(entry["run_id"])
    except Exception as e:  # noqa: BLE001 - StoreError, EngineError, OSError: say so
        flash("error", f"Not deleted: {e}.")
        return
    st.session_state.pop("manage_run", None)
    flash("success", f"Deleted run {entry['run_id']}.")


# ================================================================= page

def keep_selection(ids: list[str]) -> None:
    """Ticked rows are positions; keep them on the same runs when the list changes."""
    prev = st.session_state.get("_runs_table_ids")
    st.session_state["_runs_table_ids"] = ids
    state = st.session_state.get(TABLE_KEY)
    if prev is None or prev == ids or not state:
        return
    rows = list(state.get("selection", {}).get("rows", []))
    picked = [prev[i] for i in rows if 0 <= i < len(prev)]
    st.session_state[TABLE_KEY] = {"selection": {"rows": [ids.index(r) for r in picked if r in ids],
                                                 "columns": []}}


def table(entries: list[dict]) -> list[dict]:
    """The runs table; returns the ticked entries."""
    df = fr.runs_table(entries)
    ids = df["Run id"].tolist()
    keep_selection(ids)
    from_url = [r for r in (common.query_get("runs") or "").split(",") if r in ids]
    number = {c: st.column_config.NumberColumn(c, format="%.2f", help=fr.TABLE_HELP.get(c))
              for c in ("Train ELBO", "Train recon", "Train KL", "Val ELBO", "Val recon", "Val KL", "IWAE")}
    config = {**number,
              "Name": st.column_config.TextColumn("Name", width="medium", pinned=True),
              "Source": st.column_config.TextColumn("Source", help=fr.TABLE_HELP["Source"]),
              "Latent dim": st.column_config.NumberColumn("Latent dim", format="%d"),
              "Active units": st.column_config.NumberColumn("Active units", format="%d",
                                                            help=fr.TABLE_HELP["Active units"]),
              "β": st.column_config.NumberColumn("β", format="%g", help=fr.TABLE_HELP["β"]),
              "Epochs": st.column_config.NumberColumn("Epochs", format="%.4g")}
    event = st.dataframe(df, key=TABLE_KEY, on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=config, width="stretch",
                         selection_default={"selection": {"rows": [ids.index(r) for r in from_url]}})
    rows = [i for i in event.selection.rows if 0 <= i < len(entries)]
    return [entries[i] for i in rows]


def compare(selected: list[dict]) -> None:
    st.header("Compare")
    usable = [e for e in selected if has_weights(e)]
    if len(usable) < len(selected):
        st.caption("Runs still waiting in the queue have nothing to compare yet.")
    if len(usable) > MAX_COMPARE:
        st.warning(f"Showing the first {MAX_COMPARE} of the {len(usable)} ticked runs.")
        usable = usable[:MAX_COMPARE]
    if not usable:
        return
    labels = fr.run_labels(usable)
    names = [labels[e["run_id"]] for e in usable]

    # --- curves
    c1, c2 = st.columns([3, 2])
    metrics = list(fr.METRICS)
    url_metric = common.query_get("metric")
    metric = c1.selectbox("Curve", metrics, format_func=fr.METRICS.get, key="metric",
                          index=metrics.index(url_metric) if url_metric in metrics else 0)
    axes = list(fr.X_AXES)
    url_x = common.query_get("x")
    x = c2.radio("Horizontal axis", axes, format_func=fr.X_AXES.get, horizontal=True, key="x_axis",
                 index=axes.index(url_x) if url_x in axes else 0,
                 help="images seen compares runs with different batch sizes fairly")
    common.query_set(metric=metric, x=x)
    frame = fr.curves_frame({labels[e["run_id"]]: metrics_rows(e) for e in usable}, metric, x)
    if frame.empty:
        st.info("These runs have no values of this metric yet (validation rows come at epoch ends).")
    else:
        st.altair_chart(fr.curves_chart(frame, metric, x, runs=names), width="stretch")
        d1, d2, _ = st.columns([1, 1, 3])
        d1.download_button("⬇️ Curves (CSV)", data=frame.to_csv(index=False), file_name=f"curves-{metric}.csv",
                           mime="text/csv", on_click="ignore", key="dl_curves_csv")
        d2.download_button("⬇️ Curves (PNG)", data=lambda: fr.curves_png(frame, metric, x, runs=names),
                           file_name=f"curves-{metric}.png", mime="image/png", on_click="ignore",
                           key="dl_curves_png")
    st.caption("Per image, in nats. Training curves average consecutive minibatches (at most 300 "
               "points per run); validation values are measured at the end of each epoch.")

    side = usable[:MAX_SIDE_BY_SIDE]
    # --- latent scatters
    st.subheader("Latent space")
    st.caption("Validation images encoded to their posterior means; dotted circles: the prior "
               "N(0, I) at 1, 2, 3 σ. Latent spaces with more than 2 dimensions are shown on "
               "their two principal axes.")
    cols = st.columns(len(side))
    for col, e in zip(cols, side):
        with col, common.friendly_errors(f"No latent scatter for {e['run_id']}"):
            got = latents(e)
            st.markdown(f"**{md(labels[e['run_id']])}**")
            if got is None:
                st.info("No probe images are stored with this run, and its data are not "
                        "quick to load here.")
                continue
            z, y, class_names, ax = got
            st.plotly_chart(latent_scatter(z, y, class_names, axis_titles=ax, height=360, marker_size=4),
                            width="stretch", key=f"scatter_{e['run_id']}")
            st.download_button("⬇️ PNG", data=lambda z=z, y=y, c=class_names, ax=ax, t=labels[e["run_id"]]:
                               fr.scatter_png(z, y, c, title=t, axis_titles=ax),
                               file_name=f"latent-{e['run_id']}.png", mime="image/png",
                               on_click="ignore", key=f"dl_scatter_{e['run_id']}")

    # --- sample grids
    st.subheader("Samples from the prior")
    st.caption(f"Decoder means for {N_SAMPLES} draws z ~ N(0, I), the same draws for every run "
               "with the same latent size.")
    cols = st.columns(len(side))
    for col, e in zip(cols, side):
        with col, common.friendly_errors(f"No samples for {e['run_id']}"):
            st.markdown(f"**{md(labels[e['run_id']])}**")
            imgs = _samples(str(e["run_dir"]), _mtime(e["run_dir"]), N_SAMPLES)
            if imgs is None:
                st.caption("This model's data are points, not images: see its samples on Explore.")
                continue
            if e["config"].model.kind == "ae":
                st.caption("An autoencoder (seed eq. 1) is not trained to match a prior: decoding "
                           "z ~ N(0, I) shows why it does not generate well.")
            grid = image_grid(imgs, ncol=6)
            st.image(upscale(grid, max(1, 240 // grid.shape[0])), clamp=True, width="stretch")
            st.download_button("⬇️ PNG", data=lambda imgs=imgs: fr.grid_png(imgs, ncol=6, scale=4),
                               file_name=f"samples-{e['run_id']}.png", mime="image/png",
                               on_click="ignore", key=f"dl_samples_{e['run_id']}")


def manage(entries: list[dict], selected: list[dict], me: str) -> None:
    st.header("Export, rename, delete")
    show_flash("manage")
    ids = [e["run_id"] for e in entries]
    by_id = {e["run_id"]: e for e in entries}
    if st.session_state.get("manage_run") not in ids:
        st.session_state.pop("manage_run", None)
        url_run = common.query_get("run")
        st.session_state["manage_run"] = (url_run if url_run in ids else
                                          selected[0]["run_id"] if selected else ids[0])
    run_id = st.selectbox("Run", ids, key="manage_run",
                          format_func=lambda r: f"{by_id[r]['config'].name or r}  ·  {r}")
    common.query_set(run=run_id)
    e = by_id[run_id]
    refusal = exchange.modify_refusal(shipped=e["shipped"], status=e["status"], run_owner=e["owner"],
                                      owner=me, delete_any=settings.get().delete_any)
    st.caption(f"Status: {e['status']} · source: {e['source']} · folder id: `{run_id}`")
    with st.expander("Configuration (config.json)"):
        st.json(e["config"].to_dict())

    c1, c2, c3 = st.columns([1, 2, 1], vertical_alignment="bottom")
    active = e["status"] in exchange.ACTIVE
    with c1:
        st.download_button("⬇️ Export run (.zip)", data=lambda d=e["run_dir"]: exchange.export_run(d),
                           file_name=exchange.export_file_name(run_id), mime="application/zip",
                           on_click="ignore", key="export_zip", type="primary",
                           disabled=active or not has_weights(e),
                           help="config.json, weights.safetensors, metrics.csv, summary.json "
                                "(and the probe images, when the run has them)"
                                + (" — stop the run first" if active else ""))
    with c2:
        st.text_input("Name", value=e["config"].name, max_chars=store.MAX_NAME, key=f"rename_{run_id}",
                      disabled=refusal is not None, help=refusal)
    with c3:
        st.button("Rename", key="rename_button", disabled=refusal is not None, on_click=on_rename,
                  args=(e, me), help=refusal)

    if refusal:
        st.caption(f"Renaming and deleting: {refusal}.")
        return
    if st.session_state.get("confirm_delete") != run_id:
        st.button("🗑️ Delete this run…", key="delete_button",
                  on_click=lambda: st.session_state.update(confirm_delete=run_id))
        return
    st.warning(f"Delete **{md(e['config'].name or run_id)}** ({run_id}) for good? Its folder, weights "
               "and metrics are removed from the server. Export it first to keep a copy.")
    y, n, _ = st.columns([1, 1, 4])
    y.button("Yes, delete", key="delete_yes", type="primary", on_click=on_delete, args=(e, me))
    n.button("Cancel", key="delete_no", on_click=lambda: st.session_state.pop("confirm_delete", None))


def import_section() -> None:
    st.header("Import a run")
    s = settings.get()
    st.file_uploader(
        "A run zip exported from this app", type=["zip"], key="import_zip", on_change=on_import,
        max_upload_size=s.upload_mb,
        help=f"At most {s.upload_mb} MiB. It must hold exactly config.json, weights.safetensors, "
             "metrics.csv and summary.json (and optionally probe.safetensors). Everything is "
             "checked before anything is saved, and nothing in the file is ever executed.")
    st.caption("An import becomes a new run of yours; it never replaces an existing run.")
    show_flash("import")


def main() -> None:
    st.title("🗂️ Runs")
    me = common.owner()
    st.markdown("Every run on this server, shipped (📦, read-only) and trained here. Numbers are "
                "**per image, in nats** (ELBO: higher is better). Click a column header to sort; "
                "**tick rows to compare** their curves, latent spaces and samples below.")
    entries = collect_entries(me)
    if not entries:
        st.warning("No runs yet: train one on the Train page, or import a run zip below.")
        show_flash("manage")
        import_section()
        return
    selected = table(entries)
    common.query_set(runs=",".join(e["run_id"] for e in selected))
    share_slot = st.container()          # filled last, when every setting is in the URL
    if selected:
        compare(selected)
    else:
        st.info("Tick one or more rows in the table to compare runs.")
    manage(entries, selected, me)
    import_section()
    with share_slot:
        common.share_link("Runs")


# Streamlit runs this file as "__main__". A training worker started with multiprocessing's
# "spawn" re-imports the main module as "__mp_main__": the page must not run there.
if __name__ == "__main__":
    with common.friendly_errors("The Runs page hit a problem"):
        main()
