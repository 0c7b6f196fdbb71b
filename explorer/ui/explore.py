"""The Explore page's parts: the opened run, the encoded points, the view-model the page
draws from, the decoder panel, the plane and the selection under it.

The page (``pages/2_Explore.py``) holds the widgets and the order of the screen; what it
computes comes from here, and the maths from :mod:`explorer.analysis.latent` (no
Streamlit there). Widgets are created with a key only: :func:`init_value` and
:func:`init_choice` give each its first value in session state, before it is drawn.

Session state, per model (``mk``: a short hash of the model's key): ``ex_z_<mk>_<d>`` the
decoder's sliders, ``ex_sel_<mk>`` the points selected on the plane, ``ex_own_<mk>`` the
last data point clicked (the held coordinates' "clicked point").
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import streamlit as st

from .. import catalog, store
from .. import data as data_mod
from ..analysis import latent
from ..config import RunConfig
from ..figures import describe
from ..figures import latent as latent_figures
from ..runs import RunEntry
from . import chart_text, common, draw_pad, live, plane_reading
from . import latent_plane

MAX_POINTS = 10_000          # the whole MNIST test set
PLANE_KEY = "ex_plane"       # the scatter's widget key (its selection state)
DEFAULT_MODEL = "shipped:digits-vae-z2-b1"
SOURCE_LABELS = {"probe": "validation images stored with the run",
                 "val": "validation split", "train": "training split"}
PROJECTIONS = {"pca": "PCA", "tsne": "t-SNE", "dims": "two dimensions"}
BACKGROUNDS = {"none": "nothing", "density": "aggregate posterior density",
               "manifold": "decoded manifold (grid size: Manifold tab)",
               "classifier": "what a classifier reads in the decodes"}
IMAGE_TABS = ["Manifold grid", "Traversals", "Interpolation", "Prior samples", "Encode your image"]
TOY_TABS = ["Data ↔ latent", "Traversals", "Interpolation", "Prior samples"]
# The tabs are lazy, so their widgets vanish while another tab is open. Re-saving their
# values each run keeps them (Streamlit's documented trick); the defaults set here let
# the widgets be created without ``value=``.
TAB_DEFAULTS = {"ex_grid_n": 15, "ex_trav_range": "prior", "ex_trav_k": 9, "ex_trav_base": "current z",
                "ex_int_k": 10, "ex_int_draw": True, "ex_prior_n": 36}


# ------------------------------------------------------------ widget state

def keep_tab_widgets() -> None:
    """Re-save the tabs' widget values (first run: their defaults)."""
    for k, v in TAB_DEFAULTS.items():
        st.session_state[k] = st.session_state.get(k, v)


def init_value(key: str, default, bounds: tuple | None = None) -> None:
    """A keyed widget's first value (later runs keep the widget's own). ``bounds``: a
    slider's (min, max, step); when they change, Streamlit makes it a new widget, so it
    starts again from ``default``."""
    session = st.session_state
    if key not in session or (bounds is not None and session.get(f"{key}__bounds") != bounds):
        session[key] = default
    if bounds is not None:
        session[f"{key}__bounds"] = bounds


def init_choice(key: str, options: list, default) -> None:
    """A keyed choice's first value, and again when its value is no longer an option."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


# ------------------------------------------------------------- the run

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


def default_model(keys: list[str], asked: str | None) -> str:
    """The link's model when it is here, else the shipped 2-D VAE, else the first."""
    return asked if asked in keys else (DEFAULT_MODEL if DEFAULT_MODEL in keys else keys[0])


@dataclass
class Run:
    """The chosen run, opened: its entry, folder, weights' time and model."""
    key: str
    entry: RunEntry
    dir: Path
    mtime: float
    model: object
    config: RunConfig

    @property
    def mk(self) -> str:
        """A short id of the model's key for session-state keys."""
        return hashlib.sha1(self.key.encode()).hexdigest()[:10]

    @property
    def weights(self) -> Path:
        return self.dir / store.WEIGHTS

    @property
    def D(self) -> int:
        return self.model.latent_dim

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def is_toy(self) -> bool:
        return len(self.model.data_shape) == 1

    @cached_property
    def config_json(self) -> str:
        return self.config.to_json()

    def sources(self) -> list[str]:
        """What can be encoded: the run's stored probe, the dataset's splits when on this server."""
        out = ["probe"] if (self.dir / store.PROBE).is_file() else []
        return out + (["val", "train"] if data_mod.available_offline(self.config.data) else [])


def open_run(entry: RunEntry) -> Run:
    """Open a run's weights; when there are none (yet), or they are unreadable, say so and stop."""
    run_dir = Path(entry.run_dir)
    weights = run_dir / store.WEIGHTS
    if not weights.is_file():
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
    return latent.tsne_embed(z, max_points=cap)


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


