"""One switch that pauses every auto-refreshing view and animation of a page (WCAG 2.2.2,
"Pause, Stop, Hide"), kept for the browser session across pages.

Every page draws the switch (:func:`pause_control`, from the frame's ``page_setup``: in the sidebar; in
presentation mode, where the sidebar is hidden, on the page as well). While it is on,
:func:`every` turns a live view's polling interval into None, so its fragment draws once and
then waits (the engine keeps training; nothing is lost), and the latent-plane component stops
a traversal that is playing (its ``paused`` data). Turning it off reruns the page, and the
views poll again. The classroom's follow-me poll is not a view and keeps its own switch
(follow mode).
"""
from __future__ import annotations

import streamlit as st

PAUSED = "le_paused"          # session state: the switch's value, kept across pages
LABEL = "Pause live updates and animations"
HELP = ("Stops every chart and list on this page that refreshes by itself, and any traversal "
        "that plays, until you turn it off. Training goes on; turning it off shows the newest state.")


def paused() -> bool:
    return bool(st.session_state.get(PAUSED, False))


def every(seconds: float | None) -> float | None:
    """A fragment's ``run_every``: None (no refresh) while paused."""
    return None if paused() else seconds


def _keep(widget_key: str) -> None:
    st.session_state[PAUSED] = bool(st.session_state.get(widget_key))


def pause_control(key: str = "le_pause_switch", box=None) -> bool:
    """The switch, in ``box`` (default the sidebar); returns whether the page is paused. Its
    value lives in :data:`PAUSED` (widget keys are dropped when a page does not draw them)."""
    box = box if box is not None else st.sidebar
    st.session_state[key] = paused()
    box.toggle(LABEL, key=key, help=HELP, on_change=_keep, args=(key,))
    if paused():
        box.caption("Live updates are paused on every page of this tab.")
    return paused()


def switch_css(off_track: str, scope: str = "") -> str:
    """CSS for switches that can be seen when off (WCAG 1.4.11): Streamlit 1.67 draws a switch's
    off track (``.e1hn2pbo7``) as a faint wash, 1.5:1 on a white page and invisible on a dark
    one, so the off track gets ``off_track`` and the knob (``.e1hn2pbo8``) white. ``scope``:
    a selector the rules apply under (presentation mode's ``.stApp``)."""
    box = f"{scope} [data-testid='stCheckbox']".strip()
    return (f" {box}:has(input[role='switch']:not(:checked)) .e1hn2pbo7 {{background-color: {off_track} !important;}}"
            f" {box}:has(input[role='switch']) .e1hn2pbo8 {{background-color: #ffffff !important;}}")


# A focus ring on everything focusable (WCAG 2.4.7): Streamlit's sidebar page links, expanders'
# summaries and some buttons show none of their own when reached with Tab. And switches that
# can be seen when off: a grey off track, 4.5:1 on white, with a white knob, 4.5:1 on it;
# presentation mode's dark theme has its own (ui/classroom.py).
FOCUS_CSS = ("<style>a:focus-visible, button:focus-visible, summary:focus-visible, [role='tab']:focus-visible,"
             " [role='switch']:focus-visible, [role='slider']:focus-visible, [tabindex]:focus-visible"
             " {outline: 2px solid #3B5BDB !important; outline-offset: 2px !important;}"
             + switch_css("#767676") + "</style>")


def focus_css() -> None:
    st.html(FOCUS_CSS)
