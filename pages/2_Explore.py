"""Explore: open any model — shipped, one of your runs, or one still training — and explore
its latent space.

The plane shows the encoded data (μ or a sampled z) coloured by label, the prior's 1-2-3σ
circles and, optionally, the aggregate posterior's density or the decoded manifold beneath.
A click anywhere on the plane (points or empty space) decodes that z and moves the sliders;
a box selection decodes its centre and shows the selected images with their
reconstructions; the sliders (one per latent dimension, by KL) decode live. Tabs below:
manifold grid, traversals, interpolation, prior samples, your own image — and, for the 2-D
toy sets, data space and latent space side by side.

The screen, in order: the sidebar's widgets (model, points, plane, layers); the view-model
they make (``explorer.ui.explore_model.View``, plain data); the decoder panel, the tabs and
the plane drawn from it. The parts are in ``explorer.ui.explore`` (its widget state in
``explore_state``) and ``explorer.ui.explore_tabs``, the
maths in ``explorer.analysis.latent``, the figures in ``explorer.figures.latent``. The
model, projection, dimensions, z and open tab live in the URL. The sidebar also opens a
model of your own (a run zip, or weights.safetensors + config.json) as a new run of yours.
"""
from __future__ import annotations

import streamlit as st

from explorer.analysis import latent
from explorer.text import md
from explorer.ui import common, live, own_model
from explorer.ui import explore, explore_model, explore_state, explore_tabs
from explorer.ui import plane_reading

session = st.session_state
explore_state.keep_tab_widgets()
st.title("Explore the latent space")

# ================================================================ sidebar: the model

asked = explore.asked_model()                  # ?model=<key>, or ?run=<id>
choices = explore.openable_runs(asked, session.get(explore_state.MODEL_KEY))
if not choices:
    st.warning("No model to open: the shipped models are missing from trained/ and you have no runs. "
               "Train one on the **Train** page.")
    st.stop()
keys = list(choices)
default = explore_model.default_model(keys, asked)
if asked and asked not in choices:
    st.warning(f"The model in the link ({asked}) is not available here; showing {choices[default].label}.")
explore_state.init_choice(explore_state.MODEL_KEY, keys, default)
common.fresh_label(explore_state.MODEL_KEY, {k: choices[k].label for k in keys})   # "(running)" → "(finished)"
with st.sidebar:
    model_key = st.selectbox("Model", keys, format_func=lambda k: choices[k].label,
                             key=explore_state.MODEL_KEY)
    own_model.uploader()                       # a run zip, or safetensors + config.json: a new run
common.query_set(model=model_key, run=None)
run = explore.open_run(choices[model_key])          # stops: no checkpoint yet, or unreadable
D, mk = run.D, run.mk
with st.sidebar:
    if not run.entry.shipped and run.entry.status.active:
        live.follow_run(run.entry.run_id, run.weights, run.mtime)
    st.caption(", ".join(t for t in (f"{run.config.model.kind.upper()}", f"{D}-D latent", run.config.data.name,
                                     run.entry.beta_text(), md(run.entry.imported_from())) if t)
               + f". Run folder: `{run.dir.name}`")

# ================================================================ sidebar: the points

sources = run.sources()
source, enc, position = None, None, "μ"
with st.sidebar:
    st.subheader("Points")
    if sources:
        source = st.radio("Encode", sources, format_func=explore_model.SOURCE_LABELS.get,
                          key=f"ex_source_{mk}",
                          help="Shipped runs carry up to 2000 validation images; the full splits need "
                               "the dataset on this server (up to 10,000 points).")
        with common.friendly_errors("Could not load the data to encode"):
            n = n_all = explore.count_items(run, source)
            if n_all > 100:
                top = min(n_all, explore_model.MAX_POINTS)
                explore_state.init_value(f"ex_n_{mk}", min(n_all, 2000), bounds=(100, top, 100))
                n = st.slider("Points shown", 100, top, step=100, key=f"ex_n_{mk}")
            enc = explore.encode_items(run, source, n)
    else:
        st.info("This run's dataset is not available on this server, so there are no points to "
                "plot. The decoder still works.")
    if enc is not None and run.kind == "vae":
        position = st.radio("Position of each point", ["μ", "sampled z"], horizontal=True, key="ex_pos",
                            help="μ: the posterior mean. Sampled z: one draw z = μ + σ·ε (the "
                                 "reparameterisation), which shows the spread the decoder is trained on.")
points = explore.points(run, source, enc, position)
specs = latent.slider_specs(D, points.mu, points.logvar, run.kind)
explore_state.restore_sliders(mk, latent.in_dim_order(specs),
                              common.query_get("z") if asked == model_key else None)

# ================================================================ sidebar: the plane