@dataclass
class Points:
    """The encoded points: their items, codes, labels and where each sits (μ or a sampled z)."""
    source: str | None
    position: str                        # "μ" or "sampled z"
    x: object = None                     # every item of the source (a tensor), or None
    y: object = None
    class_names: list | None = None
    idx: np.ndarray | None = None        # the encoded items' rows in ``x``
    mu: np.ndarray | None = None
    logvar: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def any(self) -> bool:
        return self.idx is not None

    @cached_property
    def z(self) -> np.ndarray:
        """Each point's position: its μ, or one draw z = μ + σ·ε."""
        if self.position == "sampled z":
            return latent.sample_z(self.mu, self.logvar, seed=1)
        return self.mu.astype(np.float64)

    def class_label(self, i: int) -> str:
        names = self.class_names
        return names[i] if names and i < len(names) else str(i)

    def classes(self) -> list:
        return sorted(np.unique(self.labels).tolist())

    def toy(self) -> dict | None:
        """The first 800 data points, for a toy set's data-space views."""
        if not self.any:
            return None
        return {"x": self.x[:800].numpy(), "y": None if self.y is None else self.y[:800].numpy(),
                "names": self.class_names}


def points(run: Run, source: str | None, enc: dict | None, position: str) -> Points:
    """The points the page shows (none when nothing could be encoded)."""
    d = run.D
    if enc is None:
        return Points(source, position, class_names=[], mu=np.zeros((0, d)), logvar=np.zeros((0, d)))
    x, y, names = _items(str(run.dir), source, run.config_json)
    return Points(source, position, x, y, names, enc["idx"], enc["mu"], enc["logvar"], enc["y"])


# ------------------------------------------------------------- the sliders

def slider_key(mk: str, d: int) -> str:
    return f"ex_z_{mk}_{d}"


def set_sliders(mk: str, z, ranges) -> None:
    """Move the sliders to ``z`` (call before the sliders are created: callbacks, setup)."""
    for d, v in enumerate(latent.clip_to(z, ranges)):
        st.session_state[slider_key(mk, d)] = float(v)


def random_z(mk: str, ranges) -> None:
    set_sliders(mk, np.random.default_rng().standard_normal(len(ranges)), ranges)


def current_z(mk: str, d: int) -> np.ndarray:
    return np.array([st.session_state.get(slider_key(mk, i), 0.0) for i in range(d)])


def restore_sliders(mk: str, ranges, link_z: str | None) -> None:
    """First visit of this model in this session: z from the link, else 0. Later visits
    keep the sliders' values, inside their current ranges (a live run's codes move)."""
    d = len(ranges)
    if slider_key(mk, 0) not in st.session_state:
        z0 = latent.parse_z(link_z, d)
        set_sliders(mk, z0 if z0 is not None else np.zeros(d), ranges)
    else:
        set_sliders(mk, current_z(mk, d), ranges)


# ------------------------------------------------------------ the view-model

@dataclass
class View:
    """What the page draws from: the run, its points, the plane, the z decoded now and
    the coordinates held for the dimensions a plane does not show."""
    run: Run
    points: Points
    specs: list[latent.DimSlider]             # the sliders, most important dimension first
    proj_kind: str                       # "pca", "tsne" or "dims"
    tsne_cap: int
    projection: latent.Projection             # z -> plane (t-SNE: the PCA plane its grids use)
    plane_pts: np.ndarray                # the shown points on the plane
    tsne_idx: np.ndarray | None          # t-SNE: which points it embeds (a capped subset)
    ranges: tuple
    grid_ranges: tuple                   # the decoder grids' extent (t-SNE: on the PCA plane)
    hold_mode: str
    hold: np.ndarray
    z: np.ndarray

    @property
    def invertible(self) -> bool:
        return self.proj_kind != "tsne"

    @property
    def slider_ranges(self) -> list:
        return latent.in_dim_order(self.specs)

    @property
    def shown_z(self) -> np.ndarray:
        z = self.points.z
        return z if self.tsne_idx is None else z[self.tsne_idx]

    @property
    def sig(self) -> str:
        """What a selection of points refers to: it is dropped when this changes."""
        return (f"{self.run.key}|{self.run.mtime}|{self.points.source}|{len(self.points.z)}|"
                f"{self.proj_kind}|{self.tsne_cap}|{self.points.position}")

    def z_at(self, p) -> np.ndarray:
        """The z a point of the plane decodes: lifted (the others held), or for t-SNE,
        which has no inverse, the nearest embedded point's."""
        if self.invertible:
            return self.projection.lift(np.asarray(p), self.hold)
        return self.shown_z[latent.nearest_index(self.plane_pts, p)]

    def manifold(self, n: int) -> np.ndarray:
        """The decoder over an n×n grid of the plane, tiled (one forward pass), a 1-pixel
        gap between tiles so that neighbouring decodes do not merge into stripes."""
        _, imgs = latent.decode_grid(self.run.model, self.grid_ranges, n, self.hold, self.projection)
        return latent_figures.manifold_tiles(imgs, n)


