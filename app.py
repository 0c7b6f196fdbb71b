"""Latent Explorer's entry script: ``streamlit run app.py``. It plays two parts.

**The server.** ``streamlit run`` imports this file once and serves its ``app``: an ``st.App``
whose lifespan hook lets the server import torch and plotly while it waits for its first
visitor (``explorer.ui.warmup``), and whose error hook shows a visitor a message, never a
traceback (``explorer.ui.errors``).

**Every visit.** For each run of a page Streamlit runs this file as ``__main__``: the menu
(``st.navigation`` over ``home.py`` and ``pages/``, ``explorer.ui.frame.PAGES``), then the
frame around the page that is open (``frame.page_setup``: page config, settings check,
identity, class line, cluster message), then the page itself.

Streamlit runs a ``pages/`` folder that sits beside its main script in a legacy mode (its own
menu and the page alone, never this file) until some session calls ``st.navigation``; it
decides once per process, when the first session starts. The server part settles it before
any session exists, so that the very first visit to /Train gets its frame too.
"""
import streamlit as st

if __name__ == "__main__":                  # a visit: the menu, the frame, the page
    from explorer.ui import frame

    page, entry = frame.navigation()
    frame.page_setup(entry.title, entry.icon)
    page.run()
else:                                       # the server: imported once by `streamlit run app.py`
    from streamlit.runtime.pages_manager import PagesManager

    from explorer.ui.errors import on_script_error
    from explorer.ui.warmup import lifespan

    PagesManager.uses_pages_directory = False        # this file's menu, not the legacy pages/ one
    app = st.App(__file__, lifespan=lifespan, on_script_error=on_script_error)
