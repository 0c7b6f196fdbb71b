"""Small Streamlit helpers shared by the pages: the engine, who owns the page
(:mod:`explorer.ui.identity`), cached models, query-string state and friendly error display.

A leaf of ``explorer.ui``: it imports no other page helper but identity. The page's frame
(set-up, the class line, the acting person) is :mod:`explorer.ui.frame`. Streamlit is
imported only in ``explorer.ui`` (and the pages).
"""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

from .. import engine as engine_mod
from ..classroom import rules
from ..decoder_cache import model_file
from ..export.onnx_model import load_any_model
from . import identity


def owner() -> str:
    """The owner id of the person using this page."""
    return identity.owner()


# ------------------------------------------------------------------ engine

def engine() -> engine_mod.Engine:
    """The process-wide training engine (shared by every session). ``get_engine`` keeps
    the one instance and makes a new one if it was shut down (tests do that). The class rules
    stand in front of it (``engine.gate``): every run started or stored by a class's student
    passes them, whichever page or path it comes from."""
    eng = engine_mod.get_engine()
    if eng.gate is None:
        eng.gate = rules.Gate(eng.runs_dir)
    return eng


@st.cache_resource(max_entries=16, show_spinner=False)
def _cached_model(run_dir: str, mtime: float):
    return load_any_model(Path(run_dir), device="cpu")


def load_model(run_dir: Path):
    """A run's model, cached until its weights file changes (a live run's checkpoints); a
    tracked run's model is its ONNX graphs (:mod:`explorer.export.onnx_model`)."""
    return _cached_model(str(run_dir), model_file(run_dir).stat().st_mtime)


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


def fresh_label(key: str, labels: dict) -> None:
    """Before a keyed selectbox whose option labels carry a status (``labels``: value ->
    label): when the chosen option's label changed since the last draw (its run ended),
    set the widget's value again, which makes the browser show the new label. Without it
    Streamlit's browser side keeps the old text ("… (running)" after the run ended)."""
    state = st.session_state
    chosen, seen = state.get(key, next(iter(labels), None)), f"_{key}_label"   # (unset: the first)
    if chosen in labels and state.get(seen) not in (None, labels[chosen]):
        state[key] = chosen
    state[seen] = labels.get(chosen)
