"""Latent Explorer: the home page. `streamlit run app.py`

Opens a shipped model at once: its latent scatter and a decoder you steer with two
sliders. The other pages (Train, Explore, β lab, Theory, Runs) are in pages/.
"""
import numpy as np
import streamlit as st

from explorer import store
from explorer.figures.common import upscale
from explorer.figures.latent import latent_scatter
from explorer.ui import common

common.page_setup("Home")
st.title("🧭 Latent Explorer")
st.markdown(
    "Train a small **variational autoencoder** and watch it learn: the loss split into "
    "reconstruction and KL, a latent space that fills in as training runs, a decoder you can "
    "steer, and a **β** control that trades sharp reconstructions against a regular latent space. "
    "Start with a shipped model below, or open **Train** in the sidebar.")

runs = store.list_runs(store.SHIPPED_ROOT)
# the featured models: 2-D latents, not the members of the β lab's sweeps
runs2d = [r for r in runs if r.config.model.latent_dim == 2 and not r.run_id.startswith("sweep-")]
if not runs2d:
    st.warning("No shipped 2-D model found in trained/. Rebuild them with "
               "`python -m explorer pretrain`.")
    st.stop()

names = {r.run_id: r.config.name or r.run_id for r in runs2d}
default = "digits-vae-z2-b1" if "digits-vae-z2-b1" in names else runs2d[0].run_id
pick = st.selectbox("Shipped model", list(names), index=list(names).index(default),
                    format_func=names.get)
run = next(r for r in runs2d if r.run_id == pick)

with common.friendly_errors("Could not open this model"):
    model = common.load_model(run.path)
    probe = store.load_probe(run.path)
    left, right = st.columns([3, 2])
    with right:
        st.subheader("Decode a point")
        z1 = st.slider("z₁", -3.0, 3.0, 0.0, 0.05)
        z2 = st.slider("z₂", -3.0, 3.0, 0.0, 0.05)
        img = model.decode_mean(np.array([[z1, z2]], np.float32))[0].numpy()
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        st.image(upscale(img, max(1, 224 // img.shape[0])), caption=f"decoder mean at z = ({z1:.2f}, {z2:.2f})")
        v = run.summary.get("val", {})
        if v:
            st.caption(f"Validation: ELBO {v.get('elbo', float('nan')):.2f} nats per image, "
                       f"reconstruction {v.get('recon', float('nan')):.2f}, KL {v.get('kl', float('nan')):.2f}.")
    with left:
        if probe is None:
            st.info("This run has no probe images to plot.")
        else:
            x, y, class_names = probe
            mu, _ = model.encode_mean(x)
            fig = latent_scatter(mu.numpy(), None if y is None else y.numpy(), class_names,
                                 title="Validation images, encoded (posterior means)")
            fig.add_scatter(x=[z1], y=[z2], mode="markers", name="decoded z",
                            marker=dict(symbol="x", size=14, color="black"))
            st.plotly_chart(fig, width="stretch", key="home_scatter")
