"""Live training figures (Altair): loss curves, the rate–distortion plane, per-dimension KL,
the probe set's latent scatter, reconstructions.

Every figure comes in two halves: a ``*_frame`` function turns plain rows and arrays into
one pandas table (a ``kind`` column tells the layers apart), and a chart function turns
that table into an ``alt.Chart``. The one-call builders (:func:`kl_bars`,
:func:`latent_chart`) do both.

Why the split: the Train page redraws these about once a second while a run is live.
Streamlit updates a Vega-Lite chart in place (no remount, no blank frame) when only its
data change, so every chart keeps its *specification* fixed (titles, colour domains,
layers) and puts everything that changes into its table. And Altair validates a chart
against the Vega-Lite JSON schema each time it is serialised, which costs more than
everything else in a poll; :func:`live_spec` therefore serialises each chart once (with an
empty table) and the page passes each poll's table beside that cached specification
(``st.vega_lite_chart(frame, live_spec(...))``).

Terms, per image in nats (see :mod:`explorer.objective`):
reconstruction = −log p(x|z) (summed over pixels), KL = KL(q(z|x) ‖ N(0, I)) (seed eq. 14,
summed over latent dimensions), β·KL the weighted penalty, total = recon + β·KL, the
training loss; at β = 1 it is −ELBO (seed eq. 2).
"""
from __future__ import annotations

import functools
import json
import math

import altair as alt
import numpy as np
import pandas as pd

from .. import rowlog
from ..analysis.rd import clip_segment, nice_step
from .common import CLASS_COLORS, class_shapes, image_grid, upscale

TERMS = ("recon", "kl", "beta_kl", "total")
TERM_TITLES = {"recon": "Reconstruction −log p(x|z)", "kl": "KL(q(z|x) ‖ p(z))",
               "beta_kl": "β·KL (the penalty)", "total": "Total loss = recon + β·KL"}
#: the penalty a β schedule actually adds (explorer.objective.kl_penalty), where it is not β·KL
PENALTY_TITLES = {
    "capacity": {"beta_kl": "β·|KL − C| (the capacity penalty)", "total": "Total loss = recon + β·|KL − C|"},
    "free_bits": {"beta_kl": "β·Σ_d max(KL_d, λ) (the free-bits penalty)",
                  "total": "Total loss = recon + β·Σ_d max(KL_d, λ)"},
}


def term_title(term: str, schedule: str = "constant") -> str:
    """A loss panel's title, naming the penalty the run's β schedule uses."""
    return PENALTY_TITLES.get(schedule, {}).get(term, TERM_TITLES[term])


def val_penalty(val_rows: list[dict], beta: np.ndarray, kl: np.ndarray, train=None) -> np.ndarray:
    """The penalty of each validation row, as the loss computes it (``train``: the run's
    TrainConfig; None = plain β·KL): β·KL; capacity β·|KL − C| with C at that row's step;
    free bits β·Σ_d max(KL_d, λ), from the row's per-dimension KL (``val_kl_per_dim``),
    NaN (not drawn) for a row without it. A row's own ``val_penalty`` (the loss's penalty
    computed where the row was made) is used as it is."""
    if val_rows and all(isinstance(r.get("val_penalty"), (int, float)) for r in val_rows):
        return _column(val_rows, "val_penalty")
    schedule = getattr(train, "beta_schedule", "constant")
    if schedule == "capacity":
        step = _column(val_rows, "step")
        c = train.capacity_max * np.minimum(1.0, step / train.capacity_steps)
        return beta * np.abs(kl - c)
    if schedule == "free_bits" and train.free_bits > 0:
        dims = [r.get("val_kl_per_dim") for r in val_rows]
        return np.array([b * np.maximum(np.asarray(d, float), train.free_bits).sum() if d is not None
                         else np.nan for b, d in zip(beta, dims)])
    return beta * kl
