"""Figures of the Runs page: the runs table, overlaid training curves, and PNG renderings.

- :func:`runs_table`: one row per run, its configuration and final numbers (a pandas
  DataFrame; the page shows it with ``st.dataframe``, sortable by any column).
- :func:`curves_frame` / :func:`curves_chart`: one metric of several runs, overlaid
  (Altair, so the chart updates in place). The frame is also what "curves as CSV" saves.
- :func:`project_2d`: latent means to 2-D for side-by-side scatters (first two axes,
  or the two principal axes when the latent space has more dimensions).
- PNG files without a browser: :func:`curves_png`, :func:`scatter_png`, :func:`grid_png`,
  drawn with Pillow (already a dependency). Plotly's own PNG export needs kaleido and
  a Chrome, which this app does not require.

All numbers are per image, in nats, as in ``summary.json``: the ELBO (higher is
better), reconstruction = -log p(x|z) summed over pixels, KL summed over latent
dimensions (seed eq. 14), the importance-weighted bound (IWAE, a tighter lower
bound on log p(x)).
"""
from __future__ import annotations

import io
import math

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ..analysis.projections import pca_plane
from .common import class_color, image_grid, upscale

# ------------------------------------------------------------------ table

TABLE_COLUMNS = ["Name", "Run id", "Source", "Status", "Data", "Model", "Likelihood", "Latent dim",
                 "base β", "β now", "Epochs", "Train ELBO", "Train recon", "Train KL", "Val ELBO", "Val recon",
                 "Val KL", "Active units", "IWAE"]
NUMBER_COLUMNS = ["Latent dim", "base β", "β now", "Epochs", "Train ELBO", "Train recon", "Train KL", "Val ELBO",
                  "Val recon", "Val KL", "Active units", "IWAE"]
TABLE_HELP = {
    "Source": "shipped (read-only), yours (made or imported in this browser), or another visitor's",
    "Train ELBO": "evidence lower bound on the training set, nats per image (higher is better); "
                  "blank for an autoencoder, which has none; not a bound on log p(x) for grey "
                  "pixels with a Bernoulli likelihood; positive with a Gaussian likelihood of small σ",
    "Train recon": "-log p(x|z) on the training set, summed over pixels, nats per image (lower is "
                   "better); negative with a Gaussian likelihood of σ < 0.4, whose -log density "
                   "includes (D/2)·log(2πσ²) < 0 (an autoencoder's loss too)",
    "Train KL": "KL(q(z|x) ‖ p(z)) on the training set, summed over latent dimensions (eq. 14 on the Theory page)",
    "Val ELBO": "evidence lower bound on validation images, nats per image (higher is better); "
                "blank for an autoencoder, which has none; not a bound on log p(x) for grey "
                "pixels with a Bernoulli likelihood; positive with a Gaussian likelihood of small σ",
    "Val recon": "-log p(x|z) on validation images, nats per image (lower is better); negative "
                 "with a Gaussian likelihood of σ < 0.4 (a density, not a probability)",
    "Val KL": "KL(q(z|x) ‖ p(z)) on validation images, nats per image",
    "Active units": "latent dimensions whose posterior mean varies across validation images (Cov > 0.01)",
    "IWAE": "importance-weighted bound on log p(x) for validation images (k samples), nats per image",
    "base β": "the weight of the KL term (eq. 2 on the Theory page, with β) a person set last: the config's, or a live change",
    "β now": "the β the loss uses at the run's last step: the base β through its schedule (a warm-up starts at 0)",
}


def _num(d: dict | None, key: str) -> float:
    v = (d or {}).get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def table_row(entry, me: str = "") -> dict:
    """One table row from a :class:`~explorer.runs.RunEntry` (``me``: the viewer's owner id,
    for the Source column)."""
    cfg, s = entry.config, entry.summary or {}
    train, val = s.get("train") or {}, s.get("val") or {}
    elbo = cfg.model.kind != "ae"          # an autoencoder has a reconstruction loss, no ELBO
    beta = elbo and entry.beta_known       # a model trained elsewhere may not say its β
    data = cfg.data.name + (f", {cfg.data.binarize} binarised" if cfg.data.binarize != "none" else "")
    hidden = "-".join(str(h) for h in cfg.model.hidden)
    lik = cfg.model.likelihood + (f" σ={cfg.model.sigma:g}" if cfg.model.likelihood == "gaussian" else "")
    if not entry.config_known:                   # config.json unreadable: nothing made up
        data = hidden = lik = "?"
    return {
        "Name": entry.shown_name, "Run id": entry.run_id, "Source": entry.source(me),
        "Status": entry.status_text, "Data": data,
        "Model": f"{cfg.model.kind.upper()} · {cfg.model.body} {hidden}" if entry.config_known else "?",
        "Likelihood": lik, "Latent dim": cfg.model.latent_dim if entry.config_known else math.nan,
        "base β": (entry.base_beta if beta and (entry.beta is not None or entry.config_known) else math.nan),
        "β now": entry.beta_now if beta and entry.config_known else math.nan,
        "Epochs": _num(s, "epochs"),
        "Train ELBO": _num(train, "elbo") if elbo else math.nan, "Train recon": _num(train, "recon"),
        "Train KL": _num(train, "kl"), "Val ELBO": _num(val, "elbo") if elbo else math.nan,
        "Val recon": _num(val, "recon"),
        "Val KL": _num(val, "kl"), "Active units": _num(val, "active_units"), "IWAE": _num(val, "iwae"),
    }


