"""Text alternatives of the figures: a one-sentence summary generated from a figure's data, and
the data as a small table a screen reader can walk (WCAG 2.1 1.1.1; docs/ACCESSIBILITY.md).

Each summary reads the same table the chart is drawn from (the ``*_frame`` functions of the
figure modules), so it changes when the chart does: "Validation KL rose from 0.40 to 2.60
nats over steps 0 to 6,000; flat since step 4,000." Each ``*_table`` function returns that
table in a shape for reading (one row per x, one column per series; at most
:data:`TABLE_ROWS` rows, evenly chosen, the last always kept). Plain pandas and numpy, no
Streamlit: ``explorer.ui.chart_text`` shows them under the charts, and the tests check that
the numbers in each sentence are the data's.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

TABLE_ROWS = 40          # rows of a data table at most (evenly chosen)
SERIES_SAID = 6          # series named in one summary at most ("and 4 more")
FLAT_TOL = 0.03          # "flat since": within 3% of the series' range of its last value
FLAT_SHARE = 0.2         # ... over at least the last 20% of its x span


def num(v: float) -> str:
    """A number as the sentences write it: 3 significant digits (thousands separated)."""
    if v is None or not math.isfinite(float(v)):
        return "n/a"
    v = float(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _x(v: float) -> str:
    return f"{v:,.0f}" if float(v) == round(float(v)) else num(v)


def flat_since(x, y, tol: float = FLAT_TOL, share: float = FLAT_SHARE) -> float | None:
    """The first x from which ``y`` stays within ``tol`` of its range around its last value,
    when that covers at least ``share`` of the x span (and is not the start); else None."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(y) < 4:
        return None
    span = float(y.max() - y.min())
    if span <= 0:
        return None
    off = np.abs(y - y[-1]) > tol * span
    k = int(np.nonzero(off)[0][-1]) + 1 if off.any() else 0
    if k == 0 or k >= len(y) - 1 or (x[-1] - x[k]) < share * (x[-1] - x[0]):
        return None
    return float(x[k])


def trend(name: str, x, y, unit: str = "nats", x_name: str = "step", plural: str | None = None) -> str:
    """One series in a clause: "<name> rose from A to B <unit> over <x_name>s X0 to X1; flat
    since <x_name> Xf" (or fell, or stayed at), with its lowest or highest point where that
    is not an end."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    u = f" {unit}" if unit else ""
    if not len(y):
        return f"{name}: no values yet"
    if len(y) == 1:
        return f"{name} is {num(y[0])}{u} at {x_name} {_x(x[0])}"
    a, b = y[0], y[-1]
    span = float(y.max() - y.min())
    if span == 0 or abs(b - a) <= 1e-3 * max(abs(a), abs(b), 1e-12):
        verb = f"stayed at {num(b)}{u}" if span == 0 else f"went from {num(a)} to {num(b)}{u}"
    else:
        verb = f"{'rose' if b > a else 'fell'} from {num(a)} to {num(b)}{u}"
    text = f"{name} {verb} over {plural or x_name + 's'} {_x(x[0])} to {_x(x[-1])}"
    i_lo, i_hi = int(np.argmin(y)), int(np.argmax(y))
    if 0 < i_lo < len(y) - 1 and y[-1] - y[i_lo] > 0.1 * span:
        text += f", lowest {num(y[i_lo])} at {x_name} {_x(x[i_lo])}"
    elif 0 < i_hi < len(y) - 1 and y[i_hi] - y[-1] > 0.1 * span:
        text += f", highest {num(y[i_hi])} at {x_name} {_x(x[i_hi])}"
    since = flat_since(x, y)
    if since is not None:
        text += f"; flat since {x_name} {_x(since)}"
    return text


def series_summary(frame: pd.DataFrame, x: str, y: str, series: str | None, *, unit: str = "nats",
                   x_name: str = "step", what: str = "", names=None, plural: str | None = None) -> str:
    """One sentence over every series of a long table (``series`` column; None: one series):
    a :func:`trend` clause each, at most :data:`SERIES_SAID` named."""
    if frame is None or not len(frame):
        return f"{what or 'The chart'} has no data yet."
    groups = [(what, frame)] if series is None else list(frame.groupby(series, sort=False))
    clauses = []
    for key, g in groups[:SERIES_SAID]:
        label = (names or {}).get(key, f"{what} {key}".strip() if series else what)
        g = g.sort_values(x)
        clauses.append(trend(label, g[x], g[y], unit, x_name, plural))
    more = len(groups) - SERIES_SAID
    text = "; ".join(clauses) + (f"; and {more} more series (in the table)." if more > 0 else ".")
    return text[:1].upper() + text[1:]


def _rows(df: pd.DataFrame, n: int = TABLE_ROWS) -> pd.DataFrame:
    """At most ``n`` rows, evenly chosen, the first and the last kept."""
    if len(df) <= n:
        return df.reset_index(drop=True)
    idx = np.unique(np.linspace(0, len(df) - 1, n).round().astype(int))
    return df.iloc[idx].reset_index(drop=True)


def wide_table(frame: pd.DataFrame, x: str, y: str, series: str | None, *, x_title: str | None = None,
               digits: int = 3) -> pd.DataFrame:
    """A long table as rows of x and a column per series (values rounded), at most
    :data:`TABLE_ROWS` rows. Series sampled at other x's leave blanks."""
    if frame is None or not len(frame):
        return pd.DataFrame({x_title or x: []})
    if series is None:
        wide = frame[[x, y]].groupby(x, sort=False).mean()
    else:
        wide = frame.pivot_table(index=x, columns=series, values=y, aggfunc="mean", sort=False)
        wide.columns = [str(c) for c in wide.columns]
    try:
        wide = wide.sort_index()
    except TypeError:                 # categories beside numbers (bars and lines): as given
        pass
    values = wide.columns
    wide = wide.reset_index().rename(columns={x: x_title or x})
    for c in values:          # text cells (blank where a series has no value there): one type per column
        wide[c] = [("" if not isinstance(v, (int, float, np.number)) or not math.isfinite(v)
                    else f"{round(float(v), digits):g}") for v in wide[c]]
    return _rows(wide)


