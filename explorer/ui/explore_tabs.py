"""The Explore page's tabs, one function each, drawn from the page's :class:`View`.

Each takes the view and the plane's :class:`Overlay`, to which it may add what the plane
should show (interpolation paths, an uploaded image's code and ellipses). :data:`TABS`
lists them in drawing order with the message shown if one fails.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from .. import settings
from ..analysis import images
from ..analysis import latent
from ..figures import describe_images
from ..figures import latent as latent_figures
from ..figures.common import image_grid
from . import chart_text, latent_plane
from . import plane_reading
from .explore_model import Overlay, View, sigma_ellipses
from .explore_state import init_choice, init_value, set_sliders

NAN_ROW = np.full((1, 2), np.nan)        # breaks a decoded path into pieces


def _toy_figure(v: View, key: str, **layers) -> None:
    """A toy set's data space with ``layers`` (:func:`~explorer.figures.latent.data_space_figure`)."""
    toy = v.points.toy() or {"x": np.zeros((0, 2)), "y": None}
    st.plotly_chart(latent_figures.data_space_figure(toy["x"], toy["y"], v.points.class_names, **layers),
                    width="stretch", key=key)


def _scrubber(v: View, key: str, paths: list) -> None:
    """Play or scrub along ``paths`` (``(name, zs, (start, end))``), decoded in the browser
    (:mod:`explorer.ui.latent_plane`); nothing when it cannot (the grids above stay)."""
    toy = v.points.toy() if v.run.is_toy else None
    if latent_plane.mount(key, v.run.dir, v.run.model, z=v.z, paths=paths, toy=toy, quiet=True, image_px=170,
                          on_pin=lambda z: set_sliders(v.run.mk, z, v.slider_ranges)) is not None:
        st.caption("▶ play moves along the path, decoding in your browser at every frame; drag the bar "
                   "to scrub; “use this z” moves the decoder panel's z there.")


def manifold_grid(v: View, overlay: Overlay) -> None:
    n = st.slider("Grid size n (n × n decodes, one forward pass)", 2, 30, key="ex_grid_n")
    imgs = v.manifold_images(n)
    st.plotly_chart(latent_figures.manifold_figure(latent_figures.manifold_tiles(imgs, n), v.grid_ranges,
                                                   axis_titles=v.projection.axis_titles,
                                                   title=f"The decoder over a {n}×{n} grid of the plane"),
                    width="stretch", key="ex_manifold")
    st.caption("Each tile is the decoder's mean at the centre of its cell, on the plane's own axes; "
               "dotted: the prior's 1, 2, 3σ circles. "
               + ("" if v.invertible else "t-SNE has no inverse, so this grid lies on the PCA plane. ")
               + (f"Unshown dimensions held at {v.hold_mode}." if v.run.D > 2 else ""))
    chart_text.under_chart(describe_images.manifold_summary(imgs, n, v.grid_ranges, v.projection.axis_titles),
                           None, "the decoder's grid")


def traversals(v: View, overlay: Overlay) -> None:
    d, pts = v.run.D, v.points
    c1, c2, c3 = st.columns(3)
    t_range = c1.radio("Range", ["prior", "aggregate"], key="ex_trav_range",
                       format_func={"prior": "−3 … +3 (the prior)",
                                    "aggregate": "±2σ of the aggregate posterior"}.get)
    k = c2.slider("Steps", 3, 15, key="ex_trav_k")
    base_mode = c3.radio("Other dimensions at", ["current z", "0"], key="ex_trav_base")
    if d <= 20:
        n_rows = d
    else:
        init_value("ex_trav_rows", 20, bounds=(1, d))
        n_rows = st.slider("Dimensions shown (by KL)", 1, d, key="ex_trav_rows")
    shown = v.specs[:n_rows]
    rows = [s.dim for s in shown]
    if t_range == "aggregate" and len(pts.mu) > 1:
        vals = latent.aggregate_traversal_values(pts.mu, pts.logvar, rows, k, v.run.kind)
        col_labels = [f"{t:+.1f}σ" for t in np.linspace(-2, 2, k)]
    else:
        vals = latent.traversal_values(k, 3.0)
        col_labels = [f"{t:+.1f}" for t in vals]
    z_rows, imgs = latent.traversals(v.run.model, v.z if base_mode == "current z" else np.zeros(d), rows,
                                     vals)
    if v.run.is_toy:
        path = np.concatenate([np.vstack([imgs[i], NAN_ROW]) for i in range(len(rows))])
        _toy_figure(v, "ex_trav_fig", path=path, title="Each dimension swept, decoded into data space")
    else:
        st.plotly_chart(latent_figures.image_rows_figure(imgs, [s.label for s in shown], col_labels,
                                                         title="Traversals: one dimension at a time, by KL"),
                        width="stretch", key="ex_trav_fig")
        labels = [s.label for s in shown]
        chart_text.under_chart(describe_images.image_rows_summary(imgs, labels, col_labels, "Traversals"),
                               describe_images.image_rows_table(imgs, labels, col_labels), "traversals")
    _scrubber(v, f"ex_lp_trav_{v.run.mk}", [(s.label, z_rows[i], (col_labels[0], col_labels[-1]))
                                            for i, s in enumerate(shown)])


