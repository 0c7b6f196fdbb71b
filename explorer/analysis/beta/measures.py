"""The β lab's measures: sharpness, sample quality, overfitting and memorisation.

Each measure answers one question a learner asks of a sweep, and each is checked in
``tests/test_beta_measures.py`` on hand-made cases whose answer is known.

**Sharpness** (:func:`sharpness`, :func:`relative_sharpness`). Blur is the loss of fine
detail, not of contrast. The measure is the share of an image's spectral energy (its
mean brightness removed) at spatial frequencies above 0.2 cycles per pixel, detail
finer than 5 pixels::

    sharpness(x) = Σ_{|f| > 0.2} |X(f)|² / Σ_f |X(f)|²,   X = DFT(x − mean x)

Scaling an image's contrast scales every |X(f)|² by the same factor, so a digit at half
contrast is exactly as sharp as the digit; a blur removes high frequencies and lowers
it; a smooth blob (the mean of many digits) has almost none. White noise scores the
share of frequency bins above the cutoff (about 0.87), a checkerboard 1, a flat image 0
(by definition). A reconstruction's sharpness is reported *relative to its own input*:
the reconstructions' mean sharpness ÷ that of the images they reconstruct; 1 = as sharp
as the inputs. (On 8×8 digits: half contrast 1.0, a Gaussian blur of σ = 0.7 px 0.37,
the mean digit 0.23; on MNIST 1.0, 0.36 and 0.01.)

**Sample quality** (:mod:`explorer.analysis.beta.judge` for the judge). A calibrated
classifier with a "none of these" class, trained on the data's training images against
noise, blurs and mixtures, reads every sample: the samples' *precision* and *recall*
(:func:`precision_recall`, Kynkäänniemi et al. 2019: precision = share of samples that
fall inside the real images' k-NN manifold in the judge's features, each counted by the
judge's probability that it is an image of the data at all; recall = share of real images
inside the samples' manifold) and the *Fréchet distance* between the features of samples
and of real images (:func:`frechet_distance`). Off-data samples (decodes of holes in the
latent space), noise and blurs have low precision; samples that all look alike (one
blurry average) have low recall.

**Overfitting** (:func:`gap_with_se`). The train − validation gap of the
importance-weighted bound IWAE-k (Burda et al. 2015) per image: IWAE-k tends to
log p(x) as k grows, so the encoder's amortisation gap (ELBO below log p(x) because
q(z|x) is not the posterior), which is larger on unseen images, counts far less than
in an ELBO gap. The standard error is that of a difference of two independent means.

**Memorisation** (:func:`memorisation`). For each query image (a reconstruction of a
validation image, or a prior sample): its pixel distance to the nearest *training* image
and to the nearest *validation* image, with equally many images in each pool, drawn from
the same distribution. The ``ratio`` of the mean distances (validation ÷ training) is 1 for
a model that is as close to new images as to the ones it saw; above 1, its outputs are
pulled towards its training images. The share of queries nearer a training image is kept
too (0.5 = no pull: a tie, common between binary images, counts half), though it is
coarse: identical queries (a collapsed decoder) all fall on one side. A reconstruction of
validation image i is compared with the *other* validation images, so that its own input
does not count.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from ... import objective


def _as_nchw(images) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError("images must be N×C×H×W or N×H×W, at least 2×2 pixels")
    return x


# ================================================================ sharpness

DETAIL_CUTOFF = 0.2      # cycles per pixel: "fine detail" is a period shorter than 5 pixels


def frequency_radius(h: int, w: int) -> np.ndarray:
    """``[h, w]``: the radial spatial frequency (cycles per pixel) of each 2-D DFT bin."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    return np.sqrt(fx ** 2 + fy ** 2)


def sharpness(images, cutoff: float = DETAIL_CUTOFF) -> np.ndarray:
    """The share of each image's spectral energy (its mean removed) at spatial frequencies
    above ``cutoff`` cycles per pixel, ``[N]``, from 0 (all coarse) to 1 (all fine); 0 for
    a flat image. Independent of contrast and brightness: ``sharpness(a·x + b) == sharpness(x)``."""
    x = _as_nchw(images)
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    power = np.abs(np.fft.fft2(x)) ** 2
    fine = frequency_radius(*x.shape[-2:]) > cutoff
    total = power.sum(axis=(1, 2, 3))
    out = np.zeros(len(x))
    ok = total > 1e-12 * x[0].size
    out[ok] = (power * fine).sum(axis=(1, 2, 3))[ok] / total[ok]
    return out


def relative_sharpness(images, inputs, cutoff: float = DETAIL_CUTOFF) -> float:
    """The mean :func:`sharpness` of ``images`` ÷ that of the ``inputs`` they reconstruct
    (one image per input): 1 = as much fine detail as the inputs, 0 = none."""
    a, b = sharpness(images, cutoff), sharpness(inputs, cutoff)
    if len(a) != len(b):
        raise ValueError("relative_sharpness needs one image per input")
    if b.mean() <= 0:
        raise ValueError("the inputs have no fine detail (flat images): their sharpness is 0")
    return float(a.mean() / b.mean())


# ================================================================ feature statistics

