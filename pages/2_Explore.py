"""Explore: open any model — shipped, one of your runs, or one still training — and explore
its latent space.

The plane shows the encoded data (μ or a sampled z) coloured by label, the prior's 1-2-3σ
circles and, optionally, the aggregate posterior's density or the decoded manifold beneath.
A click anywhere on the plane (points or empty space) decodes that z and moves the sliders;
a box selection decodes its centre and shows the selected images with their
reconstructions; the sliders (one per latent dimension, by KL) decode live. Tabs below:
manifold grid, traversals, interpolation, prior samples, your own image — and, for the 2-D
toy sets, data space and latent space side by side.

The maths is in ``explorer.analysis.latent``, the figures in ``explorer.figures.latent``;
this page holds widgets and caching only. The model, projection and z live in the URL.
"""
from __future__ import annotations

import functools
import hashlib
import time
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import data as data_mod
from explorer import settings, store
from explorer.analysis import latent as L
from explorer.config import RunConfig
from explorer.figures import latent as F
from explorer.figures.common import image_grid, upscale
from explorer.ui import common

common.page_setup("Explore", "🔭")

MAX_POINTS = 10_000          # the whole MNIST test set
PLANE_KEY = "ex_plane"       # the scatter's widget key (its selection state)
SOURCE_LABELS = {"probe": "validation images stored with the run",
                 "val": "validation split", "train": "training split"}


# ------------------------------------------------------------------ caching

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
    return out


@st.cache_resource(max_entries=8, show_spinner=False)
def _points(run_dir: str, source: str, config_json: str):
    """The items to encode: ``(x, y, class_names)`` from the probe or a dataset split."""
    if source == "probe":
        return store.load_probe(Path(run_dir))
    ds = _dataset(config_json)
    x, y = ds[source]
    return x, y, ds["class_names"]


@st.cache_data(max_entries=24, show_spinner="Encoding…")
def _encoded(run_dir: str, mtime: float, source: str, config_json: str, n: int) -> dict:
    """``n`` items (a fixed seeded subset) encoded: their indices, μ, log σ² and labels."""
    x, y, _ = _points(run_dir, source, config_json)
    model = common.load_model(Path(run_dir))
    order = np.random.default_rng(0).permutation(len(x))[:n]
    order.sort()
    mu, lv = L.encode(model, x[order])
    return {"idx": order, "mu": mu, "logvar": lv,
            "y": None if y is None else y.numpy()[order]}


