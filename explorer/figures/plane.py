"""The latent-plane component's data: plain values for its JavaScript (no Streamlit here).

The component (``explorer/ui/components/latent_plane``) draws the latent plane and decodes
the z under the pointer in the browser. It is mounted by the app's pages
(:mod:`explorer.ui.latent_plane`) and by the notebook widget (:mod:`explorer.notebook`);
both give it the dict :func:`payload` builds: the plane (:func:`plane_spec`), the points
(:func:`points_spec`), sliders, paths and the decoder's key (and its bytes, once).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_POINTS = 4000             # points drawn on the component's plane (a seeded subset)


@dataclass(frozen=True)
class BrowserDecoder:
    """A run's decoder as sent to the browser: its key (the weights' hash) and bytes."""
    key: str
    b64: str
    nbytes: int


def plane_ticks(ranges, target: int = 6) -> tuple[list[float], list[float]]:
    """The tick values of a plane over ``ranges = ((x0, x1), (y0, y1))``, the same for every
    view of it (Explore's plotly plane, :func:`explorer.figures.latent.plane_figure`, and the
    latent-plane component beside it, :func:`plane_spec`): one step for both axes (1, 2 or 5
    × 10ᵏ, about ``target`` ticks over the larger side) and every multiple of it in range."""
    (x0, x1), (y0, y1) = ((float(a), float(b)) for a, b in ranges)
    raw = max(x1 - x0, y1 - y0, 1e-9) / target
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9))

    def ticks(a: float, b: float) -> list[float]:
        lo, hi = math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9)
        return [round(k * step, 10) + 0.0 for k in range(lo, hi + 1)]
    return ticks(x0, x1), ticks(y0, y1)


def plane_spec(projection, hold, ranges, *, prior: bool = True) -> dict:
    """The plane: a linear map z -> p = (z - mean) @ components.T (``explorer.analysis.latent.
    Projection``), the coordinates held for the dimensions it does not show, its extent and
    its ticks (:func:`plane_ticks`: the same axes as the page's plotly plane over ``ranges``)."""
    mean, comp = np.asarray(projection.mean, float), np.asarray(projection.components, float)
    hold = np.zeros(comp.shape[1]) if hold is None else np.asarray(hold, float)
    return {"mean": _r(mean), "comp": [_r(c) for c in comp], "hold": _r(hold),
            "ranges": [[float(a), float(b)] for a, b in ranges], "ticks": [list(t) for t in plane_ticks(ranges)],
            "axis": list(projection.axis_titles),
            "prior": prior, "prior_center": _r((np.zeros_like(mean) - mean) @ comp.T)}


def _r(a, nd: int = 4) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def points_spec(xy, labels=None, names=None, limit: int = MAX_POINTS) -> dict:
    """Plane points (``[N, 2]``), at most ``limit`` (a seeded subset), with labels and names."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    keep = np.arange(len(xy))
    if len(xy) > limit:
        keep = np.sort(np.random.default_rng(0).choice(len(xy), limit, replace=False))
    return {"xy": np.round(xy[keep], 3).ravel().tolist(),
            "labels": None if labels is None else np.asarray(labels)[keep].astype(int).tolist(),
            "names": [str(n) for n in names] if names else None}


def payload(decoder: BrowserDecoder, *, latent_dim: int, out_shape, z, send_decoder: bool,
            plane: dict | None = None, points: dict | None = None, sliders=None, paths=None,
            toy: dict | None = None, plane_px: int = 360, image_px: int = 220,
            model: str = "", paused: bool = False) -> dict:
    """The component's data. ``sliders``: ``explorer.analysis.latent.DimSlider``s (shown in
    that order); ``paths``: ``(name, zs [K, D], (start, end))`` to scrub and play; ``toy``:
    a 2-D data set ``{"x": [N, 2], "y": labels}`` drawn behind the decoded point; ``model``:
    the model's name in the decoded image's text alternative; ``paused``: the page's pause
    switch (:mod:`explorer.ui.motion`) stops a traversal that plays."""
    data = {"v": 1, "latent_dim": int(latent_dim), "out_shape": [int(s) for s in out_shape],
            "z": _r(z), "decoder": {"key": decoder.key}, "plane": plane, "points": points,
            "plane_px": plane_px, "image_px": image_px,
            "sliders": [{"dim": int(s.dim), "label": s.label, "lo": float(s.range[0]),
                         "hi": float(s.range[1]), "help": s.help} for s in (sliders or [])],
            "paths": [{"name": n, "zs": _r(zs), "ends": list(ends)} for n, zs, ends in (paths or [])],
            "model": str(model), "paused": bool(paused)}     # the image's alt text; WCAG 2.2.2
    if send_decoder:
        data["decoder"]["b64"] = decoder.b64
    if toy is not None:
        x = np.asarray(toy["x"], dtype=np.float64)[:800]
        lo, hi = x.min(0), x.max(0)
        pad = 0.08 * np.maximum(hi - lo, 1e-6)
        data["toy"] = {"xy": np.round(x, 3).ravel().tolist(),
                       "labels": None if toy.get("y") is None else np.asarray(toy["y"])[:800].astype(int).tolist()}
        data["toy_ranges"] = [[float(lo[0] - pad[0]), float(hi[0] + pad[0])],
                              [float(lo[1] - pad[1]), float(hi[1] + pad[1])]]
    return data
