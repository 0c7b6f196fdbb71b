"""The Explore page's view-model, as plain data (no Streamlit): the opened run, its encoded
points, and the :class:`View` the page draws from, built by :func:`build_view` from the
page's choices. Unit-tested like :mod:`explorer.analysis.latent` (tests/test_explore_model.py);
the page's widget state is :mod:`explorer.ui.explore_state`, its caches and drawing
:mod:`explorer.ui.explore`."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import data as data_mod
from .. import store
from ..analysis import latent
from ..analysis import projections
from ..config import RunConfig
from ..decoder_cache import model_file
from ..figures import latent as latent_figures
from ..figures.plane import plane_spec
from ..runs import RunEntry

MAX_POINTS = 10_000          # the whole MNIST test set
DEFAULT_MODEL = "shipped:digits-vae-z2-b1"
SOURCE_LABELS = {"probe": "validation images stored with the run",
                 "val": "validation split", "train": "training split"}
PROJECTIONS = {"pca": "PCA", "tsne": "t-SNE", "dims": "two dimensions"}
BACKGROUNDS = {"none": "nothing", "density": "aggregate posterior density",
               "manifold": "decoded manifold (grid size: Manifold tab)",
               "classifier": "what a classifier reads in the decodes"}
IMAGE_TABS = ["Manifold grid", "Traversals", "Interpolation", "Prior samples", "Encode your image"]
TOY_TABS = ["Data ↔ latent", "Traversals", "Interpolation", "Prior samples"]


def model_id(key: str) -> str:
    """A short id of a model's picker key (``shipped:<id>``, ``run:<id>``), for session keys."""
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def default_model(keys: list[str], asked: str | None) -> str:
    """The link's model when it is here, else the shipped 2-D VAE, else the first."""
    return asked if asked in keys else (DEFAULT_MODEL if DEFAULT_MODEL in keys else keys[0])


@dataclass
class Run:
    """The chosen run, opened: its entry, folder, weights' time and model."""
    key: str
    entry: RunEntry
    dir: Path
    mtime: float
    model: object
    config: RunConfig

    @property
    def mk(self) -> str:
        """A short id of the model's key for session-state keys."""
        return model_id(self.key)

    @property
    def weights(self) -> Path:
        """The file whose change means a new model (a tracked model's: its decoder graph)."""
        return model_file(self.dir)

    @property
    def D(self) -> int:
        return self.model.latent_dim

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def is_toy(self) -> bool:
        return len(self.model.data_shape) == 1

    @cached_property
    def config_json(self) -> str:
        return self.config.to_json()

    def sources(self) -> list[str]:
        """What can be encoded: the run's stored probe, the dataset's splits when on this server."""
        out = ["probe"] if (self.dir / store.PROBE).is_file() else []
        return out + (["val", "train"] if data_mod.available_offline(self.config.data) else [])


# ------------------------------------------------------------- the points

@dataclass
class Points:
    """The encoded points: their items, codes, labels and where each sits (μ or a sampled z)."""
    source: str | None
    position: str                        # "μ" or "sampled z"
    x: object = None                     # every item of the source (a tensor), or None
    y: object = None
    class_names: list | None = None
    idx: np.ndarray | None = None        # the encoded items' rows in ``x``
    mu: np.ndarray | None = None
    logvar: np.ndarray | None = None
    labels: np.ndarray | None = None

    @property
    def any(self) -> bool:
        return self.idx is not None

    @cached_property
    def z(self) -> np.ndarray:
        """Each point's position: its μ, or one draw z = μ + σ·ε."""
        if self.position == "sampled z":
            return latent.sample_z(self.mu, self.logvar, seed=1)
        return self.mu.astype(np.float64)

    def class_label(self, i: int) -> str:
        names = self.class_names
        return names[i] if names and i < len(names) else str(i)

    def classes(self) -> list:
        return sorted(np.unique(self.labels).tolist())

    def toy(self) -> dict | None:
        """The first 800 data points, for a toy set's data-space views."""
        if not self.any:
            return None
        return {"x": self.x[:800].numpy(), "y": None if self.y is None else self.y[:800].numpy(),
                "names": self.class_names}


def make_points(run: Run, source: str | None, enc: dict | None, position: str, items=None) -> Points:
    """The points the page shows: ``enc`` (:func:`explorer.ui.explore.encode_items`) of the
    ``items`` ``(x, y, class_names)`` of ``source``; none when nothing could be encoded."""
    d = run.D
    if enc is None:
        return Points(source, position, class_names=[], mu=np.zeros((0, d)), logvar=np.zeros((0, d)))
    x, y, names = items
    return Points(source, position, x, y, names, enc["idx"], enc["mu"], enc["logvar"], enc["y"])


# ------------------------------------------------------------ the view-model

