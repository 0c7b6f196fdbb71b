"""The β lab's "show me" tour: one step at a time, each with its picture or chart, the
steps' words from :func:`explorer.analysis.beta.reading.tour_steps`. Back and Next scroll
the page to the tour's card (the buttons sit at its foot, so a taller next step would
otherwise leave its title out of sight)."""
from __future__ import annotations

import streamlit as st

from ..analysis.beta import reading as beta_reading
from ..text import md
from . import beta_lab


def tour(view: beta_lab.SweepView) -> None:
    """The "show me" walk: one step at a time, each with its picture or chart."""
    steps = beta_reading.tour_steps(view.measures, view.curves, view.seed_curves)
    i = st.session_state.get("bl_tour")
    if i is None or not steps:
        return
    i = min(int(i), len(steps) - 1)
    step = steps[i]
    with st.container(border=True, key=TOUR_CARD):
        st.markdown(f"#### {step['title']} ({i + 1} of {len(steps)})")
        st.markdown(md(step["text"]))
        with st.container():     # the step's picture or chart in one slot: the buttons below keep
            if step["show"] == "pictures":                          # their place (no stale copy)
                beta_lab.pictures(view, step["betas"])
            elif step["show"] == "curves":
                beta_lab.curves_chart(view.shown_curves(step["betas"]), key="tour_curves")
            else:
                beta_lab.measure_charts(view, (step["show"],), key="tour")
        a, b, c = st.columns([1, 1, 4])
        a.button("◀ Back", key="tour_back", disabled=i == 0, on_click=_tour_go, args=(i - 1,))
        if i + 1 < len(steps):
            b.button("Next ▶", key="tour_next", type="primary", on_click=_tour_go, args=(i + 1,))
        c.button("End the tour", key="tour_end", on_click=_tour_go, args=(None,))
    if st.session_state.pop("bl_tour_scroll", False):
        scroll_to(TOUR_CARD, nonce=i)


TOUR_CARD = "bl_tour_card"


def scroll_to(key: str, nonce=0) -> None:
    """Scroll the page so that the element with Streamlit key ``key`` is at the top of the
    view (a button lower down, such as the tour's Next, would otherwise leave the new card
    out of sight). ``nonce`` changes the script, so a new one runs on each call."""
    st.html(f"<script>/* {nonce} */ setTimeout(() => {{ const el = document.querySelector("
            f"'.st-key-{key}'); if (el) el.scrollIntoView({{block: 'start'}}); }}, 60);</script>",
            unsafe_allow_javascript=True, width="content")


def _tour_go(i) -> None:
    st.session_state["bl_tour"] = i
    st.session_state["bl_tour_scroll"] = i is not None


def start_tour() -> None:
    st.button("🎓 Show me", key="bl_show_me", on_click=_tour_go, args=(0,),
              help="A walk through this sweep for a class, one picture at a time.")
