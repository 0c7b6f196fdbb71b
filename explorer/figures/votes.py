"""The class's answers to a question, as the teacher and the projector see them: one bar per
option (both votes side by side after a revote), or each student's number on a line with the
median marked. ``vote_frame`` gives the table (tests call it), ``vote_chart`` the chart, and
``vote_summary`` the words under it."""
from __future__ import annotations

import altair as alt
import pandas as pd

VOTE_COLUMNS = ["round", "answer", "count", "value", "bar"]
ROUND_MARKS = {1: "1st", 2: "2nd"}
ROUND_NAMES = {1: "first vote", 2: "second vote"}


def vote_frame(question, tallies: dict) -> pd.DataFrame:
    """``tallies``: {round: :func:`explorer.classroom.votes.tally`}. One row per option and
    round (a choice), or one per answer (a number)."""
    recs = []
    two = len(tallies) > 1
    for rnd, t in sorted(tallies.items()):
        name = ROUND_NAMES.get(rnd, f"vote {rnd}")
        if question.kind == "choice":
            recs += [{"round": name, "answer": o, "count": n, "value": None,
                      "bar": f"{o} ({ROUND_MARKS.get(rnd, rnd)})" if two else o} for o, n in t["counts"].items()]
        else:
            recs += [{"round": name, "answer": f"{v:g}", "count": 1, "value": v, "bar": name} for v in t["values"]]
    return pd.DataFrame(recs, columns=VOTE_COLUMNS)


def vote_chart(question, frame: pd.DataFrame, present: bool = False) -> alt.Chart:
    big = 20 if present else 12
    axis = dict(labelFontSize=big, titleFontSize=big + 2, labelLimit=420)
    colour = alt.Color("round:N", title=None, scale=alt.Scale(domain=list(ROUND_NAMES.values()),
                                                              range=["#0072B2", "#E69F00"]),
                       legend=alt.Legend(orient="top", labelFontSize=big))
    if question.kind == "choice":           # one bar per option (and vote), in the options' order
        order = [b for o in question.options for b in frame.loc[frame["answer"] == o, "bar"]]
        enc = dict(y=alt.Y("bar:N", title=None, sort=order, axis=alt.Axis(**axis)),
                   x=alt.X("count:Q", title="students", scale=alt.Scale(domainMin=0, nice=True),
                           axis=alt.Axis(format="d", tickMinStep=1, **axis)))
        bars = alt.Chart(frame).mark_bar().encode(**enc, color=colour, tooltip=["round:N", "answer:N", "count:Q"])
        text = alt.Chart(frame).mark_text(align="left", dx=4, fontSize=big).encode(**enc, text="count:Q")
        chart = alt.layer(bars, text)
        height = (34 if present else 24) * max(1, len(frame))
    else:
        chart = alt.Chart(frame).mark_tick(thickness=4 if present else 2, size=40 if present else 24).encode(
            x=alt.X("value:Q", title="answers", axis=alt.Axis(format=",~f", **axis)),
            y=alt.Y("round:N", title=None, axis=alt.Axis(**axis)), color=colour,
            tooltip=["round:N", "value:Q"])
        height = 60 * frame["round"].nunique() + 40
    return chart.properties(height=max(100, height), title=alt.Title(question.text, fontSize=big + 4, limit=900))


def vote_summary(question, tallies: dict) -> str:
    """The distribution in words (for the caption under the chart and for screen readers)."""
    parts = []
    for rnd, t in sorted(tallies.items()):
        name = ROUND_NAMES.get(rnd, f"vote {rnd}")
        if not t["n"]:
            parts.append(f"{name}: no answers yet")
        elif question.kind == "choice":
            parts.append(f"{name} ({_answers(t['n'])}): " + ", ".join(f"{o} {n}" for o, n in t["counts"].items()))
        else:
            parts.append(f"{name} ({_answers(t['n'])}): median {t['median']:g}, half between "
                         f"{t['low']:g} and {t['high']:g}")
    return "; ".join(parts) + "."


def _answers(n: int) -> str:
    return f"{n} answer" + ("" if n == 1 else "s")