def _end(v: View, j: int, name: str) -> np.ndarray:
    """One end of the interpolation: a data point (by class), the current z, or a random z."""
    z_pts, labels = v.points.z, v.points.labels
    what = st.radio(f"End {name}", (["data point"] if len(z_pts) else []) + ["current z", "random"],
                    key=f"ex_int_{name}", horizontal=True)
    if what == "current z":
        return v.z
    if what == "random":
        return np.random.default_rng(j + 7).standard_normal(v.run.D)
    members = np.arange(len(z_pts))
    if labels is not None:
        present = v.points.classes()
        init_choice(f"ex_int_c{name}", present, present[min(j, len(present) - 1)])
        c = st.selectbox("class", present, key=f"ex_int_c{name}", format_func=v.points.class_label)
        members = np.nonzero(labels == c)[0]
    init_value(f"ex_int_i{name}", 0)
    i = st.number_input("which one (0 = the first)", 0, len(members) - 1, key=f"ex_int_i{name}")
    return z_pts[members[int(i)]]


def interpolation(v: View, overlay: Overlay) -> None:
    ends = []
    for j, (col, name) in enumerate(zip(st.columns(2), ("A", "B"))):
        with col:
            ends.append(_end(v, j, name))
    k = st.slider("Steps", 3, 16, key="ex_int_k")
    zl, il = latent.interpolate(v.run.model, ends[0], ends[1], k, "linear")
    zs, is_ = latent.interpolate(v.run.model, ends[0], ends[1], k, "spherical")
    if v.invertible and st.toggle("Draw the paths on the plane", key="ex_int_draw"):
        overlay.paths[:] = [(v.projection.transform(zl), "linear path", "#1864ab"),
                            (v.projection.transform(zs), "spherical path", "#e8590c")]
    if v.run.is_toy:
        _toy_figure(v, "ex_int_fig", path=np.vstack([il, NAN_ROW, is_]),
                    title="Linear and spherical paths, decoded")
    else:
        st.plotly_chart(latent_figures.image_rows_figure(np.stack([il, is_]), ["linear", "spherical"],
                                            [f"{t:.2f}" for t in np.linspace(0, 1, k)],
                                                         title="From A to B"), width="stretch",
                        key="ex_int_fig")
        chart_text.under_chart(describe_images.image_rows_summary(np.stack([il, is_]), ["linear", "spherical"],
                                                                  ["A", "B"], "From A to B"), None, "the paths")
        reader = plane_reading.classifier(v.run)      # the classifier's label along each path
        if isinstance(reader, str):
            st.caption(f"The classifier's labels along the paths: off, because {reader}.")
        else:
            plane_reading.path_table(v, reader, {"linear": zl, "spherical": zs}, np.linspace(0, 1, k))
    t = np.linspace(0.0, 1.0, 33)                 # the spherical path: enough waypoints to follow its arc
    _scrubber(v, f"ex_lp_int_{v.run.mk}", [("linear", latent.lerp(ends[0], ends[1], [0.0, 1.0]), ("A", "B")),
                                           ("spherical", latent.slerp(ends[0], ends[1], t), ("A", "B"))])
    d = v.run.D
    st.caption(f"Smallest |z| on the linear path: {np.linalg.norm(zl, axis=1).min():.2f}; on the "
               f"spherical one: {np.linalg.norm(zs, axis=1).min():.2f}. Under N(0, I) in {d} "
               f"dimensions, |z| is most often near {np.sqrt(max(d - 1, 1)):.1f}: a straight line "
               "between two codes cuts through the less likely centre.")


