"""Latent Explorer: the home page. `streamlit run app.py`

Opens a shipped model at once (the MNIST VAE with a 2-D latent; ``?model=<shipped id>`` picks
another), with its validation numbers in a plain first sentence: its latent plane, decoded in the browser under the pointer
(``explorer.ui.latent_plane``; a click pins z), or where the browser cannot, the latent
scatter and a decoder steered with two sliders on the server. The other pages (Train,
Explore, β lab, Theory, Runs) are in pages/.
"""
from pathlib import Path

import numpy as np
import streamlit as st

from explorer import store
from explorer.analysis import latent, projections
from explorer.analysis.first_numbers import first_numbers
from explorer.catalog import shipped_runs
from explorer.figures.common import upscale
from explorer.figures.latent import latent_scatter
from explorer.ui import common, draw_pad
from explorer.ui import latent_plane

st.title("Latent Explorer")
st.markdown(
    "Train a small **variational autoencoder** and watch it learn: the loss split into "
    "reconstruction and KL, a latent space that fills in as training runs, a decoder you can "
    "steer, and a **β** control that trades sharp reconstructions against a regular latent space. "
    "Start with a shipped model below, or open **Train** in the sidebar.")


DEFAULTS = ("mnist-vae-z2", "digits-vae-z2-b1")     # the model a newcomer meets first: real digits


@st.cache_data(show_spinner=False)
def featured_runs() -> dict[str, str]:
    """The featured shipped models (id -> name): 2-D latents, not the β lab's sweep members."""
    return {r.run_id: r.name or r.run_id for r in shipped_runs()
            if r.config.model.latent_dim == 2 and not r.run_id.startswith("sweep-")}


@st.cache_data(show_spinner=False)
def encoded_probe(run_dir: str):
    """The run's probe images encoded once: (posterior means, labels, class names) or None."""
    probe = store.load_probe(Path(run_dir))
    if probe is None:
        return None
    x, y, class_names = probe
    mu, _ = common.load_model(Path(run_dir)).encode_mean(x)
    return mu.numpy(), None if y is None else y.numpy(), class_names


@st.fragment
def decoder_panel(run_dir: Path, summary: dict) -> None:
    """Two sliders and the decoded image. A fragment: moving a slider reruns only this."""
    st.subheader("Decode a point")
    z1 = st.slider("z₁", -3.0, 3.0, 0.0, 0.05)
    z2 = st.slider("z₂", -3.0, 3.0, 0.0, 0.05)
    img = common.load_model(run_dir).decode_mean(np.array([[z1, z2]], np.float32))[0].numpy()
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
    st.image(upscale(img, max(1, 224 // img.shape[0])), caption=f"decoder mean at z = ({z1:.2f}, {z2:.2f})",
             alt=f"The decoder's mean at z = ({z1:.2f}, {z2:.2f}) of the model {run_dir.name}.")
    validation_caption(summary, run_dir)


@st.cache_data(show_spinner=False)
def probe_mse(run_dir: str) -> float | None:
    """The per-pixel squared error of the run's reconstructions of its probe images."""
    probe = store.load_probe(Path(run_dir))
    if probe is None:
        return None
    x = probe[0]
    return float(((common.load_model(Path(run_dir)).reconstruct(x) - x) ** 2).mean())


def validation_lines(summary: dict, run_dir: Path) -> list[str]:
    """The run's validation numbers: a plain sentence first, truthful for its likelihood
    (``analysis.first_numbers``: positive nats for a Bernoulli on binarised images; for a
    Gaussian, whose numbers can be negative, the squared error first), then the notes."""
    v = summary.get("val", {})
    if not v:
        return []
    cfg = store.read_config(Path(run_dir))
    gauss = cfg.model.likelihood == "gaussian"
    return first_numbers(cfg, v, int(np.prod(summary.get("data_shape") or [0])),
                         mse=probe_mse(str(run_dir)) if gauss else None)


def validation_caption(summary: dict, run_dir: Path) -> None:
    """Under the plane: what keeps the first sentence's numbers honest."""
    if notes := validation_lines(summary, run_dir)[1:]:
        st.caption(" ".join(notes))


def browser_plane(run, enc) -> bool:
    """The plane decoded in the browser under the pointer, with two sliders; False when
    the browser cannot (the notice is shown; the page then decodes on the server)."""
    mu, y, class_names = enc if enc is not None else (np.zeros((0, 2)), None, None)
    key = f"home_plane_{run.path.name}"
    z = latent_plane.pinned_z(st.session_state.get(key))
    model = common.load_model(run.path)
    pad = draw_pad.spec(run.path, run.config, model.data_shape)
    state = latent_plane.mount(key, run.path, model, z=np.zeros(2) if z is None else z, draw=pad,
                               plane=latent_plane.plane_spec(projections.dims_projection(2), None,
                                                             latent.plane_extent(mu, (0, 0))),
                               points=latent_plane.points_spec(mu, y, class_names),
                               sliders=[latent.DimSlider(d, (-3.0, 3.0), f"z{d + 1}", "") for d in range(2)],
                               plane_px=460, image_px=260)
    if state is None:
        return False
    if (z := latent_plane.pinned_z(state)) is not None:            # the component's value, on the server
        st.markdown(f"📌 Pinned: z = {latent.format_z(z)} · [open it in Explore]"
                    f"(Explore?model=shipped:{run.path.name}&z={latent.format_z(z, sep=',')})")
    st.caption("Move the pointer (or a finger, or the arrow keys) over the plane: the image beside it "
               "is the decoder's mean at that z, computed in your browser. Click to pin a z. Points: "
               "validation images, encoded (posterior means); dotted: the prior's 1, 2, 3σ circles.")
    if not isinstance(pad, str):
        st.caption(draw_pad.caption(model.latent_dim, model.kind))
    validation_caption(run.summary, run.path)
    return True


names = featured_runs()
if not names:
    st.warning("No shipped 2-D model found in trained/. Rebuild them with "
               "`python -m explorer pretrain`.")
    st.stop()
asked = common.query_get("model")                    # ?model=<shipped id>: a link's choice
default = asked if asked in names else next((r for r in DEFAULTS if r in names), next(iter(names)))
pick = st.selectbox("Shipped model", list(names), index=list(names).index(default),
                    format_func=names.get)
run = store.open_run(store.SHIPPED_ROOT / pick)
if lines := validation_lines(run.summary, run.path):      # the first number a newcomer reads
    st.markdown(lines[0])

with common.friendly_errors("Could not open this model"):
    enc = encoded_probe(str(run.path))
    if not browser_plane(run, enc):                  # the server decodes instead
        left, right = st.columns([3, 2])
        with right:
            decoder_panel(run.path, run.summary)
        with left:
            if enc is None:
                st.info("This run has no probe images to plot.")
            else:
                mu, y, class_names = enc
                fig = latent_scatter(mu, y, class_names, title="Validation images, encoded (posterior means)")
                st.plotly_chart(fig, width="stretch", key="home_scatter")
