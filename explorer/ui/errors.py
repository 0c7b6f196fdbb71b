"""What a visitor sees when a page fails: a message, never a traceback.

Streamlit shows an uncaught exception as a traceback with the server's file paths. The
app's ``st.App`` hands every uncaught exception of a page or a widget callback to
:func:`on_script_error` instead (Streamlit has already logged it with its traceback): the
visitor gets one message (the error's own words when it is one of ours, written for
people: a setting out of range, a data file, a class rule; a general one otherwise), and the
page stops there. ``client.showErrorDetails = "none"`` (``.streamlit/config.toml``) redacts
whatever reaches the browser by any other way.
"""
from __future__ import annotations

import streamlit as st

#: errors whose message is written for the person on the page (it names what to change); by
#: name, so that the entry script need not import torch to know them
FOR_PEOPLE = frozenset({"ConfigError", "DataError", "EngineError", "NotAllowed", "ClassroomError",
                        "StoreError", "BudgetExceeded"})


def _for_people(ex: BaseException) -> bool:
    return any(c.__name__ in FOR_PEOPLE and c.__module__.startswith("explorer.") for c in type(ex).__mro__)


def message(ex: BaseException) -> str:
    """The one message a visitor sees for ``ex``."""
    if _for_people(ex):
        return f"That did not work: {ex}. Nothing was changed."
    return ("This page met a value or a state it cannot handle, and stopped; nothing saved was "
            "changed. Reload the page to go on (the server's log has the details).")


def on_script_error(ex: Exception) -> bool:
    """``st.App(on_script_error=...)``: show :func:`message` in place of the traceback."""
    st.error(message(ex), icon=":material/error:")
    return True
