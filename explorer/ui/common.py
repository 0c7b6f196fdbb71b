"""Streamlit helpers shared by the pages: set-up, the engine, who is using the page
(:mod:`explorer.ui.identity`), cached models, query-string state and friendly error display.

The only part of ``explorer`` that imports Streamlit (with the rest of ``explorer.ui``).
"""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from .. import engine as engine_mod
from .. import settings, store
from ..runs import Actor
from . import identity


def page_setup(title: str, icon: str = "🧭") -> None:
    """The first call of every page. Also keeps torch to one thread in the server process:
    pages do many small tensor operations (measured: 17× slower with two threads on a busy
    machine), and training runs in worker processes with their own thread count."""
    import torch
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    st.set_page_config(page_title=f"{title} · Latent Explorer", page_icon=icon, layout="wide")
    try:
        settings.get()
    except ValueError as e:   # a malformed LATENT_EXPLORER_* variable: say which, run nothing
        st.error(f"This server's settings are wrong: {e}. Fix that environment variable and "
                 "restart the server (the README lists them all). Nothing was changed.")
        st.stop()
    from . import load
    load.note_session()         # how busy the server is: live views poll slower with many
    me = identity.actor()       # this browser's owner token, made on its first visit ...
    identity.write_cookie()     # ... and kept in its cookie
    from . import classroom     # a student in a class: the class line and follow mode
    classroom.follow_bar(title, me)
    if title in TRAINING_PAGES:
        cluster_message()


# ---------------------------------------------------------------- identity

def actor() -> Actor:
    """The person using this page (a browser, or a logged-in user); a teacher who took
    control of their class acts for its students (:func:`explorer.ui.classroom.page_actor`)."""
    from . import classroom
    return classroom.page_actor(identity.actor())


def owner() -> str:
    """The owner id of the person using this page."""
    return identity.owner()


# ------------------------------------------------------------------ engine

TRAINING_PAGES = ("Train", "β lab")


def cluster_message() -> None:
    """On the pages that train: one clear message when this server cannot train (its Ray
    cluster could not be reached at start-up; ``Engine.unavailable`` says why)."""
    why = getattr(engine(), "unavailable", None)
    if why:
        st.error(f"Training is not available on this server: {why}")


def engine() -> engine_mod.Engine:
    """The process-wide training engine (shared by every session). ``get_engine`` keeps
    the one instance and makes a new one if it was shut down (tests do that)."""
    return engine_mod.get_engine()


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_model(run_dir: str, mtime: float):
    return store.load_model(Path(run_dir), device="cpu")


def load_model(run_dir: Path):
    """A run's model, cached until its weights file changes (a live run's checkpoints)."""
    p = Path(run_dir) / store.WEIGHTS
    return _cached_model(str(run_dir), p.stat().st_mtime)


# ----------------------------------------------------------- query string

def query_get(key: str, default=None):
    return st.query_params.get(key, default)


def query_set(**values) -> None:
    """Mirror page state into the URL (only when it changed, to avoid extra reruns)."""
    for k, v in values.items():
        v = "" if v is None else str(v)
        if st.query_params.get(k) != v:
            if v == "":
                st.query_params.pop(k, None)
            else:
                st.query_params[k] = v


def share_url(page_path: str) -> str:
    """This page's address with its state (the current query string), to share.

    ``page_path`` is the page's URL path, e.g. ``"Runs"``; it is used when the browser's
    address is unknown (AppTest), giving a link relative to the server."""
    from urllib.parse import urlencode
    base = None
    try:
        base = st.context.url
    except Exception:  # noqa: BLE001 - outside a browser session
        base = None
    base = base or f"/{page_path.lstrip('/')}"
    query = urlencode({k: st.query_params.get(k) for k in st.query_params})
    return f"{base}?{query}" if query else base


def share_link(page_path: str, label: str = "🔗 Share this view") -> str:
    """A copy-link control: a popover with the page's URL (page, run, main settings) in a
    code box, which has a copy button. Returns the URL."""
    url = share_url(page_path)
    with st.popover(label):
        st.caption("Anyone who opens this link on this server sees the same page and settings.")
        st.code(url, language=None, wrap_lines=True)
    return url


# ------------------------------------------------------------------ errors

@contextmanager
def friendly_errors(what: str):
    """Show a clear message instead of a traceback page; the details go to the server log."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - the UI must never show a raw traceback
        st.error(f"{what}: {e}")
        traceback.print_exc()          # the server log keeps the details
