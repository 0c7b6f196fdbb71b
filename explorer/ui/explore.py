"""The Explore page's Streamlit parts: the run picked and opened, the cached data and
encodings, the decoder panel, the plane and the selection under it.

The page (``pages/2_Explore.py``) holds the widgets and the order of the screen. Its
view-model is plain data (:mod:`explorer.ui.explore_model`), its widget state is
:mod:`explorer.ui.explore_state`, the maths :mod:`explorer.analysis.latent` (no Streamlit
in any of these three but the state's session keys).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import streamlit as st

from .. import catalog, store
from .. import data as data_mod
from ..analysis import latent
from ..analysis import projections
from ..config import RunConfig
from ..decoder_cache import model_file
from ..figures import describe
from ..figures import latent as latent_figures
from ..figures import plane_layers
from ..runs import RunEntry
from . import chart_text, common, draw_pad, explore_model, live, plane_reading
from . import latent_plane
from .explore_model import MAX_POINTS, Overlay, Points, Run, View, join_gaussians, make_points, plane_title
from .explore_model import sigma_ellipses
from .explore_state import PLANE_KEY, current_z, random_z, set_sliders, slider_key

PICKER_RUNS = 100        # the newest runs of this server offered in the picker


def openable_runs(*also: str | None) -> dict[str, RunEntry]:
    """The runs the picker offers, by key: shipped ones first, then this server's newest
    ``PICKER_RUNS``, and any run named in ``also`` (the link's, the one picked before)."""
    eng = common.engine()
    out = {e.key: e for e in catalog.list_runs(eng, openable=True, limit=PICKER_RUNS)}
    for key in also:
        if key and key not in out and (e := catalog.find(eng, key)) is not None and e.saved:
            out[e.key] = e
    return out


def asked_model() -> str | None:
    """The model a link asks for: ``?model=<key>``, or ``?run=<id>`` (the Train page's and the
    API's links; a shipped run's id or one of this server's)."""
    asked = common.query_get("model")
    if asked or not (run_id := common.query_get("run")):
        return asked
    e = catalog.find(common.engine(), run_id)
    return e.key if e is not None else f"run:{run_id}"


def open_run(entry: RunEntry) -> Run:
    """Open a run's weights; when there are none (yet), or they are unreadable, say so and stop."""
    run_dir = Path(entry.run_dir)
    weights = model_file(run_dir)
    if not store.model_saved(run_dir):         # none yet, or its first save is not complete
        if entry.status.active:
            live.wait_for_checkpoint(weights)
        else:
            st.error(f"This run ({entry.status}) has no weights file: its folder may have been "
                     "moved or deleted. Pick another model.")
        st.stop()
    try:
        config = store.open_run(run_dir).config
        mtime = weights.stat().st_mtime
        model = common.load_model(run_dir)
    except (store.StoreError, OSError) as e:
        st.error(f"Could not open this model: {e}")
        st.stop()
    return Run(entry.key, entry, run_dir, mtime, model, config)


# ------------------------------------------------------------- caching

@st.cache_resource(max_entries=4, show_spinner="Loading the dataset…")
def _dataset(config_json: str) -> dict:
    """A run's dataset, at most MAX_POINTS per split (a seeded subset), kept per config."""
    cfg = RunConfig.from_json(config_json)
    ds = data_mod.load(cfg.data)
    out = {"class_names": ds.class_names}
    for split, x, y in (("train", ds.x_train, ds.y_train), ("val", ds.x_val, ds.y_val)):
        keep = np.arange(len(x))
        if len(x) > MAX_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(len(x), MAX_POINTS, replace=False))
        out[split] = (x[keep].clone(), None if y is None else y[keep].clone())
        grey = ds.x_val_grey if split == "val" else None       # binarised data, shown grey
        out[f"{split}_display"] = grey[keep].clone() if grey is not None else out[split][0]
    return out


@st.cache_resource(max_entries=8, show_spinner=False)
def _display_items(run_dir: str, source: str, config_json: str):
    """The items as a person should see them (grey, for binarised data), aligned with
    :func:`_items`."""
    if source == "probe":
        return store.load_probe_display(Path(run_dir))
    return _dataset(config_json)[f"{source}_display"]


