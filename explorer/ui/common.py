"""Streamlit helpers shared by the pages: the engine, the session's identity, run lists,
cached models, query-string state and friendly error display.

The only part of ``explorer`` that imports Streamlit (with the rest of ``explorer.ui``).
"""
from __future__ import annotations

import traceback
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from .. import jobs, settings, store

PAGES = {  # label -> page file, used for links between pages
    "Home": "home.py",
    "Train": "pages/1_Train.py",
    "Explore": "pages/2_Explore.py",
    "β lab": "pages/3_Beta_lab.py",
    "Theory": "pages/4_Theory.py",
    "Runs": "pages/5_Runs.py",
}


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


# ---------------------------------------------------------------- identity

def session_id() -> str:
    """This browser session's id (a new tab, or a typed URL, is a new session)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _release_session(owner: str) -> None:
    """A tab closed: drop its queued runs. Its running run goes on (bounded by the max duration)."""
    try:
        jobs.get_engine().drop_owner(owner)
    except Exception:  # noqa: BLE001 - never fail a disconnect
        pass


@st.cache_resource(scope="session", on_release=_release_session, show_spinner=False)
def _session_owner(sid: str) -> str:
    return sid


def owner() -> str:
    """The session's owner token for the engine; registers the tab-closed hook once."""
    return _session_owner(session_id())


# ------------------------------------------------------------------ engine

def engine() -> jobs.Engine:
    """The process-wide training engine (shared by every session). ``jobs.get_engine`` keeps
    the one instance and makes a new one if it was shut down (tests do that)."""
    return jobs.get_engine()


# -------------------------------------------------------------------- runs

def run_options() -> list[dict]:
    """Every run a page can open: shipped runs first, then the engine's (live and on disk).

    Each entry: ``key`` (shipped:<id> or run:<id>), ``label``, ``run_dir``, ``shipped``,
    ``status``, ``run_id``.
    """
    out = []
    for r in store.list_runs(store.SHIPPED_ROOT):
        out.append({"key": f"shipped:{r.run_id}", "label": f"📦 {r.config.name or r.run_id}",
                    "run_dir": r.path, "shipped": True, "status": "finished", "run_id": r.run_id})
    for j in engine().list():
        if j["status"] == "queued" or (j["status"] in jobs.ENDED and not j.get("saved", True)):
            continue                      # nothing to open: not started, or ended before saving
        icon = {"running": "▶️", "paused": "⏸️", "starting": "⏳", "finished": "✅",
                "stopped": "⏹️", "diverged": "⚠️", "failed": "❌", "interrupted": "⚠️"}.get(j["status"], "")
        label = f"{icon} {j['name'] or j['run_id']} ({j['status']})"
        out.append({"key": f"run:{j['run_id']}", "label": label, "run_dir": j["run_dir"],
                    "shipped": False, "status": j["status"], "run_id": j["run_id"]})
    return out


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
