"""Text alternatives of the pictures made of decoded images (Explore's traversals,
interpolations and the decoder's grid over the plane): what the picture is, and what
changes in it, generated from the images themselves so that it updates with them.

"How much the picture changes along a row" is the row's path length in pixel space: the
sum over neighbouring images of their mean absolute pixel difference (pixels in [0, 1]).
A row of an unused latent dimension has a change near 0; a dimension that redraws the digit
has a large one.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .describe import num

FLAT = 0.01          # a row whose images change less than this (mean |Δ pixel| summed) is "unchanged"


def row_change(images: np.ndarray) -> np.ndarray:
    """Per row of ``images`` ([R, K, ...]): the sum over its K − 1 steps of the mean absolute
    pixel difference between neighbouring images."""
    imgs = np.asarray(images, dtype=np.float64)
    r, k = imgs.shape[:2]
    flat = imgs.reshape(r, k, -1)
    if k < 2:
        return np.zeros(r)
    return np.abs(np.diff(flat, axis=1)).mean(axis=2).sum(axis=1)


def image_rows_summary(images: np.ndarray, row_labels: list[str], col_labels: list[str], what: str) -> str:
    """One sentence or two: the grid's shape and ends, and which rows change the picture the
    most and the least (or that none does)."""
    change = row_change(images)
    r, k = np.asarray(images).shape[:2]
    text = (f"{what}: {r} row{'s' if r != 1 else ''} of {k} decoded images, from {col_labels[0]} "
            f"to {col_labels[-1]}.")
    if r == 0:
        return text
    order = np.argsort(-change)
    top, low = int(order[0]), int(order[-1])
    if change[top] < FLAT:
        return text + " No row changes the picture (every image along each row looks the same)."
    text += f" {row_labels[top]} changes the picture the most (change {num(change[top])})"
    if r > 1:
        flat = [row_labels[i] for i in range(r) if change[i] < FLAT]
        if flat:
            text += (f"; {', '.join(flat)} change{'s' if len(flat) == 1 else ''} it not at all "
                     "(an unused dimension draws the same image everywhere)")
        else:
            text += f"; {row_labels[low]} the least ({num(change[low])})"
    return text + ". Change: the summed mean absolute pixel difference between neighbouring images."


def image_rows_table(images: np.ndarray, row_labels: list[str], col_labels: list[str]) -> pd.DataFrame:
    """A row per row of the picture: its label, its ends and how much it changes the picture."""
    change = row_change(images)
    return pd.DataFrame({"row": list(row_labels), "from": col_labels[0], "to": col_labels[-1],
                         "change of the picture": np.round(change, 3)})


def manifold_summary(images: np.ndarray, n: int, ranges, axis_titles: tuple[str, str]) -> str:
    """The decoder's n × n grid over the plane (``images`` [n·n, ...] in
    :func:`explorer.analysis.latent.grid_points` order: the top row first, the first axis
    along a row): its axes' ranges, and along which axis the picture changes more (the mean
    change over the grid's rows and over its columns)."""
    (x0, x1), (y0, y1) = ranges
    text = (f"The decoder over a {n}×{n} grid of the plane: {axis_titles[0]} from {num(x0)} to {num(x1)}, "
            f"{axis_titles[1]} from {num(y0)} to {num(y1)}; each tile is the image decoded at its cell's centre.")
    imgs = np.asarray(images)
    if n < 2 or len(imgs) != n * n:
        return text
    grid = imgs.reshape((n, n) + imgs.shape[1:])          # [y row, x column, ...]
    along_x = float(row_change(grid).mean())
    along_y = float(row_change(np.swapaxes(grid, 0, 1)).mean())
    if max(along_x, along_y) < FLAT:
        return text + " Every tile looks the same."
    more, less = (axis_titles[0], axis_titles[1]) if along_x >= along_y else (axis_titles[1], axis_titles[0])
    return (text + f" The picture changes more along {more} ({num(max(along_x, along_y))}) than along "
            f"{less} ({num(min(along_x, along_y))}), on average per line of tiles (change: the summed mean "
            "absolute pixel difference between neighbouring tiles).")