@st.cache_resource(max_entries=8, show_spinner=False)
def _items(run_dir: str, source: str, config_json: str):
    """The items to encode: ``(x, y, class_names)`` from the probe or a dataset split."""
    if source == "probe":
        return store.load_probe(Path(run_dir))
    ds = _dataset(config_json)
    x, y = ds[source]
    return x, y, ds["class_names"]


@st.cache_data(max_entries=24, show_spinner="Encoding…")
def _encoded(run_dir: str, mtime: float, source: str, config_json: str, n: int) -> dict:
    """``n`` items (a fixed seeded subset) encoded: their indices, μ, log σ² and labels."""
    x, y, _ = _items(run_dir, source, config_json)
    model = common.load_model(Path(run_dir))
    order = np.random.default_rng(0).permutation(len(x))[:n]
    order.sort()
    mu, lv = latent.encode(model, x[order])
    return {"idx": order, "mu": mu, "logvar": lv,
            "y": None if y is None else y.numpy()[order]}


@st.cache_data(max_entries=8, show_spinner="Running t-SNE (once; the result is cached)…")
def _tsne(z: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    return projections.tsne_embed(z, max_points=cap)


@st.cache_data(max_entries=16, show_spinner=False)
def _density(means: np.ndarray, covs: np.ndarray | None, ranges, res: int = 200) -> np.ndarray:
    (x0, x1), (y0, y1) = ranges
    return latent.aggregate_density(means, covs, np.linspace(x0, x1, res), np.linspace(y0, y1, res))


# ------------------------------------------------------------- the points

def count_items(run: Run, source: str) -> int:
    """How many items ``source`` holds (loads them, once)."""
    return len(_items(str(run.dir), source, run.config_json)[0])


def encode_items(run: Run, source: str, n: int) -> dict:
    return _encoded(str(run.dir), run.mtime, source, run.config_json, n)


def points(run: Run, source: str | None, enc: dict | None, position: str) -> Points:
    """The points the page shows (none when nothing could be encoded)."""
    items = _items(str(run.dir), source, run.config_json) if enc is not None else None
    return make_points(run, source, enc, position, items)


def build_view(run: Run, pts: Points, specs, proj_kind: str, dims, tsne_cap: int, hold_mode: str,
               hold) -> View:
    """The view-model (:func:`explorer.ui.explore_model.build_view`) at the sliders' z, with
    the cached t-SNE."""
    return explore_model.build_view(run, pts, specs, proj_kind, dims, tsne_cap, hold_mode, hold,
                                     current_z(run.mk, run.D), embed=_tsne)


# ------------------------------------------------------------ the decoder

@st.fragment
def decoder_panel(model, mk: str, specs: list[latent.DimSlider], ranges: list, toy: dict | None,
                  view: View | None = None) -> None:
    """The decoded image, large, with its z, above one slider per dimension (``specs``, by
    KL; ``ranges`` in dimension order). A fragment: moving a slider reruns only this panel
    (one tiny forward pass), not the page. Given the page's ``view``, the browser decodes
    instead when it can (:func:`browser_panel`)."""
    if view is not None and browser_panel(view, toy):
        return
    t0 = time.perf_counter()
    d = model.latent_dim
    z = current_z(mk, d)
    out = latent.decode(model, z[None])[0]
    if toy is None:
        # inline (a data URI), not a media file: a fragment rerun never frees the media files it
        # adds (Streamlit clears a session's only at a full run), one per slider move
        st.image(latent_figures.png_data_uri(latent_figures.item_image(out)),
                 caption=f"decoder mean at z = {latent.format_z(z)}", alt=f"The decoder's mean at z = {latent.format_z(z)} of the model "
                                          f"{st.session_state.get('ex_model', mk)}.")
    else:
        st.plotly_chart(latent_figures.data_space_figure(toy["x"], toy["y"], toy["names"], point=out,
                                                         height=300, max_points=800),
                        width="stretch", key="ex_toy_point")
        st.caption(f"decoder mean at z = {latent.format_z(z)}")
    z_buttons(mk, d, ranges)
    with st.container(height=420) if d > 6 else st.container():
        for s in specs:
            st.slider(s.label, s.range[0], s.range[1], step=0.01, key=slider_key(mk, s.dim), help=s.help)
    common.query_set(z=latent.format_z(current_z(mk, d), sep=","))
    st.caption(f"decoded in {1000 * (time.perf_counter() - t0):.1f} ms on the server")


def browser_panel(view: View, toy: dict | None) -> bool:
    """The decoder in the browser (:mod:`explorer.ui.latent_plane`): the page's plane (its
    two dimensions, or the PCA plane; the other coordinates held), the image under the
    pointer, one slider per dimension with a play button. A pinned z moves the page's z
    (the sliders' state). False when the browser cannot: the server decodes instead."""
    run, mk, proj = view.run, view.run.mk, view.projection
    d, pts = run.D, view.points
    pad = draw_pad.spec(run.dir, run.config, run.model.data_shape)
    on_plane = proj.transform(pts.z) if len(pts.z) else np.zeros((0, 2))
    state = latent_plane.mount(f"ex_lp_{mk}", run.dir, run.model, z=current_z(mk, d), draw=pad,
                               on_pin=lambda z: set_sliders(mk, z, view.slider_ranges),
                               plane=view.component_plane(),
                               points=latent_plane.points_spec(on_plane, pts.labels, pts.class_names),
                               sliders=view.specs, toy=toy, plane_px=300, image_px=200)
    if state is None:
        return False
    st.caption("Move the pointer over the plane (or a finger, or the arrow keys): your browser decodes "
               "the z under it. Click, or release a slider, to pin z for the rest of the page."
               + (" t-SNE has no inverse, so this plane is the PCA plane." if not view.invertible else "")
               + (f" Unshown dimensions held at {view.hold_mode}." if d > 2 else ""))
    if not isinstance(pad, str):
        st.caption(draw_pad.caption(d, run.kind, plane="the PCA plane" if view.proj_kind != "dims" else
                                    f"{proj.axis_titles[0]} and {proj.axis_titles[1]}"))
    z_buttons(mk, d, view.slider_ranges)
    common.query_set(z=latent.format_z(current_z(mk, d), sep=","))
    return True


def z_buttons(mk: str, d: int, ranges: list) -> None:
    """z = 0, a random z, and redraw the plane with z marked."""
    row = st.container(horizontal=True)                # buttons as wide as their labels
    row.button("z = 0", on_click=set_sliders, args=(mk, np.zeros(d), ranges),
              help="Move every slider to 0, the prior's mean.")
    row.button("🎲 random", on_click=random_z, args=(mk, ranges), help="A random z from the prior.")
    if row.button("📍 mark", help="Redraw the plane with this z marked (the marker does not follow "
                                 "the sliders live, so the plane is not redrawn at every move)."):
        st.rerun(scope="app")


# ------------------------------------------------------------ the plane

def on_plane_select(view: View) -> None:
    """The plane's selection changed (runs before the script, so it may move the sliders).

    A click on the invisible grid decodes that point; on a data point, that point's z; a
    box decodes its centre; box and lasso select data points to show."""
    sel = latent_figures.read_selection(st.session_state.get(PLANE_KEY))
    mk, z = view.run.mk, None
    if sel.box is not None:
        z = view.z_at(sel.box)
    elif sel.lasso:
        pass
    elif sel.points:
        z = view.shown_z[sel.points[0]]
        st.session_state[f"ex_own_{mk}"] = np.asarray(z, dtype=np.float64)
    elif sel.grid is not None:
        z = view.z_at(sel.grid)
    st.session_state[f"ex_sel_{mk}"] = {"sig": view.sig, "idx": sorted(set(sel.points))}
    if z is not None:
        set_sliders(mk, z, view.slider_ranges)


def selected(view: View) -> list[int]:
    """The points selected on this plane (none once the plane shows other points)."""
    sel = st.session_state.get(f"ex_sel_{view.run.mk}")
    if not sel or sel["sig"] != view.sig:
        return []
    return [i for i in sel.get("idx", []) if i < len(view.shown_z)]


def background_image(view: View, background: str) -> np.ndarray | None:
    """The decoded manifold beneath the points (dark strokes on white, faint)."""
    if background == "manifold":
        return 1.0 - view.manifold(st.session_state["ex_grid_n"])
    return None


def background_density(view: View, background: str) -> np.ndarray | None:
    """The aggregate posterior's density on the plane's grid (rows following y), when chosen."""
    if background != "density":
        return None
    pts, proj = view.points, view.projection
    if view.invertible and view.run.kind == "vae":
        cov = proj.project_cov(np.exp(pts.logvar))
        return _density(proj.transform(pts.mu), cov, view.ranges)
    return _density(view.plane_pts, None, view.ranges)


def draw_plane(view: View, background: str, show_ellipses: bool, overlay: Overlay) -> list[int]:
    """The plane with its layers; returns the selected points."""
    if len(view.plane_pts) == 0:
        st.info("No points to plot for this run.")
        return []
    sel_idx: list[int] = []
    with common.friendly_errors("Could not draw the plane"):
        pts, proj, inv = view.points, view.projection, view.invertible
        labels = pts.labels if view.tsne_idx is None or pts.labels is None else pts.labels[view.tsne_idx]
        reading = None
        if background == "classifier":             # explorer.ui.plane_reading: its own module
            clf = plane_reading.classifier(view.run)
            image, reading = plane_reading.layer(view, clf) if not isinstance(clf, str) else (None, None)
        else:
            image = background_image(view, background)
        density = background_density(view, background)
        sel_idx = selected(view)
        ellipses = list(overlay.ellipses)
        if show_ellipses and sel_idx:
            src = np.asarray(sel_idx[:60])
            ellipses.append(sigma_ellipses(proj, pts.mu[src], pts.logvar[src]))
        ellipses = join_gaussians(ellipses)
        fig = latent_figures.plane_figure(view.plane_pts, labels, pts.class_names, ranges=view.ranges,
                                          title=plane_title(view),
                                          axis_titles=proj.axis_titles if inv else ("t-SNE 1", "t-SNE 2"),
                                          show_prior=inv, image=image, density=density,
                                          image_opacity=0.5 if background == "manifold" else 1.0,
                                          click_grid=plane_reading.CLICK_GRID,
                                          ellipses=ellipses, paths=overlay.paths,
                                          extra_markers=overlay.markers,
                                          marker=proj.transform(view.z) if inv else None,
                                          prior_center=(proj.transform(np.zeros(view.run.D))
                                                        if inv else (0, 0)))
        if reading is not None:
            plane_reading.attach_hover(fig, reading)
        st.plotly_chart(fig, width="stretch", key=PLANE_KEY, on_select=lambda: on_plane_select(view),
                        selection_mode=("points", "box", "lasso"))
        if reading is not None:
            st.caption(plane_reading.caption(clf))
        elif background == "classifier":          # chosen, but it could not be trained
            st.caption(f"What a classifier reads: off, because {clf}.")
        if density is not None:
            st.caption(plane_layers.density_note(plane_layers.density_top(density)))
        if ellipses is not None and (note := plane_layers.ellipse_note(ellipses[1], view.ranges)):
            st.caption(note)
        st.caption("Click anywhere (a point or empty space) to decode that z; use the box or lasso tool "
                   "(top right of the chart) to select points"
                   + ("; a box also decodes its centre." if inv else "."))
        points = chart_text.points_frame(view.plane_pts, labels, pts.class_names)
        axes = tuple(proj.axis_titles) if inv else ("t-SNE 1", "t-SNE 2")
        chart_text.under_chart(describe.scatter_summary(points, axes=axes), describe.class_centres(points).round(3),
                               "class centres on the plane")
    return sel_idx


def show_selection(view: View, sel_idx: list[int]) -> None:
    """The selected points' items above their reconstructions (toy sets: a table)."""
    if not (len(view.plane_pts) and sel_idx):
        return
    with common.friendly_errors("Could not show the selection"):
        pts = view.points
        rows = np.asarray(sel_idx[:40])
        if view.tsne_idx is not None:
            rows = view.tsne_idx[rows]
        shown = _display_items(str(view.run.dir), pts.source, view.run.config_json)
        x_sel = (shown if shown is not None else pts.x)[pts.idx[rows]].numpy()
        recon = latent.decode(view.run.model, pts.mu[rows])
        st.markdown(f"**Selected: {len(sel_idx)} point{'s' if len(sel_idx) != 1 else ''}**"
                    + (" (first 40 shown)" if len(sel_idx) > 40 else ""))
        if view.run.is_toy:
            st.dataframe({"x₁": x_sel[:, 0], "x₂": x_sel[:, 1], "x̂₁": recon[:, 0], "x̂₂": recon[:, 1]})
        else:
            st.image(latent_figures.widened(latent_figures.image_pairs(x_sel, recon, ncol=10), 640),
                     caption="Each pair of rows: the images, then their reconstructions (decoder at μ).",
                     output_format="PNG", alt=f"{len(x_sel)} selected images, in rows of 10, each row followed "
                                              "by their reconstructions (the decoder's mean at μ).")
