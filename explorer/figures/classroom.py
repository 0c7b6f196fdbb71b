"""The teacher's dashboard figures (Altair, updated in place): the class's rate–distortion
plane (one point per student, a trail, coloured by β), and small multiples of the students'
latent scatters and reconstruction/KL curves.

As in :mod:`explorer.figures.training`, each figure is a ``*_frame`` (plain
:class:`~explorer.classroom.board.StudentRun` objects in, one table out) and a specification
without data (:func:`class_spec`, serialised once), so a refresh sends only new tables.
``present=True`` gives the projector's version: larger type, thicker marks, a high-contrast
palette.
"""
from __future__ import annotations

import functools
import json

import altair as alt
import numpy as np
import pandas as pd

from ..classroom import board
from .common import CLASS_COLORS, class_shapes

RD_COLUMNS = ["student", "kind", "order", "kl", "recon", "beta", "label", "tag"]
AXIS_FORMAT = ",~f"
RD_HEIGHT, RD_HEIGHT_PRESENT = 420, 600     # the R–D plot's height in pixels (axes and titles beside it)
#: pixels around the whole chart, so no title's text box touches its edge. An object, never a
#: number: Streamlit 1.67 sets ``padding.bottom`` (20) when it is missing, which fails on a number
#: (the chart is not drawn at all)
RD_PADDING = {"top": 8, "left": 8, "right": 8, "bottom": 20}
LABEL_GAP = (0.16, 0.06)      # labels closer than this (fractions of the plane's x and y range) merge
LATENT_COLUMNS = ["student", "z1", "z2", "label"]
CURVE_COLUMNS = ["student", "step", "term", "value"]
#: high contrast for a projector (Okabe–Ito, colour-blind safe)
PRESENT_COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
                  "#E0E0E0", "#999999", "#C77DFF"]     # each >= 3:1 on the projector's #111111


def rd_frame(students, ladder: str | None = None) -> pd.DataFrame:
    """One row per trail point and one "now" row per student with a run that has rows; with
    ``ladder`` (a setting the class's runs spread), one "ladder" row per value of it (the
    mean of the models at it), which the chart joins with a line. Each "now" row's ``tag``
    is the text printed beside it: points too close to label apart share one tag."""
    recs = []
    for s in students:
        if not s.trail:
            continue
        for i, (k, r) in enumerate(s.trail):
            recs.append({"student": s.name, "kind": "trail", "order": i, "kl": k, "recon": r,
                         "beta": s.beta, "label": "", "tag": ""})
        recs.append({"student": s.name, "kind": "now", "order": len(s.trail), "kl": s.kl, "recon": s.recon,
                     "beta": s.beta, "label": f"{s.name}: β {s.beta:g}, KL {s.kl:.1f}, recon {s.recon:.1f}",
                     "tag": s.name})
    if ladder:
        name = board.LADDER_LABELS.get(ladder, ladder)
        for i, (v, k, r, n) in enumerate(board.ladder_points(students, ladder)):
            recs.append({"student": "", "kind": "ladder", "order": i, "kl": k, "recon": r,
                         "beta": v if ladder == "beta" else None,
                         "label": f"{name} {v:g}: mean of {n} model{'s' if n != 1 else ''}", "tag": f"{name} {v:g}"})
    frame = pd.DataFrame(recs, columns=RD_COLUMNS)
    return _spread_tags(frame)


def _spread_tags(frame: pd.DataFrame) -> pd.DataFrame:
    """Labels never overprint: a "now" point whose label would fall on an earlier one's joins
    that one's tag ("Ann, Bob", then "Ann +2"), and prints nothing itself."""
    now = frame.index[frame["kind"] == "now"]
    if len(now) < 2:
        return frame
    span_x = max(float(frame["kl"].max() - frame["kl"].min()), 1e-9)
    span_y = max(float(frame["recon"].max() - frame["recon"].min()), 1e-9)
    anchors: list[tuple[int, float, float, list[str]]] = []
    for i in sorted(now, key=lambda i: (frame.at[i, "recon"], frame.at[i, "kl"])):
        x, y = frame.at[i, "kl"] / span_x, frame.at[i, "recon"] / span_y
        near = next((a for a in anchors if abs(a[1] - x) < LABEL_GAP[0] and abs(a[2] - y) < LABEL_GAP[1]), None)
        if near is None:
            anchors.append((i, x, y, [frame.at[i, "student"]]))
        else:
            near[3].append(frame.at[i, "student"])
            frame.at[i, "tag"] = ""
    for i, _, _, names in anchors:
        frame.at[i, "tag"] = ", ".join(names) if len(names) <= 2 else f"{names[0]} +{len(names) - 1}"
    return frame


