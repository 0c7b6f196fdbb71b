"""Latent-space figures (plotly): the scatter of encoded points with the prior's circles;
the Explore page's interactive plane (click grid, background images, ellipses, paths,
markers); image strips for traversals and interpolations; the decoded manifold; and the
data-space view of the 2-D toy sets.

Arrays go into plotly as numpy arrays (smaller and faster than lists), and large
scatters use ``Scattergl``.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from ..analysis.latent import lattice
from .plane import plane_ticks
from .common import class_color, class_symbol, image_grid, to_hw, upscale
from .plane_layers import (DENSITY_COLOR, DENSITY_DECADES, DENSITY_MAX_ALPHA, FADED_POINTS, density_key,
                           density_top, ellipse_trace)

GL_THRESHOLD = 1000   # above this many points, WebGL


def prior_circles(radii=(1, 2, 3), n: int = 120) -> list[go.Scatter]:
    """Circles of the prior N(0, I) at 1, 2, 3 σ (dotted grey)."""
    t = np.linspace(0, 2 * np.pi, n)
    return [go.Scatter(x=r * np.cos(t), y=r * np.sin(t), mode="lines", hoverinfo="skip",
                       line=dict(color="rgba(80,80,80,0.45)", dash="dot", width=1),
                       name=f"prior {r}σ", showlegend=(r == radii[0]), legendgroup="prior")
            for r in radii]


def title_margin(title: str) -> int:
    """Room above the plot for its title: 40 px a line (a ``<br>`` starts another), 10 if none."""
    return 40 + 20 * title.count("<br>") if title else 10


def latent_scatter(z: np.ndarray, labels: np.ndarray | None = None,
                   class_names: list[str] | None = None, *, title: str = "",
                   marker_size: float = 5, show_prior: bool = True,
                   axis_titles: tuple[str, str] = ("z₁", "z₂"), height: int = 480,
                   selected: np.ndarray | None = None) -> go.Figure:
    """Points ``z`` (N×2) coloured by label (one trace per class, so the legend toggles
    classes); the prior's 1-2-3σ circles; equal axis scales."""
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError("latent_scatter needs N×2 points")
    trace = go.Scattergl if len(z) > GL_THRESHOLD else go.Scatter
    fig = go.Figure()
    if show_prior:
        for c in prior_circles():
            fig.add_trace(c)
    if labels is None:
        fig.add_trace(trace(x=z[:, 0], y=z[:, 1], mode="markers", name="points",
                            customdata=np.arange(len(z)),
                            marker=dict(size=marker_size, color="#3B5BDB", opacity=0.7)))
    else:
        labels = np.asarray(labels)
        for c in np.unique(labels):
            m = labels == c
            name = class_names[int(c)] if class_names and int(c) < len(class_names) else str(c)
            fig.add_trace(trace(x=z[m, 0], y=z[m, 1], mode="markers", name=name,
                                customdata=np.nonzero(m)[0],
                                marker=dict(size=marker_size + 1, color=class_color(int(c)),
                                            symbol=class_symbol(int(c)), opacity=0.8)))
    small = height < 450                 # a small multiple: the legend goes below, in rows, not clipped
    legend = (dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.14, x=0, font=dict(size=10))
              if small else dict(itemsizing="constant"))
    fig.update_layout(title=title or None, height=height + (70 if small else 0),
                      margin=dict(l=10, r=10, t=title_margin(title), b=10),
                      legend=legend, plot_bgcolor="white",
                      xaxis=dict(title=axis_titles[0], zeroline=True, gridcolor="#eee"),
                      yaxis=dict(title=axis_titles[1], zeroline=True, gridcolor="#eee",
                                 scaleanchor="x", scaleratio=1))
    return fig


# ------------------------------------------------------------------ the plane
# The Explore page's interactive plane: the scatter above, plus layers added by the
# functions below. Every layer is in the plane's coordinates, so it lines up with the axes.

CLICK_GRID_ID = -1     # customdata of the invisible click grid's points (data points: index >= 0)


@dataclass
class PlaneSelection:
    """What a selection event on the plane holds: the data points picked (their indices,
    in the order plotly lists them), the first click-grid point hit (a click on empty
    space), the centre of the last box drawn, and whether a lasso was drawn."""
    points: list[int] = field(default_factory=list)
    grid: tuple[float, float] | None = None
    box: tuple[float, float] | None = None
    lasso: bool = False


