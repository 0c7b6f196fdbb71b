"""The Theory page's pieces (``pages/4_Theory.py``): the seed's equations, prose and slips as
the page shows them, metrics and charts (each with its text alternative), a section's
controls on a shipped VAE, and the cached computations behind them (each a call into
:mod:`explorer.analysis.theory`)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ..analysis import theory
from ..analysis.theory import equations as theory_equations
from ..analysis.theory import models as theory_models
from ..analysis.theory import slips as theory_slips
from ..analysis.theory import text as theory_text
from ..figures import describe
from . import chart_text, common


def slip(*ids: str) -> None:
    """Each of the seed's slips ``ids`` in an expander: its text, the correction, the reason."""
    for sid in ids:
        with st.expander(theory_slips.label(theory_slips.BY_ID[sid])):
            st.markdown(theory_slips.markdown(theory_slips.BY_ID[sid]))


def eq(n: int, *slips: str) -> None:
    """The seed's equation ``n`` (this page's notation, corrected), then the slips in it."""
    st.latex(theory_equations.latex(n))
    slip(*slips)


def say(key: str, *slips: str) -> None:
    """A paragraph of the page's prose, then the slips it introduces."""
    st.markdown(theory_text.TEXT[key])
    slip(*slips)


def formula(key: str, *slips: str) -> None:
    """A formula the seed does not number (this page's notation), then the slips in it."""
    st.latex(theory_equations.FORMULAS[key])
    slip(*slips)


def show(view: dict) -> None:
    """The parts of a view-model that it has, in this order."""
    for key, draw in (("lead", st.caption), ("metrics", metrics), ("notes", lambda ns: [st.info(n) for n in ns]),
                      ("table", lambda df: st.dataframe(df, hide_index=True, width="stretch")),
                      ("verdict", st.success), ("caption", st.caption)):
        if view.get(key) is not None:
            draw(view[key])


def metrics(rows, box=None) -> None:
    """Metrics side by side, or stacked in ``box`` (a column)."""
    boxes = st.columns(len(rows)) if box is None else [box] * len(rows)
    for b, m in zip(boxes, rows):
        b.metric(m.label, m.value, help=m.help)


def chart(fig, box=st) -> None:
    """A figure and its text alternative (a summary read from its traces, and its data)."""
    with box.container():
        st.plotly_chart(fig, width="stretch")
        chart_text.plotly_text(fig, describe.plain_title(fig.layout.title.text or "the chart"))


def seed_input(key: str, box=st) -> int:
    """A section's random seed (0-10,000), in ``box`` (a column, or the page)."""
    return int(box.number_input("Random seed", 0, 10_000, 0, key=key))


def pick_vae(key: str, label: str = "Trained VAE (shipped)", runs=None, box=st):
    runs = {r.run_id: r for r in (runs if runs is not None else theory_models.shipped_runs("vae"))}
    if not runs:
        st.warning("No shipped VAE with probe images was found in trained/.")
        return None
    pick = box.selectbox(label, list(runs), index=theory_models.default_index(list(runs)), key=key,
                         format_func=lambda i: runs[i].config.name or i)
    return runs[pick]


def on_trained_vae(prefix: str, n_label: str, n_range: tuple, extra, fn: str, args, what: str):
    """One row of controls (a shipped VAE, a batch size, ``extra(column)``: the section's own
    control, a seed), then ``theory.<fn>`` on that batch with ``args(extra's value, seed)``.
    Returns ``(result, run, n, extra's value)``, or None without a VAE or on an error."""
    cols = st.columns(4)
    run = pick_vae(f"{prefix}_model", box=cols[0])
    if run is None:
        return None
    n = cols[1].slider(n_label, *n_range, key=f"{prefix}_n")
    value, seed = extra(cols[2]), seed_input(f"{prefix}_seed", cols[3])
    with common.friendly_errors(f"Could not {what}"):
        return c_on_batch(fn, str(run.path), n, seed, *args(value, seed)), run, n, value


# ------------------------------------------------ cached computations

@st.cache_data(max_entries=32, show_spinner="Computing both losses…")
def c_ae_vs_vae(vae_dir: str, ae_dir: str, n: int, samples: int, seed: int) -> dict:
    vae, ae = common.load_model(Path(vae_dir)), common.load_model(Path(ae_dir))
    return theory.ae_vs_vae(vae, ae, theory_models.probe_batch(vae_dir, n, seed), samples, seed)


@st.cache_data(max_entries=48, show_spinner="Computing on the trained VAE (a few seconds)…")
def c_on_batch(fn: str, run_dir: str, n: int, seed: int, *args) -> dict:
    """``theory.<fn>(model, x, *args)`` on a batch of ``n`` probe images of a shipped run."""
    return getattr(theory, fn)(common.load_model(Path(run_dir)), theory_models.probe_batch(run_dir, n, seed),
                               *args)


def cached(fn, spinner: str | bool = "Computing…", entries: int = 64):
    return st.cache_data(max_entries=entries, show_spinner=spinner)(fn)


c_mc_kl, c_half = cached(theory.mc_kl, "Sampling…"), cached(theory.proof_half_check, False)
c_elbo, c_sweep = cached(theory.demo_elbo, False), cached(theory.demo_sweep, "Sweeping the encoder…", 32)
c_iwae_exact = cached(theory.demo_iwae, "Importance sampling…", 32)
c_grad_summary = cached(theory.gradient_summary, "Estimating gradients…")
c_grad_var = cached(theory.gradient_variance, "Estimating gradient variances…")
