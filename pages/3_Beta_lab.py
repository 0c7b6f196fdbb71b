"""β lab: blurriness against overfitting, shown and measured.

One run per β, everything else equal. Pictures first (a row per β: inputs, their
reconstructions, prior samples and the training image nearest to each sample), then
three small charts against β (sharpness, the train − validation IWAE gap, sample
quality) with the sweet spot marked, then the reading generated from those numbers,
the validation curves per β, and the details (rate–distortion, active units, every
number). "Show me" walks a class through it one step at a time.

Two sources: the shipped sweeps in ``trained/`` (measured at pretrain time, shown at
once) and sweeps a person starts here, one job per β through the same engine and queue
as the Train page, filling in as runs finish and measured as each one does. A live
sweep's runs are found again by their names, so it survives a refresh and a restart.
State in the URL: ``?sweep=shipped:mnist`` or ``?sweep=live:<tag>``.
"""
from __future__ import annotations

import streamlit as st

from explorer.analysis.beta import reading as beta_reading
from explorer.text import md
from explorer.ui import beta_lab, beta_tour
from explorer.ui import common, live

st.title("β lab: blurriness against overfitting")
st.markdown(
    "The VAE's loss is **reconstruction + β · KL** (eq. 2 on the Theory page, with a weight β; β = 1 is the "
    "negative ELBO of eq. 13). A **small β** lets each image write a lot into z: sharp "
    "reconstructions, but codes spread far apart, holes between them where prior samples decode "
    "to nothing seen, and a model that memorises its training images. A **large β** squeezes z "
    "towards the prior: a smooth, regular latent space and blurry outputs. **β = 0** drops the "
    "KL term: the autoencoder loss of eq. 1, with the VAE's noisy encoder.")

me = common.owner()
choices = beta_lab.sweep_choices(me)
if not choices:
    st.warning("No sweep found: the shipped ones are missing from trained/ (rebuild them with "
               "`python -m explorer pretrain`), and none has been started here yet.")
    with st.expander("🧪 Run a sweep of your own", expanded=True):
        beta_lab.new_sweep_form(me)
    st.stop()
keys = list(choices)
wanted = common.query_get("sweep", keys[0])
if wanted not in choices:
    st.warning(f"Sweep {md(wanted.partition(':')[2] or wanted)} is not on this server (any "
               f"more); showing another.")
    wanted = keys[0]
if "bl_sweep_next" in st.session_state:            # a sweep just started below
    st.session_state["bl_sweep"] = st.session_state.pop("bl_sweep_next")
if st.session_state.get("bl_sweep") not in choices:
    st.session_state["bl_sweep"] = wanted          # from the URL (or the first sweep)
pick, show_me = st.columns([5, 1], vertical_alignment="bottom")
key = pick.selectbox("Sweep", keys, format_func=choices.get, key="bl_sweep",
                     help="The shipped sweeps, then the ones started on this server. Run one of "
                          "your own at the bottom of the page.")
with show_me:
    beta_tour.start_tour()
common.query_set(sweep=key)


def draw(key: str) -> None:
    with common.friendly_errors("Could not show this sweep"):
        show(beta_lab.build_view(key))


def show(view: beta_lab.SweepView) -> None:
    """The whole screen of one sweep, from its view-model."""
    beta_lab.progress_panel(view)
    if not view.measures:
        st.info("No run of this sweep has finished yet; results appear here as each one does.")
        return
    st.caption(beta_lab.data_caption(view))
    beta_tour.tour(view)

    st.subheader("What each β makes of the same images")
    beta_lab.pictures(view)

    st.subheader("Three measures against β")
    beta_lab.measure_charts(view)
    st.caption(
        "**Sharpness**: the share of an image's fine detail (spectral energy at periods under "
        "5 pixels, the image's contrast divided out), reconstructions relative to their own "
        "inputs, samples relative to the data; 1 = as sharp. **Overfitting**: how much better "
        "the model explains its training images than new ones, by the importance-weighted bound "
        "(IWAE), which leaves out most of the encoder's own fitting error (the ELBO gap counts "
        "it). **Sample quality**: a calibrated classifier that can answer \"none of these\" "
        "reads the prior samples; precision = share of samples that lie on the data (each "
        "counted by the classifier's belief that it is an image of the data at all), recall = "
        "share of the data they cover; quality is their harmonic mean. Bars: ±1 standard error. "
        + beta_lab.judge_caption(view))

    st.subheader("What the numbers say")
    lines = beta_reading.reading(view.measures, view.curves, latent_dim=view.config.model.latent_dim,
                                 seed_curves=view.seed_curves)
    st.markdown("\n".join(f"- {md(s)}" for s in lines))

    st.subheader("Validation curves, one per β")
    if view.shown_curves():
        beta_lab.curves_chart(view.shown_curves(), key="bl_curves")
        st.caption("The validation ELBO at every epoch end; a dot marks each run's best epoch. "
                   "A line that turns down after its dot is a run that began to memorise its "
                   "training images: it kept improving on them while getting worse on new ones."
                   + "".join(f" β = {b:g} is left out: its q(z|x) is a point, and its ELBO lies "
                             f"thousands of nats below." for b in view.left_out))

    if st.toggle("More: the rate–distortion plane, active units and every number", key="bl_more"):
        beta_lab.details(view)


live.poll_sweep(draw, key, beta_lab.is_live(key), beta_lab.is_live)

with st.expander("🧪 Run a sweep of your own", expanded=False):
    beta_lab.new_sweep_form(me)