def latent_frame(students) -> pd.DataFrame:
    recs = []
    for s in students:
        if s.mu is None:
            continue
        lab = s.labels if s.labels is not None else np.zeros(len(s.mu), dtype=int)
        recs += [{"student": s.name, "z1": float(a), "z2": float(b), "label": str(int(c))}
                 for (a, b), c in zip(s.mu, lab)]
    return pd.DataFrame(recs, columns=LATENT_COLUMNS)


def curves_frame(students) -> pd.DataFrame:
    recs = []
    for s in students:
        for step, rec, kl in s.curve:
            recs.append({"student": s.name, "step": step, "term": "reconstruction", "value": rec})
            recs.append({"student": s.name, "step": step, "term": "KL", "value": kl})
    return pd.DataFrame(recs, columns=CURVE_COLUMNS)


def _font(present: bool) -> dict:
    return dict(labelFontSize=18 if present else 11, titleFontSize=20 if present else 12)


def _axis(present: bool, ticks: int | None = None) -> alt.Axis:
    """A numeric axis that stays readable on a projector: few ticks, short labels, none
    overlapping, plain numbers. (Not "~g": Vega gives a "g" format the precision of the tick
    step, so ticks 10 apart read "1e+1 … 4e+1"; "f" takes the step's decimals: "10 … 40".)"""
    return alt.Axis(**_font(present), tickCount=ticks or (5 if present else 8), format=AXIS_FORMAT,
                    labelOverlap="greedy")


def rd_chart(present: bool = False, height: int | None = None) -> alt.LayerChart:
    """The class's R–D plane: x = rate (KL), y = distortion (reconstruction); colour = β."""
    enc = dict(x=alt.X("kl:Q", title="rate: KL (nats)", scale=alt.Scale(zero=False), axis=_axis(present)),
               y=alt.Y("recon:Q", title="distortion: reconstruction (nats)", scale=alt.Scale(zero=False),
                       axis=_axis(present)),
               color=alt.Color("beta:Q", title="β", scale=alt.Scale(type="symlog", scheme="plasma" if present else "viridis"),
                               legend=alt.Legend(format=".3~g", **_font(present))))
    trail = alt.Chart().transform_filter(alt.datum.kind == "trail").mark_line(
        opacity=0.6, strokeWidth=3 if present else 1.5).encode(**enc, detail="student:N", order="order:Q")
    now = alt.Chart().transform_filter(alt.datum.kind == "now").mark_circle(
        size=400 if present else 140, opacity=1, stroke="black", strokeWidth=1).encode(
        **enc, tooltip=[alt.Tooltip("label:N", title="")])
    names = alt.Chart().transform_filter(alt.datum.kind == "now").mark_text(
        dx=12 if present else 8, align="left", fontSize=18 if present else 11,
        color="white" if present else "black").encode(x="kl:Q", y="recon:Q", text="tag:N")
    ink = "#ffffff" if present else "#333333"
    ladder = alt.Chart().transform_filter(alt.datum.kind == "ladder").mark_line(
        color=ink, strokeWidth=4 if present else 2, strokeDash=[8, 4],
        point=alt.OverlayMarkDef(shape="diamond", size=220 if present else 90, color=ink, filled=True)).encode(
        x="kl:Q", y="recon:Q", order="order:Q", tooltip=[alt.Tooltip("label:N", title="")])
    rungs = alt.Chart().transform_filter(alt.datum.kind == "ladder").mark_text(
        dy=-16 if present else -11, fontSize=17 if present else 11, fontWeight="bold", color=ink).encode(
        x="kl:Q", y="recon:Q", text="tag:N")
    # padding: the titles' text boxes reach a few pixels past the bounds Vega lays out (the rotated
    # y title's glyphs, the title's ascent), and the SVG clips what lies outside it. The height
    # keeps the whole chart, titles included, in a 1000×800 window (presentation: 600 + ~110)
    return alt.layer(trail, ladder, now, names, rungs, data=pd.DataFrame(columns=RD_COLUMNS)).properties(
        height=height or (RD_HEIGHT_PRESENT if present else RD_HEIGHT), padding=RD_PADDING,
        title=alt.Title("The class on one rate–distortion plane", fontSize=22 if present else 14))


