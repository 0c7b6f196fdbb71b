"""Runs: every run in one sortable table, a page at a time; compare runs; export, import,
rename, delete.

The screen, top to bottom:
- the table: shipped runs (read-only) and every run on this server, with configuration and
  final numbers; tick rows to compare them;
- Compare: the ticked runs' curves overlaid, their latent scatters and prior samples side by
  side (loaded only for the ticked runs);
- Export, rename, delete: a run zip (config.json, weights.safetensors, metrics.csv,
  summary.json, probe images), TensorBoard logs, a PyTorch script, ONNX files; renaming and
  deleting follow the one ownership rule (:func:`explorer.runs.refusal`);
- Import a run: a zip becomes a NEW run of yours after full validation (nothing in it is
  executed or unpickled).

State in the URL, for sharing: ``?runs=<id>,<id>`` (compared), ``run=<id>`` (the run being
managed), ``metric=`` and ``x=`` (the curve shown).
"""
from __future__ import annotations

import streamlit as st

from explorer import exchange, settings, store
from explorer.figures import describe
from explorer.figures import runs as runs_figures
from explorer.figures.common import image_grid, upscale
from explorer.figures.latent import latent_scatter
from explorer.runs import Action
from explorer.text import md
from explorer.ui import chart_text, common, frame, runlist
from explorer.ui import runs_page

TABLE_KEY = "runs_table"
PER_PAGE = 50            # table rows per page
MAX_COMPARE = 6          # curves of at most this many runs
MAX_SIDE_BY_SIDE = 4     # scatters and sample grids of the first this many
N_SAMPLES = 36           # prior samples per run


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


def table(entries: list, me: str) -> list:
    """The runs table (one page); returns the ticked entries."""
    df = runs_figures.runs_table(entries, me)
    ids = df["Run id"].tolist()
    keep_selection(ids)
    from_url = [r for r in (common.query_get("runs") or "").split(",") if r in ids]
    number = {c: st.column_config.NumberColumn(c, format="%.2f", help=runs_figures.TABLE_HELP.get(c))
              for c in ("Train ELBO", "Train recon", "Train KL", "Val ELBO", "Val recon", "Val KL", "IWAE")}
    config = {**number,
              "Name": st.column_config.TextColumn("Name", width="medium", pinned=True),
              "Source": st.column_config.TextColumn("Source", help=runs_figures.TABLE_HELP["Source"]),
              "Latent dim": st.column_config.NumberColumn("Latent dim", format="%d"),
              "Active units": st.column_config.NumberColumn("Active units", format="%d",
                                                            help=runs_figures.TABLE_HELP["Active units"]),
              **{c: st.column_config.NumberColumn(c, format="%.3g", help=runs_figures.TABLE_HELP[c])
                 for c in ("base β", "β now")},
              "Epochs": st.column_config.NumberColumn("Epochs", format="%.4g")}
    event = st.dataframe(df, key=TABLE_KEY, on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=config, width="stretch",
                         selection_default={"selection": {"rows": [ids.index(r) for r in from_url]}})
    return [entries[i] for i in event.selection.rows if 0 <= i < len(entries)]


def curves(usable: list, labels: dict) -> None:
    names = [labels[e.run_id] for e in usable]
    c1, c2 = st.columns([3, 2])
    metrics, axes = list(runs_figures.METRICS), list(runs_figures.X_AXES)
    url_metric, url_x = common.query_get("metric"), common.query_get("x")
    metric = c1.selectbox("Curve", metrics, format_func=runs_figures.METRICS.get, key="metric",
                          index=metrics.index(url_metric) if url_metric in metrics else 0)
    x = c2.radio("Horizontal axis", axes, format_func=runs_figures.X_AXES.get, horizontal=True, key="x_axis",
                 index=axes.index(url_x) if url_x in axes else 0,
                 help="images seen compares runs with different batch sizes fairly")
    common.query_set(metric=metric, x=x)
    rows = {labels[e.run_id]: runs_page.metrics_rows(e) for e in usable
            if runs_figures.metric_applies(e.config.model.kind, metric)}
    curve_table = runs_figures.curves_frame(rows, metric, x)
    if any(not runs_figures.metric_applies(e.config.model.kind, metric) for e in usable):
        st.caption("Autoencoder runs are left out of this curve: an autoencoder has a "
                   "reconstruction loss, not an ELBO.")
    if curve_table.empty:
        st.info("These runs have no values of this metric yet (validation rows come at epoch ends).")
    else:
        st.altair_chart(chart_text.altair(runs_figures.curves_chart(curve_table, metric, x, runs=names),
                                          f"{metric} of the runs"), width="stretch")
        chart_text.under_chart(describe.series_summary(curve_table, x, metric, "run", x_name=x, what=metric),
                               describe.wide_table(curve_table, x, metric, "run"), f"{metric} per run")
        row = st.container(horizontal=True)
        row.download_button("Download curves (CSV)", data=curve_table.to_csv(index=False),
                            file_name=f"curves-{metric}.csv", mime="text/csv", on_click="ignore",
                            key="dl_curves_csv")
        row.download_button("Download curves (PNG)",
                            data=lambda: runs_figures.curves_png(curve_table, metric, x, runs=names),
                            file_name=f"curves-{metric}.png", mime="image/png", on_click="ignore",
                            key="dl_curves_png")
    st.caption("Per image, in nats. Training curves average consecutive minibatches (at most 300 "
               "points per run); validation values are measured at the end of each epoch.")


