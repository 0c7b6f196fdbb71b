"""The Train page's state, in one place: the run the page shows and what it says next.

Session keys: ``train_run`` the page's run (mirrored in the URL as ``?run=``), ``sync_controls``
(the live β and learning-rate controls take the run's values on the next script run),
``train_msg`` a message shown once (an error), ``train_note`` a note shown while the run
is live. Other pages (a class's "follow me") go through these functions, not the keys.
"""
from __future__ import annotations

import streamlit as st

RUN_KEY = "train_run"
SYNC_KEY = "sync_controls"
MESSAGE_KEY = "train_msg"
NOTE_KEY = "train_note"


def run_id() -> str | None:
    """The page's run, or None."""
    return st.session_state.get(RUN_KEY)


def attach(run_id: str | None) -> None:
    """Make ``run_id`` the page's run (None: no run); the live controls show its β and
    learning rate from the next script run on. (The page mirrors it in the URL.)"""
    if run_id is None:
        st.session_state.pop(RUN_KEY, None)
    else:
        st.session_state[RUN_KEY] = run_id
        st.session_state[SYNC_KEY] = True


def take_sync() -> bool:
    """Whether the live controls should take the run's values now (once per :func:`attach`)."""
    return bool(st.session_state.pop(SYNC_KEY, False))


def flash(message: str) -> None:
    """A message the page shows once, at its next run (a refused control, a failed start)."""
    st.session_state[MESSAGE_KEY] = message


def take_flash() -> str | None:
    return st.session_state.pop(MESSAGE_KEY, None)


def note(text: str) -> None:
    """A note the page shows while its run is live (then once more, and it is gone)."""
    st.session_state[NOTE_KEY] = text


def current_note(live: bool) -> str | None:
    """The note: kept while the run is live, taken once it is not."""
    return st.session_state.get(NOTE_KEY) if live else st.session_state.pop(NOTE_KEY, None)
