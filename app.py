"""Latent Explorer's entry script: ``streamlit run app.py``.

Serves the home page (``home.py``) and the pages in ``pages/`` — Streamlit's automatic
multipage navigation — through ``st.App``, whose lifespan hook lets the server import
torch and plotly while it waits for its first visitor (``explorer.ui.warmup``), and whose
error hook shows a visitor a message, never a traceback (``explorer.ui.errors``).
"""
import streamlit as st

from explorer.ui.errors import on_script_error
from explorer.ui.warmup import lifespan

app = st.App("home.py", lifespan=lifespan, on_script_error=on_script_error)
