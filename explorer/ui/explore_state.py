"""The Explore page's widget state, in one place: the keys it keeps in the session and the
functions that read and move them. Other pages (a class's "follow me") open a view through
:func:`open_model`, not by writing the keys.

Session state, per model (``mk``: :func:`explorer.ui.explore_model.model_id` of its key):
``ex_z_<mk>_<d>`` the decoder's sliders, ``ex_sel_<mk>`` the points selected on the plane,
``ex_own_<mk>`` the last data point clicked (the held coordinates' "clicked point");
``ex_model`` the model picked.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from ..analysis import latent
from .explore_model import model_id

MODEL_KEY = "ex_model"       # the picker's widget key: the model shown
PLANE_KEY = "ex_plane"       # the scatter's widget key (its selection state)
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


def open_model(key: str) -> None:
    """Make ``key`` the model Explore shows, its sliders starting afresh (from the link's z)."""
    session = st.session_state
    session[MODEL_KEY] = key
    prefix = f"ex_z_{model_id(key)}_"
    for k in [k for k in session if str(k).startswith(prefix)]:
        del session[k]
