"""Projections of the latent space onto the 2-D plane a page draws: two chosen dimensions,
PCA (its own small implementation, checked against scikit-learn's in the tests) and t-SNE
(scikit-learn's, which has no inverse). A :class:`Projection` maps ``z -> p`` and back:
``lift(p, hold)`` is the vector ``hold`` with its in-plane coordinates replaced by ``p``.
Plain numpy (no Streamlit). The rest of the latent space's measures: :mod:`.latent`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

@dataclass
class Projection:
    """A linear map from the latent space to the plane, ``p = (z - mean) @ components.T``.

    ``components`` is 2×D with orthonormal rows (for a 1-D latent the second row is 0).
    ``kind`` is "dims" (two chosen dimensions) or "pca"; ``explained`` is PCA's explained
    variance ratio of the two components (None for "dims").
    """
    kind: str
    mean: np.ndarray
    components: np.ndarray
    axis_titles: tuple[str, str] = ("z₁", "z₂")
    explained: np.ndarray | None = None

    @property
    def latent_dim(self) -> int:
        return int(self.components.shape[1])

    def transform(self, z) -> np.ndarray:
        """``[N, D] -> [N, 2]`` (or ``[D] -> [2]``)."""
        z = np.asarray(z, dtype=np.float64)
        return (z - self.mean) @ self.components.T

    def lift(self, p, hold) -> np.ndarray:
        """Latent vectors whose plane coordinates are ``p`` and whose other coordinates are
        those of ``hold``: ``hold + (p - transform(hold)) @ components``. ``p`` is ``[2]`` or
        ``[N, 2]``; ``hold`` is ``[D]`` (or ``[N, D]``)."""
        p = np.asarray(p, dtype=np.float64)
        hold = np.asarray(hold, dtype=np.float64)
        return hold + (p - self.transform(hold)) @ self.components

    def project_cov(self, var) -> np.ndarray:
        """The 2×2 covariance on the plane of N(mu, diag(var)): ``C diag(var) Cᵀ``.
        ``var`` is ``[N, D]`` (variances); returns ``[N, 2, 2]``."""
        var = np.asarray(var, dtype=np.float64)
        c = self.components
        return np.einsum("id,nd,jd->nij", c, var, c)


def dims_projection(latent_dim: int, dims: tuple[int, int] = (0, 1)) -> Projection:
    """Two chosen latent dimensions as the plane's axes (for a 1-D latent: z₁ and a flat 0)."""
    c = np.zeros((2, latent_dim))
    if latent_dim == 1:
        c[0, 0] = 1.0
        return Projection("dims", np.zeros(1), c, ("z₁", "—"))
    a, b = int(dims[0]), int(dims[1])
    if a == b or not (0 <= a < latent_dim and 0 <= b < latent_dim):
        raise ValueError(f"choose two different dimensions between 1 and {latent_dim}")
    c[0, a] = c[1, b] = 1.0
    return Projection("dims", np.zeros(latent_dim), c, (f"z{_sub(a + 1)}", f"z{_sub(b + 1)}"))


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


@dataclass
class PCA:
    """Principal components of points ``z`` (rows): ``mean``, ``components`` (k×D,
    orthonormal rows, by decreasing variance), ``explained_variance`` and its ratio."""
    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray

    def transform(self, z) -> np.ndarray:
        return (np.asarray(z, dtype=np.float64) - self.mean) @ self.components.T

    def inverse_transform(self, p) -> np.ndarray:
        return np.asarray(p, dtype=np.float64) @ self.components + self.mean

    def projection(self) -> Projection:
        """The plane of the first two components (padded with 0 when there is only one)."""
        c = np.zeros((2, self.components.shape[1]))
        k = min(2, len(self.components))
        c[:k] = self.components[:k]
        ratio = np.zeros(2)
        ratio[:k] = self.explained_variance_ratio[:k]
        titles = tuple(f"PC{i + 1} ({100 * r:.0f}% of variance)" for i, r in enumerate(ratio))
        return Projection("pca", self.mean.copy(), c, titles, ratio)


def fit_pca(z, n_components: int | None = None) -> PCA:
    """PCA by the SVD of the centred points. Each component's sign is fixed so that its
    largest-magnitude coefficient is positive (stable across refits)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError("PCA needs at least two points (N×D)")
    n, d = z.shape
    k = min(n_components or d, d)
    mean = z.mean(0)
    # full_matrices: a complete orthonormal basis even with fewer points than dimensions
    _, s, vt = np.linalg.svd(z - mean, full_matrices=True)
    vt = vt[:k]
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    var = np.zeros(d)
    var[:len(s)] = s ** 2 / (n - 1)
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros(d)
    return PCA(mean, vt, var[:k], ratio[:k])


def pca_plane(z, latent_dim: int | None = None, *, through_origin: bool = False) -> Projection:
    """The one 2-D view of codes ``z`` ([N, D]) every page uses: the latent dimensions
    themselves when D ≤ 2 (or with fewer than two points), else the plane of the first two
    principal components (:func:`fit_pca`). ``through_origin``: the plane passes through
    z = 0 instead of the codes' mean, so the prior's circles stay centred (an orthonormal
    projection of N(0, I) is N(0, I₂))."""
    z = np.asarray(z, dtype=np.float64)
    d = int(latent_dim if latent_dim is not None else z.shape[1])
    if d <= 2 or len(z) < 2:
        return dims_projection(d)
    proj = fit_pca(z, 2).projection()
    if through_origin:
        proj.mean = np.zeros(d)
    return proj


def tsne_embed(z, max_points: int = 1500, seed: int = 0, perplexity: float = 30.0):
    """t-SNE of at most ``max_points`` rows of ``z`` (a seeded random subset when there are
    more). Returns ``(indices, embedding [n, 2])``. t-SNE has no inverse: a point of its
    plane decodes as its nearest embedded point (:func:`nearest_index`)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    z = np.asarray(z, dtype=np.float64)
    n = len(z)
    if n < 5:
        raise ValueError("t-SNE needs at least 5 points")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    perp = float(min(perplexity, (len(idx) - 1) / 3))
    # one thread: on a shared CPU, OpenMP threads spinning against each other make it 10-40× slower
    with threadpool_limits(1):
        emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed,
                   learning_rate="auto").fit_transform(z[idx])
    return idx, emb.astype(np.float64)


def nearest_index(points, p) -> int:
    """The row of ``points`` ([N, 2]) nearest to ``p``."""
    points = np.asarray(points, dtype=np.float64)
    return int(np.argmin(((points - np.asarray(p, dtype=np.float64)) ** 2).sum(1)))