# ----------------------------------------------------------------- the Train page

SPLITS = ("training", "validation")
TERM_NAMES = {"recon": "reconstruction", "kl": "KL", "beta_kl": "β·KL", "total": "total loss"}


def loss_panel_summary(panel: pd.DataFrame, term_title: str) -> str:
    """A loss panel (``training.panel_frame``): each split's trend, then the β/lr changes."""
    curves = panel[panel["kind"] == "curve"]
    names = {s: f"{s} {term_title}" for s in SPLITS}
    text = series_summary(curves, "step", "value", "split", names=names, what=term_title)
    events = panel[panel["kind"] == "event"]
    if len(events):
        said = [f"{p} set to {num(v)} at step {_x(s)}" for p, v, s in
                zip(events["param"], events["value"], events["step"])][-4:]
        text += " Changes: " + "; ".join(said) + "."
    return text


def loss_panel_table(panel: pd.DataFrame) -> pd.DataFrame:
    curves = panel[panel["kind"] == "curve"]
    return wide_table(curves, "step", "value", "split")


def rd_summary(rd: pd.DataFrame, beta: float) -> str:
    """The rate–distortion plane (``training.rd_frame``): where the run is now, and where its
    recent trail came from."""
    now = rd[rd["kind"] == "now"]
    if not len(now):
        return "The rate–distortion plane has no point yet."
    kl, rec = float(now["kl"].iloc[0]), float(now["recon"].iloc[0])
    text = (f"The run is at KL {num(kl)} nats and reconstruction {num(rec)} nats (ELBO {num(-(kl + rec))}), "
            f"with β = {num(beta)}")
    trail = rd[rd["kind"] == "trail"].sort_values("order")
    if len(trail) > 1:
        k0, r0 = float(trail["kl"].iloc[0]), float(trail["recon"].iloc[0])
        text += (f"; over its recent trail KL went from {num(k0)} to {num(kl)} and reconstruction "
                 f"from {num(r0)} to {num(rec)}")
    return text + "."


def rd_table(rd: pd.DataFrame) -> pd.DataFrame:
    pts = rd[rd["kind"].isin(["trail", "now"])].sort_values(["kind", "order"], ascending=[False, True])
    out = pts.assign(point=np.where(pts["kind"] == "now", "now", "trail"))
    return _rows(out[["point", "kl", "recon"]].round(3).rename(
        columns={"kl": "KL (nats)", "recon": "reconstruction (nats)"}))


def kl_summary(kl: pd.DataFrame) -> str:
    """KL per dimension (``training.kl_frame``)."""
    if not len(kl):
        return "No KL per dimension yet."
    active = int((kl["state"] == "active").sum())
    top = kl.sort_values("kl", ascending=False).iloc[0]
    return (f"{active} of {len(kl)} latent dimensions are active; KL per dimension ranges from "
            f"{num(kl['kl'].min())} to {num(kl['kl'].max())} nats, the largest in {top['dim']} "
            f"(total {num(kl['kl'].sum())} nats).")


