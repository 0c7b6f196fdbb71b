"""Shared pieces of figures: a colour and a marker shape per class, and images tiled into one
array."""
from __future__ import annotations

import numpy as np

# Ten classes told apart without colour vision: a colour AND a marker shape each (WCAG 1.4.1).
# The colours are Okabe & Ito's (safe for the common colour-vision deficiencies; their orange
# and yellow darkened) with three of Tol's, each at least 3:1 against white (1.4.11: chart marks),
# docs/ACCESSIBILITY.md. The same lists are in the latent-plane component (src/view.js).
CLASS_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8A6D00",
                "#332288", "#882255", "#666666", "#999933", "#111318"]
# Plotly's symbol names and Vega-Lite's shapes, in the same order (star and x as SVG paths there).
CLASS_SYMBOLS = ["circle", "square", "cross", "diamond", "triangle-up",
                 "triangle-down", "triangle-right", "triangle-left", "star", "x"]
VEGA_STAR = ("M0,-1L0.24,-0.33L0.95,-0.31L0.39,0.13L0.59,0.81L0,0.4L-0.59,0.81L-0.39,0.13L-0.95,-0.31"
             "L-0.24,-0.33Z")
VEGA_X = "M-1,-0.6L-0.6,-1L0,-0.4L0.6,-1L1,-0.6L0.4,0L1,0.6L0.6,1L0,0.4L-0.6,1L-1,0.6L-0.4,0Z"
CLASS_SHAPES = CLASS_SYMBOLS[:8] + [VEGA_STAR, VEGA_X]


def class_color(i: int) -> str:
    return CLASS_COLORS[int(i) % len(CLASS_COLORS)]


def class_symbol(i: int) -> str:
    """The class's plotly marker symbol."""
    return CLASS_SYMBOLS[int(i) % len(CLASS_SYMBOLS)]


def class_shapes(n: int) -> list[str]:
    """Vega-Lite shapes for ``n`` classes (a scale's range)."""
    return [CLASS_SHAPES[i % len(CLASS_SHAPES)] for i in range(n)]


def to_hw(img: np.ndarray) -> np.ndarray:
    """One image as H×W (grey) or H×W×3 (colour) float in [0,1], from C×H×W or H×W."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.transpose(a[:3], (1, 2, 0))
    return np.clip(a, 0.0, 1.0)


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1,
               pad_value: float = 1.0) -> np.ndarray:
    """Tile N images (N×C×H×W or N×H×W, values in [0,1]) into one array for ``st.image``.

    ``ncol`` defaults to ceil(sqrt(N)). Grey in, grey out (H×W); colour in, H×W×3 out.
    """
    imgs = [to_hw(im) for im in np.asarray(images)]
    if not imgs:
        return np.ones((1, 1), np.float32)
    n = len(imgs)
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    h, w = imgs[0].shape[:2]
    shape = (nrow * (h + pad) + pad, ncol * (w + pad) + pad) + imgs[0].shape[2:]
    out = np.full(shape, pad_value, np.float32)
    for k, im in enumerate(imgs):
        r, c = divmod(k, ncol)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return out


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (crisp pixels for 8×8 digits)."""
    a = np.asarray(img)
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)