@st.cache_data(max_entries=8, show_spinner="Running t-SNE (once; the result is cached)…")
def _tsne(z: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    return L.tsne_embed(z, max_points=cap)


@st.cache_data(max_entries=16, show_spinner=False)
def _density(means: np.ndarray, covs: np.ndarray | None, ranges, res: int = 200) -> np.ndarray:
    (x0, x1), (y0, y1) = ranges
    return L.aggregate_density(means, covs, np.linspace(x0, x1, res), np.linspace(y0, y1, res))


# ---------------------------------------------------------- small helpers

def _fmt_z(z) -> str:
    return "(" + ", ".join(f"{v:.2f}" for v in np.asarray(z).ravel()) + ")"


def _as_image(item: np.ndarray, size: int = 280) -> np.ndarray:
    """One decoded item as an enlarged H×W(×3) image for ``st.image``."""
    img = image_grid(item[None], pad=0)
    return upscale(img, max(1, size // img.shape[0]))


def _parse_z(text: str | None, d: int) -> np.ndarray | None:
    try:
        z = np.array([float(v) for v in (text or "").split(",")], dtype=np.float64)
    except ValueError:
        return None
    return z if len(z) == d and np.isfinite(z).all() else None


def _slider_key(mk: str, d: int) -> str:
    return f"ex_z_{mk}_{d}"


def _set_sliders(mk: str, z, ranges) -> None:
    """Move the sliders to ``z`` (call before the sliders are created: callbacks, setup)."""
    for d, v in enumerate(np.asarray(z, dtype=np.float64)):
        lo, hi = ranges[d]
        st.session_state[_slider_key(mk, d)] = float(np.clip(round(float(v), 2), lo, hi))


def _random_z(mk: str, ranges) -> None:
    _set_sliders(mk, np.random.default_rng().standard_normal(len(ranges)), ranges)


def _current_z(mk: str, d: int) -> np.ndarray:
    return np.array([st.session_state.get(_slider_key(mk, i), 0.0) for i in range(d)])


def _on_plane_select(ctx: dict) -> None:
    """The plane's selection changed (runs before the script, so it may move the sliders).

    A click on the invisible grid decodes that point; on a data point, that point's z; a
    box decodes its centre; box and lasso select data points to show."""
    state = st.session_state.get(PLANE_KEY)
    sel = (state or {}).get("selection") or {}
    data_idx, grid_p = [], None
    for pt in sel.get("points") or []:
        cd = pt.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is None:
            continue
        if int(cd) == F.CLICK_GRID_ID:
            grid_p = grid_p or (float(pt["x"]), float(pt["y"]))
        elif int(cd) >= 0:
            data_idx.append(int(cd))
    z = None
    if sel.get("box"):
        b = sel["box"][-1]
        z = ctx["z_at"]((sum(b["x"][:2]) / 2, sum(b["y"][:2]) / 2))
    elif sel.get("lasso"):
        pass
    elif data_idx:
        z = ctx["z_pts"][data_idx[0]]
        st.session_state[f"ex_own_{ctx['mk']}"] = np.asarray(z, dtype=np.float64)
    elif grid_p is not None:
        z = ctx["z_at"](grid_p)
    st.session_state[f"ex_sel_{ctx['mk']}"] = {"sig": ctx["sig"], "idx": sorted(set(data_idx))}
    if z is not None:
        _set_sliders(ctx["mk"], z, ctx["ranges"])


# ------------------------------------------------------------ the decoder

@st.fragment
def decoder_panel(model, mk: str, dims: list[dict], ranges: list, toy: dict | None) -> None:
    """The decoded image, large, with its z, above one slider per dimension (``dims``, by
    KL; ``ranges`` in dimension order). A fragment: moving a slider reruns only this panel
    (one tiny forward pass), not the page."""
    t0 = time.perf_counter()
    d = model.latent_dim
    z = _current_z(mk, d)
    out = L.decode(model, z[None])[0]
    if toy is None:
        st.image(_as_image(out), caption=f"decoder mean at z = {_fmt_z(z)}", output_format="PNG")
    else:
        st.plotly_chart(F.data_space_figure(toy["x"], toy["y"], toy["names"], point=out,
                                            height=300, max_points=800),
                        width="stretch", key="ex_toy_point")
        st.caption(f"decoder mean at z = {_fmt_z(z)}")
    b1, b2, b3 = st.columns(3)
    b1.button("z = 0", on_click=_set_sliders, args=(mk, np.zeros(d), ranges),
              help="Move every slider to 0, the prior's mean.")
    b2.button("🎲 random", on_click=_random_z, args=(mk, ranges), help="A random z from the prior.")
    if b3.button("📍 mark", help="Redraw the plane with this z marked (the marker does not follow "
                                "the sliders live, so the plane is not redrawn at every move)."):
        st.rerun(scope="app")
    box = st.container(height=420) if d > 6 else st.container()
    with box:
        for s in dims:
            st.slider(s["label"], s["range"][0], s["range"][1], step=0.01, key=_slider_key(mk, s["dim"]),
                      help=s["help"])
    common.query_set(z=",".join(f"{v:.2f}" for v in _current_z(mk, d)))
    st.caption(f"decoded in {1000 * (time.perf_counter() - t0):.1f} ms on the server")


def slider_specs(d: int, mu, logvar, kind: str) -> list[dict]:
    """One slider per dimension, most important first; inactive dimensions marked."""
    if mu is None or len(mu) < 2:
        order, score, active = np.arange(d), np.zeros(d), np.ones(d, bool)
        lo_hi = np.tile([-3.0, 3.0], (d, 1))
    else:
        order, score, active = L.dimension_order(mu, logvar, kind)
        lo_hi = np.stack([np.minimum(-3.0, np.floor(mu.min(0))), np.maximum(3.0, np.ceil(mu.max(0)))], 1)
    what = "KL" if kind == "vae" else "var"
    specs = []
    for dim in order:
        mark = "" if active[dim] else " · inactive"
        specs.append({"dim": int(dim), "range": (float(lo_hi[dim, 0]), float(lo_hi[dim, 1])),
                      "label": f"z{dim + 1} · {what} {score[dim]:.2f}{mark}",
                      "help": ("KL(q(z|x) ‖ p(z)) of this dimension averaged over the points (eq. 14), "
                               "in nats. " if kind == "vae" else "Variance of the codes in this dimension. ")
                      + ("Inactive: the encoder ignores it (variance of μ below 0.01)." if not active[dim] else "")})
    return specs


# ------------------------------------------------------------------- page

# The tabs are lazy, so their widgets vanish while another tab is open. Re-saving their
# values each run keeps them (Streamlit's documented trick); defaults set here let the
# widgets be created without ``value=``.
WIDGET_DEFAULTS = {"ex_grid_n": 15, "ex_trav_range": "prior", "ex_trav_k": 9, "ex_trav_base": "current z",
                   "ex_int_k": 10, "ex_int_draw": True, "ex_prior_n": 36}
for _k, _v in WIDGET_DEFAULTS.items():
    st.session_state[_k] = st.session_state.get(_k, _v)

st.title("🔭 Explore the latent space")

options = common.run_options()
if not options:
    st.warning("No model to open: the shipped models are missing from trained/ and you have no runs. "
               "Train one on the **Train** page.")
    st.stop()
by_key = {o["key"]: o for o in options}
keys = list(by_key)
asked = common.query_get("model")
default = asked if asked in by_key else ("shipped:digits-vae-z2-b1" if "shipped:digits-vae-z2-b1" in by_key
                                         else keys[0])
if asked and asked not in by_key:
    st.warning(f"The model in the link ({asked}) is not available here; showing {by_key[default]['label']}.")
with st.sidebar:
    model_key = st.selectbox("Model", keys, index=keys.index(default),
                             format_func=lambda k: by_key[k]["label"], key="ex_model")
choice = by_key[model_key]
common.query_set(model=model_key)
run_dir = Path(choice["run_dir"])
weights = run_dir / store.WEIGHTS
LIVE = ("running", "paused", "starting")


@st.fragment(run_every=3)
def wait_for_checkpoint() -> None:
    """A run that has not finished its first epoch: show it as soon as its weights exist."""
    if weights.is_file():
        st.rerun(scope="app")
    st.info("This run has no checkpoint yet: its first one is written at the end of the first "
            "epoch, and this page shows it then.")


if not weights.is_file():
    if choice["status"] in LIVE:
        wait_for_checkpoint()
    else:
        st.error(f"This run ({choice['status']}) has no weights file: its folder may have been "
                 "moved or deleted. Pick another model.")
    st.stop()
try:
    run = store.open_run(run_dir)
    mtime = weights.stat().st_mtime
    model = common.load_model(run_dir)
except (store.StoreError, OSError) as e:
    st.error(f"Could not open this model: {e}")
    st.stop()

cfg = run.config
config_json = cfg.to_json()
D = model.latent_dim
kind = model.kind
is_toy = len(model.data_shape) == 1
mk = hashlib.sha1(model_key.encode()).hexdigest()[:10]


@st.fragment(run_every=5)
def live_watch() -> None:
    """A run still training: say which checkpoint is shown; reload when a newer one lands."""
    view = common.engine().view(choice["run_id"]) or {}
    status = view.get("status", choice["status"])
    try:
        newest = weights.stat().st_mtime
    except OSError:
        return
    ep = (view.get("progress") or {}).get("epoch")
    st.caption(f"Run status: **{status}**" + (f", epoch {ep:.1f}" if ep else "")
               + f"; showing the checkpoint of {time.strftime('%H:%M:%S', time.localtime(mtime))}.")
    if newest > mtime:
        if st.session_state.get("ex_follow", True):
            st.rerun(scope="app")
        if st.button("Load the newest checkpoint"):
            st.rerun(scope="app")
    st.toggle("Follow the run (reload each new checkpoint)", value=True, key="ex_follow")


with st.sidebar:
    if not choice["shipped"] and choice["status"] in LIVE:
        live_watch()
    st.caption(f"{cfg.model.kind.upper()}, {D}-D latent, {cfg.data.name}, β = {cfg.train.beta:g}. "
               f"Run folder: `{run_dir.name}`")

# ---- which points to encode
sources = []
if (run_dir / store.PROBE).is_file():
    sources.append("probe")
if data_mod.available_offline(cfg.data):
    sources += ["val", "train"]
enc = None
with st.sidebar:
    st.subheader("Points")
    if sources:
        source = st.radio("Encode", sources, format_func=SOURCE_LABELS.get, key=f"ex_source_{mk}",
                          help="Shipped runs carry up to 2000 validation images; the full splits need "
                               "the dataset on this server (up to 10,000 points).")
        with common.friendly_errors("Could not load the data to encode"):
            x_all, y_all, class_names = _points(str(run_dir), source, config_json)
            n_all = len(x_all)
            n = n_all if n_all <= 100 else st.slider("Points shown", 100, min(n_all, MAX_POINTS),
                                                      min(n_all, 2000), 100, key=f"ex_n_{mk}")
            enc = _encoded(str(run_dir), mtime, source, config_json, n)
    else:
        st.info("This run's dataset is not available on this server, so there are no points to "
                "plot. The decoder still works.")
    position = "μ"
    if enc is not None and kind == "vae":
        position = st.radio("Position of each point", ["μ", "sampled z"], horizontal=True, key="ex_pos",
                            help="μ: the posterior mean. Sampled z: one draw z = μ + σ·ε (the "
                                 "reparameterisation), which shows the spread the decoder is trained on.")

class_names = class_names if enc is not None else []


def class_label(i: int) -> str:
    return class_names[i] if class_names and i < len(class_names) else str(i)


mu = enc["mu"] if enc is not None else np.zeros((0, D))
lv = enc["logvar"] if enc is not None else np.zeros((0, D))
labels = enc["y"] if enc is not None else None
z_pts = L.sample_z(mu, lv, seed=1) if position == "sampled z" else mu.astype(np.float64)
specs = slider_specs(D, mu, lv, kind)
slider_ranges = [s["range"] for s in sorted(specs, key=lambda s: s["dim"])]

# ---- first visit of this model in this session: z from the link, else 0; later visits keep
# the sliders' values, inside their current ranges (a live run's codes move between epochs)
if _slider_key(mk, 0) not in st.session_state:
    z0 = _parse_z(common.query_get("z"), D) if asked == model_key else None
    _set_sliders(mk, z0 if z0 is not None else np.zeros(D), slider_ranges)
else:
    _set_sliders(mk, _current_z(mk, D), slider_ranges)

# ---- projection and held dimensions
proj_kind, tsne_cap = "dims", 1000
with st.sidebar:
    st.subheader("Plane")
    if D > 2:
        kinds = ["pca", "tsne", "dims"] if len(z_pts) >= 5 else ["dims"]
        q = common.query_get("proj")
        proj_kind = st.radio("Projection", kinds, index=kinds.index(q) if q in kinds else 0,
                             format_func={"pca": "PCA", "tsne": "t-SNE", "dims": "two dimensions"}.get,
                             key=f"ex_proj_{mk}", horizontal=True)
        dims_pair = (specs[0]["dim"], specs[1]["dim"])
        if proj_kind == "dims":
            qd = _parse_z(common.query_get("dims"), 2)
            if qd is not None and all(1 <= v <= D for v in qd) and qd[0] != qd[1]:
                dims_pair = (int(qd[0]) - 1, int(qd[1]) - 1)
            opts = list(range(D))
            c1, c2 = st.columns(2)
            a = c1.selectbox("x axis", opts, index=dims_pair[0], format_func=lambda i: f"z{i + 1}",
                             key=f"ex_dx_{mk}")
            b = c2.selectbox("y axis", opts, index=dims_pair[1], format_func=lambda i: f"z{i + 1}",
                             key=f"ex_dy_{mk}")
            if a == b:
                st.warning("Choose two different dimensions.")
                b = (a + 1) % D
            dims_pair = (a, b)
        if proj_kind == "tsne":
            tsne_cap = st.slider("t-SNE points (capped subset)", 200, 3000, 1000, 100, key="ex_tsne_cap",
                                 help="t-SNE is slow; it runs once per setting and is cached.")
        common.query_set(proj=proj_kind, dims=f"{dims_pair[0] + 1},{dims_pair[1] + 1}"
                         if proj_kind == "dims" else None)
    else:
        common.query_set(proj=None, dims=None)
    hold_mode = "0"
    if D > 2 and proj_kind != "tsne":
        hold_opts = ["0", "class mean", "clicked point"] if labels is not None else ["0", "clicked point"]
        hold_mode = st.radio("Unshown dimensions held at", hold_opts, horizontal=True, key="ex_hold",
                             help="The decoder acts in the full latent space: a point of the plane "
                                  "fixes two directions; the others take this value.")
    hold = np.zeros(D)
    if hold_mode == "class mean":
        present = sorted(np.unique(labels).tolist())
        c = st.sidebar.selectbox("Class", present, key="ex_hold_class", format_func=class_label)
        hold = L.class_means(z_pts, labels)[int(c)]
    elif hold_mode == "clicked point":
        own = st.session_state.get(f"ex_own_{mk}")
        if own is None:
            st.sidebar.caption("Click a data point on the plane first; until then, 0.")
        else:
            hold = np.asarray(own, dtype=np.float64)

if proj_kind == "pca":
    pca = L.fit_pca(z_pts, 2)
    projection = pca.projection()
elif proj_kind == "dims" and D > 2:
    projection = L.dims_projection(D, dims_pair)
else:
    projection = L.dims_projection(D) if D <= 2 else L.fit_pca(z_pts, 2).projection()
tsne_idx = None
if proj_kind == "tsne":
    tsne_idx, plane_pts = _tsne(z_pts, tsne_cap)
    ranges = L.plane_ranges(plane_pts, at_least=0.0)
else:
    plane_pts = projection.transform(z_pts)
    centre = projection.transform(np.zeros(D))
    ring = centre + 3.3 * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
    ranges = L.plane_ranges(np.vstack([plane_pts, ring]) if len(plane_pts) else ring, at_least=0.0)
invertible = proj_kind != "tsne"

with st.sidebar:
    st.subheader("Layers")
    bg_opts = ["none", "density"] + (["manifold"] if invertible and not is_toy else [])
    background = st.radio("Beneath the points", bg_opts, key="ex_bg",
                          format_func={"none": "nothing", "density": "aggregate posterior density",
                                       "manifold": "decoded manifold (grid size: Manifold tab)"}.get,
                          help="The density of q(z) = 1/N Σ q(z|xᵢ): where it is white, the decoder "
                               "never saw a code — a hole.")
    show_ellipses = kind == "vae" and invertible and st.toggle(
        "σ ellipses of selected points", value=True, key="ex_ellipses",
        help="1σ and 2σ contours of q(z|x) for the points you click or select.")

# ---- the layout: decoder on the right (drawn first: it is what a slider updates), plane left
left, right = st.columns([3, 2], gap="medium")
plane_box = left.container()
sel_box = left.container()
toy_ctx = None
if is_toy and enc is not None:
    toy_ctx = {"x": x_all[:800].numpy(), "y": None if y_all is None else y_all[:800].numpy(),
               "names": class_names}
with right:
    st.subheader("Decoder")
    decoder_panel(model, mk, specs, slider_ranges, toy_ctx)

z_now = _current_z(mk, D)
extra_markers, ellipse_parts, paths = [], [], []

# ---- tabs (lazy: only the open tab runs; the open tab is in the URL as ?tab=...)
if is_toy:
    tab_names = ["Data ↔ latent", "Traversals", "Interpolation", "Prior samples"]
else:
    tab_names = ["Manifold grid", "Traversals", "Interpolation", "Prior samples", "Encode your image"]
tabs = dict(zip(tab_names, st.tabs(tab_names, key="tab", bind="query-params")))
grid_proj = projection if invertible else (L.fit_pca(z_pts, 2).projection() if len(z_pts) >= 2
                                           else L.dims_projection(D))
grid_ranges = ranges if invertible else L.plane_ranges(grid_proj.transform(z_pts) if len(z_pts)
                                                       else np.zeros((0, 2)))
data_x = toy_ctx["x"] if toy_ctx else np.zeros((0, 2))
data_y = toy_ctx["y"] if toy_ctx else None


def manifold_image(n: int) -> np.ndarray:
    """The decoder over an n×n grid of the plane, tiled (one forward pass)."""
    _, imgs = L.decode_grid(model, grid_ranges, n, hold, grid_proj)
    return image_grid(imgs, ncol=n, pad=0)


if "Manifold grid" in tabs and tabs["Manifold grid"].open is not False:
    with tabs["Manifold grid"]:
        with common.friendly_errors("Could not draw the manifold grid"):
            n_grid = st.slider("Grid size n (n × n decodes, one forward pass)", 2, 30, key="ex_grid_n")
            st.plotly_chart(F.manifold_figure(manifold_image(n_grid), grid_ranges, axis_titles=grid_proj.axis_titles,
                                              title=f"The decoder over a {n_grid}×{n_grid} grid of the plane"),
                            width="stretch", key="ex_manifold")
            st.caption("Each tile is the decoder's mean at the centre of its cell, on the plane's own axes; "
                       "dotted: the prior's 1, 2, 3σ circles. "
                       + ("" if invertible else "t-SNE has no inverse, so this grid lies on the PCA plane. ")
                       + (f"Unshown dimensions held at {hold_mode}." if D > 2 else ""))

if tabs["Traversals"].open is not False:
    with tabs["Traversals"]:
        with common.friendly_errors("Could not draw the traversals"):
            c1, c2, c3 = st.columns(3)
            t_range = c1.radio("Range", ["prior", "aggregate"], key="ex_trav_range",
                               format_func={"prior": "−3 … +3 (the prior)",
                                            "aggregate": "±2σ of the aggregate posterior"}.get)
            k = c2.slider("Steps", 3, 15, key="ex_trav_k")
            base_mode = c3.radio("Other dimensions at", ["current z", "0"], key="ex_trav_base")
            n_rows = min(D, 20) if D <= 20 else st.slider("Dimensions shown (by KL)", 1, D, 20, key="ex_trav_rows")
            rows = [s["dim"] for s in specs[:n_rows]]
            base = z_now if base_mode == "current z" else np.zeros(D)
            if t_range == "aggregate" and len(mu) > 1:
                m_agg, s_agg = L.aggregate_moments(mu, lv, kind)
                vals = np.stack([m_agg[d] + np.linspace(-2, 2, k) * s_agg[d] for d in rows])
                col_labels = [f"{v:+.1f}σ" for v in np.linspace(-2, 2, k)]
            else:
                vals = L.traversal_values(k, 3.0)
                col_labels = [f"{v:+.1f}" for v in vals]
            _, timgs = L.traversals(model, base, rows, vals)
            if is_toy:
                gap = np.full((1, 2), np.nan)
                path = np.concatenate([np.vstack([timgs[i], gap]) for i in range(len(rows))])
                st.plotly_chart(F.data_space_figure(data_x, data_y, class_names, path=path,
                                                    title="Each dimension swept, decoded into data space"),
                                width="stretch", key="ex_trav_fig")
            else:
                st.plotly_chart(F.image_rows_figure(timgs, [s["label"] for s in specs[:n_rows]], col_labels,
                                                    title="Traversals: one dimension at a time, by KL"),
                                width="stretch", key="ex_trav_fig")

if tabs["Interpolation"].open is not False:
    with tabs["Interpolation"]:
        with common.friendly_errors("Could not interpolate"):
            ends = []
            for j, (col, name) in enumerate(zip(st.columns(2), ("A", "B"))):
                with col:
                    opts = (["data point"] if len(z_pts) else []) + ["current z", "random"]
                    what = st.radio(f"End {name}", opts, key=f"ex_int_{name}", horizontal=True)
                    if what == "data point":
                        members = np.arange(len(z_pts))
                        if labels is not None:
                            present = sorted(np.unique(labels).tolist())
                            c = st.selectbox("class", present, index=min(j, len(present) - 1),
                                             key=f"ex_int_c{name}", format_func=class_label)
                            members = np.nonzero(labels == c)[0]
                        i = st.number_input("which one (0 = the first)", 0, len(members) - 1, 0,
                                            key=f"ex_int_i{name}")
                        ends.append(z_pts[members[int(i)]])
                    elif what == "current z":
                        ends.append(z_now)
                    else:
                        ends.append(np.random.default_rng(j + 7).standard_normal(D))
            k_int = st.slider("Steps", 3, 16, key="ex_int_k")
            zl, il = L.interpolate(model, ends[0], ends[1], k_int, "linear")
            zs, is_ = L.interpolate(model, ends[0], ends[1], k_int, "spherical")
            if invertible and st.toggle("Draw the paths on the plane", key="ex_int_draw"):
                paths = [(projection.transform(zl), "linear path", "#1864ab"),
                         (projection.transform(zs), "spherical path", "#e8590c")]
            if is_toy:
                st.plotly_chart(F.data_space_figure(data_x, data_y, class_names,
                                                    path=np.vstack([il, np.full((1, 2), np.nan), is_]),
                                                    title="Linear and spherical paths, decoded"),
                                width="stretch", key="ex_int_fig")
            else:
                st.plotly_chart(F.image_rows_figure(np.stack([il, is_]), ["linear", "spherical"],
                                                    [f"{t:.2f}" for t in np.linspace(0, 1, k_int)],
                                                    title="From A to B"), width="stretch", key="ex_int_fig")
            st.caption(f"Smallest |z| on the linear path: {np.linalg.norm(zl, axis=1).min():.2f}; on the "
                       f"spherical one: {np.linalg.norm(zs, axis=1).min():.2f}. Under N(0, I) in {D} "
                       f"dimensions, |z| is most often near {np.sqrt(max(D - 1, 1)):.1f}: a straight line "
                       "between two codes cuts through the less likely centre.")

if tabs["Prior samples"].open is not False:
    with tabs["Prior samples"]:
        with common.friendly_errors("Could not draw prior samples"):
            c1, c2 = st.columns([3, 1])
            n_prior = c1.slider("Samples", 4, 100, key="ex_prior_n")
            if c2.button("🎲 Resample", key="ex_resample"):
                st.session_state["ex_prior_seed"] = st.session_state.get("ex_prior_seed", 0) + 1
            _, pimgs = L.prior_samples(model, n_prior, st.session_state.get("ex_prior_seed", 0))
            if is_toy:
                st.plotly_chart(F.data_space_figure(data_x, data_y, class_names, samples=pimgs,
                                                    title="Decodes of z ~ N(0, I)"), width="stretch",
                                key="ex_prior_fig")
            else:
                grid = image_grid(pimgs)
                st.image(upscale(grid, max(1, 560 // grid.shape[1])), caption="Decoder means of z ~ N(0, I)",
                         output_format="PNG")

if "Encode your image" in tabs and tabs["Encode your image"].open is not False:
    with tabs["Encode your image"]:
        with common.friendly_errors("Could not encode the image"):
            c, h, w = model.data_shape
            st.markdown(f"Upload a PNG or JPEG: it is turned into a {h}×{w} {'grey' if c == 1 else 'colour'} "
                        "image like the training data (light strokes on black, centred), then encoded.")
            limit = min(settings.get().upload_bytes, L.MAX_UPLOAD_BYTES)
            up = st.file_uploader("Your image", type=["png", "jpg", "jpeg"], key="ex_upload",
                                  max_upload_size=max(1, limit // 2**20))
            if up is not None:
                try:
                    item = L.prepare_upload(up.getvalue(), model.data_shape, max_bytes=limit)
                except L.ImageError as e:
                    st.error(f"Could not use this file: {e}")
                else:
                    umu, ulv = L.encode(model, item[None])
                    recon = L.decode(model, umu)[0]
                    c1, c2, c3 = st.columns(3)
                    c1.image(_as_image(item, 200), caption="as the model sees it", output_format="PNG")
                    c2.image(_as_image(recon, 200), caption="reconstruction (decoder at μ)", output_format="PNG")
                    with c3:
                        st.markdown(f"**μ** = {_fmt_z(umu[0])}")
                        if kind == "vae":
                            st.markdown(f"**σ** = {_fmt_z(np.exp(0.5 * ulv[0]))}")
                        st.button("Decode this μ with the sliders", key="ex_upload_decode",
                                  on_click=_set_sliders, args=(mk, umu[0], slider_ranges))
                    if invertible:
                        extra_markers.append((projection.transform(umu), "your image (μ)", "#c2255c", "star"))
                        if kind == "vae":
                            cov = projection.project_cov(np.exp(ulv))
                            for s in (1, 2):
                                ellipse_parts.append(L.ellipse_paths(projection.transform(umu), cov, s))

if "Data ↔ latent" in tabs and tabs["Data ↔ latent"].open is not False:
    with tabs["Data ↔ latent"]:
        with common.friendly_errors("Could not draw the toy views"):
            st.caption("In the manner of GAN Lab's manifold view. Left, data space: the data, the decoder's "
                       "image of a latent grid (lines) and of prior samples (circles). Right, the latent "
                       "plane: the codes and the encoder's image of a grid over the data square.")
            lat_lines = L.map_lines(lambda p: L.decode(model, grid_proj.lift(p, hold)),
                                    L.grid_lines(grid_ranges, 13, 60))
            _, samples = L.prior_samples(model, 500, 3)
            data_lines = L.map_lines(lambda x: grid_proj.transform(L.encode(model, x)[0]),
                                     L.grid_lines(((0.0, 1.0), (0.0, 1.0)), 13, 60))
            c1, c2 = st.columns(2)
            with c1:
                st.plotly_chart(F.data_space_figure(data_x, data_y, class_names, samples=samples,
                                                    lines=lat_lines, title="Data space"),
                                width="stretch", key="ex_toy_data")
            with c2:
                gp = grid_proj.transform(mu) if len(mu) else np.zeros((0, 2))
                st.plotly_chart(F.plane_figure(gp, labels, class_names, ranges=grid_ranges, click_grid=0,
                                               lines=data_lines, title="Latent space (μ)",
                                               axis_titles=grid_proj.axis_titles, height=420),
                                width="stretch", key="ex_toy_latent")

# ---- the plane, drawn last (it needs the layers chosen in the tabs)
sel_idx: list[int] = []
with plane_box:
    if len(plane_pts) == 0:
        st.info("No points to plot for this run.")
    else:
        with common.friendly_errors("Could not draw the plane"):
            shown_labels = labels if tsne_idx is None or labels is None else labels[tsne_idx]
            shown_z = z_pts if tsne_idx is None else z_pts[tsne_idx]
            image = None
            if background == "manifold":   # dark strokes on white: faint beneath the points
                image = 1.0 - manifold_image(st.session_state["ex_grid_n"])
            elif background == "density":
                if invertible and kind == "vae":
                    covs = projection.project_cov(np.exp(lv))
                    means = projection.transform(mu)
                else:
                    covs, means = None, plane_pts
                image = F.density_image(_density(means, covs, ranges))
            sig = f"{model_key}|{mtime}|{len(z_pts)}|{proj_kind}|{tsne_cap}|{position}"
            sel = st.session_state.get(f"ex_sel_{mk}")
            sel_idx = [i for i in (sel or {}).get("idx", []) if i < len(shown_z)] if sel and sel["sig"] == sig else []
            if show_ellipses and sel_idx:
                src = np.asarray(sel_idx[:60])
                cov = projection.project_cov(np.exp(lv[src]))
                for s in (1, 2):
                    ellipse_parts.append(L.ellipse_paths(projection.transform(mu[src]), cov, s))
            ellipses = None
            if ellipse_parts:
                ellipses = (np.concatenate([e[0] for e in ellipse_parts]),
                            np.concatenate([e[1] for e in ellipse_parts]))
            if proj_kind == "pca":
                ev = projection.explained
                title = f"PCA of {len(z_pts)} codes: {100 * ev.sum():.0f}% of their variance in view"
            elif proj_kind == "tsne":
                title = f"t-SNE of {len(plane_pts)} codes (a click decodes the nearest point)"
            else:
                title = f"{SOURCE_LABELS.get(source, 'points').capitalize()}: {len(z_pts)} encoded ({position})"
            fig = F.plane_figure(plane_pts, shown_labels, class_names, ranges=ranges, title=title,
                                 axis_titles=projection.axis_titles if invertible else ("t-SNE 1", "t-SNE 2"),
                                 show_prior=invertible, image=image,
                                 image_opacity=0.5 if background == "manifold" else 1.0,
                                 ellipses=ellipses, paths=paths, extra_markers=extra_markers,
                                 marker=projection.transform(z_now) if invertible else None,
                                 prior_center=projection.transform(np.zeros(D)) if invertible else (0, 0))
            if invertible:
                z_at = functools.partial(lambda p, proj, h: proj.lift(np.asarray(p), h), proj=projection, h=hold)
            else:
                z_at = functools.partial(lambda p, pts, zz: zz[L.nearest_index(pts, p)], pts=plane_pts, zz=shown_z)
            ctx = {"mk": mk, "sig": sig, "z_pts": shown_z, "z_at": z_at, "ranges": slider_ranges}
            st.plotly_chart(fig, width="stretch", key=PLANE_KEY, on_select=functools.partial(_on_plane_select, ctx),
                            selection_mode=("points", "box", "lasso"))
            st.caption("Click anywhere (a point or empty space) to decode that z; use the box or lasso tool "
                       "(top right of the chart) to select points"
                       + ("; a box also decodes its centre." if invertible else "."))

with sel_box:
    with common.friendly_errors("Could not show the selection"):
        if len(plane_pts) and sel_idx:
            src_rows = np.asarray(sel_idx[:40])
            rows_src = src_rows if tsne_idx is None else tsne_idx[src_rows]
            x_sel = x_all[enc["idx"][rows_src]].numpy()
            recon = L.decode(model, mu[rows_src])
            st.markdown(f"**Selected: {len(sel_idx)} point{'s' if len(sel_idx) != 1 else ''}**"
                        + (" (first 40 shown)" if len(sel_idx) > 40 else ""))
            if is_toy:
                st.dataframe({"x₁": x_sel[:, 0], "x₂": x_sel[:, 1], "x̂₁": recon[:, 0], "x̂₂": recon[:, 1]})
            else:
                pairs = F.image_pairs(x_sel, recon, ncol=10)
                st.image(upscale(pairs, max(1, 640 // pairs.shape[1])),
                         caption="Each pair of rows: the images, then their reconstructions (decoder at μ).",
                         output_format="PNG")