@dataclass
class View:
    """What the page draws from: the run, its points, the plane, the z decoded now and
    the coordinates held for the dimensions a plane does not show."""
    run: Run
    points: Points
    specs: list[latent.DimSlider]             # the sliders, most important dimension first
    proj_kind: str                       # "pca", "tsne" or "dims"
    tsne_cap: int
    projection: projections.Projection             # z -> plane (t-SNE: the PCA plane its grids use)
    plane_pts: np.ndarray                # the shown points on the plane
    tsne_idx: np.ndarray | None          # t-SNE: which points it embeds (a capped subset)
    ranges: tuple
    grid_ranges: tuple                   # the decoder grids' extent (t-SNE: on the PCA plane)
    hold_mode: str
    hold: np.ndarray
    z: np.ndarray

    @property
    def invertible(self) -> bool:
        return self.proj_kind != "tsne"

    @property
    def slider_ranges(self) -> list:
        return latent.in_dim_order(self.specs)

    @property
    def shown_z(self) -> np.ndarray:
        z = self.points.z
        return z if self.tsne_idx is None else z[self.tsne_idx]

    @property
    def sig(self) -> str:
        """What a selection of points refers to: it is dropped when this changes."""
        return (f"{self.run.key}|{self.run.mtime}|{self.points.source}|{len(self.points.z)}|"
                f"{self.proj_kind}|{self.tsne_cap}|{self.points.position}")

    def component_plane(self) -> dict:
        """The plane of the latent-plane component beside the page's plotly plane: the same
        projection, ranges and ticks (:func:`~explorer.figures.plane.plane_ticks`), so a point
        sits at the same coordinates on both; for t-SNE, which has no inverse, the PCA plane."""
        return plane_spec(self.projection, self.hold, self.grid_ranges)

    def z_at(self, p) -> np.ndarray:
        """The z a point of the plane decodes: lifted (the others held), or for t-SNE,
        which has no inverse, the nearest embedded point's."""
        if self.invertible:
            return self.projection.lift(np.asarray(p), self.hold)
        return self.shown_z[projections.nearest_index(self.plane_pts, p)]

    def manifold_images(self, n: int) -> np.ndarray:
        """The decoder over an n×n grid of the plane, one forward pass: ``[n*n, ...]`` in
        :func:`~explorer.analysis.latent.grid_points` order."""
        _, imgs = latent.decode_grid(self.run.model, self.grid_ranges, n, self.hold, self.projection)
        return imgs

    def manifold(self, n: int) -> np.ndarray:
        """:meth:`manifold_images` tiled, a 1-pixel gap between tiles so that neighbouring
        decodes do not merge into stripes."""
        return latent_figures.manifold_tiles(self.manifold_images(n), n)


def build_view(run: Run, pts: Points, specs, proj_kind: str, dims, tsne_cap: int, hold_mode: str, hold,
               z_now, embed=projections.tsne_embed) -> View:
    """The view-model from the page's choices: the projection, the points on the plane, the
    plane's extent and the z decoded now (``z_now``). ``embed(z, cap)``: t-SNE (the page
    passes its cached one)."""
    d, z = run.D, pts.z
    if proj_kind == "dims" and d > 2:
        projection = projections.dims_projection(d, dims)
    else:
        projection = projections.pca_plane(z, d)
    tsne_idx = None
    if proj_kind == "tsne":
        tsne_idx, plane_pts = embed(z, tsne_cap)
        ranges = latent.plane_ranges(plane_pts, at_least=0.0)
        grid_ranges = latent.plane_ranges(projection.transform(z) if len(z) else np.zeros((0, 2)))
    else:
        plane_pts = projection.transform(z)
        ranges = grid_ranges = latent.plane_extent(plane_pts, projection.transform(np.zeros(d)))
    return View(run, pts, specs, proj_kind, tsne_cap, projection, plane_pts, tsne_idx, ranges,
                grid_ranges, hold_mode, np.zeros(d) if hold is None else np.asarray(hold, np.float64),
                np.asarray(z_now, np.float64))


@dataclass
class Overlay:
    """What the open tabs add to the plane: paths ``(points, name, colour)``, markers
    ``(p, name, colour, symbol)`` and σ-ellipses (:func:`sigma_ellipses`)."""
    paths: list = field(default_factory=list)
    markers: list = field(default_factory=list)
    ellipses: list = field(default_factory=list)


def plane_title(view: View) -> str:
    n, kind = len(view.points.z), view.proj_kind
    if kind == "pca":
        return f"PCA of {n} codes: {100 * view.projection.explained.sum():.0f}% of their variance in view"
    if kind == "tsne":
        return f"t-SNE of {len(view.plane_pts)} codes (a click decodes the nearest point)"
    source = SOURCE_LABELS.get(view.points.source, "points").capitalize()
    return f"{source}:<br>{n} encoded ({view.points.position})"   # two lines fit a narrow column


def sigma_ellipses(proj: projections.Projection, mu, logvar) -> tuple[np.ndarray, np.ndarray]:
    """q(z|x) on the plane, for each row of ``mu``: its means [N, 2] and covariances [N, 2, 2]
    (the plane draws their 1σ and 2σ contours, :func:`explorer.figures.plane_layers.ellipse_trace`)."""
    return proj.transform(mu).reshape(-1, 2), np.asarray(proj.project_cov(np.exp(logvar))).reshape(-1, 2, 2)


def join_gaussians(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Several :func:`sigma_ellipses` as one (None when there are none)."""
    if not parts:
        return None
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
