"""Disentanglement measures: how well single latent dimensions line up with known factors.

Both take ``codes`` (each image's posterior mean μ(x), shape [N, D]) and ``factors``
(the level index of each generating factor, shape [N, K]), as a generated dataset such
as :mod:`explorer.data.shapes` provides them.

**Mutual information gap** (MIG, Chen et al. 2018, "Isolating sources of disentanglement
in VAEs", eq. 6). Each latent dimension is discretised into :data:`MIG_BINS` equal-width
bins over its range (as in Locatello et al.'s disentanglement_lib); I(z_j; v_k) is the
mutual information of the binned z_j with factor v_k, estimated from counts (nats)::

    MIG = (1/K) Σ_k  ( I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k) ) / H(v_k),
    j(k) = argmax_j I(z_j; v_k)

For each factor: the information the best dimension holds about it, minus what the
second best holds, as a share of all there is to know about it. 1: every factor is held
entirely by one dimension, which no other dimension shares; 0: every factor is held by
no dimension or spread equally over two or more.

**DCI disentanglement** (Eastwood & Williams 2018, "A framework for the quantitative
evaluation of disentangled representations"). A predictor of each factor from all of z
(gradient-boosted trees, :data:`DCI_TREES` trees of depth 3, trained on the first
half of the images and scored on the second) gives an importance R_jk of dimension j for
factor k (each factor's importances sum to 1). Then::

    P_jk = R_jk / Σ_k R_jk,  D_j = 1 − H_K(P_j·) (entropy in base K),
    ρ_j = Σ_k R_jk / Σ_jk R_jk,  D = Σ_j ρ_j D_j

1: each dimension that matters predicts only one factor. Completeness C (each factor
predicted by one dimension: the same formula over the columns, entropy in base D) and
informativeness I (the predictors' mean test accuracy) come with it.

:func:`factor_of_dimension` names the factor each dimension holds most information
about (normalised by the factor's entropy), or none when it holds almost none: the
label of its traversal row on the page.
"""
from __future__ import annotations

import numpy as np

MIG_BINS = 20          # bins per latent dimension for the mutual information
DCI_TREES = 30         # gradient-boosted trees per factor (disentanglement_lib: 100)
SILENT = 0.05          # a dimension holding less than this share of any factor's entropy holds none


def _bin(codes: np.ndarray, bins: int) -> np.ndarray:
    """Each column of ``codes`` in ``bins`` equal-width bins over its own range: [N, D] ints."""
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, np.int64)
    for j in range(codes.shape[1]):
        lo, hi = codes[:, j].min(), codes[:, j].max()
        if hi - lo <= 0:
            out[:, j] = 0
            continue
        out[:, j] = np.clip(((codes[:, j] - lo) / (hi - lo) * bins).astype(np.int64), 0, bins - 1)
    return out


def entropy(labels: np.ndarray) -> float:
    """H of a discrete variable from its values (nats)."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) of two discrete variables from their joint counts (nats)."""
    _, ai = np.unique(np.asarray(a), return_inverse=True)
    _, bi = np.unique(np.asarray(b), return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1.0)
    p = joint / joint.sum()
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, *, bins: int = MIG_BINS) -> np.ndarray:
    """I(z_j; v_k) for every dimension j and factor k: [D, K], nats."""
    binned = _bin(codes, bins)
    factors = np.asarray(factors)
    return np.array([[mutual_information(binned[:, j], factors[:, k]) for k in range(factors.shape[1])]
                     for j in range(binned.shape[1])])


def mig(codes: np.ndarray, factors: np.ndarray, *, bins: int = MIG_BINS) -> dict:
    """MIG and what it is made of: ``{"mig", "per_factor" [K], "mi" [D, K], "entropy" [K]}``."""
    codes, factors = np.asarray(codes), np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError("mig: codes [N, D] and factors [N, K] with the same N")
    if codes.shape[1] < 2:
        raise ValueError("mig needs at least two latent dimensions (a gap between the best two)")
    mi = mutual_information_matrix(codes, factors, bins=bins)
    h = np.array([entropy(factors[:, k]) for k in range(factors.shape[1])])
    top = np.sort(mi, axis=0)[::-1]
    per = np.where(h > 0, (top[0] - top[1]) / np.where(h > 0, h, 1.0), 0.0)
    return {"mig": float(per.mean()), "per_factor": per.tolist(), "mi": mi.tolist(), "entropy": h.tolist()}


def _entropy_base(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy of each row of the distributions ``p`` in base ``base``."""
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(1) / np.log(base)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) from an importance matrix R [D, K] (non-negative)."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    rows = r.sum(1)
    p_rows = r / np.where(rows > 0, rows, 1.0)[:, None]
    dis = 1.0 - _entropy_base(p_rows, k) if k > 1 else np.ones(d)
    disentanglement = float((rows / total * dis).sum())
    cols = r.sum(0)
    p_cols = (r / np.where(cols > 0, cols, 1.0)[None, :]).T
    com = 1.0 - _entropy_base(p_cols, d) if d > 1 else np.ones(k)
    completeness = float((cols / total * com).sum())
    return disentanglement, completeness


def dci(codes: np.ndarray, factors: np.ndarray, *, trees: int = DCI_TREES, seed: int = 0) -> dict:
    """DCI: ``{"disentanglement", "completeness", "informativeness", "importance" [D, K]}``.

    The predictors train on the first half of the images and are scored on the second."""
    from sklearn.ensemble import GradientBoostingClassifier   # heavy: only when measured

    codes, factors = np.asarray(codes, dtype=np.float64), np.asarray(factors)
    n = len(codes)
    if n < 20:
        raise ValueError("dci needs at least 20 images")
    half = n // 2
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    accuracy = []
    for k in range(factors.shape[1]):
        y = factors[:, k]
        if len(np.unique(y[:half])) < 2:
            accuracy.append(1.0)
            continue
        model = GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=seed)
        model.fit(codes[:half], y[:half])
        importance[:, k] = model.feature_importances_
        accuracy.append(float(model.score(codes[half:], y[half:])))
    d, c = dci_from_importance(importance)
    return {"disentanglement": d, "completeness": c, "informativeness": float(np.mean(accuracy)),
            "importance": importance.tolist()}


def factor_of_dimension(mi, entropies, names, active=None) -> list[str | None]:
    """For each latent dimension, the name of the factor it holds most information about,
    as a share of that factor's entropy, or None when no share reaches :data:`SILENT` or
    the dimension is not ``active`` (a collapsed dimension's tiny wobble, binned over its
    own tiny range, can look informative; the model's decoder ignores it)."""
    share = np.asarray(mi, dtype=np.float64) / np.maximum(np.asarray(entropies, dtype=np.float64), 1e-12)
    out: list[str | None] = []
    for j, row in enumerate(share):
        k = int(np.argmax(row))
        alive = active is None or bool(active[j])
        out.append(names[k] if alive and row[k] >= SILENT else None)
    return out