def kl_table(kl: pd.DataFrame) -> pd.DataFrame:
    return kl[["dim", "kl", "var", "state"]].round(4).rename(columns={
        "dim": "dimension", "kl": "KL (nats)", "var": "variance of the posterior mean"})


def class_centres(points: pd.DataFrame, x: str = "x", y: str = "y", label: str = "label") -> pd.DataFrame:
    """Per class: its number of points and the mean and spread (standard deviation) of each axis."""
    g = points.groupby(label, sort=False)
    out = pd.DataFrame({"class": list(g.groups), "points": g.size().to_numpy(),
                        f"mean {x}": g[x].mean().to_numpy(), f"mean {y}": g[y].mean().to_numpy(),
                        f"spread {x}": g[x].std(ddof=0).to_numpy(), f"spread {y}": g[y].std(ddof=0).to_numpy()})
    if out["class"].astype(str).str.isdigit().all():
        out = out.sort_values("class", key=lambda c: c.astype(int))
    return out.reset_index(drop=True)


def scatter_summary(points: pd.DataFrame, x: str = "x", y: str = "y", label: str = "label",
                    axes: tuple[str, str] = ("z1", "z2"), what: str = "points") -> str:
    """A scatter coloured by class: how many points, their extent, and which class centres
    are the furthest apart and the closest (how well the classes are separated)."""
    if not len(points):
        return f"No {what} yet."
    text = (f"{len(points):,} {what} in the ({axes[0]}, {axes[1]}) plane: {axes[0]} from {num(points[x].min())} to "
            f"{num(points[x].max())}, {axes[1]} from {num(points[y].min())} to {num(points[y].max())}")
    c = class_centres(points, x, y, label)
    if len(c) >= 2:
        xy = c[[f"mean {x}", f"mean {y}"]].to_numpy(float)
        d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        iu = np.triu_indices(len(c), 1)
        far, near = int(np.argmax(d[iu])), int(np.argmin(d[iu]))
        name = c["class"].astype(str).to_numpy()
        text += (f"; {len(c)} classes, the centres furthest apart {name[iu[0][far]]} and {name[iu[1][far]]} "
                 f"({num(d[iu][far])}), the closest {name[iu[0][near]]} and {name[iu[1][near]]} "
                 f"({num(d[iu][near])})")
    return text + "."


def latent_summary(frame: pd.DataFrame, dims: tuple[int, int] = (0, 1)) -> str:
    """The probe set's latent scatter (``training.latent_frame``)."""
    pts = frame[frame["kind"] == "point"]
    return scatter_summary(pts, axes=(f"z{dims[0] + 1}", f"z{dims[1] + 1}"), what="posterior means")


def latent_table(frame: pd.DataFrame, dims: tuple[int, int] = (0, 1)) -> pd.DataFrame:
    pts = frame[frame["kind"] == "point"]
    zx, zy = f"z{dims[0] + 1}", f"z{dims[1] + 1}"
    return class_centres(pts).round(3).rename(columns=lambda c: c.replace(" x", f" {zx}").replace(" y", f" {zy}"))


def toy_summary(frame: pd.DataFrame) -> str:
    """Data and reconstructions of a 2-D toy set (``training.toy_frame``)."""
    data, rec = frame[frame["kind"] == "data"], frame[frame["kind"] == "recon"]
    if not len(rec):
        return "No reconstructions yet."
    err = np.hypot(data["x"].to_numpy() - rec["x"].to_numpy(), data["y"].to_numpy() - rec["y"].to_numpy())
    return (f"{len(rec):,} reconstructions of 2-D points; their mean distance from the data points "
            f"is {num(err.mean())} (largest {num(err.max())}).")


def toy_table(frame: pd.DataFrame) -> pd.DataFrame:
    rec = frame[frame["kind"] == "recon"]
    return class_centres(rec).round(3).rename(columns=lambda c: c.replace(" x", " x₁").replace(" y", " x₂"))


# ----------------------------------------------------------------------- the β lab