def build_view(run: Run, pts: Points, specs, proj_kind: str, dims, tsne_cap: int,
               hold_mode: str, hold) -> View:
    d, z = run.D, pts.z
    if proj_kind == "dims" and d > 2:
        projection = latent.dims_projection(d, dims)
    else:
        projection = latent.pca_plane(z, d)
    tsne_idx = None
    if proj_kind == "tsne":
        tsne_idx, plane_pts = _tsne(z, tsne_cap)
        ranges = latent.plane_ranges(plane_pts, at_least=0.0)
        grid_ranges = latent.plane_ranges(projection.transform(z) if len(z) else np.zeros((0, 2)))
    else:
        plane_pts = projection.transform(z)
        ranges = grid_ranges = latent.plane_extent(plane_pts, projection.transform(np.zeros(d)))
    return View(run, pts, specs, proj_kind, tsne_cap, projection, plane_pts, tsne_idx, ranges,
                grid_ranges, hold_mode, np.zeros(d) if hold is None else np.asarray(hold, np.float64),
                current_z(run.mk, d))


@dataclass
class Overlay:
    """What the open tabs add to the plane: paths ``(points, name, colour)``, markers
    ``(p, name, colour, symbol)`` and σ-ellipses ``(x, y)``."""
    paths: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    ellipses: list = field(default_factory=list)


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
        st.image(latent_figures.item_image(out), caption=f"decoder mean at z = {latent.format_z(z)}",
                 output_format="PNG", alt=f"The decoder's mean at z = {latent.format_z(z)} of the model "
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
    state = latent_plane.mount(f"ex_lp_{mk}", run.dir, run.model, z=current_z(mk, d), draw=pad,
                               on_pin=lambda z: set_sliders(mk, z, view.slider_ranges),
                               plane=latent_plane.plane_spec(proj, view.hold, view.grid_ranges),
                               points=latent_plane.points_spec(
                                   proj.transform(pts.z) if len(pts.z) else np.zeros((0, 2)),
                                   pts.labels, pts.class_names),
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


def plane_title(view: View) -> str:
    n, kind = len(view.points.z), view.proj_kind
    if kind == "pca":
        return f"PCA of {n} codes: {100 * view.projection.explained.sum():.0f}% of their variance in view"
    if kind == "tsne":
        return f"t-SNE of {len(view.plane_pts)} codes (a click decodes the nearest point)"
    source = SOURCE_LABELS.get(view.points.source, "points").capitalize()
    return f"{source}:<br>{n} encoded ({view.points.position})"   # two lines fit a narrow column


def background_image(view: View, background: str) -> np.ndarray | None:
    """The layer beneath the points: the decoded manifold (dark strokes on white, faint)
    or the aggregate posterior's density."""
    if background == "manifold":
        return 1.0 - view.manifold(st.session_state["ex_grid_n"])
    if background != "density":
        return None
    pts, proj = view.points, view.projection
    if view.invertible and view.run.kind == "vae":
        cov = proj.project_cov(np.exp(pts.logvar))
        return latent_figures.density_image(_density(proj.transform(pts.mu), cov, view.ranges))
    return latent_figures.density_image(_density(view.plane_pts, None, view.ranges))


def sigma_ellipses(proj: latent.Projection, mu, logvar) -> tuple[np.ndarray, np.ndarray]:
    """The 1σ and 2σ contours of q(z|x) on the plane, for each row of ``mu``."""
    return latent.ellipse_paths(proj.transform(mu), proj.project_cov(np.exp(logvar)), (1, 2))


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
        sel_idx = selected(view)
        ellipses = list(overlay.ellipses)
        if show_ellipses and sel_idx:
            src = np.asarray(sel_idx[:60])
            ellipses.append(sigma_ellipses(proj, pts.mu[src], pts.logvar[src]))
        fig = latent_figures.plane_figure(view.plane_pts, labels, pts.class_names, ranges=view.ranges,
                                          title=plane_title(view),
                                          axis_titles=proj.axis_titles if inv else ("t-SNE 1", "t-SNE 2"),
                                          show_prior=inv, image=image,
                                          image_opacity=0.5 if background == "manifold" else 1.0,
                                          click_grid=plane_reading.CLICK_GRID,
                                          ellipses=latent.join_paths(ellipses), paths=overlay.paths,
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