def runs_table(entries, me: str = "") -> pd.DataFrame:
    """Every run as a row (order kept), missing numbers as NaN so columns sort as numbers."""
    df = pd.DataFrame([table_row(e, me) for e in entries], columns=TABLE_COLUMNS)
    for c in NUMBER_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def run_labels(entries) -> dict[str, str]:
    """A legend label per run id: its name, or name + id when two runs share a name."""
    names = [e.config.name or e.run_id for e in entries]
    return {e.run_id: (n if names.count(n) == 1 else f"{n} [{e.run_id}]")
            for e, n in zip(entries, names)}


# ----------------------------------------------------------------- curves

METRICS = {   # column key -> label; "train_elbo" is derived: -(recon + KL)
    "val_elbo": "Validation ELBO (nats/image)",
    "val_recon": "Validation reconstruction -log p(x|z)",
    "val_kl": "Validation KL",
    "val_active_units": "Validation active units",
    "train_elbo": "Training ELBO, -(recon + KL) per batch",
    "loss": "Training loss per batch: recon + the penalty (β·KL; capacity β·|KL − C|; free bits β·Σ max(KL_d, λ))",
    "recon": "Training reconstruction per batch",
    "kl": "Training KL per batch",
}
X_AXES = {"epoch": "epoch", "step": "step", "samples": "images seen"}
ELBO_METRICS = ("val_elbo", "train_elbo")   # an autoencoder has none: its curves are left out


def metric_applies(kind: str, metric: str) -> bool:
    """Whether a run of this model kind ("vae" or "ae") has the metric at all."""
    return not (kind == "ae" and metric in ELBO_METRICS)


def _metric_value(row: dict, metric: str) -> float | None:
    if metric == "train_elbo":
        if "recon" in row and "kl" in row:
            return -(float(row["recon"]) + float(row["kl"]))
        return None
    v = row.get(metric)
    return None if v is None or isinstance(v, str) else float(v)


def curves_frame(curves: dict[str, list[dict]], metric: str, x: str = "epoch",
                 max_points: int = 300) -> pd.DataFrame:
    """One metric of several runs as a long table ``run, <x>, <metric>``.

    ``curves`` maps a run label to its metrics rows. Per-step training metrics are
    averaged over consecutive bins so that each run has at most ``max_points``
    points (this also smooths minibatch noise); validation rows (one per epoch)
    are kept as they are unless there are more than ``max_points``.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if x not in X_AXES:
        raise ValueError(f"unknown x axis {x!r}; choose one of {', '.join(X_AXES)}")
    parts = []
    for label, rows in curves.items():
        pts = [(float(r[x]), v) for r in rows
               if x in r and not isinstance(r[x], str) and (v := _metric_value(r, metric)) is not None
               and math.isfinite(v)]
        if not pts:
            continue
        a = np.asarray(pts, dtype=np.float64)
        if len(a) > max_points:
            edges = np.linspace(0, len(a), max_points + 1).astype(int)
            a = np.stack([a[i:j].mean(0) for i, j in zip(edges[:-1], edges[1:]) if j > i])
        parts.append(pd.DataFrame({"run": label, x: a[:, 0], metric: a[:, 1]}))
    if not parts:
        return pd.DataFrame({"run": pd.Series(dtype=str), x: pd.Series(dtype=float),
                             metric: pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


DASHES = [[1, 0], [6, 3], [2, 2], [8, 2, 2, 2], [4, 4], [1, 3]]


def curves_chart(frame: pd.DataFrame, metric: str, x: str = "epoch", *,
                 runs: list[str] | None = None, height: int = 360) -> alt.Chart:
    """The runs' curves overlaid, one colour per run (the same colours as :func:`curves_png`)."""
    runs = runs if runs is not None else list(dict.fromkeys(frame["run"]))
    color = alt.Color("run:N", title="run", sort=runs,
                      scale=alt.Scale(domain=runs, range=[class_color(i) for i in range(len(runs))]),
                      legend=alt.Legend(orient="bottom", columns=2, labelLimit=400))
    return (alt.Chart(frame)
            .mark_line(point=len(frame) < 60, strokeWidth=2)
            .encode(x=alt.X(f"{x}:Q", title=X_AXES[x], axis=alt.Axis(format=",.4~g")),
                    strokeDash=alt.StrokeDash("run:N", sort=runs, legend=None,        # apart in greyscale too
                                              scale=alt.Scale(domain=runs, range=[DASHES[i % len(DASHES)]
                                                                                  for i in range(len(runs))])),
                    y=alt.Y(f"{metric}:Q", title=METRICS[metric], scale=alt.Scale(zero=False),
                            axis=alt.Axis(format=",.4~g")),
                    color=color, tooltip=["run", alt.Tooltip(f"{x}:Q", format=".3~f"),
                                          alt.Tooltip(f"{metric}:Q", format=".3f")])
            .properties(height=height))