def measure_summary(frame: pd.DataFrame, title: str, unit: str = "") -> str:
    """One β-lab measure chart (``beta.measure_frame``): each series across β, the sweet spot."""
    pts = frame[frame["kind"] == "point"].assign(beta=lambda d: d["beta"].astype(float))
    names = {k: str(k) for k in pts["series"].unique()}
    text = series_summary(pts, "beta", "value", "series", unit=unit, x_name="β", plural="β from",
                          what=title, names=names)
    sweet = list(frame[frame["kind"] == "sweet"]["beta"])
    if len(sweet) == 1:
        text += f" The sweet spot is β = {sweet[0]}."
    elif sweet:
        text += (f" The sweet spot is β = {', '.join(sweet)}: their samples lie within two standard "
                 f"errors of the best.")
    return text


def measure_table(frame: pd.DataFrame) -> pd.DataFrame:
    pts = frame[frame["kind"] == "point"].assign(beta=lambda d: d["beta"].astype(float))
    return wide_table(pts, "beta", "value", "series", x_title="β")


def beta_curves_summary(frame: pd.DataFrame, what: str = "validation ELBO") -> str:
    """The β lab's validation curves (``beta.curves_frame``), one per β."""
    names = {b: f"at β = {b}, {what}" for b in frame["beta"].unique()} if len(frame) else {}
    return series_summary(frame, "epoch", "value", "beta", x_name="epoch", names=names, what=what)


def beta_curves_table(frame: pd.DataFrame) -> pd.DataFrame:
    return wide_table(frame.assign(beta="β = " + frame["beta"].astype(str)), "epoch", "value", "beta")


def beta_rd_frame(points) -> pd.DataFrame:
    """The β lab's rate–distortion plane as a table: one row per run (``sweep.BetaPoint``)."""
    rows = [{"β": p.beta, "training KL": p.train.get("kl"), "training reconstruction": p.train.get("recon"),
             "validation KL": p.val.get("kl"), "validation reconstruction": p.val.get("recon")}
            for p in sorted(points, key=lambda p: p.beta)]
    return pd.DataFrame(rows, columns=["β", "training KL", "training reconstruction", "validation KL",
                                       "validation reconstruction"]).astype(float).round(3)


def beta_rd_summary(points) -> str:
    """Where the sweep's runs sit on the rate–distortion plane (validation), from small to large β."""
    t = beta_rd_frame(points)
    if not len(t):
        return "No finished run of this sweep yet."
    first, last = t.iloc[0], t.iloc[-1]
    best = t.loc[(t["validation KL"] + t["validation reconstruction"]).idxmin()]
    gap = (t["validation reconstruction"] - t["training reconstruction"]).abs()
    worst = t.loc[gap.idxmax()]
    return (f"{len(t)} runs. From β = {num(first['β'])} to β = {num(last['β'])} the validation rate (KL) goes "
            f"from {num(first['validation KL'])} to {num(last['validation KL'])} nats and the distortion "
            f"(reconstruction) from {num(first['validation reconstruction'])} to "
            f"{num(last['validation reconstruction'])} nats; the best validation ELBO is at β = {num(best['β'])} "
            f"({num(-(best['validation KL'] + best['validation reconstruction']))}); the widest gap between "
            f"training and validation reconstruction is at β = {num(worst['β'])} ({num(gap.max())} nats).")


# ------------------------------------------------------------- the class dashboard

def class_rd_summary(rd: pd.DataFrame) -> str:
    """The class's rate–distortion plane (``classroom.rd_frame``): each student's point now."""
    now = rd[rd["kind"] == "now"]
    if not len(now):
        return "No student's run has reported yet."
    parts = [f"{s}: β {num(b)}, KL {num(k)}, reconstruction {num(r)}" for s, b, k, r in
             zip(now["student"], now["beta"], now["kl"], now["recon"])][:SERIES_SAID]
    more = len(now) - SERIES_SAID
    lo = now.loc[now["recon"].idxmin()]
    return (f"{len(now)} students' models on the rate–distortion plane. " + "; ".join(parts)
            + (f"; and {more} more" if more > 0 else "")
            + f". The sharpest reconstructions are {lo['student']}'s (β {num(lo['beta'])}).")


def class_rd_table(rd: pd.DataFrame) -> pd.DataFrame:
    now = rd[rd["kind"] == "now"]
    return now[["student", "beta", "kl", "recon"]].round(3).rename(columns={
        "beta": "β", "kl": "KL (nats)", "recon": "reconstruction (nats)"}).reset_index(drop=True)


def class_curves_summary(curves: pd.DataFrame) -> str:
    rec = curves[curves["term"] == "reconstruction"]
    return series_summary(rec, "step", "value", "student", what="reconstruction",
                          names={s: f"{s}'s reconstruction" for s in rec["student"].unique()})