def read_selection(state) -> PlaneSelection:
    """The plane's selection state (``st.session_state[key]`` of its chart) read."""
    sel = (state or {}).get("selection") or {}
    out = PlaneSelection(lasso=bool(sel.get("lasso")))
    for pt in sel.get("points") or []:
        cd = pt.get("customdata")
        if isinstance(cd, list):
            cd = cd[0] if cd else None
        if cd is None:
            continue
        if int(cd) == CLICK_GRID_ID:
            out.grid = out.grid or (float(pt["x"]), float(pt["y"]))
        elif int(cd) >= 0:
            out.points.append(int(cd))
    if sel.get("box"):
        b = sel["box"][-1]
        out.box = (sum(b["x"][:2]) / 2, sum(b["y"][:2]) / 2)
    return out


def png_data_uri(img: np.ndarray) -> str:
    """An H×W (grey), H×W×3 or H×W×4 array in [0, 1] as a PNG data URI (for layout images, and
    for pictures a fragment redraws: ``st.image`` passes a data URI through, while an array
    becomes a media file that stays in the server's memory until the session's next full run)."""
    a = np.uint8(np.round(np.clip(np.asarray(img, dtype=np.float64), 0, 1) * 255))
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def density_image(density: np.ndarray, color=DENSITY_COLOR, max_alpha: float = DENSITY_MAX_ALPHA,
                  decades: float = DENSITY_DECADES, top: float | None = None) -> np.ndarray:
    """An RGBA image of a density grid (rows following y upwards, as
    :func:`explorer.analysis.latent.aggregate_density` returns it). The opacity follows the
    log-density over ``decades`` powers of ten below ``top`` (default
    :func:`~explorer.figures.plane_layers.density_top`, which fits the density's own range;
    denser cells saturate), so the thin regions the decoder saw still show and the holes it
    never saw stay clear. Flipped so the top row is the largest y."""
    d = np.asarray(density, dtype=np.float64)
    top = density_top(d) if top is None else float(top)
    a = np.zeros_like(d)
    if top > 0:
        with np.errstate(divide="ignore"):
            a = np.clip(1.0 + np.log10(d / top) / decades, 0.0, 1.0) * max_alpha
    rgba = np.empty(d.shape + (4,))
    rgba[..., :3] = np.asarray(color) / 255.0
    rgba[..., 3] = a
    return rgba[::-1]


def add_image_layer(fig: go.Figure, img: np.ndarray, ranges, *, opacity: float = 1.0,
                    min_side: int = 480) -> go.Figure:
    """An image stretched exactly over ``ranges = ((x0, x1), (y0, y1))``, beneath the traces.
    Small images are enlarged (nearest neighbour) first so they stay crisp."""
    a = np.asarray(img)
    f = max(1, int(np.ceil(min_side / max(a.shape[:2]))))
    if f > 1:
        a = np.repeat(np.repeat(a, f, axis=0), f, axis=1)
    (x0, x1), (y0, y1) = ranges
    fig.add_layout_image(source=png_data_uri(a), xref="x", yref="y", x=x0, y=y1,
                         sizex=x1 - x0, sizey=y1 - y0, sizing="stretch", layer="below",
                         opacity=opacity, xanchor="left", yanchor="top")
    return fig