def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(f1, f2) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets ``[N, F]``:
    ``|m1 − m2|² + tr(C1 + C2 − 2 (C1 C2)^½)`` (the statistic of FID, Heusel et al. 2017).
    ``tr (C1 C2)^½`` is computed as the sum of the square roots of the eigenvalues of the
    symmetric ``C1^½ C2 C1^½``, which has the same eigenvalues and is stable when a
    covariance is singular."""
    a, b = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError("frechet_distance needs two [N, F] feature sets, N ≥ 2, the same F")
    m1, m2 = a.mean(0), b.mean(0)
    c1, c2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    s1 = _psd_sqrt(c1)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ c2 @ s1), 0, None)).sum()
    return float(max(0.0, ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * cross))


def _knn_radius(f: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values           # k+1: each point is its own nearest


def precision_recall(real, fake, k: int = 3, weights=None) -> tuple[float, float]:
    """Kynkäänniemi et al. (2019): precision = share of ``fake`` points within the k-NN
    radius of some ``real`` point; recall = share of ``real`` points within the k-NN radius
    of some ``fake`` point. ``real`` and ``fake`` are ``[N, F]`` features. ``weights``
    (one in [0, 1] per fake point) count each fake point in the precision by that much:
    the judge's probability that it is an image of the data at all."""
    r = torch.as_tensor(np.asarray(real), dtype=torch.float64)
    f = torch.as_tensor(np.asarray(fake), dtype=torch.float64)
    if min(len(r), len(f)) <= k:
        raise ValueError(f"precision_recall needs more than k = {k} points in each set")
    rr, rf = _knn_radius(r, k), _knn_radius(f, k)
    d = torch.cdist(f, r)                             # [fake, real]
    inside = (d <= rr[None, :]).any(1).double()
    if weights is not None:
        inside = inside * torch.as_tensor(np.asarray(weights), dtype=torch.float64)
    precision = inside.mean()
    recall = (d.T <= rf[None, :]).any(1).double().mean()
    return float(precision), float(recall)


# ================================================================ overfitting

@torch.no_grad()
def iwae_per_image(model, x, k: int, *, seed: int = 0, batch: int = 100) -> np.ndarray:
    """IWAE-k of each image (nats), ``[N]``, with a seeded generator."""
    x = torch.as_tensor(x, dtype=torch.float32)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    was = model.training
    model.eval()
    out = torch.cat([objective.iwae_bound(model, x[i:i + batch].to(model.device), k, generator=gen)
                     .double().cpu() for i in range(0, len(x), batch)])
    bad = ~torch.isfinite(out)
    if bad.any():
        # a posterior so narrow that its variance underflows in float32 (β = 0 runs): the
        # same bound in float64, for those images
        m64 = copy.deepcopy(model).double()
        gen64 = torch.Generator(device=model.device).manual_seed(seed)
        out[bad] = objective.iwae_bound(m64, x[bad].double().to(model.device), k,
                                        generator=gen64).cpu()
    model.train(was)
    return out.numpy()


def gap_with_se(train_values, val_values) -> tuple[float, float]:
    """``mean(train) − mean(val)`` and its standard error
    ``sqrt(var(train)/n_train + var(val)/n_val)`` (two independent samples)."""
    a, b = np.asarray(train_values, np.float64), np.asarray(val_values, np.float64)
    if min(len(a), len(b)) < 2:
        raise ValueError("gap_with_se needs at least two values on each side")
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return float(a.mean() - b.mean()), se


# ================================================================ memorisation

def nearest(queries, pool, *, exclude: np.ndarray | None = None,
            batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Index and L2 distance (pixels) of each query's nearest image in ``pool``.
    ``exclude[i]`` is an index of ``pool`` that query i may not pick (its own input)."""
    q = torch.as_tensor(np.asarray(queries), dtype=torch.float32).flatten(1)
    p = torch.as_tensor(np.asarray(pool), dtype=torch.float32).flatten(1)
    idx, dist = [], []
    for i in range(0, len(q), batch):
        d = torch.cdist(q[i:i + batch], p)
        if exclude is not None:
            rows = torch.arange(len(d))
            d[rows, torch.as_tensor(exclude[i:i + batch], dtype=torch.long)] = float("inf")
        v, j = d.min(1)
        idx.append(j)
        dist.append(v)
    return torch.cat(idx).numpy(), torch.cat(dist).double().numpy()


def memorisation(queries, train, val, *, self_in_val: bool = False) -> dict:
    """How much nearer ``queries`` lie to the training images than to the validation ones.

    ``train`` and ``val`` should hold equally many images. ``self_in_val``: query i is a
    reconstruction of ``val[i]``, which is then left out of its comparison (and one
    training image is left out too, so both pools stay the same size). Returns
    ``share_nearer_train`` (0.5 = no memorisation), ``ratio`` (mean distance to the
    nearest validation image ÷ to the nearest training image; 1 = none) and the
    nearest training image of each query (``nearest_train``)."""
    n = len(queries)
    exclude_val = np.arange(n) if self_in_val else None
    exclude_train = (np.full(n, len(train) - 1) if self_in_val else None)
    j_t, d_t = nearest(queries, train, exclude=exclude_train)
    _, d_v = nearest(queries, val, exclude=exclude_val)
    # a tie counts half: with exchangeable pools the expected share is then exactly 0.5
    # (counted as "not nearer", ties on binary images made the null 0.38)
    return {"share_nearer_train": float(np.mean(d_t < d_v) + 0.5 * np.mean(d_t == d_v)),
            "ratio": float(np.mean(d_v) / max(np.mean(d_t), 1e-12)),
            "nearest_train": j_t, "dist_train": d_t, "dist_val": d_v}