def class_curves_table(curves: pd.DataFrame) -> pd.DataFrame:
    last = curves.sort_values("step").groupby(["student", "term"], sort=False).tail(1)
    return last.pivot_table(index="student", columns="term", values="value").round(3).reset_index()


def class_latent_summary(latent: pd.DataFrame) -> str:
    if not len(latent):
        return "No student's latent space yet."
    return "; ".join(f"{s}: " + scatter_summary(g, "z1", "z2", what="posterior means").rstrip(".")
                     for s, g in list(latent.groupby("student", sort=False))[:SERIES_SAID]) + "."


def class_latent_table(latent: pd.DataFrame) -> pd.DataFrame:
    parts = [class_centres(g, "z1", "z2").assign(student=s) for s, g in latent.groupby("student", sort=False)]
    if not parts:
        return pd.DataFrame({"student": []})
    out = pd.concat(parts, ignore_index=True)
    return out[["student"] + [c for c in out.columns if c != "student"]].round(3)


# -------------------------------------------------------------- any plotly figure

def _axis_title(fig, axis: str) -> str:
    t = getattr(getattr(fig.layout, axis, None), "title", None)
    return (getattr(t, "text", None) or "").strip()


def _traces(fig):
    """The plotly traces with numeric x and y data, named (the legend's names)."""
    for i, tr in enumerate(fig.data):
        x, y = getattr(tr, "x", None), getattr(tr, "y", None)
        if x is None or y is None or len(y) == 0 or len(x) != len(y):
            continue                               # not one y per x (a shape, a band's outline)
        name = (getattr(tr, "name", None) or "").strip() or f"series {i + 1}"
        yield name, tr, np.asarray(x), np.asarray(y)


def figure_summary(fig, unit: str = "", title: str | None = None) -> str:
    """A plotly figure's lines and bars, one clause each: for a line its :func:`trend`
    against the x axis, for bars each bar's value."""
    title = getattr(getattr(fig.layout, "title", None), "text", None) or title or "The chart"
    x_name = _axis_title(fig, "xaxis") or "x"
    clauses = []
    for name, tr, x, y in list(_traces(fig))[:SERIES_SAID]:
        if tr.type == "bar":
            clauses.append(f"{name}: " + ", ".join(f"{c} {num(float(v))}" for c, v in list(zip(x, y))[:12]))
            continue
        try:
            xf = x.astype(float)
        except (TypeError, ValueError):
            xf = np.arange(len(y), dtype=float)
        try:
            y = y.astype(float)
        except (TypeError, ValueError):             # categories on the y axis: say how many
            clauses.append(f"{name}: {len(y)} values")
            continue
        if getattr(tr, "mode", None) == "markers" and len(y) > 1:
            clauses.append(f"{name}: {len(y)} points, {x_name} from {num(np.nanmin(xf))} to {num(np.nanmax(xf))}, "
                           f"{_axis_title(fig, 'yaxis') or 'y'} from {num(np.nanmin(y.astype(float)))} to "
                           f"{num(np.nanmax(y.astype(float)))}")
        else:
            clauses.append(trend(name, xf, y.astype(float), unit, x_name, x_name))
    if not clauses:
        return f"{plain_title(title)}: no data."
    return f"{plain_title(title)}. " + "; ".join(c[:1].upper() + c[1:] for c in clauses) + "."


def plain_title(title: str) -> str:
    """A plotly title without its HTML tags."""
    return re.sub(r"<[^>]+>", " ", str(title)).strip().rstrip(".")


def figure_table(fig) -> pd.DataFrame:
    """A plotly figure's traces as one table: x and a column per trace (at most
    :data:`TABLE_ROWS` rows; traces sampled at other x's leave blanks)."""
    x_name = _axis_title(fig, "xaxis") or "x"
    parts = []
    for name, tr, x, y in _traces(fig):
        if getattr(tr, "mode", None) == "markers" and len(y) > TABLE_ROWS:
            continue                                   # a cloud of points: summarised, not listed
        try:
            y = y.astype(float)
        except (TypeError, ValueError):
            continue                                   # categories: counted in the summary
        parts.append(pd.DataFrame({"x": x, "y": y, "series": name}))
    if not parts:
        return pd.DataFrame({x_name: []})
    return wide_table(pd.concat(parts, ignore_index=True), "x", "y", "series", x_title=x_name)
