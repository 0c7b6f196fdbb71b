"""The class's answers to a question, as the teacher and the projector see them: one row per
option and vote (drawn as bars by the Class page), or each student's number; ``vote_frame``
gives the table and ``vote_summary`` the words under it. (A Vega-Lite band chart of these rows
drew every bar on one line in Streamlit's container: the page draws plain progress bars.)"""
from __future__ import annotations

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