proj_kind, tsne_cap, dims = "dims", 1000, None
with st.sidebar:
    st.subheader("Plane")
    if D > 2:
        kinds = ["pca", "tsne", "dims"] if len(points.z) >= 5 else ["dims"]
        asked_proj = common.query_get("proj")
        explore_state.init_choice(f"ex_proj_{mk}", kinds, asked_proj if asked_proj in kinds else kinds[0])
        proj_kind = st.radio("Projection", kinds, format_func=explore_model.PROJECTIONS.get,
                             key=f"ex_proj_{mk}",
                             horizontal=True)
        dims = (specs[0].dim, specs[1].dim)                      # the two most important
        if proj_kind == "dims":
            dims = latent.parse_dims(common.query_get("dims"), D) or dims
            explore_state.init_choice(f"ex_dx_{mk}", list(range(D)), dims[0])
            explore_state.init_choice(f"ex_dy_{mk}", list(range(D)), dims[1])
            c1, c2 = st.columns(2)
            a = c1.selectbox("x axis", list(range(D)), format_func=lambda i: f"z{i + 1}", key=f"ex_dx_{mk}")
            b = c2.selectbox("y axis", list(range(D)), format_func=lambda i: f"z{i + 1}", key=f"ex_dy_{mk}")
            if a == b:
                st.warning("Choose two different dimensions.")
                b = (a + 1) % D
            dims = (a, b)
        if proj_kind == "tsne":
            explore_state.init_value("ex_tsne_cap", 1000)
            tsne_cap = st.slider("t-SNE points (capped subset)", 200, 3000, step=100, key="ex_tsne_cap",
                                 help="t-SNE is slow; it runs once per setting and is cached.")
        common.query_set(proj=proj_kind,
                         dims=f"{dims[0] + 1},{dims[1] + 1}" if proj_kind == "dims" else None)
    else:
        common.query_set(proj=None, dims=None)
    hold_mode, hold = "0", None
    if D > 2 and proj_kind != "tsne":
        hold_opts = ["0", "class mean", "clicked point"] if points.labels is not None else ["0", "clicked point"]
        hold_mode = st.radio("Unshown dimensions held at", hold_opts, horizontal=True, key="ex_hold",
                             help="The decoder acts in the full latent space: a point of the plane "
                                  "fixes two directions; the others take this value.")
    if hold_mode == "class mean":
        c = st.selectbox("Class", points.classes(), key="ex_hold_class", format_func=points.class_label)
        hold = latent.class_means(points.z, points.labels)[int(c)]
    elif hold_mode == "clicked point":
        hold = session.get(f"ex_own_{mk}")
        if hold is None:
            st.caption("Click a data point on the plane first; until then, 0.")

# ================================================================ the view-model

view = explore.build_view(run, points, specs, proj_kind, dims, tsne_cap, hold_mode, hold)

# ================================================================ sidebar: the layers

with st.sidebar:
    st.subheader("Layers")
    reads = view.invertible and not run.is_toy
    no_reader = plane_reading.unavailable(run) if reads else "t-SNE has no inverse: nothing to decode under a point"
    backgrounds = (["none", "density"] + (["manifold"] if reads else [])
                   + (["classifier"] if no_reader is None else []))
    background = st.radio("Beneath the points", backgrounds, key="ex_bg",
                          format_func=explore_model.BACKGROUNDS.get,
                          help="The density of q(z) = 1/N Σ q(z|xᵢ): where it is white, the decoder "
                               "never saw a code — a hole. The classifier's reading colours each region "
                               "of the plane by the class a classifier sees in its decode.")
    if no_reader is not None and not run.is_toy:
        st.caption(f"What a classifier reads: off, because {no_reader}.")
    show_ellipses = False
    if run.kind == "vae" and view.invertible:
        explore_state.init_value("ex_ellipses", True)
        show_ellipses = st.toggle("σ ellipses of selected points", key="ex_ellipses",
                                  help="1σ and 2σ contours of q(z|x) for the points you click or select.")

# ================================================================ the screen

# the decoder on the right (drawn first: it is what a slider updates), the plane left
left, right = st.columns([3, 2], gap="medium")
plane_box, selection_box = left.container(), left.container()
with right:
    st.subheader("Decoder")
    explore.decoder_panel(run.model, mk, specs, view.slider_ranges, points.toy() if run.is_toy else None,
                          view=view)                # in the browser when it can (decode under the pointer)

# the tabs: lazy (only the open one runs); the open tab is in the URL as ?tab=...
names = explore_model.TOY_TABS if run.is_toy else explore_model.IMAGE_TABS
tab = dict(zip(names, st.tabs(names, key="tab", bind="query-params")))
overlay = explore_model.Overlay()                         # what the open tab adds to the plane
for name, (what, draw) in explore_tabs.TABS.items():
    if name in tab and tab[name].open is not False:
        with tab[name], common.friendly_errors(what):
            draw(view, overlay)

# the plane, drawn last (it needs the layers chosen in the tabs), and the selected points
with plane_box:
    selection = explore.draw_plane(view, background, show_ellipses, overlay)
with selection_box:
    explore.show_selection(view, selection)
