"""A chart's text alternative on the page: the one-sentence summary generated from its data
(``explorer.figures.describe``) in a caption, and its data as a table under a folded
expander that a screen reader can walk (an HTML table, not the canvas data grid).

Call :func:`under_chart` right after the chart, with the same data it was drawn from: the
text updates with the chart (a live view's fragment redraws both).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ..figures import describe


def under_chart(summary: str, table: pd.DataFrame | None, what: str) -> None:
    """The summary (a caption starting "In words:") and, when there is one, the data table in
    an expander "Data table: <what>"."""
    st.caption(f"In words: {summary}")
    if table is not None and len(table):
        more = " (evenly chosen rows)" if len(table) >= describe.TABLE_ROWS else ""
        with st.expander(f"Data table: {what}{more}"):
            st.table(table)


def plotly_text(fig, what: str, unit: str = "") -> None:
    """The text alternative of a plotly figure from its traces (:func:`describe.figure_summary`)."""
    under_chart(describe.figure_summary(fig, unit, what[:1].upper() + what[1:]), describe.figure_table(fig), what)


def vega_spec(spec: dict, description: str) -> dict:
    """A Vega-Lite specification with its text alternative on the chart itself: ``description``
    becomes the SVG's accessible name, and the marks and axes leave the accessibility tree
    (hundreds of unnamed points and rules read one by one help nobody; the summary and the
    table under the chart say what they show). Keep ``description`` fixed for a live chart
    (a changed specification remounts it): the caption under it carries the numbers."""
    out = dict(spec)
    config = dict(out.get("config") or {})
    config["aria"] = False
    config["mark"] = {**(config.get("mark") or {}), "aria": False}
    out["config"], out["description"] = config, description
    return out


def altair(chart, description: str):
    """:func:`vega_spec` for an Altair chart (same result)."""
    return chart.configure_mark(aria=False).configure(aria=False).properties(description=description)


def picture_row_alt(beta: float, n: int, sample_class=None, sweet: bool = False) -> str:
    """The β lab's row of pictures for one β: what each group is, and for the prior samples
    the class each one most resembles (the classifier's reading) when there is one."""
    text = (f"β = {beta:g}{' (the sweet spot)' if sweet else ''}: {n} validation inputs, their "
            f"reconstructions, {n} samples decoded from the prior, and the training image nearest to "
            "each sample")
    if sample_class is not None and len(sample_class):
        text += ". The classifier reads the samples as " + ", ".join(str(int(c)) for c in sample_class)
    return text + "."


def points_frame(z, labels=None, class_names=None) -> pd.DataFrame:
    """2-D points (``[N, 2]``) with their class names, for :func:`describe.scatter_summary`."""
    z = np.asarray(z, dtype=float).reshape(-1, 2)
    if labels is None:
        names = np.full(len(z), "all")
    else:
        lab = np.asarray(labels).astype(int)
        table = list(class_names or []) + [str(i) for i in range(len(class_names or []), int(lab.max(initial=0)) + 1)]
        names = np.asarray(table)[lab]
    return pd.DataFrame({"x": z[:, 0], "y": z[:, 1], "label": names})
