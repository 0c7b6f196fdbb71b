"""What a classifier reads in the decoder's images across the latent plane (after LAPEX).

A small classifier (:mod:`explorer.analysis.beta.classifier`'s MLP) is trained on the
run's own labelled images; then every point of a grid over the plane is decoded and the
classifier reads the image: its label and its confidence (the largest class probability).
Coloured by label, faded where unsure, the plane shows which regions decode to which
class, where the borders lie, and where the decoder draws something the classifier cannot
place. Along an interpolation path, the same reading labels each step.

The confidence is *calibrated*: a temperature T is fitted on images held out from the
classifier's training (it minimises their negative log-likelihood, Guo et al. 2017), so
that "80%" means right about 80% of the time on real images. On decodes that look like no
real image it can still be sure: a confidence is the classifier's view, not the truth.

:func:`classifier_for` builds it from a labelled image set; :func:`read_grid` and
:func:`read_path` read decodes; :func:`direct_reading` is the plain decode-then-classify of
given codes, which both use (and the tests compare against).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .beta import classifier as beta_classifier
from . import latent
from .stats import seeded_subset

MAX_IMAGES = 3000          # images the classifier trains on (a seeded subset beyond this)
HELD_OUT = 0.2             # share held out to fit the temperature (and measure accuracy)
EPOCHS = 20


@dataclass
class PlaneClassifier:
    """A classifier with its calibration: ``read(x)`` -> probabilities [N, classes]."""
    model: beta_classifier.Classifier
    temperature: float
    class_names: list[str]
    accuracy: float                 # on the held-out images
    n_train: int
    source: str = ""                # what it was trained on, in words

    @torch.no_grad()
    def read(self, x) -> np.ndarray:
        self.model.eval()
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        out = []
        for i in range(0, len(x), 2000):
            logits = self.model(x[i:i + 2000]).double()
            out.append(torch.softmax(logits / self.temperature, 1))
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 minimising the negative log-likelihood of ``softmax(logits / T)``
    for labels ``y`` (a search over log T, then a refinement)."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)

    def nll(t):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 81))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def classifier_for(x, y, class_names: list[str] | None, *, seed: int = 0) -> PlaneClassifier:
    """Train and calibrate the plane's classifier on labelled images ``x`` [N, C, H, W]."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y) or len(np.unique(y)) < 2:
        raise ValueError("the classifier needs images of at least two labels")
    idx = seeded_subset(len(x), min(len(x), MAX_IMAGES), seed=seed, stream=7)
    n_hold = max(1, int(round(HELD_OUT * len(idx))))
    hold, train = idx[:n_hold], idx[n_hold:]
    k = int(max(y.max() + 1, len(class_names or [])))
    model = beta_classifier.train_classifier(x[train], y[train], epochs=EPOCHS, seed=seed, n_classes=k)
    with torch.no_grad():
        logits = model(torch.as_tensor(x[hold])).double().numpy()
    t = fit_temperature(logits, y[hold])
    acc = float(np.mean(logits.argmax(1) == y[hold]))
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    return PlaneClassifier(model=model, temperature=t, class_names=names, accuracy=acc, n_train=len(train))


def calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the mean |accuracy − confidence| over confidence bins,
    weighted by the bins' sizes."""
    probs, y = np.asarray(probs), np.asarray(y)
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(float(np.mean(pred[m] == y[m])) - float(conf[m].mean()))
    return total


# ------------------------------------------------------------------ readings

@dataclass
class Reading:
    """The classifier's reading of decodes: a label and a confidence per code."""
    z: np.ndarray                   # [N, D] the codes decoded
    labels: np.ndarray              # [N] class index
    confidence: np.ndarray          # [N] the largest class probability
    probs: np.ndarray               # [N, classes]


def direct_reading(model, clf: PlaneClassifier, z) -> Reading:
    """Decode each row of ``z`` (the decoder's mean) and let the classifier read it."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    probs = clf.read(latent.decode(model, z))
    return Reading(z=z, labels=probs.argmax(1), confidence=probs.max(1), probs=probs)


def read_grid(model, clf: PlaneClassifier, ranges, n: int, hold=None, projection=None) -> Reading:
    """The reading over an n×n grid of the plane, in :func:`explorer.analysis.latent.grid_points`
    order (top row first), the unshown dimensions held at ``hold``."""
    d = model.latent_dim
    projection = projection or latent.dims_projection(d)
    hold = np.zeros(d) if hold is None else np.asarray(hold, dtype=np.float64)
    return direct_reading(model, clf, projection.lift(latent.grid_points(ranges, n), hold))


def read_path(model, clf: PlaneClassifier, zs) -> Reading:
    """The reading at each step of a path of codes (an interpolation)."""
    return direct_reading(model, clf, zs)


def label_changes(reading: Reading) -> list[int]:
    """The steps of a path where the label differs from the previous step's."""
    lab = np.asarray(reading.labels)
    return [int(i) for i in np.nonzero(lab[1:] != lab[:-1])[0] + 1]
