"""MNIST and Fashion-MNIST: where the files come from and how they are read.

Both are 28×28 greyscale images with the official 10,000-image test split as
validation. :func:`_idx_dataset` reads them, in this order of preference:

1. ``DataConfig.path``: an ``.npz`` with arrays x_train, y_train, x_test,
   y_test (the Keras layout), or a folder with the four original IDX files,
   gzipped or not;
2. such an ``.npz`` in the cache folder: ``<cache>/<name>/<name>.npz`` or
   ``<cache>/<name>.npz`` (e.g. ``~/.cache/latent-explorer/mnist/mnist.npz``);
3. the four IDX files in ``<cache>/<name>/``, downloaded there with pooch on
   first use (pooch verifies their SHA-256 checksums).

Whatever the source, the images and labels are validated and the checksum is
taken over the raw images and int64 labels, so an ``.npz`` and IDX files with
the same data agree.
"""
from __future__ import annotations

import gzip
import math
import pathlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..config import DataConfig
from .common import DataError, _hash_arrays, _over_limit, _shape, _Source
from .files import _check_size, _images, _labels, _read_npz

DIGIT_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# The four files of the original MNIST distribution, in the order
# training images, training labels, test images, test labels.
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_NPZ_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class _Remote:
    """One downloadable dataset: its name, where its IDX files are and what they hold."""

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

def _idx_dataset(cfg: DataConfig, cache_folder: pathlib.Path, max_bytes: int) -> _Source:
    """MNIST or Fashion-MNIST (``cfg.name``) from ``cfg.path`` or from ``cache_folder``,
    which is ``<cache>/<name>``."""
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
    elif (npz := _cached_npz(cache_folder)) is not None:
        arrays = _read_split_npz(npz, max_bytes)
        where = npz.name
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


def _in_cache(cache_folder: pathlib.Path) -> bool:
    """True when ``cache_folder`` (``<cache>/<name>``) can be read without downloading."""
    if _cached_npz(cache_folder) is not None:
        return True
    return all(p is not None for p in _find_idx_files(cache_folder).values())


def _cached_npz(cache_folder: pathlib.Path) -> pathlib.Path | None:
    """``<cache>/<name>/<name>.npz``, else ``<cache>/<name>.npz``, if either is a file."""
    file_name = cache_folder.name + ".npz"
    candidates = (cache_folder / file_name, cache_folder.parent / file_name)
    return next((p for p in candidates if p.is_file()), None)


def _where_to_put(remote: _Remote, folder: pathlib.Path) -> str:
    return (f"Whoever runs the server: put {folder.name}.npz into {folder.parent} (the folder the server "
            f"setting LATENT_EXPLORER_DATA names; no restart needed). Or put the four files {', '.join(n + '.gz' for n in IDX_FILES)} (gzipped, or uncompressed "
            f"without .gz) into {folder}, or an .npz file with arrays {', '.join(_NPZ_SPLIT_KEYS)} at "
            f"{folder / (folder.name + '.npz')}; or set data.path to such an .npz file or to a folder "
            f"holding those four {remote.title} files.")


def _download(remote: _Remote, folder: pathlib.Path, missing: list[str]) -> None:
    """Fetch the ``missing`` IDX files (as .gz) into ``folder``, checking their SHA-256."""
    import pooch

    for name in missing:
        fname = name + ".gz"
        url = remote.base_url + fname
        try:
            pooch.retrieve(url, known_hash="sha256:" + remote.sha256[fname], fname=fname,
                           path=folder, progressbar=False)
        except Exception as e:  # network, HTTP, file-system and checksum errors all mean the same here
            # one line that says what to do, never the exception's text (a learner reads it)
            why = ("the file downloaded did not match its checksum" if "hash" in str(e).lower() else
                   f"this server could not download it from {url.split('/')[2]}")
            raise DataError(f"{remote.title} is not on this server and {why}. "
                            f"{_where_to_put(remote, folder)}") from e


def _find_idx_files(folder: pathlib.Path) -> dict[str, pathlib.Path | None]:
    """Each IDX file in ``folder``, uncompressed or .gz, or None if absent."""
    found: dict[str, pathlib.Path | None] = {}
    for name in IDX_FILES:
        candidates = [folder / name, folder / (name + ".gz")]
        found[name] = next((p for p in candidates if p.is_file()), None)
    return found


def _read_idx_folder(folder: pathlib.Path, max_bytes: int) -> list[np.ndarray]:
    """The four IDX files of ``folder`` as arrays, in the order of IDX_FILES."""
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
        raise DataError(f"{path} unpacks to {_over_limit(max_bytes)}")
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
    """The arrays x_train, y_train, x_test, y_test of an .npz, in that order."""
    arrays = _read_npz(path, max_bytes)
    missing = [k for k in _NPZ_SPLIT_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{path.name} lacks the array(s) {', '.join(missing)} (found: {', '.join(arrays) or 'none'}); "
                        f"it needs {', '.join(_NPZ_SPLIT_KEYS)}, as in numpy.savez(path, x_train=..., y_train=..., "
                        f"x_test=..., y_test=...)")
    return [arrays[k] for k in _NPZ_SPLIT_KEYS]
