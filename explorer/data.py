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
    (:func:`default_cache_dir`), where the IDX files are downloaded on first
    use with pooch, which verifies their SHA-256 checksums.
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
only when a dataset needs them.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import math
import os
import pathlib
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import DATASETS_TOY, ConfigError, DataConfig

DEFAULT_MAX_BYTES = 200 * 2**20
MIN_SIDE, MAX_SIDE = 2, 256          # allowed image height/width for own files

DIGIT_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# The four files of the original MNIST distribution, in the order
# training images, training labels, test images, test labels.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_NPZ_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Independent random streams derived from split_seed.
_SPLIT_STREAM, _SUBSET_STREAM, _TOY_STREAM = 0, 1, 2


class DataError(ValueError):
    """The data cannot be used; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class _Remote:
    title: str
    base_url: str
    sha256: dict[str, str]           # by .gz file name
    class_names: list[str]


# SHA-256 of the .gz files as recorded by tensorflow_datasets
# (url_checksums/mnist.txt and fashion_mnist.txt). The ossci-datasets mirror
# serves byte-identical copies of the original MNIST files.
_REMOTES = {
    "mnist": _Remote(
        title="MNIST",
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        sha256={
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
        class_names=DIGIT_CLASSES,
    ),
    "fashion-mnist": _Remote(
        title="Fashion-MNIST",
        base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        sha256={
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
        class_names=FASHION_CLASSES,
    ),
}


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
    already binarised once.
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


@dataclass
class _Source:
    """Arrays as read, before the common split/subset/binarise steps."""

    x: np.ndarray                    # uint8 (0..255) or float32 in [0, 1]; N×C×H×W or N×D
    y: np.ndarray | None             # int64 class indices
    x_val: np.ndarray | None         # a fixed validation split, or None: split x by val_fraction
    y_val: np.ndarray | None
    class_names: list[str] | None
    checksum: str
    is_image: bool


# ------------------------------------------------------------------ public API

def default_cache_dir() -> pathlib.Path:
    """Folder for downloaded datasets: $LATENT_EXPLORER_DATA or ~/.cache/latent-explorer."""
    env = os.environ.get("LATENT_EXPLORER_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "latent-explorer"


def load(cfg: DataConfig, *, cache_dir: str | os.PathLike | None = None,
         max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """Read, split, subset and binarise the dataset that ``cfg`` describes.

    ``cfg.path`` is used by mnist, fashion-mnist and file only. ``cache_dir``
    overrides :func:`default_cache_dir` for the MNIST downloads; ``max_bytes``
    caps the size of each file read (and of what a compressed file unpacks to).
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
    else:
        source = _own_file(pathlib.Path(cfg.path or "").expanduser(), max_bytes)
    return _assemble(cfg, source)


def available_offline(cfg: DataConfig, *, cache_dir: str | os.PathLike | None = None) -> bool:
    """True when :func:`load` can read ``cfg``'s data here without downloading anything."""
    if cfg.name == "digits" or cfg.is_toy:
        return True
    if cfg.path:
        return pathlib.Path(cfg.path).expanduser().exists()
    if cfg.name in ("mnist", "fashion-mnist"):
        folder = pathlib.Path(cache_dir or default_cache_dir()) / cfg.name
        return all(p is not None for p in _find_idx_files(folder).values())
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


def load_array_file(path: str | os.PathLike, *,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[np.ndarray, np.ndarray | None]:
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
    own = _read_own(pathlib.Path(path).expanduser(), max_bytes)
    return _as_float32(own.x), own.y


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


# ------------------------------------------------------- split, subset, binarise

def _assemble(cfg: DataConfig, src: _Source) -> Dataset:
    if cfg.binarize != "none" and not src.is_image:
        raise DataError("binarisation is for images: set data.binarize to 'none' for this dataset")
    x, y, x_val, y_val = src.x, src.y, src.x_val, src.y_val
    if x_val is None:
        train_idx, val_idx = _split_indices(len(x), cfg.val_fraction, cfg.split_seed)
        x, y, x_val, y_val = x[train_idx], _take(y, train_idx), x[val_idx], _take(y, val_idx)
    if cfg.subset is not None:
        if cfg.subset > len(x):
            kind = "images" if src.is_image else "examples"
            raise DataError(f"subset {cfg.subset} is larger than the {len(x)} training {kind}: "
                            f"choose at most {len(x)}, or no subset to use them all")
        keep = _rng(cfg.split_seed, _SUBSET_STREAM).permutation(len(x))[: cfg.subset]
        x, y = x[keep], _take(y, keep)

    x_train_t, x_val_t = torch.from_numpy(_as_float32(x)), torch.from_numpy(_as_float32(x_val))
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
    )


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_val = min(max(round(n * val_fraction), 1), n - 1)
    perm = _rng(seed, _SPLIT_STREAM).permutation(n)
    return perm[n_val:], perm[:n_val]