def click_grid_trace(points: np.ndarray, gl: bool = False) -> go.Scatter | go.Scattergl:
    """An invisible but selectable grid: Streamlit forwards no click on empty chart area,
    so a click anywhere lands on one of these points and reports its (x, y). ``gl``: WebGL,
    for planes whose points are WebGL anyway (without it the page needs no WebGL context,
    which is slow to start in software rendering)."""
    p = np.asarray(points, dtype=np.float64)
    return (go.Scattergl if gl else go.Scatter)(
        x=p[:, 0], y=p[:, 1], mode="markers", name="click grid", showlegend=False,
        customdata=np.full(len(p), CLICK_GRID_ID),
        marker=dict(size=9, color="black", opacity=0.0),
        selected=dict(marker=dict(opacity=0.6, color="black")),
        unselected=dict(marker=dict(opacity=0.0)),
        hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>click to decode<extra></extra>")


def line_trace(x, y, name: str, color: str = "black", width: float = 1.5, dash: str | None = None,
               markers: bool = False, showlegend: bool = True) -> go.Scatter:
    """A polyline (NaN separates pieces), not hoverable or selectable."""
    return go.Scatter(x=np.asarray(x, dtype=np.float64), y=np.asarray(y, dtype=np.float64),
                      mode="lines+markers" if markers else "lines", name=name, hoverinfo="skip",
                      showlegend=showlegend, line=dict(color=color, width=width, dash=dash),
                      marker=dict(size=6, color=color))


def marker_trace(p, name: str, color: str = "black", symbol: str = "x", size: float = 14) -> go.Scatter:
    """One or a few highlighted points (the decoded z, an uploaded image's code)."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    return go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=name, hoverinfo="skip",
                      marker=dict(symbol=symbol, size=size, color=color,
                                  line=dict(width=2, color="white")))


def plane_figure(points: np.ndarray, labels: np.ndarray | None = None,
                 class_names: list[str] | None = None, *, ranges, title: str = "",
                 axis_titles: tuple[str, str] = ("z₁", "z₂"), show_prior: bool = True,
                 click_grid: int = 50, image: np.ndarray | None = None,
                 image_opacity: float = 0.35, density: np.ndarray | None = None, ellipses=None,
                 paths: list[tuple] = (), lines=None, marker=None, extra_markers: list[tuple] = (),
                 prior_center=(0.0, 0.0), height: int = 560) -> go.Figure:
    """The Explore page's plane: the encoded points (coloured by label, ``customdata`` =
    their index), the prior's circles, and optional layers — ``image`` (a background such
    as the decoded manifold or a classifier's reading, stretched over ``ranges``),
    ``density`` (the aggregate posterior on a grid over ``ranges``, rows following y: drawn
    by :func:`density_image` on a scale that fits it, named with its scale in the legend, the
    points faded above it), ``ellipses`` (``(means [N, 2], covs [N, 2, 2])`` on the plane:
    their 1σ and 2σ contours, enlarged to stay visible and named so,
    :func:`~explorer.figures.plane_layers.ellipse_trace`), ``paths`` ((points [K, 2], name,
    colour) tuples: interpolations), ``lines`` (x, y: a warped grid), ``marker`` (the decoded
    z) and ``extra_markers`` ((p, name, colour, symbol) tuples) — and an invisible
    ``click_grid``×``click_grid`` grid so a click anywhere decodes. The axes show exactly
    ``ranges`` with equal scales and ticks (:func:`~explorer.figures.plane.plane_ticks`, the
    same the latent-plane component draws). ``prior_center``: where the plane puts z = 0 (a
    PCA plane is centred on the data).
    """
    fig = latent_scatter(points, labels, class_names, title=title, show_prior=show_prior,
                         axis_titles=axis_titles, height=height)
    cx, cy = (float(v) for v in prior_center)
    if cx or cy:
        for tr in fig.data:
            if tr.legendgroup == "prior":
                tr.update(x=np.asarray(tr.x) + cx, y=np.asarray(tr.y) + cy)
    for tr in fig.data:           # a selection must not fade the other points
        if tr.mode == "markers":
            op = FADED_POINTS if density is not None else tr.marker.opacity
            tr.update(marker=dict(opacity=op), unselected=dict(marker=dict(opacity=op)),
                      selected=dict(marker=dict(opacity=1.0, size=(tr.marker.size or 5) + 5)),
                      hovertemplate=f"{tr.name} · #%{{customdata}}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>")
    if image is not None:
        add_image_layer(fig, image, ranges, opacity=image_opacity)
    if density is not None:
        top = density_top(density)
        add_image_layer(fig, density_image(density, top=top), ranges)
        fig.add_trace(density_key(top))
    if lines is not None:
        fig.add_trace(line_trace(lines[0], lines[1], "encoder's image of a data grid",
                                 color="rgba(60,60,60,0.5)", width=1))
    if ellipses is not None and len(ellipses[0]):
        fig.add_trace(ellipse_trace(ellipses[0], ellipses[1], ranges))
    for pts, name, color in paths:
        p = np.asarray(pts, dtype=np.float64)
        fig.add_trace(line_trace(p[:, 0], p[:, 1], name, color=color, width=2.5, markers=True))
    for p, name, color, symbol in extra_markers:
        fig.add_trace(marker_trace(p, name, color, symbol))
    if marker is not None:
        fig.add_trace(marker_trace(marker, "decoded z"))
    if click_grid:
        fig.add_trace(click_grid_trace(lattice(ranges, click_grid), gl=len(points) > GL_THRESHOLD))
    (x0, x1), (y0, y1) = ranges
    xt, yt = plane_ticks(ranges)
    fig.update_layout(xaxis=dict(range=[x0, x1], constrain="domain", autorange=False, tickvals=xt),
                      yaxis=dict(range=[y0, y1], constrain="domain", autorange=False, tickvals=yt),
                      uirevision="plane", margin=dict(l=10, r=10, t=title_margin(title), b=10),
                      legend=dict(itemsizing="constant", orientation="h", y=-0.12))
    return fig


# ------------------------------------------------------------------- images

def image_pairs(x: np.ndarray, x_hat: np.ndarray, ncol: int = 10) -> np.ndarray:
    """Originals and reconstructions as one array: for each run of ``ncol`` items, a row of
    originals above the row of their reconstructions."""
    x, x_hat = np.asarray(x), np.asarray(x_hat)
    rows = []
    for s in range(0, len(x), ncol):
        a, b = x[s:s + ncol], x_hat[s:s + ncol]
        if len(a) < ncol:   # pad the last run with blank (white) items
            blank = np.ones((ncol - len(a),) + a.shape[1:], a.dtype)
            a, b = np.concatenate([a, blank]), np.concatenate([b, blank])
        rows += [a, b]
    if not rows:
        return image_grid(np.zeros((0,)))
    return image_grid(np.concatenate(rows), ncol=ncol)


def item_image(item: np.ndarray, size: int = 280) -> np.ndarray:
    """One decoded item as an image about ``size`` pixels high (nearest-neighbour enlarged)."""
    img = image_grid(np.asarray(item)[None], pad=0)
    return upscale(img, max(1, size // img.shape[0]))


def widened(img: np.ndarray, width: int) -> np.ndarray:
    """A tiled image enlarged by a whole factor to about ``width`` pixels (at least 1×)."""
    return upscale(img, max(1, width // img.shape[1]))


def _rgb_uint8(a: np.ndarray) -> np.ndarray:
    a = np.clip(np.asarray(a, dtype=np.float64), 0, 1)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.uint8(np.round(a * 255))


def image_rows_figure(images: np.ndarray, row_labels: list[str], col_labels: list[str] | None = None,
                      *, title: str = "", row_height: int = 70, pad: int = 1) -> go.Figure:
    """Rows of images (``[R, K, C, H, W]`` or ``[R, K, H, W]``) as one labelled picture:
    traversals (a row per dimension) and interpolations (a row per method)."""
    imgs = np.asarray(images)
    r, k = imgs.shape[:2]
    tiled = image_grid(imgs.reshape((r * k,) + imgs.shape[2:]), ncol=k, pad=pad)
    h, w = to_hw(imgs[0, 0]).shape[:2]
    fig = go.Figure(go.Image(z=_rgb_uint8(tiled), hoverinfo="skip"))
    ys = [pad + i * (h + pad) + (h - 1) / 2 for i in range(r)]
    xs = [pad + j * (w + pad) + (w - 1) / 2 for j in range(k)]
    top = (40 if title else 10) + (28 if col_labels else 0)   # the column labels sit under the title
    fig.update_layout(title=dict(text=title, y=0.99, yanchor="top") if title else None,
                      height=max(160, row_height * r + top + 20),
                      margin=dict(l=10, r=10, t=top, b=10),
                      yaxis=dict(tickvals=ys, ticktext=list(row_labels), showgrid=False),
                      xaxis=dict(tickvals=xs if col_labels else [], ticktext=list(col_labels or []),
                                 showgrid=False, side="top"))
    return fig


MANIFOLD_GAP = 0.5       # the grey of the 1-pixel gap between tiles (neither stroke nor background)


def manifold_tiles(images: np.ndarray, n: int) -> np.ndarray:
    """Decodes of an n×n grid (in :func:`explorer.analysis.latent.grid_points` order) tiled
    into one image with a 1-pixel grey gap between tiles and around them."""
    return image_grid(images, ncol=n, pad=1, pad_value=MANIFOLD_GAP)


def manifold_figure(tiled: np.ndarray, ranges, *, axis_titles: tuple[str, str] = ("z₁", "z₂"),
                    show_prior: bool = True, title: str = "", height: int = 560) -> go.Figure:
    """The decoder over a grid of the plane (a tiled image from
    :func:`explorer.analysis.latent.decode_grid`), on axes in latent coordinates."""
    fig = go.Figure()
    add_image_layer(fig, tiled, ranges, opacity=1.0)
    if show_prior:
        for c in prior_circles():
            c.update(line=dict(color="rgba(255,140,0,0.8)", dash="dot", width=1.5))
            fig.add_trace(c)
    (x0, x1), (y0, y1) = ranges
    fig.update_layout(title=title or None, height=height, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=title_margin(title), b=10), showlegend=False,
                      xaxis=dict(title=axis_titles[0], range=[x0, x1], constrain="domain", showgrid=False,
                                 zeroline=False),
                      yaxis=dict(title=axis_titles[1], range=[y0, y1], constrain="domain", showgrid=False,
                                 zeroline=False, scaleanchor="x", scaleratio=1))
    return fig


# ---------------------------------------------------------------- toy data

def data_space_figure(x: np.ndarray, labels: np.ndarray | None = None,
                      class_names: list[str] | None = None, *, samples: np.ndarray | None = None,
                      lines=None, path: np.ndarray | None = None, point=None,
                      ranges=((-0.05, 1.05), (-0.05, 1.05)), title: str = "",
                      height: int = 420, max_points: int = 2000) -> go.Figure:
    """A 2-D toy set in data space, coloured by label, with optional layers: ``samples``
    (decodes of prior draws), ``lines`` (x, y: the decoder's image of a latent grid),
    ``path`` ([K, 2], an interpolation or traversal decoded), ``point`` (the decoded z)."""
    x = np.asarray(x, dtype=np.float64)[:max_points]
    fig = go.Figure()
    if labels is None:
        fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="data", hoverinfo="skip",
                                 marker=dict(size=4, color="#999", opacity=0.5)))
    else:
        labels = np.asarray(labels)[:max_points]
        for c in np.unique(labels):
            m = labels == c
            name = class_names[int(c)] if class_names and int(c) < len(class_names) else str(c)
            fig.add_trace(go.Scatter(x=x[m, 0], y=x[m, 1], mode="markers", name=name, hoverinfo="skip",
                                     marker=dict(size=5, color=class_color(int(c)), symbol=class_symbol(int(c)),
                                                 opacity=0.6)))
    if lines is not None:
        fig.add_trace(line_trace(lines[0], lines[1], "decoder's image of a latent grid",
                                 color="rgba(60,60,60,0.55)", width=1))
    if samples is not None:
        s = np.asarray(samples, dtype=np.float64)
        fig.add_trace(go.Scatter(x=s[:, 0], y=s[:, 1], mode="markers", name="decoded prior samples",
                                 hoverinfo="skip", marker=dict(size=5, color="black", symbol="circle-open")))
    if path is not None:
        p = np.asarray(path, dtype=np.float64)
        fig.add_trace(line_trace(p[:, 0], p[:, 1], "decoded path", color="#e8590c", width=2.5, markers=True))
    if point is not None:
        fig.add_trace(marker_trace(point, "decoded z"))
    (x0, x1), (y0, y1) = ranges
    fig.update_layout(title=title or None, height=height, plot_bgcolor="white",
                      margin=dict(l=10, r=10, t=title_margin(title), b=10),
                      legend=dict(itemsizing="constant", orientation="h", y=-0.15),
                      xaxis=dict(title="x₁", range=[x0, x1], gridcolor="#eee", constrain="domain"),
                      yaxis=dict(title="x₂", range=[y0, y1], gridcolor="#eee", constrain="domain",
                                 scaleanchor="x", scaleratio=1))
    return fig
