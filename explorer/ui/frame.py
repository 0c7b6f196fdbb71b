"""The frame around every page: the menu (:data:`PAGES`), its set-up (page config, the
server's settings checked, this browser's identity, the class line and follow mode, the
cluster message on the pages that train) and who acts on it (a teacher who took control of
their class acts for its students). ``app.py`` draws the menu and the frame, then runs the
page. Composes :mod:`.identity`, :mod:`.load` and :mod:`.classroom` over the leaf :mod:`.common`.
"""
from __future__ import annotations

from typing import NamedTuple

import streamlit as st
import torch

from .. import paths, settings
from ..runs import Actor
from . import classroom, common, identity, load, motion


class MenuEntry(NamedTuple):
    """One entry of the menu: its script (from the project's root) and the title and icon its
    frame gives it (the browser tab's, and the class line's)."""
    script: str
    title: str
    icon: str = "🧭"


#: The menu, in its order; home first, the default (at ``/``). The menu's labels and the
#: pages' URLs come from the file names, as Streamlit's automatic ``pages/`` menu made them:
#: home, Train (``/Train``), Explore, Beta lab (``/Beta_lab``), Theory, Runs, Class, Disentangle.
PAGES = (
    MenuEntry("home.py", "Home"),
    MenuEntry("pages/1_Train.py", "Train", "🏋️"),
    MenuEntry("pages/2_Explore.py", "Explore", "🔭"),
    MenuEntry("pages/3_Beta_lab.py", "β lab", "⚖️"),
    MenuEntry("pages/4_Theory.py", "Theory", "📐"),
    MenuEntry("pages/5_Runs.py", "Runs", "🗂️"),
    MenuEntry("pages/6_Class.py", "Class", "🎓"),
    MenuEntry("pages/7_Disentangle.py", "Disentanglement lab", "🧩"),
)


def navigation() -> tuple[st.Page, MenuEntry]:
    """The menu: ``st.navigation`` over :data:`PAGES`, home the default, folded as Streamlit's
    automatic ``pages/`` menu was. Returns the page this run opens (to run) and its entry (to
    frame)."""
    menu = {st.Page(paths.app_script(p.script), default=i == 0): p for i, p in enumerate(PAGES)}
    page = st.navigation(list(menu), expanded=False)
    return page, menu[page]


def page_setup(title: str, icon: str = "🧭") -> None:
    """The frame, drawn by ``app.py`` before the page. Also keeps torch to one thread in the
    server process: pages do many small tensor operations (measured: 17× slower with two
    threads on a busy machine), and training runs in worker processes with their own thread
    count."""
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
