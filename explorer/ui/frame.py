"""The frame around every page: its set-up (page config, the server's settings checked,
this browser's identity, the class line and follow mode, the cluster message on the pages
that train) and who acts on it (a teacher who took control of their class acts for its
students). Composes :mod:`.identity`, :mod:`.load` and :mod:`.classroom` over the leaf
:mod:`.common`.
"""
from __future__ import annotations

import streamlit as st
import torch

from .. import settings
from ..runs import Actor
from . import classroom, common, identity, load, motion


def page_setup(title: str, icon: str = "🧭") -> None:
    """The first call of every page. Also keeps torch to one thread in the server process:
    pages do many small tensor operations (measured: 17× slower with two threads on a busy
    machine), and training runs in worker processes with their own thread count."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    st.set_page_config(page_title=f"{title} · Latent Explorer", page_icon=icon, layout="wide")
    try:
        settings.get()
    except ValueError as e:   # a malformed LATENT_EXPLORER_* variable: say which, run nothing
        st.error(f"This server's settings are wrong: {e}. Fix that environment variable and "
                 "restart the server (the README lists them all). Nothing was changed.")
        st.stop()
    load.note_session()         # how busy the server is: live views poll slower with many
    try:
        me = identity.actor()   # this browser's owner token, made on its first visit ...
    except identity.Waiting as w:
        identity.waiting_screen(w)      # too many new owners from this address: wait (stops)
    identity.write_cookie()     # ... and kept in its cookie
    classroom.follow_bar(title, me)    # a student in a class: the class line and follow mode
    motion.pause_control()      # one switch pauses every live view and animation (WCAG 2.2.2)
    motion.focus_css()          # a visible focus on every focusable element (2.4.7)
    if title in TRAINING_PAGES:
        cluster_message()


def actor() -> Actor:
    """The person using this page (a browser, or a logged-in user); a teacher who took
    control of their class acts for its students (:func:`explorer.ui.classroom.page_actor`)."""
    return classroom.page_actor(identity.actor())


TRAINING_PAGES = ("Train", "β lab")


def cluster_message() -> None:
    """On the pages that train: one clear message when this server cannot train (its Ray
    cluster could not be reached at start-up; ``Engine.unavailable`` says why)."""
    why = getattr(common.engine(), "unavailable", None)
    if why:
        st.error(f"Training is not available on this server: {why}")