def latent_chart(present: bool = False, columns: int = 6) -> alt.FacetChart:
    classes = [str(i) for i in range(10)]
    base = alt.Chart(pd.DataFrame(columns=LATENT_COLUMNS)).mark_point(size=24 if present else 12, opacity=0.8,
                                                                      filled=True).encode(
        x=alt.X("z1:Q", title="z₁", scale=alt.Scale(domain=[-4, 4], clamp=True), axis=alt.Axis(**_font(present))),
        y=alt.Y("z2:Q", title="z₂", scale=alt.Scale(domain=[-4, 4], clamp=True), axis=alt.Axis(**_font(present))),
        color=alt.Color("label:N", title="class", legend=None,
                        scale=alt.Scale(domain=classes, range=PRESENT_COLORS if present else CLASS_COLORS)),
        shape=alt.Shape("label:N", legend=None, scale=alt.Scale(domain=classes, range=class_shapes(10))))
    return base.properties(width=300 if present else 150, height=300 if present else 150).facet(
        facet=alt.Facet("student:N", title=None, header=alt.Header(labelFontSize=18 if present else 12)),
        columns=columns)


def curves_chart(present: bool = False, columns: int = 6) -> alt.FacetChart:
    base = alt.Chart(pd.DataFrame(columns=CURVE_COLUMNS)).mark_line(strokeWidth=3 if present else 1.5).encode(
        x=alt.X("step:Q", title="step", axis=alt.Axis(**_font(present), tickCount=3, format=AXIS_FORMAT)),
        y=alt.Y("value:Q", title="nats", scale=alt.Scale(zero=False), axis=_axis(present, ticks=4)),
        color=alt.Color("term:N", title=None, scale=alt.Scale(domain=["reconstruction", "KL"],
                                                             range=["#0072B2", "#D55E00"]),
                        legend=alt.Legend(orient="top", **_font(present))),
        strokeDash=alt.StrokeDash("term:N", legend=None, scale=alt.Scale(domain=["reconstruction", "KL"],
                                                                         range=[[1, 0], [6, 3]])))
    return base.properties(width=300 if present else 150, height=180 if present else 90).facet(
        facet=alt.Facet("student:N", title=None, header=alt.Header(labelFontSize=18 if present else 12)),
        columns=columns).resolve_scale(y="independent")


@functools.lru_cache(maxsize=16)
def _spec_json(kind: str, present: bool) -> str:
    chart = {"rd": rd_chart, "latent": latent_chart, "curves": curves_chart}[kind](present)
    d = chart.to_dict()
    d.pop("data", None)
    d.pop("datasets", None)
    if present:
        d["config"] = {"background": "#111111", "axis": {"labelColor": "white", "titleColor": "white",
                                                         "gridColor": "#444444"},
                       "legend": {"labelColor": "white", "titleColor": "white"},
                       "header": {"labelColor": "white"}, "title": {"color": "white"},
                       "view": {"stroke": "#666666"}}
    return json.dumps(d)


def class_spec(kind: str, present: bool = False) -> dict:
    """The Vega-Lite specification of a dashboard chart without its data ("rd", "latent",
    "curves"); draw it with ``st.vega_lite_chart(frame, class_spec(...))``."""
    return json.loads(_spec_json(kind, bool(present)))
