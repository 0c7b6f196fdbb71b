"""Datasets for Latent Explorer: reading, validating, splitting and binarising.

One entry point, :func:`load`, turns a :class:`~explorer.config.DataConfig`
into a :class:`Dataset`: contiguous float32 tensors in [0, 1], split into a
training and a validation part, with integer labels and class names where the
source has them, and a SHA-256 checksum of the raw source data for run
manifests.

Sources (``DataConfig.name``):

``digits``
    scikit-learn's 8×8 handwritten digits (shipped with scikit-learn, so it
    works offline), split into training and validation by ``val_fraction``.
``mnist``, ``fashion-mnist``
    28×28 greyscale images. Validation is the official 10,000-image test split
    (``val_fraction`` is ignored). Read from ``DataConfig.path`` when given (an
    ``.npz`` with arrays x_train, y_train, x_test, y_test, or a folder with the
    four original IDX files, gzipped or not), else from the cache folder
    (:func:`default_cache_dir`): from ``<name>/<name>.npz`` or ``<name>.npz``
    there if present, else from the IDX files in ``<name>/``, which are
    downloaded on first use with pooch, which verifies their SHA-256 checksums.
``shapes``
    32×32 binary images of a square, ellipse or triangle whose five generating
    factors (shape, scale, rotation, x, y) are known: ``n_points`` images made from
    ``split_seed`` by :mod:`.shapes` (offline, no download), split by ``val_fraction``.
    Labels are the shapes; ``factors_train``/``factors_val`` hold every factor.
``moons``, ``circles``, ``swissroll``, ``pinwheel``, ``gaussians``
    2-D toy sets generated from ``split_seed``, ``n_points`` and ``noise``,
    scaled into [0.05, 0.95], split by ``val_fraction``.
``file``
    The user's own images (``.npz``/``.npy``) or feature table (``.csv``),
    read by :func:`load_array_file`. Arrays are never unpickled.

Seeds: ``split_seed`` drives the train/validation split, the training subset,
the toy generators and the one-off binarisation of the validation split, so
the same configuration always gives the same tensors.

Every problem with the input raises :class:`DataError`, whose message says
what is wrong and what to do about it. scikit-learn and pooch are imported
only when a dataset needs them. Paths typed by visitors of the web app are
checked by :func:`confine_path` to lie in the server's data folders.

This package holds the public API and the common steps; the sources live in
:mod:`.mnist` (MNIST, Fashion-MNIST), :mod:`.files` (own files and array
validation), :mod:`.toys` (2-D toy sets) and :mod:`.shapes` (images with known factors),
on top of :mod:`.common`.
"""
from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import settings
from ..config import DATASETS_TOY, ConfigError, DataConfig
from .common import (_SPLIT_STREAM, _SUBSET_STREAM, DEFAULT_MAX_BYTES, DataError, _as_float32, _hash_arrays,
                     _rng, _Source)
from .checks import Footprint, check_array_file, inspect_file
from .files import DEFAULT_MAX_EXAMPLES, DEFAULT_MAX_FEATURES, MAX_SIDE, MIN_SIDE, _own_file, _read_own
from .mnist import DIGIT_CLASSES, FASHION_CLASSES, IDX_FILES, _REMOTES, _idx_dataset, _in_cache
from .shapes import _shapes
from .toys import _toy

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_EXAMPLES", "DEFAULT_MAX_FEATURES", "Footprint",
           "check_array_file", "inspect_file", "DIGIT_CLASSES", "FASHION_CLASSES", "IDX_FILES", "MAX_SIDE", "MIN_SIDE",
           "DataError", "Dataset", "available_offline", "binarize", "confine_path", "default_cache_dir",
           "describe", "load", "load_array_file"]