# ----------------------------------------------------------------- latents

def project_2d(mu: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """Latent means (N×d) as N×2 points with axis titles, on the one 2-D view every page
    uses (:func:`explorer.analysis.latent.pca_plane`): z₁, z₂ for d ≤ 2, else the plane of
    the two principal axes."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or len(mu) == 0:
        raise ValueError("project_2d needs an N×d array with N ≥ 1")
    proj = pca_plane(mu)
    return proj.transform(mu).astype(np.float32), proj.axis_titles


# ================================================================== PNG

_UNICODE_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")
_ASCII = str.maketrans({"β": "beta ", "σ": "sigma ", "₁": "1", "₂": "2", "‖": "||", "·": "*"})


def _font(size: int = 14):
    """DejaVu Sans when the system has it (β, z₁ drawn as such), else Pillow's own font."""
    for path in _UNICODE_FONTS:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):      # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _text(font, s: str) -> str:
    """``s`` as the font can draw it: Greek letters and subscripts spelled out in Pillow's font."""
    return s if getattr(font, "path", "") in _UNICODE_FONTS else s.translate(_ASCII)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """About ``n`` round tick values between lo and hi (1, 2, 2.5, 5 × 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo])
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    start = math.ceil(lo / step) * step
    return np.arange(start, hi + step * 1e-9, step)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.2e}"


class _PNGPlot:
    """A small plot drawn with Pillow: axes with round ticks, lines, points, a legend."""

    def __init__(self, xlim, ylim, *, width=900, height=520, title="", xlabel="", ylabel="",
                 equal=False, legend_width=0):
        self.img = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.img)
        self.font, self.small = _font(15), _font(12)
        self.box = (72, 40 if title else 16, width - 16 - legend_width, height - 52)
        (x0, x1), (y0, y1) = self._pad(*xlim), self._pad(*ylim)
        if equal:                                  # the same units per pixel on both axes
            l, t, r, b = self.box
            upp = max((x1 - x0) / (r - l), (y1 - y0) / (b - t))
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            x0, x1 = cx - upp * (r - l) / 2, cx + upp * (r - l) / 2
            y0, y1 = cy - upp * (b - t) / 2, cy + upp * (b - t) / 2
        self.xlim, self.ylim = (x0, x1), (y0, y1)
        self._axes(title, xlabel, ylabel)

    @staticmethod
    def _pad(lo: float, hi: float) -> tuple[float, float]:
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return 0.0, 1.0
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        return lo - 0.04 * span, hi + 0.04 * span

    def px(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        l, t, r, b = self.box
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        return (l + (np.asarray(x, float) - x0) / (x1 - x0) * (r - l),
                b - (np.asarray(y, float) - y0) / (y1 - y0) * (b - t))

    def _axes(self, title, xlabel, ylabel) -> None:
        d, (l, t, r, b) = self.draw, self.box
        for v in _nice_ticks(*self.xlim):
            px, _ = self.px(v, 0)
            d.line([(px, t), (px, b)], fill="#eeeeee")
            d.text((px, b + 6), _fmt(v), fill="#333333", font=self.small, anchor="ma")
        for v in _nice_ticks(*self.ylim):
            _, py = self.px(0, v)
            d.line([(l, py), (r, py)], fill="#eeeeee")
            d.text((l - 6, py), _fmt(v), fill="#333333", font=self.small, anchor="rm")
        d.rectangle([l, t, r, b], outline="#888888")
        if title:
            d.text(((l + r) / 2, 10), _text(self.font, title), fill="black", font=self.font, anchor="ma")
        if xlabel:
            d.text(((l + r) / 2, b + 26), _text(self.font, xlabel), fill="black", font=self.font, anchor="ma")
        if ylabel:
            ylabel = _text(self.font, ylabel)
            label = Image.new("RGBA", (int(d.textlength(ylabel, font=self.font)) + 4, 20), (255, 255, 255, 0))
            ImageDraw.Draw(label).text((2, 2), ylabel, fill="black", font=self.font)
            rot = label.rotate(90, expand=True)
            self.img.paste(rot, (4, int((t + b) / 2 - rot.height / 2)), rot)

    def line(self, x, y, color: str, width: int = 2) -> None:
        px, py = self.px(x, y)
        pts = list(zip(px.tolist(), py.tolist()))
        if len(pts) > 1:
            self.draw.line(pts, fill=color, width=width, joint="curve")
        elif pts:
            self.points(x, y, color, 3)

    def points(self, x, y, color: str, r: float = 2.0) -> None:
        px, py = self.px(x, y)
        for a, b in zip(px.tolist(), py.tolist()):
            self.draw.ellipse([a - r, b - r, a + r, b + r], fill=color)

    def legend(self, items: list[tuple[str, str]]) -> None:
        _, t, r, _ = self.box
        for k, (label, color) in enumerate(items[:30]):
            y = t + 6 + 20 * k
            self.draw.rectangle([r + 12, y + 3, r + 24, y + 15], fill=color)
            self.draw.text((r + 30, y), _text(self.small, label[:40]), fill="black", font=self.small)

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.img.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


def _legend_width(labels: list[str]) -> int:
    if not labels:
        return 0
    font = _font(12)
    return 40 + int(max(font.getlength(s[:40]) for s in labels))


def curves_png(frame: pd.DataFrame, metric: str, x: str = "epoch", *, runs: list[str] | None = None,
               title: str = "", width: int = 900, height: int = 520) -> bytes:
    """The curves of :func:`curves_chart` as a PNG file (bytes)."""
    runs = runs if runs is not None else list(dict.fromkeys(frame["run"]))
    if len(frame):
        xlim, ylim = (frame[x].min(), frame[x].max()), (frame[metric].min(), frame[metric].max())
    else:
        xlim, ylim = (0, 1), (0, 1)
    plot = _PNGPlot(xlim, ylim, width=width, height=height, title=title, xlabel=X_AXES[x],
                    ylabel=METRICS[metric], legend_width=_legend_width(runs))
    for i, run in enumerate(runs):
        part = frame[frame["run"] == run]
        plot.line(part[x].to_numpy(), part[metric].to_numpy(), class_color(i))
    plot.legend([(run, class_color(i)) for i, run in enumerate(runs)])
    return plot.png()


def scatter_png(z: np.ndarray, labels: np.ndarray | None = None, class_names: list[str] | None = None,
                *, title: str = "", axis_titles: tuple[str, str] = ("z₁", "z₂"), show_prior: bool = True,
                size: int = 640) -> bytes:
    """A latent scatter (N×2 points coloured by label, the prior's 1-2-3σ circles) as PNG."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError("scatter_png needs N×2 points")
    ok = np.isfinite(z[:, :2]).all(1)
    z = z[ok]
    labels = None if labels is None else np.asarray(labels)[ok]
    lo = np.min(z[:, :2], 0) if len(z) else np.array([-1.0, -1.0])
    hi = np.max(z[:, :2], 0) if len(z) else np.array([1.0, 1.0])
    if show_prior:
        lo, hi = np.minimum(lo, -3), np.maximum(hi, 3)
    classes = [] if labels is None else [int(c) for c in np.unique(labels)]
    names = [class_names[c] if class_names and 0 <= c < len(class_names) else str(c) for c in classes]
    plot = _PNGPlot((lo[0], hi[0]), (lo[1], hi[1]), width=size + _legend_width(names), height=size,
                    title=title, xlabel=axis_titles[0], ylabel=axis_titles[1], equal=True,
                    legend_width=_legend_width(names))
    if show_prior:
        t = np.linspace(0, 2 * np.pi, 180)
        for r in (1, 2, 3):
            plot.line(r * np.cos(t), r * np.sin(t), "#b0b0b0", width=1)
    if labels is None:
        plot.points(z[:, 0], z[:, 1], "#4C6EF5")
    else:
        for c in classes:
            m = labels == c
            plot.points(z[m, 0], z[m, 1], class_color(c))
        plot.legend(list(zip(names, [class_color(c) for c in classes])))
    return plot.png()


def grid_png(images: np.ndarray, *, ncol: int | None = None, scale: int = 4) -> bytes:
    """Images (N×C×H×W or N×H×W in [0,1]) tiled into one grid, enlarged ``scale`` times, as PNG."""
    grid = upscale(image_grid(images, ncol=ncol), max(1, int(scale)))
    a = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


__all__ = ["METRICS", "TABLE_COLUMNS", "TABLE_HELP", "X_AXES", "curves_chart",
           "curves_frame", "curves_png", "grid_png", "project_2d", "run_labels", "runs_table",
           "scatter_png", "table_row"]