def scatter_cell(e, label: str) -> None:
    got = runs_page.latents(e)
    st.markdown(f"**{md(label)}**")
    if got is None:
        st.info("No probe images are stored with this run, and its data are not quick to load here.")
        return
    z, y, class_names, ax = got
    st.plotly_chart(latent_scatter(z, y, class_names, axis_titles=ax, height=360, marker_size=4),
                    width="stretch", key=f"scatter_{e.run_id}")
    points = chart_text.points_frame(z, y, class_names)
    chart_text.under_chart(describe.scatter_summary(points, axes=ax, what="posterior means"),
                           describe.class_centres(points).round(3), f"class centres of {label}")
    st.download_button("Download PNG", data=lambda: runs_figures.scatter_png(z, y, class_names, title=label,
                                                                           axis_titles=ax),
                       file_name=f"latent-{e.run_id}.png", mime="image/png", on_click="ignore",
                       key=f"dl_scatter_{e.run_id}")


def samples_cell(e, label: str) -> None:
    st.markdown(f"**{md(label)}**")
    imgs = runs_page.sample_grid_of(e, N_SAMPLES)
    if imgs is None:
        st.caption("This model's data are points, not images: see its samples on Explore.")
        return
    if e.config.model.kind == "ae":
        st.caption("An autoencoder (eq. 1 on the Theory page) is not trained to match a prior: decoding "
                   "z ~ N(0, I) shows why it does not generate well.")
    grid = image_grid(imgs, ncol=6)
    st.image(upscale(grid, max(1, 240 // grid.shape[0])), clamp=True, width="stretch",
             alt=f"{len(imgs)} images decoded by {label} from z drawn from the prior N(0, I), in rows of 6.")
    st.download_button("Download PNG", data=lambda: runs_figures.grid_png(imgs, ncol=6, scale=4),
                       file_name=f"samples-{e.run_id}.png", mime="image/png", on_click="ignore",
                       key=f"dl_samples_{e.run_id}")


def compare(selected: list) -> None:
    st.header("Compare")
    usable = [e for e in selected if e.saved]
    if len(usable) < len(selected):
        st.caption("Runs still waiting in the queue have nothing to compare yet.")
    if len(usable) > MAX_COMPARE:
        st.warning(f"Showing the first {MAX_COMPARE} of the {len(usable)} ticked runs.")
        usable = usable[:MAX_COMPARE]
    if not usable:
        return
    labels = runs_figures.run_labels(usable)
    curves(usable, labels)
    side = usable[:MAX_SIDE_BY_SIDE]
    st.subheader("Latent space")
    st.caption("Validation images encoded to their posterior means; dotted circles: the prior "
               "N(0, I) at 1, 2, 3 σ. Latent spaces with more than 2 dimensions are shown on "
               "their two principal axes.")
    for col, e in zip(st.columns(len(side)), side):
        with col, common.friendly_errors(f"No latent scatter for {e.run_id}"):
            scatter_cell(e, labels[e.run_id])
    st.subheader("Samples from the prior")
    st.caption(f"Decoder means for {N_SAMPLES} draws z ~ N(0, I), the same draws for every run "
               "with the same latent size.")
    for col, e in zip(st.columns(len(side)), side):
        with col, common.friendly_errors(f"No samples for {e.run_id}"):
            samples_cell(e, labels[e.run_id])


def manage(entries: list, selected: list) -> None:
    st.header("Export, rename, delete")
    runs_page.show_flash("manage")
    by_id = {e.run_id: e for e in entries}
    url_run = common.query_get("run")
    if url_run and url_run not in by_id and (found := common.engine().entry(url_run)):
        by_id[url_run] = found                     # a run from another page of the table
    ids = list(by_id)
    if st.session_state.get("manage_run") not in ids:
        st.session_state.pop("manage_run", None)
        st.session_state["manage_run"] = (url_run if url_run in ids else
                                          selected[0].run_id if selected else ids[0])
    run_id = st.selectbox("Run", ids, key="manage_run",
                          format_func=lambda r: f"{by_id[r].shown_name}  ·  {r}")
    common.query_set(run=run_id)
    e = by_id[run_id]
    me, delete_any = frame.actor(), settings.get().delete_any
    refusal = e.refusal(Action.DELETE, me, delete_any)
    st.caption(f"Status: {e.status_text} · source: {e.source(me.id)} · folder id: `{run_id}`"
               + (f" · {md(e.imported_from())}" if e.imported else ""))
    with st.expander("Configuration (config.json)"):
        st.json(e.config.to_dict())
    c1, c2, c3 = st.columns([1.3, 2, 0.8], vertical_alignment="bottom")
    active = e.status.live
    c1.download_button("Export run (.zip)", data=lambda d=e.run_dir: exchange.export_run(d),
                       file_name=exchange.export_file_name(run_id), mime="application/zip",
                       on_click="ignore", key="export_zip", type="primary", disabled=active or not e.saved,
                       help="config.json, weights.safetensors, metrics.csv, summary.json (and the "
                            "probe images, when the run has them)" + (" — stop the run first" if active else ""))
    c2.text_input("Name", value=e.config.name, max_chars=store.MAX_NAME, key=f"rename_{run_id}",
                  disabled=refusal is not None, help=refusal)
    c3.button("Rename", key="rename_button", disabled=refusal is not None, on_click=runs_page.on_rename,
              args=(e,), help=refusal)
    runs_page.export_buttons(e, disabled=active or not e.saved)      # TensorBoard, PyTorch script, ONNX
    if refusal:
        st.caption(f"Renaming and deleting: {refusal}.")
        return
    if st.session_state.get("confirm_delete") != run_id:
        st.button("🗑️ Delete this run…", key="delete_button",
                  on_click=lambda: st.session_state.update(confirm_delete=run_id))
        return
    st.warning(f"Delete **{md(e.config.name or run_id)}** ({run_id}) for good? Its folder, weights "
               "and metrics are removed from the server. Export it first to keep a copy.")
    y, n, _ = st.columns([1, 1, 4])
    y.button("Yes, delete", key="delete_yes", type="primary", on_click=runs_page.on_delete, args=(e,))
    n.button("Cancel", key="delete_no", on_click=lambda: st.session_state.pop("confirm_delete", None))


def import_section() -> None:
    st.header("Import a run")
    s = settings.get()
    st.file_uploader(
        "A run zip exported from this app", type=["zip"], key="import_zip", on_change=runs_page.on_import,
        max_upload_size=s.upload_mb,
        help=f"At most {s.upload_mb} MiB. It must hold exactly config.json, weights.safetensors, "
             "metrics.csv and summary.json (and optionally probe.safetensors). Everything is "
             "checked before anything is saved, and nothing in the file is ever executed.")
    st.caption("An import becomes a new run of yours; it never replaces an existing run.")
    runs_page.show_flash("import")


def main() -> None:
    st.title("Runs")
    st.markdown("Every run on this server, shipped (📦, read-only) and trained here. Numbers are "
                "**per image, in nats** (ELBO: higher is better). Click a column header to sort; "
                "**tick rows to compare** their curves, latent spaces and samples below.")
    total = runs_page.total_runs()
    if not total:
        st.warning("No runs yet: train one on the Train page, or import a run zip below.")
        runs_page.show_flash("manage")
        import_section()
        return
    newest = st.toggle("Newest first", key="runs_newest",
                       help="Every run by when it was made, shipped ones included (they count as made "
                            "when this app was installed); off: oldest first")
    offset = runlist.page_picker("runs_page", total, PER_PAGE, order="newest first" if newest else "oldest first")
    entries = runs_page.entries_page(PER_PAGE, offset, newest)
    selected = table(entries, common.owner())
    common.query_set(runs=",".join(e.run_id for e in selected))
    share_slot = st.container()          # filled last, when every setting is in the URL
    if selected:
        compare(selected)
    else:
        st.info("Tick one or more rows in the table to compare runs.")
    manage(entries, selected)
    import_section()
    with share_slot:
        common.share_link("Runs")


# Streamlit runs this file as "__main__"; a worker started with "spawn" would import the
# main module as "__mp_main__": the page must not run there.
if __name__ == "__main__":
    with common.friendly_errors("The Runs page hit a problem"):
        main()
