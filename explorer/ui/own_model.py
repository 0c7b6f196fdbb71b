"""Explore's "Open your own model": a run zip, or weights.safetensors with its config.json,
uploaded, validated (:mod:`explorer.export.own_model`, through the one import) and opened
as a new run of the uploader's. A .pt/.pth is refused with three lines that convert it."""
from __future__ import annotations

import streamlit as st

from .. import settings
from ..engine import EngineError
from ..export.own_model import CONVERT, EXPECTED, UPLOAD_TYPES, OwnModelError, open_own_model
from ..text import md
from . import common

KEY = "ex_own_upload"
FLASH = "ex_own_flash"


def on_upload() -> None:
    """The uploader changed: open the files once, and pick the new run in the model picker."""
    files = st.session_state.get(KEY) or []
    if not files:
        return
    eng, me = common.engine(), common.owner()
    try:            # a class's rules, the runs and disk caps, then the one validated import
        ticket = eng.admit_store(me, sum(f.size for f in files))
        run_id = open_own_model({f.name: f.getvalue() for f in files}, eng.runs_dir,
                                max_bytes=settings.get().upload_bytes, owner=me)
    except (OwnModelError, EngineError) as e:
        st.session_state[FLASH] = ("error", f"Not opened: {e}")
        return
    eng.stored(ticket, run_id)
    st.session_state["ex_model"] = f"run:{run_id}"
    st.session_state[FLASH] = ("success", f"Opened as your run {run_id}: it is in the Runs page too.")


def uploader() -> None:
    """The sidebar's uploader and its last message."""
    with st.expander("Open your own model"):
        st.file_uploader("Run zip, or weights.safetensors + config.json", type=UPLOAD_TYPES,
                         accept_multiple_files=True, key=KEY, on_change=on_upload,
                         max_upload_size=settings.get().upload_mb,
                         help=f"Upload {EXPECTED}. Everything is checked before anything is saved; "
                              "nothing in the files is executed, and pickles (.pt, .pth) are never "
                              "loaded. The exported PyTorch script's --save writes such a folder.")
        kind, text = st.session_state.pop(FLASH, (None, ""))
        if kind == "success":
            st.success(md(text))                  # file names and ids come from users
        elif kind:
            st.error(md(text.replace(CONVERT, "").strip()))
            if CONVERT in text:
                st.code(CONVERT, language="python")