def prior_samples(v: View, overlay: Overlay) -> None:
    session = st.session_state
    c1, c2 = st.columns([3, 1])
    n = c1.slider("Samples", 4, 100, key="ex_prior_n")
    if c2.button("🎲 Resample", key="ex_resample"):
        session["ex_prior_seed"] = session.get("ex_prior_seed", 0) + 1
    _, samples = latent.prior_samples(v.run.model, n, session.get("ex_prior_seed", 0))
    if v.run.is_toy:
        _toy_figure(v, "ex_prior_fig", samples=samples, title="Decodes of z ~ N(0, I)")
    else:
        st.image(latent_figures.widened(image_grid(samples), 560), caption="Decoder means of z ~ N(0, I)",
                 output_format="PNG", alt=f"{len(samples)} images: the decoder's means of {v.run.key} at "
                                          "z drawn from the prior N(0, I).")


def your_image(v: View, overlay: Overlay) -> None:
    model, kind = v.run.model, v.run.kind
    c, h, w = model.data_shape
    st.markdown(f"Upload a PNG or JPEG: it is turned into a {h}×{w} {'grey' if c == 1 else 'colour'} "
                "image like the training data (light strokes on black, centred), then encoded.")
    limit = min(settings.get().upload_bytes, images.MAX_UPLOAD_BYTES)
    up = st.file_uploader("Your image", type=["png", "jpg", "jpeg"], key="ex_upload",
                          max_upload_size=max(1, limit // 2**20))
    if up is None:
        return
    try:
        item = images.prepare_upload(up.getvalue(), model.data_shape, max_bytes=limit)
    except images.ImageError as e:
        st.error(f"Could not use this file: {e}")
        return
    mu, lv = latent.encode(model, item[None])
    recon = latent.decode(model, mu)[0]
    c1, c2, c3 = st.columns(3)
    c1.image(latent_figures.item_image(item, 200), caption="as the model sees it", output_format="PNG",
             alt="Your uploaded image as the model sees it.")
    c2.image(latent_figures.item_image(recon, 200), caption="reconstruction (decoder at μ)",
             output_format="PNG", alt=f"Its reconstruction: the decoder's mean at μ = {latent.format_z(mu[0])}.")
    with c3:
        st.markdown(f"**μ** = {latent.format_z(mu[0])}")
        if kind == "vae":
            st.markdown(f"**σ** = {latent.format_z(np.exp(0.5 * lv[0]))}")
        st.button("Decode this μ with the sliders", key="ex_upload_decode",
                  on_click=set_sliders, args=(v.run.mk, mu[0], v.slider_ranges))
    if v.invertible:
        overlay.markers.append((v.projection.transform(mu), "your image (μ)", "#c2255c", "star"))
        if kind == "vae":
            overlay.ellipses.append(sigma_ellipses(v.projection, mu, lv))


def data_and_latent(v: View, overlay: Overlay) -> None:
    """The toy sets' two spaces side by side, GAN Lab's manifold view."""
    model, proj = v.run.model, v.projection
    st.caption("In the manner of GAN Lab's manifold view. Left, data space: the data, the decoder's "
               "image of a latent grid (lines) and of prior samples (circles). Right, the latent "
               "plane: the codes and the encoder's image of a grid over the data square.")
    lat_lines = latent.map_lines(lambda p: latent.decode(model, proj.lift(p, v.hold)),
                                 latent.grid_lines(v.grid_ranges, 13, 60))
    _, samples = latent.prior_samples(model, 500, 3)
    data_lines = latent.map_lines(lambda x: proj.transform(latent.encode(model, x)[0]),
                                  latent.grid_lines(((0.0, 1.0), (0.0, 1.0)), 13, 60))
    c1, c2 = st.columns(2)
    with c1:
        _toy_figure(v, "ex_toy_data", samples=samples, lines=lat_lines, title="Data space")
    with c2:
        mu = v.points.mu
        st.plotly_chart(latent_figures.plane_figure(proj.transform(mu) if len(mu) else np.zeros((0, 2)),
                                                    v.points.labels,
                                                    v.points.class_names, ranges=v.grid_ranges, click_grid=0,
                                                    lines=data_lines, title="Latent space (μ)",
                                                    axis_titles=proj.axis_titles, height=420),
                        width="stretch", key="ex_toy_latent")


# name -> (what failed, the tab), in drawing order
TABS = {
    "Manifold grid": ("Could not draw the manifold grid", manifold_grid),
    "Traversals": ("Could not draw the traversals", traversals),
    "Interpolation": ("Could not interpolate", interpolation),
    "Prior samples": ("Could not draw prior samples", prior_samples),
    "Encode your image": ("Could not encode the image", your_image),
    "Data ↔ latent": ("Could not draw the toy views", data_and_latent),
}