@dataclass
class Dataset:
    """Training and validation tensors plus what the UI and manifests need.

    ``x_*`` are contiguous float32 in [0, 1]: N×C×H×W for images, N×D for
    vectors. ``y_*`` are int64 class indices into ``class_names`` (or None).
    ``checksum`` is the SHA-256 of the raw source arrays (dtype, shape and
    bytes, before scaling, subset and split), so the same data gives the same
    checksum whether MNIST came from an .npz or from IDX files.
    ``binarize == "dynamic"`` means the training images are still grey and the
    trainer draws binary images from them each batch; the validation split is
    already binarised once. ``x_val_grey`` keeps the grey originals of the validation
    images (binarised data only), for pages to show what an image looked like.
    ``factors_*`` (``shapes`` only) are the generating factors of each image, as level
    indices in the order of :data:`explorer.data.shapes.FACTORS`.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_val: torch.Tensor
    y_val: torch.Tensor | None
    class_names: list[str] | None
    image_shape: tuple[int, int, int] | None
    checksum: str
    binarize: str = "none"
    x_val_grey: torch.Tensor | None = None
    factors_train: torch.Tensor | None = None   # generated sets: [N, F] level indices of each factor
    factors_val: torch.Tensor | None = None

    def val_display(self, n: int) -> torch.Tensor:
        """The first ``n`` validation items as a person should see them: grey, not the
        binary speckle a Bernoulli decoder is trained on."""
        grey = self.x_val_grey
        return grey[:n] if grey is not None and len(grey) >= min(n, len(self.x_val)) else self.x_val[:n]

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    @property
    def dim(self) -> int:
        return math.prod(self.data_shape)

    @property
    def n_classes(self) -> int:
        if self.class_names is not None:
            return len(self.class_names)
        labels = [y for y in (self.y_train, self.y_val) if y is not None and y.numel()]
        return max(int(y.max()) for y in labels) + 1 if labels else 0


# ------------------------------------------------------------------ public API

def default_cache_dir() -> pathlib.Path:
    """Folder for downloaded datasets: $LATENT_EXPLORER_DATA or ~/.cache/latent-explorer."""
    return settings.data_dir()


def load(cfg: DataConfig, *, cache_dir: str | os.PathLike | None = None,
         max_bytes: int = DEFAULT_MAX_BYTES, max_features: int = DEFAULT_MAX_FEATURES,
         max_examples: int = DEFAULT_MAX_EXAMPLES) -> Dataset:
    """Read, split, subset and binarise the dataset that ``cfg`` describes.

    ``cfg.path`` is used by mnist, fashion-mnist and file only. ``cache_dir``
    overrides :func:`default_cache_dir` for the MNIST downloads; ``max_bytes``
    caps the size of each file read (and of what a compressed file unpacks to);
    ``max_features`` and ``max_examples`` limit an own file's values per example and its
    examples, checked from its headers before it is parsed in full.
    """
    try:
        cfg.validate()
    except ConfigError as e:
        raise DataError(str(e)) from None
    if cfg.name == "digits":
        source = _digits()
    elif cfg.name in _REMOTES:
        root = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        source = _idx_dataset(cfg, root / cfg.name, max_bytes)
    elif cfg.name in DATASETS_TOY:
        source = _toy(cfg)
    elif cfg.name == "shapes":
        source = _shapes(cfg.n_points, cfg.split_seed)
    else:
        path = pathlib.Path(cfg.path or "").expanduser()
        _inspect_first(path, max_bytes, max_features, max_examples)
        source = _own_file(path, max_bytes, max_features, max_examples)
    return _assemble(cfg, source)


def available_offline(cfg: DataConfig, *, cache_dir: str | os.PathLike | None = None) -> bool:
    """True when :func:`load` can read ``cfg``'s data here without downloading anything."""
    if cfg.name in ("digits", "shapes") or cfg.is_toy:
        return True
    if cfg.path:
        return pathlib.Path(cfg.path).expanduser().exists()
    if cfg.name in ("mnist", "fashion-mnist"):
        return _in_cache(pathlib.Path(cache_dir or default_cache_dir()) / cfg.name)
    return False


