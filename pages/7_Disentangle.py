"""Disentanglement lab: β's other face, on images whose generating factors are known.

β-VAE (Higgins et al. 2017) was introduced to *disentangle*: to make single latent
dimensions follow single factors of the data. Here the factors are known (the generated
shapes data: shape, scale, rotation, x, y), so it can be measured. Pictures first (a
traversal grid per β, one training seed at a time, each row labelled with the factor it
holds most), then MIG and DCI against β with error bars over seeds, then a reading
generated from the numbers, and every number. The sweep ships measured
(``python -m explorer pretrain --factor-sweep shapes``); nothing is trained here.
"""
from __future__ import annotations

import streamlit as st

from explorer.figures import disentangle as disentangle_figures
from explorer.ui import chart_text
from explorer.ui import disentangle_lab

st.title("Disentanglement lab: does β pull factors apart?")
st.markdown(
    "The β lab shows one face of β: blur against overfitting. β-VAE was introduced for another: "
    "a larger β presses q(z|x) towards the prior N(0, I), whose dimensions are independent, and "
    "so may make **single latent dimensions follow single factors** of the data. Whether it does "
    "can only be measured on data whose factors are known. These images are made by the app "
    "from five factors — **shape** (square, ellipse, triangle), **scale**, **rotation**, "
    "**x** and **y** — like DeepMind's dSprites, at 32×32.")
disentangle_lab.dataset_preview()

names = disentangle_lab.names()
fs = disentangle_lab.load(names[0]) if names else None
if fs is None:
    st.warning("The shipped factor sweep's measures are missing from trained/sweeps/. Make them with "
               "`python -m explorer pretrain --factor-sweep shapes --threads 1` (about 15 minutes of "
               "one core).")
    st.stop()

cfg = fs.about.get("config", {})
n_seeds = max(r["n_seeds"] for r in fs.rows)
st.caption(
    f"The sweep: {len(fs.rows)} values of β × {n_seeds} training seeds = {len(fs.runs)} runs of a "
    f"VAE with a {cfg.get('model', {}).get('latent_dim', '?')}-dimensional latent "
    f"(MLP {cfg.get('model', {}).get('hidden', '?')}, Bernoulli likelihood on binary pixels), "
    f"{cfg.get('train', {}).get('epochs', '?')} epochs on "
    f"{int(cfg.get('data', {}).get('n_points', 0) * (1 - cfg.get('data', {}).get('val_fraction', 0.2))):,} "
    f"training images; measured on {fs.runs[0]['n']:,} fresh images none of them saw.")

st.subheader("What each dimension does, per β")
seeds = sorted({m["seed"] for m in fs.runs})
left, right = st.columns([4, 1])
with left:
    seed = st.radio("Training seed", seeds, horizontal=True, key="dl_seed",
                    format_func=lambda s: f"seed {s}",
                    help="Each β was trained from several seeds. Switch: the same β can disentangle "
                         "well from one seed and poorly from another.")
with right:
    st.image(disentangle_lab.reference_picture(fs), caption="every row starts from this image's code", width=96,
             alt="The reference image: every traversal row starts from its code.")
disentangle_lab.traversals(fs, seed)
st.caption(
    f"Each row sweeps one latent dimension from {fs.traverse[0]:g} to {fs.traverse[1]:+g} (the prior's "
    "±2.5σ) while the others keep the code of the image on the right, and decodes. Rows are the "
    "dimensions the model uses, the most informative (largest KL) first; each is labelled with the "
    "factor it holds the most information about (mutual information over that factor's entropy), or "
    "'no single factor' when it holds little about any. A disentangled model has rows that each "
    "change one thing: only the position, only the size.")

st.subheader("MIG against β, with error bars over seeds")
measure_figure = disentangle_figures.measure_figure(fs.rows)
st.plotly_chart(measure_figure, width="stretch", key="dl_measures", config={"displayModeBar": False})
chart_text.plotly_text(measure_figure, "MIG against β")
st.caption(
    "**MIG** (mutual information gap, Chen et al. 2018): for each factor, the information the best "
    "latent dimension holds about it minus what the second best holds, over all there is to know "
    "about the factor; averaged over the five factors. 1 = every factor sits in one dimension of its "
    "own; 0 = none does. **DCI disentanglement** (Eastwood & Williams 2018) asks a different "
    "question: gradient-boosted trees predict each factor from the code, and D is high when each "
    "dimension the trees use serves one factor only. Blue: the mean over the seeds with ±1 standard "
    "error; grey dots: each seed's own value.")

st.subheader("What the numbers say")
st.markdown("\n".join(f"- {line}" for line in disentangle_lab.reading(fs)))

with st.expander("Every number"):
    st.markdown("**Per β** (mean ± standard error over the seeds)")
    st.dataframe(disentangle_lab.numbers_table(fs), hide_index=True, width="stretch")
    st.markdown("**MIG of each factor** (the gap for that factor alone)")
    st.dataframe(disentangle_lab.per_factor_table(fs), hide_index=True, width="stretch")
    st.caption("Reconstruction and KL are per image on the validation split, in nats; with binary "
               "pixels and a Bernoulli likelihood, −(reconstruction + KL) is a true lower bound on "
               "log p(x). Active dimensions: those whose posterior mean varies across images "
               "(variance > 0.01); the others have collapsed onto the prior and are not shown above.")
    st.code("python -m explorer pretrain --factor-sweep shapes --threads 1   # rebuild and re-measure\n"
            "python -m explorer sweep-report shapes --json                # these rows as JSON",
            language="bash")
