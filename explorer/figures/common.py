"""Shared pieces of figures: a colour per class and images tiled into one array."""
from __future__ import annotations

import numpy as np

# Plotly's qualitative "D3" palette: 10 classes, readable on white.
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def class_color(i: int) -> str:
    return CLASS_COLORS[int(i) % len(CLASS_COLORS)]


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
