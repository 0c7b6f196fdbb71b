"""Explore's layer "what a classifier reads" (:mod:`explorer.analysis.plane_reading`).

The classifier is trained on the run's own labelled images (its training split when the
dataset is on this server, else the labelled probe images the run carries), calibrated,
and cached per dataset for the server's life: trained when the layer or the interpolation
tab first asks for it, not to decide whether the layer is offered (:func:`unavailable`
reads the labels only). For runs without labels the layer is off, and :func:`unavailable`
says why.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .. import data as data_mod
from .. import store
from ..analysis import latent, offload
from ..analysis import plane_reading as analysis
from ..config import RunConfig
from ..figures import plane_reading as figures

GRID = 60                  # cells per side of the coloured layer
CLICK_GRID = 50            # the plane's click grid (explorer.figures.latent.plane_figure)


def _labelled(cfg: RunConfig, run_dir: str) -> tuple:
    """(images, labels, class names, what they are) the classifier would train on: the run's
    training split when the dataset is on this server, else the labelled probe images it
    carries; (None, None, None, "") when there are none."""
    if cfg.data.name != "file" and data_mod.available_offline(cfg.data):
        try:
            ds = data_mod.load(cfg.data)
            if ds.is_image and ds.y_train is not None:
                return ds.x_train.numpy(), ds.y_train.numpy(), ds.class_names, f"{len(ds.x_train):,} training images"
        except data_mod.DataError:
            pass
    probe = store.load_probe(Path(run_dir))
    if probe is not None and probe[1] is not None:
        x = probe[0].numpy()
        return x, probe[1].numpy(), probe[2], f"the {len(x):,} labelled images this run carries"
    return None, None, None, ""


def _why_not(y) -> str | None:
    if y is None:
        return ("this run's data have no labels, so there is no classifier to train: the layer needs "
                "images with classes (digits, MNIST, the shapes, or your own file with a label column)")
    if len(np.unique(y)) < 2:
        return "this run's images all have one label: a classifier needs at least two"
    return None


@st.cache_resource(max_entries=8, show_spinner="Training a classifier on the run's images…")
def _classifier(key: str, run_dir: str, config_json: str) -> analysis.PlaneClassifier | str:
    x, y, names, source = _labelled(RunConfig.from_json(config_json), run_dir)
    why = _why_not(y)
    if why is not None:
        return why
    try:
        clf = offload.train_plane_classifier(x, y, names)      # in a child process, not the server's
    except (ValueError, offload.OffloadError) as e:
        return str(e)
    clf.source = source
    return clf


@st.cache_data(max_entries=32, show_spinner=False)
def _unavailable(key: str, run_dir: str, config_json: str) -> str | None:
    return _why_not(_labelled(RunConfig.from_json(config_json), run_dir)[1])


def _key(run) -> str:
    cfg = run.config
    key = f"{cfg.data.name}|{cfg.data.subset}|{cfg.data.split_seed}|{cfg.data.n_points}|{cfg.data.path}"
    return key if cfg.data.name != "file" else str(run.dir)


def classifier(run) -> analysis.PlaneClassifier | str:
    """The run's plane classifier (cached per dataset), or why there is none. Trains it the
    first time (a few seconds, in a child process)."""
    if run.is_toy:
        return "the layer reads decoded images; this run's data are points in 2-D"
    return _classifier(_key(run), str(run.dir), run.config_json)


def unavailable(run) -> str | None:
    """Why the run has no classifier layer (no labels, one label, points not images), or None:
    read from its labels, without training the classifier (that waits until the layer or the
    interpolation tab asks for it; a failure to train is then said where it is drawn)."""
    if run.is_toy:
        return "the layer reads decoded images; this run's data are points in 2-D"
    return _unavailable(_key(run), str(run.dir), run.config_json)


def layer(view, clf: analysis.PlaneClassifier) -> tuple[np.ndarray, list[str]]:
    """The coloured layer (RGBA over the plane's ranges) and the hover text of each point
    of the plane's click grid (bottom row first)."""
    model, proj, hold, ranges = view.run.model, view.projection, view.hold, view.ranges
    cells = analysis.read_grid(model, clf, ranges, GRID, hold, proj)
    image = figures.reading_image(cells.labels, cells.confidence, GRID, len(clf.class_names))
    at_clicks = analysis.direct_reading(model, clf, proj.lift(latent.lattice(ranges, CLICK_GRID), hold))
    text = [f"reads {clf.class_names[int(k)]} ({100 * c:.0f}% sure)"
            for k, c in zip(at_clicks.labels, at_clicks.confidence)]
    return image, text


def attach_hover(fig, text: list[str]) -> None:
    """Name the classifier's reading in the click grid's hover (the grid stays on top)."""
    for tr in fig.data:
        if tr.name == "click grid" and len(tr.x) == len(text):
            tr.update(text=text, hovertemplate="z = (%{x:.2f}, %{y:.2f})<br>%{text}<br>click to decode<extra></extra>")


def caption(clf: analysis.PlaneClassifier) -> str:
    return (f"**What a classifier reads**: each cell of the plane is decoded and a classifier (trained on "
            f"{clf.source or 'the run’s images'}; {100 * clf.accuracy:.0f}% right on images it did "
            f"not train on) reads the image. The colour is the class it reads (the points' colours); faint "
            f"where it is unsure. Its confidence is calibrated on real images (temperature "
            f"{clf.temperature:.2f}); on a decode that looks like nothing real it can still be sure. Hover "
            f"to see the reading and its confidence.")


def path_table(view, clf: analysis.PlaneClassifier, paths: dict[str, np.ndarray], ts) -> None:
    """The classifier's label and confidence at each step of each path (rows), and where it changes."""
    rows, notes = {}, []
    for name, zs in paths.items():
        got = analysis.read_path(view.run.model, clf, zs)
        rows[name] = figures.path_strip_labels(got.labels, got.confidence, clf.class_names)
        changes = analysis.label_changes(got)
        if changes:
            notes.append(f"{name}: the label changes at t = " + ", ".join(f"{ts[i]:.2f}" for i in changes))
        else:
            notes.append(f"{name}: one label all the way ({clf.class_names[int(got.labels[0])]})")
    st.dataframe(pd.DataFrame(rows, index=[f"t = {t:.2f}" for t in ts]).T, width="stretch")
    st.caption("What the classifier reads at each step, and how sure it is. " + "; ".join(notes) + ".")