def binarize(x: torch.Tensor, mode: str, *, threshold: float = 0.5,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary images from grey ones in [0, 1].

    "dynamic" samples each pixel from Bernoulli(x) (pass a seeded
    ``generator`` for reproducibility), "threshold" gives ``x > threshold``,
    "none" returns ``x`` unchanged.
    """
    if mode == "none":
        return x
    if mode == "threshold":
        return (x > threshold).float()
    if mode == "dynamic":
        return torch.bernoulli(x, generator=generator)
    raise DataError(f"binarize: {mode!r} is not one of none, dynamic, threshold")


def load_array_file(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
                    max_features: int = DEFAULT_MAX_FEATURES,
                    max_examples: int = DEFAULT_MAX_EXAMPLES) -> tuple[np.ndarray, np.ndarray | None]:
    """The user's own data as ``(x, y)``: float32 in [0, 1] and int64 labels or None.

    Accepted files (at most ``max_bytes``):

    * ``.npy``: one image array.
    * ``.npz``: arrays ``x`` (+ ``y``), or ``x_train`` (+ ``y_train``, and
      optionally ``x_test``/``y_test``), or a single array of any name. Other
      keys are ignored. A test split is used by :func:`load` as the
      validation split; this function returns the training part only.
    * ``.csv``: numeric features, one row per example, optional header line,
      optional integer column named ``label``. Each feature column is
      min-max scaled to [0, 1]; constant columns become 0.

    Images are N×H×W or N×H×W×C (channels last, C = 1, 3 or 4; the alpha
    channel of C = 4 is dropped) and are returned as N×C×H×W. Pixels are
    uint8 0..255 (divided by 255), other integers within 0..255 (likewise),
    booleans, or floats already in [0, 1]. Pickled/object arrays are never
    loaded.
    """
    path = pathlib.Path(path).expanduser()
    _inspect_first(path, max_bytes, max_features, max_examples)
    own = _read_own(path, max_bytes, max_features, max_examples)
    return _as_float32(own.x), own.y


def _inspect_first(path: pathlib.Path, max_bytes: int, max_features: int, max_examples: int) -> None:
    """An own file's headers and limits, checked before it is parsed in full (a CSV's parse
    makes that check itself in its first pass, a row at a time)."""
    if path.suffix.lower() != ".csv":
        inspect_file(path, max_bytes=max_bytes, max_features=max_features, max_examples=max_examples)


def describe(ds: Dataset) -> dict[str, Any]:
    """A plain-Python summary for a preview: sizes, shape, value range, labels."""
    lo = min(float(ds.x_train.min()), float(ds.x_val.min()))
    hi = max(float(ds.x_train.max()), float(ds.x_val.max()))
    label_counts = None
    if ds.y_train is not None:
        n_classes = ds.n_classes
        names = ds.class_names or [str(i) for i in range(n_classes)]
        counts = torch.bincount(ds.y_train, minlength=n_classes).tolist()
        label_counts = dict(zip(names, counts))
    return {
        "name": ds.name,
        "n_train": int(ds.x_train.shape[0]),
        "n_val": int(ds.x_val.shape[0]),
        "shape": ds.data_shape,
        "is_image": ds.is_image,
        "value_range": (lo, hi),
        "mean": float(ds.x_train.mean()),
        "n_classes": ds.n_classes,
        "label_counts": label_counts,  # training split
        "binarize": ds.binarize,
        "checksum": ds.checksum,
    }


# The one answer for every path outside the data folders: it says nothing about the
# server's files (whether the path exists, what it is), only where data may be.
_OUTSIDE_DATA_FOLDERS = ("That path is not in a data folder of this server. Put the files in the data "
                         "folder (setting LATENT_EXPLORER_DATA) or a folder listed in "
                         "LATENT_EXPLORER_DATA_DIRS, and give the path inside it.")


def confine_path(text: str, roots: Sequence[pathlib.Path]) -> pathlib.Path:
    """The resolved path that ``text`` names, if it lies inside one of ``roots``.

    For paths typed by visitors of the web app: ``roots`` are the data folder and
    the folders an administrator allows. A relative path is taken relative to the
    first root; ``~`` is the server's home. Symlinks and ``..`` are resolved before
    the check, so neither leads out of a root. Anything else, including an empty
    path or one with NUL bytes, raises :class:`DataError` with one fixed message.
    """
    try:
        if not roots or not isinstance(text, str) or not text.strip() or "\x00" in text:
            raise ValueError("not a usable path")
        allowed = [pathlib.Path(root).expanduser().resolve() for root in roots]
        path = pathlib.Path(text.strip()).expanduser()
        resolved = (allowed[0] / path).resolve()   # an absolute path replaces allowed[0]
    except (ValueError, TypeError, OSError, RuntimeError):
        raise DataError(_OUTSIDE_DATA_FOLDERS) from None
    if any(resolved.is_relative_to(root) for root in allowed):
        return resolved
    raise DataError(_OUTSIDE_DATA_FOLDERS)


# ------------------------------------------------------- split, subset, binarise

def _assemble(cfg: DataConfig, src: _Source) -> Dataset:
    """The steps common to all sources: split off a validation part (unless the source
    has one), draw the training subset, convert to float32 tensors and binarise."""
    if cfg.binarize != "none" and not src.is_image:
        raise DataError("binarisation is for images: set data.binarize to 'none' for this dataset")
    x, y, x_val, y_val = src.x, src.y, src.x_val, src.y_val
    f, f_val = src.factors, None
    if x_val is None:
        train_idx, val_idx = _split_indices(len(x), cfg.val_fraction, cfg.split_seed)
        x, y, x_val, y_val = x[train_idx], _take(y, train_idx), x[val_idx], _take(y, val_idx)
        f, f_val = _take(f, train_idx), _take(f, val_idx)
    if cfg.subset is not None:
        if cfg.subset > len(x):
            kind = "images" if src.is_image else "examples"
            raise DataError(f"subset {cfg.subset} is larger than the {len(x)} training {kind}: "
                            f"choose at most {len(x)}, or no subset to use them all")
        keep = _rng(cfg.split_seed, _SUBSET_STREAM).permutation(len(x))[: cfg.subset]
        x, y, f = x[keep], _take(y, keep), _take(f, keep)

    x_train_t, x_val_t = torch.from_numpy(_as_float32(x)), torch.from_numpy(_as_float32(x_val))
    grey = x_val_t.clone() if cfg.binarize != "none" else None      # to show, not to train on
    if cfg.binarize == "threshold":
        x_train_t = binarize(x_train_t, "threshold", threshold=cfg.threshold)
        x_val_t = binarize(x_val_t, "threshold", threshold=cfg.threshold)
    elif cfg.binarize == "dynamic":
        generator = torch.Generator().manual_seed(cfg.split_seed)
        x_val_t = binarize(x_val_t, "dynamic", generator=generator)
    image_shape = tuple(x_train_t.shape[1:]) if src.is_image else None
    return Dataset(
        name=cfg.name,
        x_train=x_train_t,
        y_train=_label_tensor(y),
        x_val=x_val_t,
        y_val=_label_tensor(y_val),
        class_names=src.class_names,
        image_shape=image_shape,
        checksum=src.checksum,
        binarize=cfg.binarize,
        x_val_grey=grey,
        factors_train=_label_tensor(f),
        factors_val=_label_tensor(f_val),
    )


def _split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_val = min(max(round(n * val_fraction), 1), n - 1)
    perm = _rng(seed, _SPLIT_STREAM).permutation(n)
    return perm[n_val:], perm[:n_val]


def _take(y: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if y is None else y[idx]


def _label_tensor(y: np.ndarray | None) -> torch.Tensor | None:
    return None if y is None else torch.from_numpy(y.astype(np.int64, order="C"))


# ------------------------------------------------------------------- digits

def _digits() -> _Source:
    """scikit-learn's 8×8 digits, their pixel values 0..16 scaled into [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data, target = bunch.data, bunch.target.astype(np.int64)
    x = (data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return _Source(x=x, y=target, x_val=None, y_val=None, class_names=list(DIGIT_CLASSES),
                   checksum=_hash_arrays(data, target), is_image=True)