def _take(y: np.ndarray | None, idx: np.ndarray) -> np.ndarray | None:
    return None if y is None else y[idx]


def _as_float32(x: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy in [0, 1] of uint8 or float32 data."""
    out = x.astype(np.float32, order="C")
    if x.dtype == np.uint8:
        out /= 255
    return out


def _label_tensor(y: np.ndarray | None) -> torch.Tensor | None:
    return None if y is None else torch.from_numpy(y.astype(np.int64, order="C"))


def _hash_arrays(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


# ------------------------------------------------------------------- digits

def _digits() -> _Source:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    data, target = bunch.data, bunch.target.astype(np.int64)
    x = (data / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return _Source(x=x, y=target, x_val=None, y_val=None, class_names=list(DIGIT_CLASSES),
                   checksum=_hash_arrays(data, target), is_image=True)


# ------------------------------------------------------- MNIST-style IDX data

def _idx_dataset(cfg: DataConfig, cache_folder: pathlib.Path, max_bytes: int) -> _Source:
    remote = _REMOTES[cfg.name]
    if cfg.path:
        path = pathlib.Path(cfg.path).expanduser()
        if path.is_dir():
            arrays = _read_idx_folder(path, max_bytes)
            where = str(path)
        elif path.is_file() and path.suffix.lower() == ".npz":
            arrays = _read_split_npz(path, max_bytes)
            where = path.name
        elif not path.exists():
            raise DataError(f"data.path {path} does not exist. {_where_to_put(remote, cache_folder)}")
        else:
            raise DataError(f"data.path {path} is neither an .npz file nor a folder. "
                            f"{_where_to_put(remote, cache_folder)}")
    else:
        missing = [name for name, p in _find_idx_files(cache_folder).items() if p is None]
        if missing:
            _download(remote, cache_folder, missing)
        arrays = _read_idx_folder(cache_folder, max_bytes)
        where = str(cache_folder)

    x_train, y_train, x_test, y_test = arrays
    x_train = _images(x_train, f"{where}: training images")
    x_test = _images(x_test, f"{where}: test images")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(f"{where}: training images are {_shape(x_train.shape[1:])} but test images are "
                        f"{_shape(x_test.shape[1:])}; both splits must have the same image size")
    y_train = _labels(y_train, len(x_train), f"{where}: training labels")
    y_test = _labels(y_test, len(x_test), f"{where}: test labels")
    n_classes = len(remote.class_names)
    for y, split in ((y_train, "training"), (y_test, "test")):
        if y.min() < 0 or y.max() >= n_classes:
            raise DataError(f"{where}: {split} labels must lie in 0..{n_classes - 1} for {remote.title}, "
                            f"found {y.min()}..{y.max()}; is this really {remote.title}?")
    # raw images and int64 labels, so an .npz and IDX files with the same data agree
    checksum = _hash_arrays(arrays[0], y_train, arrays[2], y_test)
    return _Source(x=x_train, y=y_train, x_val=x_test, y_val=y_test, class_names=list(remote.class_names),
                   checksum=checksum, is_image=True)


def _where_to_put(remote: _Remote, folder: pathlib.Path) -> str:
    return (f"Put the four files {', '.join(n + '.gz' for n in IDX_FILES)} (gzipped, or uncompressed "
            f"without .gz) into {folder}, or set data.path to an .npz file with arrays "
            f"{', '.join(_NPZ_SPLIT_KEYS)} or to a folder holding those four {remote.title} files.")


def _download(remote: _Remote, folder: pathlib.Path, missing: list[str]) -> None:
    import pooch

    for name in missing:
        fname = name + ".gz"
        url = remote.base_url + fname
        try:
            pooch.retrieve(url, known_hash="sha256:" + remote.sha256[fname], fname=fname,
                           path=folder, progressbar=False)
        except Exception as e:  # network, HTTP, file-system and checksum errors all mean the same here
            reason = f"{type(e).__name__}: {e}"
            if len(reason) > 300:
                reason = reason[:300] + "…"
            raise DataError(f"{remote.title} is not available: downloading {url} failed ({reason}). "
                            f"{_where_to_put(remote, folder)}") from e


def _find_idx_files(folder: pathlib.Path) -> dict[str, pathlib.Path | None]:
    """Each IDX file in ``folder``, uncompressed or .gz, or None if absent."""
    found: dict[str, pathlib.Path | None] = {}
    for name in IDX_FILES:
        candidates = [folder / name, folder / (name + ".gz")]
        found[name] = next((p for p in candidates if p.is_file()), None)
    return found


def _read_idx_folder(folder: pathlib.Path, max_bytes: int) -> list[np.ndarray]:
    found = _find_idx_files(folder)
    missing = [name for name, p in found.items() if p is None]
    if missing:
        raise DataError(f"{folder} lacks {', '.join(missing)} (each may be gzipped, ending in .gz). "
                        f"It needs the four IDX files {', '.join(IDX_FILES)}.")
    return [_read_idx(p, max_bytes) for p in found.values()]


def _read_idx(path: pathlib.Path, max_bytes: int) -> np.ndarray:
    """Parse one IDX file (unsigned-byte data only), gzipped if its name ends in .gz.

    Layout: two zero bytes, a type code (0x08 = unsigned byte), the number of
    dimensions, each dimension as a big-endian uint32, then the data.
    """
    _check_size(path, max_bytes)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is corrupt ({e}): download it again") from None
    if len(raw) > max_bytes:
        raise DataError(f"{path} unpacks to more than {_mib(max_bytes)}: use a smaller file or raise the limit")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path} is not an IDX file (bad magic number): download it again")
    type_code, ndim = raw[2], raw[3]
    if type_code != 0x08:
        raise DataError(f"{path} holds IDX type 0x{type_code:02x}; only unsigned bytes (0x08) are supported")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path} has a broken IDX header: download it again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(dims)
    if len(raw) - header != expected:
        problem = "is truncated" if len(raw) - header < expected else "has extra bytes at the end"
        raise DataError(f"{path} {problem}: its header promises {_shape(dims)} = {expected} bytes of data but "
                        f"it holds {len(raw) - header}; download it again")
    return np.frombuffer(raw, dtype=np.uint8, count=expected, offset=header).reshape(dims)


def _read_split_npz(path: pathlib.Path, max_bytes: int) -> list[np.ndarray]:
    arrays = _read_npz(path, max_bytes)
    missing = [k for k in _NPZ_SPLIT_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path.name} lacks the array(s) {', '.join(missing)} (found: {', '.join(arrays) or 'none'}); "
                        f"it needs {', '.join(_NPZ_SPLIT_KEYS)}, as in numpy.savez(path, x_train=..., y_train=..., "
                        f"x_test=..., y_test=...)")
    return [arrays[k] for k in _NPZ_SPLIT_KEYS]


# ------------------------------------------------------------------ toy sets

def _toy(cfg: DataConfig) -> _Source:
    n, noise, seed = cfg.n_points, cfg.noise, cfg.split_seed
    if cfg.name == "moons":
        from sklearn.datasets import make_moons

        points, labels = make_moons(n_samples=n, noise=noise, random_state=seed)
        names = ["upper moon", "lower moon"]
    elif cfg.name == "circles":
        from sklearn.datasets import make_circles

        points, labels = make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
        names = ["outer circle", "inner circle"]
    elif cfg.name == "swissroll":
        from sklearn.datasets import make_swiss_roll

        xyz, t = make_swiss_roll(n_samples=n, noise=noise, random_state=seed)
        points = xyz[:, [0, 2]]
        # t runs over [1.5π, 4.5π]; six equal bins from the centre outwards
        labels = np.clip(((t - 1.5 * np.pi) / (3 * np.pi) * 6).astype(np.int64), 0, 5)
        names = [f"segment {i + 1}" for i in range(6)]
    elif cfg.name == "pinwheel":
        points, labels = _pinwheel(n, noise, _rng(seed, _TOY_STREAM))
        names = [f"arm {i + 1}" for i in range(5)]
    else:
        points, labels = _gaussians(n, noise, _rng(seed, _TOY_STREAM))
        names = [f"component {i + 1}" for i in range(8)]
    labels = labels.astype(np.int64)
    return _Source(x=_scale_into_unit_square(points), y=labels, x_val=None, y_val=None,
                   class_names=names, checksum=_hash_arrays(points, labels), is_image=False)


def _pinwheel(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The 5-arm pinwheel of Johnson et al. (2016), plus isotropic jitter of std ``noise``.

    Radial std 0.3, tangential std 0.05, rate 0.25, as in the SVAE code
    (without its final ×10, which the scaling to [0, 1] undoes anyway).
    """
    arms = 5
    labels = rng.permutation(np.arange(n) % arms)
    features = rng.standard_normal((n, 2)) * np.array([0.3, 0.05])
    features[:, 0] += 1.0
    angles = 2 * np.pi * labels / arms + 0.25 * np.exp(features[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    points = np.stack([features[:, 0] * cos + features[:, 1] * sin,
                       -features[:, 0] * sin + features[:, 1] * cos], axis=1)
    return points + noise * rng.standard_normal((n, 2)), labels


def _gaussians(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Eight isotropic Gaussians of std ``noise`` centred evenly on the unit circle."""
    labels = rng.permutation(np.arange(n) % 8)
    angles = 2 * np.pi * labels / 8
    centres = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres + noise * rng.standard_normal((n, 2)), labels


def _scale_into_unit_square(points: np.ndarray) -> np.ndarray:
    """Min-max scale into [0.05, 0.95], keeping the aspect ratio.

    The longer axis spans the full [0.05, 0.95]; the other is centred, so
    circles stay round.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = max(float((hi - lo).max()), 1e-12)
    return (0.5 + 0.9 * (points - (lo + hi) / 2) / span).astype(np.float32)


# ---------------------------------------------------------------- own files

def _own_file(path: pathlib.Path, max_bytes: int) -> _Source:
    own = _read_own(path, max_bytes)
    y, y_val, class_names = own.y, own.y_val, None
    present = [a for a in (y, y_val) if a is not None]
    if present:
        # Relabel to 0..K-1; the original label values become the class names.
        values = np.unique(np.concatenate(present))
        class_names = [str(v) for v in values]
        y = None if y is None else np.searchsorted(values, y)
        y_val = None if y_val is None else np.searchsorted(values, y_val)
    return _Source(x=own.x, y=y, x_val=own.x_val, y_val=y_val, class_names=class_names,
                   checksum=own.checksum, is_image=own.is_image)


@dataclass
class _OwnData:
    x: np.ndarray                    # uint8 or float32, N×C×H×W or N×D
    y: np.ndarray | None             # int64, as in the file
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    checksum: str
    is_image: bool


def _read_own(path: pathlib.Path, max_bytes: int) -> _OwnData:
    _require_file(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".csv"):
        raise DataError(f"{path.name}: unsupported file type {suffix or '(no extension)'}; "
                        f"use .npz or .npy (images) or .csv (feature table)")
    _check_size(path, max_bytes)
    if suffix == ".csv":
        raw, x, y = _read_csv(path)
        return _OwnData(x=x, y=y, x_val=None, y_val=None, checksum=_hash_arrays(raw), is_image=False)

    if suffix == ".npy":
        arrays = {"x": _read_npy(path)}
        keys: tuple[str | None, ...] = ("x", None, None, None)
    else:
        arrays = _read_npz(path, max_bytes)
        keys = _npz_layout(arrays, path.name)
    x_key, y_key, xt_key, yt_key = keys
    x = _images(arrays[x_key], f"{path.name}: array {x_key!r}")
    y = _labels(arrays[y_key], len(x), f"{path.name}: labels {y_key!r}") if y_key else None
    x_val = y_val = None
    if xt_key:
        x_val = _images(arrays[xt_key], f"{path.name}: array {xt_key!r}")
        if x_val.shape[1:] != x.shape[1:]:
            raise DataError(f"{path.name}: {x_key!r} holds {_shape(x.shape[1:])} images but {xt_key!r} holds "
                            f"{_shape(x_val.shape[1:])}; both splits need the same image size")
        if (y is None) != (yt_key is None):
            have, lack = (y_key, "y_test") if y is not None else (yt_key, "y_train")
            raise DataError(f"{path.name}: has labels {have!r} but no {lack!r}; give labels for both "
                            f"splits or for neither")
        y_val = _labels(arrays[yt_key], len(x_val), f"{path.name}: labels {yt_key!r}") if yt_key else None
    checksum = _hash_arrays(*(arrays[k] if k else None for k in keys))
    return _OwnData(x=x, y=y, x_val=x_val, y_val=y_val, checksum=checksum, is_image=True)


def _npz_layout(arrays: dict[str, np.ndarray], where: str) -> tuple[str | None, ...]:
    """Which keys hold (x, y, x_test, y_test); absent ones are None."""
    if "x_train" in arrays:
        names = ("x_train", "y_train", "x_test", "y_test")
    elif "x" in arrays:
        names = ("x", "y", None, None)
    elif len(arrays) == 1:
        names = (next(iter(arrays)), None, None, None)
    elif not arrays:
        raise DataError(f"{where}: the .npz file holds no arrays")
    else:
        raise DataError(f"{where}: cannot tell which array holds the images (found {', '.join(arrays)}); "
                        f"name them x (with labels y), or x_train/y_train (optionally with x_test/y_test), "
                        f"or store a single array")
    if names[3] in arrays and names[2] not in arrays:
        raise DataError(f"{where}: has y_test but no x_test")
    return tuple(k if k in arrays else None for k in names)


def _read_npy(path: pathlib.Path) -> np.ndarray:
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise DataError(f"{path.name} is not a .npy file: save the array with numpy.save")
        f.seek(0)
        _check_npy_header(f, path.stat().st_size, path.name)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(_unreadable(path.name, e)) from None


def _read_npz(path: pathlib.Path, max_bytes: int) -> dict[str, np.ndarray]:
    """All arrays of an .npz, refusing pickles, corrupt archives and zip bombs."""
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
            if unpacked > max_bytes:
                raise DataError(f"{path.name} unpacks to {_mib(unpacked)}, more than the limit of "
                                f"{_mib(max_bytes)}: use fewer or smaller images")
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with zf.open(info) as f:
                        _check_npy_header(f, info.file_size, f"{path.name}: member {info.filename!r}")
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as e:
        raise DataError(f"{path.name} is not a valid .npz file ({e}): save it with numpy.savez "
                        f"or numpy.savez_compressed") from None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(_unreadable(path.name, e)) from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):   # numpy hands back members that are not .npy as bytes
            raise DataError(f"{path.name}: member {key!r} is not a NumPy array: "
                            f"save the file with numpy.savez or numpy.savez_compressed")
    return arrays


def _check_npy_header(f, size: int, where: str) -> None:
    """The shape in a .npy header must fit in the ``size`` bytes that hold it: numpy allocates
    the whole declared array before reading, so a lying header (a tiny file claiming
    10,000×10,000×10,000 pixels) would otherwise exhaust the server's memory."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):           # 3.0 differs only by UTF-8 field names
            shape, _, dtype = fmt.read_array_header_2_0(f)
        else:
            return                      # an unknown version: np.load refuses it
        if dtype.hasobject:
            return                      # refused by np.load(allow_pickle=False), unread
        declared = math.prod(shape) * dtype.itemsize
        header = f.tell()
    except (ValueError, TypeError, OverflowError, EOFError):
        return                          # not a .npy header: np.load reports it
    if declared > size - header:
        raise DataError(f"{where}: its header promises an array of shape {_shape(tuple(shape))} "
                        f"({_mib(declared)}) but the file holds only {_mib(max(size - header, 0))}; "
                        f"the file is damaged or not written by numpy.save")


def _unreadable(name: str, e: Exception) -> str:
    return (f"{name} cannot be read safely ({e}). Arrays of Python objects are never unpickled: "
            f"save plain numeric arrays with numpy.save or numpy.savez")


def _images(a: np.ndarray, where: str) -> np.ndarray:
    """Validated images as C-contiguous N×C×H×W, uint8 (0..255) or float32 in [0, 1]."""
    if a.dtype.kind not in "buif":
        raise DataError(f"{where}: pixel values must be numbers, found dtype {a.dtype}")
    if a.size == 0:
        raise DataError(f"{where}: the array is empty (shape {a.shape}); it needs at least 2 images")
    if a.ndim == 3:
        a = a[:, None]
    elif a.ndim == 4 and a.shape[3] in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)[:, :3]   # channels first; drop alpha
    elif a.ndim == 4:
        raise DataError(f"{where}: shape {a.shape} has {a.shape[3]} channels in the last axis; expected "
                        f"N×H×W×C with C = 1, 3 or 4 (channels last). For channels-first data, "
                        f"use x.transpose(0, 2, 3, 1) before saving")
    else:
        raise DataError(f"{where}: expected images of shape N×H×W or N×H×W×C, got shape {a.shape} "
                        f"({a.ndim} axes). For feature vectors, use a .csv file")
    n, _, h, w = a.shape
    if n < 2:
        raise DataError(f"{where}: found {n} image; at least 2 are needed to train and validate")
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DataError(f"{where}: images are {h}×{w} pixels; height and width must be between "
                        f"{MIN_SIDE} and {MAX_SIDE}; resize them before saving")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "b":
        return a.astype(np.float32, order="C")
    if a.dtype.kind in "ui":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: integer pixel values must lie in 0..255, found {lo}..{hi}; "
                            f"scale them to 0..255 (uint8) or to floats in [0, 1]")
        return a.astype(np.uint8, order="C")
    if not np.isfinite(a).all():
        raise DataError(f"{where}: contains NaN or infinite values; remove or replace them")
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{where}: float pixel values must already lie in [0, 1], found {lo:g}..{hi:g}; "
                        f"rescale them (e.g. x / 255 for 8-bit images) or save them as uint8")
    return a.astype(np.float32, order="C")


def _labels(a: np.ndarray, n: int, where: str) -> np.ndarray:
    """Validated labels: one whole number per example, as int64."""
    if a.dtype.kind not in "buif":
        raise DataError(f"{where}: labels must be whole numbers, found dtype {a.dtype}")
    if a.ndim != 1:
        raise DataError(f"{where}: labels must be a flat list (1 axis), got shape {a.shape}")
    if len(a) != n:
        raise DataError(f"{where}: {len(a)} labels for {n} examples; give exactly one label per example")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            raise DataError(f"{where}: labels must be whole numbers, found {a[bad][0]:g}")
    return a.astype(np.int64)


def _read_csv(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(raw values, features scaled to [0, 1], labels or None) of a numeric CSV file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path.name} is not a readable CSV text file ({e})") from None
    if not rows:
        raise DataError(f"{path.name} holds no data")
    header: list[str] | None = None
    if not all(_is_number(cell) for cell in rows[0][1]):
        header = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
    if len(rows) < 2:
        raise DataError(f"{path.name}: found {len(rows)} data row(s); at least 2 are needed")
    width = len(header) if header is not None else len(rows[0][1])
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path.name}, line {line}: {len(row)} cells where the file has {width} columns")
    try:
        raw = np.array([row for _, row in rows], dtype=np.float64)
    except ValueError:
        line, col, cell = next((line, j, cell) for line, row in rows for j, cell in enumerate(row)
                               if not _is_number(cell))
        column = repr(header[col]) if header is not None else str(col + 1)
        raise DataError(f"{path.name}, line {line}, column {column}: {cell!r} is not a number. The file must "
                        f"hold comma-separated numbers, with an optional header line and an optional "
                        f"integer 'label' column") from None
    if not np.isfinite(raw).all():
        line, row = rows[int(np.argwhere(~np.isfinite(raw))[0, 0])]
        raise DataError(f"{path.name}, line {line}: contains NaN or infinite values; remove or replace them")

    label_col = None
    if header is not None:
        label_col = next((j for j, name in enumerate(header) if name.lower() == "label"), None)
    labels = None
    if label_col is not None:
        labels = _labels(raw[:, label_col], len(raw), f"{path.name}: column 'label'")
        features = np.delete(raw, label_col, axis=1)
    else:
        features = raw
    if features.shape[1] == 0:
        raise DataError(f"{path.name}: has a label column but no feature columns")
    lo, span = features.min(axis=0), np.ptp(features, axis=0)
    span[span == 0] = 1.0
    return raw, ((features - lo) / span).astype(np.float32), labels


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------- helpers

def _require_file(path: pathlib.Path) -> None:
    if not path.exists():
        raise DataError(f"{path} does not exist: check the path")
    if not path.is_file():
        raise DataError(f"{path} is not a file")


def _check_size(path: pathlib.Path, max_bytes: int) -> None:
    """The file must exist and be at most ``max_bytes``; checked before reading it."""
    _require_file(path)
    size = os.path.getsize(path)
    if size > max_bytes:
        raise DataError(f"{path.name} is {_mib(size)}, more than the limit of {_mib(max_bytes)}: "
                        f"use a smaller file, e.g. fewer images")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _shape(dims: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in dims)
