"""Run lists a page at a time: a class fills the runs folder over a term, so no page
reads or draws every run (the engine's list comes from the runs folder's index)."""
from __future__ import annotations

import math

import streamlit as st


def page_picker(key: str, total: int, per_page: int, what: str = "runs", order: str = "newest first") -> int:
    """A page selector under a table when there is more than one page; returns the offset.
    ``order``: how the table is sorted, as its caption says."""
    pages = max(1, math.ceil(total / per_page))
    if pages == 1:
        st.session_state.pop(key, None)
        return 0
    if st.session_state.get(key, 1) > pages:
        st.session_state[key] = pages
    st.session_state.setdefault(key, 1)
    c1, c2 = st.columns([1, 4], vertical_alignment="center")
    page = c1.number_input("Page", 1, pages, key=key, label_visibility="collapsed")
    c2.caption(f"page {page} of {pages} · {total:,} {what}, {order}")
    return (int(page) - 1) * per_page