SPLIT_COLORS = {"training": "#1f77b4", "validation": "#d62728"}
EVENT_COLORS = {"β": "#9467bd", "lr": "#D55E00"}   # both >= 3:1 on white (WCAG 1.4.11)
PANEL_H = 250            # total heights in Streamlit (title, legend and axes included)
RD_H, LATENT_H, KL_H = 470, 480, 260
MAX_POINTS = 300         # training points per curve (rows are averaged in bins)
SVG = {"embedOptions": {"renderer": "svg"}}   # SVG marks: a browser test can read them
# Axis labels: at most 4 significant digits, integers for steps (Vega's default label of a
# one-point domain is "44.601929")
NUM_AXIS = {"format": ",.4~g"}
STEP_AXIS = {"format": ",d", "tickMinStep": 1, "labelFlush": True}   # the last tick stays inside


# ------------------------------------------------------------------ helpers

def _column(rows: list[dict], key: str) -> np.ndarray:
    return rowlog.column(rows, key)


def bin_rows(rows: list[dict], keys: tuple[str, ...], max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Average consecutive rows in at most ``max_points`` bins (smooths per-batch noise and
    keeps the chart light). Columns: ``step`` (the bin's last step) and ``keys``."""
    cols = {"step": _column(rows, "step"), **{k: _column(rows, k) for k in keys}}
    n = len(rows)
    if n == 0:
        return pd.DataFrame(cols)
    size = max(1, math.ceil(n / max_points))
    starts = np.arange(0, n, size)
    counts = np.diff(np.append(starts, n))
    out = {k: np.add.reduceat(v, starts) / counts for k, v in cols.items() if k != "step"}
    return pd.DataFrame({"step": cols["step"][np.minimum(starts + size, n) - 1], **out})


def events_frame(events: list[dict]) -> pd.DataFrame:
    """β and learning-rate changes: ``step``, ``param`` ("β" or "lr"), ``value``, ``label``."""
    recs = []
    for e in events or []:
        param = "β" if e.get("param") == "beta" else "lr"
        v = float(e["value"])
        recs.append({"step": float(e["step"]), "param": param, "value": v,
                     "label": f"{param} → {v:g} at step {int(e['step'])}"})
    return pd.DataFrame(recs, columns=["step", "param", "value", "label"])


# ------------------------------------------------------------- loss curves

CURVE_COLUMNS = ["kind", "step", "value", "term", "split", "param", "label"]


def curve_frame(rows: list[dict], val_rows: list[dict], events: list[dict] = (),
                max_points: int = MAX_POINTS, train=None) -> pd.DataFrame:
    """The long table behind the loss panels: one row per (step, term, split), plus one row
    per β/lr event (``kind == "event"``). ``train`` (the run's TrainConfig) makes the
    validation penalty the one its β schedule uses (:func:`val_penalty`), as the training
    rows' already is."""
    parts = []
    tr = bin_rows(rows, ("recon", "kl", "beta_kl", "loss"), max_points)
    for term, col in zip(TERMS, ("recon", "kl", "beta_kl", "loss")):
        parts.append(pd.DataFrame({"kind": "curve", "step": tr["step"], "value": tr[col],
                                   "term": term, "split": "training", "param": "", "label": ""}))
    if val_rows:
        step, rec, kl = (_column(val_rows, k) for k in ("step", "val_recon", "val_kl"))
        beta = np.array([r.get("beta", 1.0) for r in val_rows], dtype=float)
        pen = val_penalty(val_rows, beta, kl, train)
        vals = {"recon": rec, "kl": kl, "beta_kl": pen, "total": rec + pen}
        for term in TERMS:
            parts.append(pd.DataFrame({"kind": "curve", "step": step, "value": vals[term],
                                       "term": term, "split": "validation", "param": "", "label": ""}))
    ev = events_frame(list(events))
    if len(ev):
        parts.append(ev.assign(kind="event", term="", split=""))
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def panel_frame(df: pd.DataFrame, term: str) -> pd.DataFrame:
    """One term's rows of a :func:`curve_frame` table, with every event row."""
    return df[((df["kind"] == "curve") & (df["term"] == term)) | (df["kind"] == "event")].reset_index(drop=True)


def loss_panel_chart(df: pd.DataFrame, term: str, legend: bool = True, height: int = PANEL_H,
                     schedule: str = "constant") -> alt.LayerChart:
    """One term's curves (training solid, validation dashed) with the event rules (β purple,
    lr orange), from a :func:`panel_frame` table."""
    lines = alt.Chart().transform_filter(alt.datum.kind == "curve").mark_line(strokeWidth=1.6, clip=True).encode(
        x=alt.X("step:Q", title="step", axis=alt.Axis(**STEP_AXIS)),
        y=alt.Y("value:Q", title="nats per image", scale=alt.Scale(zero=False), axis=alt.Axis(**NUM_AXIS)),
        color=alt.Color("split:N", title=None,
                        scale=alt.Scale(domain=list(SPLIT_COLORS), range=list(SPLIT_COLORS.values())),
                        legend=alt.Legend(orient="top") if legend else None),
        strokeDash=alt.StrokeDash("split:N", legend=None,
                                  scale=alt.Scale(domain=list(SPLIT_COLORS), range=[[1, 0], [5, 3]])),
        tooltip=[alt.Tooltip("split:N"), alt.Tooltip("step:Q", format=",.0f"),
                 alt.Tooltip("value:Q", format=".3f", title="nats")],
    )
    rules = alt.Chart().transform_filter(alt.datum.kind == "event").mark_rule(strokeWidth=1.5).encode(
        x="step:Q",
        color=alt.condition(alt.datum.param == "β", alt.value(EVENT_COLORS["β"]), alt.value(EVENT_COLORS["lr"])),
        strokeDash=alt.condition(alt.datum.param == "β", alt.value([1, 0]), alt.value([6, 3])),   # greyscale too
        tooltip=[alt.Tooltip("label:N", title="change")],
    )
    tags = alt.Chart().transform_filter(alt.datum.kind == "event").transform_calculate(
        tag="datum.param + '=' + format(datum.value, '.3~g')").mark_text(
        align="left", baseline="top", dx=3, dy=2, fontSize=10).encode(
        x="step:Q", y=alt.value(0), text="tag:N",
        color=alt.condition(alt.datum.param == "β", alt.value(EVENT_COLORS["β"]),
                            alt.value(EVENT_COLORS["lr"])))
    return alt.layer(lines, rules, tags, data=df).properties(title=term_title(term, schedule), height=height,
                                                             usermeta=SVG)


# ------------------------------------------------------ rate–distortion plane

RD_COLUMNS = ["kind", "line", "order", "kl", "recon", "label"]


def rd_trail(rows: list[dict], points: int = 60, recent: float = 0.3, min_steps: int = 200) -> pd.DataFrame:
    """The recent path of the run in the (KL, recon) plane: an exponential moving average of
    the training rows (per-batch values are noisy) over the last ``recent`` share of the
    steps (at least ``min_steps``), sampled at about ``points`` evenly spaced rows."""
    df = pd.DataFrame({k: _column(rows, k) for k in ("step", "kl", "recon")}).dropna()
    if df.empty:
        return df
    span = max(3.0, min(50.0, len(df) / 40))
    sm = df[["kl", "recon"]].ewm(span=span).mean()
    sm["step"] = df["step"].to_numpy()
    last = float(df["step"].iloc[-1])
    sm = sm[sm["step"] >= last - max(min_steps, recent * last)]
    idx = np.unique(np.linspace(0, len(sm) - 1, min(points, len(sm))).round().astype(int))
    return sm.iloc[idx].reset_index(drop=True)


def rd_frame(rows: list[dict], beta: float, trail: int = 60) -> pd.DataFrame:
    """The table behind :func:`rd_chart`, the rate–distortion plane: the trail of (KL, recon) training points
    (:func:`rd_trail`), the current point, iso-ELBO lines recon + KL = c, the line
    recon + β·KL = const through the current point, and two invisible corners that fix
    the axes."""
    b = rd_trail(rows, trail)
    if b.empty:
        return pd.DataFrame(columns=RD_COLUMNS)
    kl_now, rec_now = float(b["kl"].iloc[-1]), float(b["recon"].iloc[-1])
    x1 = max(float(b["kl"].max()) * 1.25, kl_now + 1.0, 1.0)
    r_lo, r_hi = float(b["recon"].min()), float(b["recon"].max())
    pad = max((r_hi - r_lo) * 0.25, 1.0, x1 * 0.5)
    box = (0.0, x1, r_lo - pad, r_hi + pad)
    recs = [{"kind": "trail", "line": "trail", "order": i, "kl": k, "recon": r, "label": ""}
            for i, (k, r) in enumerate(zip(b["kl"], b["recon"]))]
    recs.append({"kind": "now", "line": "now", "order": 0, "kl": kl_now, "recon": rec_now,
                 "label": f"now: KL {kl_now:.2f}, recon {rec_now:.2f}"})
    c_now = rec_now + kl_now                             # −ELBO of the current point
    step = nice_step(box[3] - box[2])
    for k in range(-6, 7):
        c = (math.floor(c_now / step) + k) * step
        seg = clip_segment(c, 1.0, box)
        if seg:
            for i, (x, y) in enumerate(seg):
                recs.append({"kind": "iso", "line": f"iso{k}", "order": i, "kl": x, "recon": y,
                             "label": f"recon + KL = {c:g} (ELBO = {-c:g})"})
    seg = clip_segment(rec_now + beta * kl_now, beta, box)
    if seg:
        for i, (x, y) in enumerate(seg):
            recs.append({"kind": "beta", "line": "beta", "order": i, "kl": x, "recon": y,
                         "label": f"recon + β·KL = const, slope −β = {-beta:g}"})
    for i, (x, y) in enumerate(((box[0], box[2]), (box[1], box[3]))):
        recs.append({"kind": "corner", "line": "corner", "order": i, "kl": x, "recon": y, "label": ""})
    return pd.DataFrame(recs, columns=RD_COLUMNS)


def rd_chart(df: pd.DataFrame, height: int = RD_H) -> alt.LayerChart:
    """The rate–distortion plane from an :func:`rd_frame` table."""
    enc = dict(x=alt.X("kl:Q", title="rate: KL (nats)", scale=alt.Scale(zero=False, nice=False),
                       axis=alt.Axis(**NUM_AXIS)),
               y=alt.Y("recon:Q", title="distortion: reconstruction (nats)", axis=alt.Axis(**NUM_AXIS),
                       scale=alt.Scale(zero=False, nice=False)))

    def part(kind):
        return alt.Chart().transform_filter(alt.datum.kind == kind)
    corners = part("corner").mark_point(opacity=0).encode(**enc)
    iso = part("iso").mark_line(color="#888888", strokeDash=[4, 3], strokeWidth=1).encode(
        **enc, detail="line:N", order="order:Q", tooltip=[alt.Tooltip("label:N", title="iso-ELBO")])
    slope = part("beta").mark_line(color=EVENT_COLORS["β"], strokeWidth=2).encode(
        **enc, order="order:Q", tooltip=[alt.Tooltip("label:N", title="β line")])
    trail_line = part("trail").mark_line(color="#1f77b4", opacity=0.5).encode(**enc, order="order:Q")
    trail_pts = part("trail").mark_circle(color="#1f77b4", size=14).encode(
        **enc, opacity=alt.Opacity("order:Q", legend=None, scale=alt.Scale(range=[0.1, 0.8])))
    now = part("now").mark_point(shape="diamond", size=160, filled=True, color="#d62728").encode(
        **enc, tooltip=[alt.Tooltip("label:N", title="")])
    return alt.layer(corners, iso, slope, trail_line, trail_pts, now, data=df).properties(
        height=height, title="Rate–distortion plane", usermeta=SVG)


# ------------------------------------------------------------ KL per dimension

def kl_frame(kl_per_dim, mu_var=None, threshold: float = 0.01) -> pd.DataFrame:
    """Per-dimension KL and whether each dimension is active (Burda et al.:
    Cov_x(E_q[z_d|x]) > ``threshold``)."""
    kl = np.asarray(kl_per_dim, dtype=float).ravel()
    var = np.zeros_like(kl) if mu_var is None else np.asarray(mu_var, dtype=float).ravel()
    return pd.DataFrame({"dim": [f"z{i + 1}" for i in range(len(kl))], "index": np.arange(len(kl)),
                         "kl": kl, "var": var, "state": np.where(var > threshold, "active", "inactive")})


def kl_chart(df: pd.DataFrame, height: int = KL_H) -> alt.Chart:
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("dim:N", sort=alt.SortField("index"), title="latent dimension"),
        y=alt.Y("kl:Q", title="KL (nats)", axis=alt.Axis(**NUM_AXIS)),
        color=alt.Color("state:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=["active", "inactive"], range=["#2ca02c", "#888888"])),
        tooltip=[alt.Tooltip("dim:N"), alt.Tooltip("kl:Q", format=".3f", title="KL (nats)"),
                 alt.Tooltip("var:Q", format=".4f", title="Var of posterior mean")],
    ).properties(height=height, title="KL per latent dimension")


def kl_bars(kl_per_dim, mu_var=None, threshold: float = 0.01, height: int = KL_H) -> alt.Chart:
    """Per-dimension KL (nats, averaged over the probe set) as bars, green where the
    dimension is active."""
    return kl_chart(kl_frame(kl_per_dim, mu_var, threshold), height)


# ------------------------------------------------------------- latent scatter

def pick_dims(mu_var) -> tuple[int, int]:
    """The two most active dimensions (largest variance of the posterior means), in order."""
    v = np.asarray(mu_var, dtype=float).ravel()
    if len(v) < 2:
        return (0, 0)
    a, b = np.argsort(-v, kind="stable")[:2]
    return (int(min(a, b)), int(max(a, b)))


def label_names(labels, class_names=None, n: int = 0) -> np.ndarray:
    """Each point's class name (``"all"`` without labels)."""
    if labels is None:
        return np.full(n, "all")
    lab = np.asarray(labels).astype(int)
    names = list(class_names or [])
    lookup = np.array(names + [str(i) for i in range(len(names), int(lab.max(initial=0)) + 1)])
    return lookup[lab]


def label_domain(labels, class_names=None) -> tuple[str, ...]:
    """The colour domain of a scatter: every class name (fixed for a run)."""
    if labels is None:
        return ("all",)
    if class_names:
        return tuple(class_names)
    return tuple(str(i) for i in range(int(np.asarray(labels).max(initial=0)) + 1))


_CIRCLE_T = np.linspace(0, 2 * np.pi, 73)
_PRIOR = pd.DataFrame({"kind": "prior",
                       "x": np.concatenate([r * np.cos(_CIRCLE_T) for r in (1, 2, 3)]),
                       "y": np.concatenate([r * np.sin(_CIRCLE_T) for r in (1, 2, 3)]),
                       "label": np.repeat(["1σ", "2σ", "3σ"], len(_CIRCLE_T)),
                       "i": np.tile(np.arange(len(_CIRCLE_T)), 3)})


def latent_frame(mu, labels=None, class_names=None, dims: tuple[int, int] = (0, 1)) -> pd.DataFrame:
    """Points ``mu[:, dims]`` with their class name (``label``), plus the prior's 1-2-3σ
    circles (``kind == "prior"``)."""
    mu = np.asarray(mu, dtype=np.float32)
    if mu.ndim != 2:
        raise ValueError("latent_frame needs an N×D array")
    y = mu[:, dims[1]] if mu.shape[1] > 1 else np.zeros(len(mu), np.float32)
    pts = pd.DataFrame({"kind": "point", "x": mu[:, dims[0]], "y": y,
                        "label": label_names(labels, class_names, len(mu)), "i": np.arange(len(mu))})
    return pd.concat([_PRIOR, pts, square_corners(pts["x"], pts["y"])], ignore_index=True)


def square_corners(x, y, at_least: float = 3.3, pad: float = 0.05) -> pd.DataFrame:
    """Two invisible points (``kind == "corner"``) that make both axes span the same length,
    around the points and the prior's 3σ circle: on a square chart, equal scales, so the
    prior's circles are drawn as circles."""
    xs = np.concatenate([np.asarray(x, float), [-at_least, at_least]])
    ys = np.concatenate([np.asarray(y, float), [-at_least, at_least]])
    xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
    cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
    half = max(xs.max() - xs.min(), ys.max() - ys.min()) / 2 * (1 + pad)
    return pd.DataFrame({"kind": "corner", "x": [cx - half, cx + half], "y": [cy - half, cy + half],
                         "label": "", "i": [0, 1]})


def latent_scatter_chart(df: pd.DataFrame, domain: tuple[str, ...], dims: tuple[int, int] = (0, 1),
                         height: int = LATENT_H) -> alt.LayerChart:
    """The probe set's posterior means coloured by label over the prior's circles, from a
    :func:`latent_frame` table; ``domain`` is every label (:func:`label_domain`)."""
    square = alt.Scale(zero=False, nice=False)
    enc = dict(x=alt.X("x:Q", title=f"z{dims[0] + 1}", scale=square, axis=alt.Axis(**NUM_AXIS)),
               y=alt.Y("y:Q", title=f"z{dims[1] + 1}", scale=square, axis=alt.Axis(**NUM_AXIS)))
    corners = alt.Chart().transform_filter(alt.datum.kind == "corner").mark_point(opacity=0).encode(**enc)
    prior = alt.Chart().transform_filter(alt.datum.kind == "prior").mark_line(
        color="#888888", strokeDash=[2, 3], strokeWidth=1).encode(**enc, detail="label:N", order="i:Q")
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(len(domain))]
    points = alt.Chart().transform_filter(alt.datum.kind == "point").mark_point(size=16, opacity=0.8, filled=True).encode(
        **enc, color=alt.Color("label:N", title="label", sort=list(domain), scale=alt.Scale(domain=list(domain), range=colors)),
        shape=alt.Shape("label:N", sort=list(domain), scale=alt.Scale(domain=list(domain), range=class_shapes(len(domain)))),
        tooltip=[alt.Tooltip("label:N"), alt.Tooltip("x:Q", format=".2f"), alt.Tooltip("y:Q", format=".2f")])
    side = height - 60                       # a square plotting area (title and axes outside it)
    return alt.layer(corners, prior, points, data=df).properties(
        width=side, height=side, title="Probe set in latent space")


def latent_chart(mu, labels=None, class_names=None, dims: tuple[int, int] = (0, 1),
                 height: int = LATENT_H) -> alt.LayerChart:
    """The probe set's posterior means, coloured by label, over the prior's 1-2-3σ circles.
    For D > 2 the two ``dims`` are shown (:func:`pick_dims`: the most active two)."""
    return latent_scatter_chart(latent_frame(mu, labels, class_names, dims),
                                label_domain(labels, class_names), dims, height)


def toy_frame(x, x_hat, labels=None, class_names=None) -> pd.DataFrame:
    """2-D data points (``kind == "data"``) and their reconstructions (``"recon"``)."""
    x, x_hat = np.asarray(x, np.float32), np.asarray(x_hat, np.float32)
    data = pd.DataFrame({"kind": "data", "x": x[:, 0], "y": x[:, 1], "label": "data"})
    rec = pd.DataFrame({"kind": "recon", "x": x_hat[:, 0], "y": x_hat[:, 1],
                        "label": label_names(labels, class_names, len(x_hat))})
    return pd.concat([data, rec], ignore_index=True)


def toy_recon_chart(df: pd.DataFrame, domain: tuple[str, ...], height: int = 360) -> alt.LayerChart:
    enc = dict(x=alt.X("x:Q", title="x₁"), y=alt.Y("y:Q", title="x₂"))
    grey = alt.Chart().transform_filter(alt.datum.kind == "data").mark_circle(size=10, color="#cccccc").encode(**enc)
    colors = [CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(len(domain))]
    col = alt.Chart().transform_filter(alt.datum.kind == "recon").mark_circle(size=12, opacity=0.8).encode(
        **enc, color=alt.Color("label:N", title="label", sort=list(domain),
                               scale=alt.Scale(domain=list(domain), range=colors)))
    return alt.layer(grey, col, data=df).properties(height=height, title="Data (grey) and reconstructions")


# -------------------------------------------------------------- reconstructions

def recon_pairs(originals, recon, per_row: int = 8, target_px: int = 40) -> np.ndarray:
    """One image: rows of probe originals, each followed by a row of their reconstructions
    (decoder means at z = μ(x)), ``per_row`` images a row, enlarged to about ``target_px``."""
    o = np.asarray(originals, np.float32)
    r = np.asarray(recon, np.float32)
    if o.shape != r.shape:
        raise ValueError(f"originals {o.shape} and reconstructions {r.shape} differ in shape")
    per_row = max(1, min(per_row, len(o)))
    blocks = []
    for i in range(0, len(o), per_row):
        a, b = o[i:i + per_row], r[i:i + per_row]
        if len(a) < per_row:                      # pad a short last row with blanks
            pad = np.ones((per_row - len(a),) + o.shape[1:], np.float32)
            a, b = np.concatenate([a, pad]), np.concatenate([b, pad])
        blocks += [a, b]
    grid = image_grid(np.concatenate(blocks), ncol=per_row)
    return upscale(grid, max(1, target_px // o.shape[-2]))


def sample_grid(x, per_row: int = 8, target_px: int = 28) -> np.ndarray:
    """A data preview: images tiled ``per_row`` a row, enlarged to about ``target_px`` each."""
    x = np.asarray(x, np.float32)
    return upscale(image_grid(x, ncol=per_row), max(1, target_px // x.shape[-2]))


# --------------------------------------------------------- cached specifications

_SPECS = {
    "loss": lambda term, legend, schedule="constant": loss_panel_chart(
        pd.DataFrame(columns=CURVE_COLUMNS), term, legend, schedule=schedule),
    "rd": lambda: rd_chart(pd.DataFrame(columns=RD_COLUMNS)),
    "kl": lambda: kl_chart(kl_frame([])),
    "latent": lambda domain, dims: latent_scatter_chart(latent_frame(np.zeros((0, 2))), domain, dims),
    "toy": lambda domain: toy_recon_chart(toy_frame(np.zeros((0, 2)), np.zeros((0, 2))), domain),
}


@functools.lru_cache(maxsize=256)
def _spec_json(kind: str, params: tuple) -> str:
    d = _SPECS[kind](**dict(params)).to_dict()         # validated against the schema, once
    d.pop("datasets", None)
    d.pop("data", None)
    return json.dumps(d)


def live_spec(kind: str, **params) -> dict:
    """The Vega-Lite specification of a chart without its data, serialised once per process:
    ``kind`` is "loss" (``term``, ``legend``, ``schedule``), "rd", "kl", "latent" (``domain``, ``dims``) or
    "toy" (``domain``). Draw it with ``st.vega_lite_chart(frame, live_spec(...))`` where
    ``frame`` comes from the matching ``*_frame`` function."""
    return json.loads(_spec_json(kind, tuple(sorted(params.items()))))
