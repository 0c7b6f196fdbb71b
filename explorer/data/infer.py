"""Which dataset a path holds, for a path given without a dataset (``--data-path`` alone,
``explorer.fit("path/to/file")``).

:func:`infer_dataset` answers ``mnist``, ``fashion-mnist`` or ``file`` (the user's own
images or table), or raises :class:`~explorer.data.DataError` saying what to give instead;
it never guesses silently. MNIST and Fashion-MNIST share their file names and layout (four
IDX files, or an ``.npz`` with x_train, y_train, x_test, y_test), so they are told apart,
in this order, by the path's name ("fashion", "mnist"), by the SHA-256 of gzipped IDX files
(the published checksums), and by the mean pixel of the official test images (MNIST 0.13,
Fashion-MNIST 0.29); data in that layout that fits neither is refused with the flag to
give.
"""
from __future__ import annotations

import hashlib
import pathlib

import numpy as np

from .common import DEFAULT_MAX_BYTES, DataError
from .mnist import _REMOTES, IDX_FILES, _find_idx_files, _read_idx_folder, _read_split_npz

_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
_MEAN_PIXEL = {"mnist": (0.10, 0.16), "fashion-mnist": (0.26, 0.32)}   # official test images, /255
_ASK = ("say which with --dataset mnist or --dataset fashion-mnist (Python: dataset=...), "
        "or --dataset file to train them as your own images")


def infer_dataset(path: str | pathlib.Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """``(dataset, how)``: the dataset ``path`` holds and how that was told (for a message)."""
    p = pathlib.Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    by_name = _by_name(p)
    if p.is_dir():
        found = _find_idx_files(p)
        npz = next((q for q in (p / "mnist.npz", p / "fashion-mnist.npz") if q.is_file()), None)
        if npz is not None:
            return infer_dataset(npz, max_bytes=max_bytes)
        if not all(found.values()):
            raise DataError(f"{p}: a folder is read only when it holds the four IDX files "
                            f"({', '.join(IDX_FILES)}, gzipped or not); give the file itself for "
                            f"your own data (.npz, .npy or .csv)")
        if by_name:
            return by_name, "the folder's name"
        by_hash = _by_checksum(found)
        if by_hash:
            return by_hash, "the published checksums of its files"
        return _by_pixels(_read_idx_folder(p, max_bytes), p)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".npy"):
        return "file", "its file type"
    if suffix == ".gz" or any(p.name.startswith(n) for n in IDX_FILES):
        raise DataError(f"{p.name} is one IDX file: give the folder that holds all four")
    if suffix != ".npz":
        raise DataError(f"{p.name}: unsupported file type {suffix or '(no extension)'}; use .npz or .npy "
                        f"(images), .csv (a table), or a folder of MNIST-format IDX files")
    try:
        with np.load(p, allow_pickle=False) as f:
            keys = set(f.files)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{p.name}: not a readable .npz file ({e})") from None
    if not set(_SPLIT_KEYS) <= keys:
        return "file", "its arrays (your own data)"
    if by_name:
        return by_name, "the file's name"
    arrays = _read_split_npz(p, max_bytes)
    if not _official_layout(arrays):
        return "file", "its arrays (your own data, with a test split)"
    return _by_pixels(arrays, p)


def _by_name(p: pathlib.Path) -> str | None:
    text = str(p).lower().replace("_", "-")
    if "fashion" in text:
        return "fashion-mnist"
    return "mnist" if "mnist" in text else None


def _by_checksum(found: dict) -> str | None:
    for name, remote in _REMOTES.items():
        if all(f.suffix == ".gz" and hashlib.sha256(f.read_bytes()).hexdigest() == remote.sha256[f.name]
               for f in found.values()):
            return name
    return None


def _official_layout(arrays) -> bool:
    x, y, xt, yt = arrays
    return (x.shape[1:3] == (28, 28) and xt.shape[1:3] == (28, 28) and len(x) == 60_000
            and len(xt) == 10_000 and y.min() >= 0 and y.max() <= 9)


def _by_pixels(arrays, p: pathlib.Path) -> tuple[str, str]:
    if not _official_layout(arrays):
        raise DataError(f"{p}: holds MNIST-format files, but not the official 60,000 + 10,000 images: "
                        f"{_ASK}")
    xt = arrays[2]
    mean = float(np.asarray(xt, np.float64).mean() / (255.0 if xt.dtype.kind in "ui" else 1.0))
    for name, (lo, hi) in _MEAN_PIXEL.items():
        if lo <= mean <= hi:
            return name, f"the mean pixel of its test images ({mean:.2f})"
    raise DataError(f"{p}: 28×28 images in MNIST's layout, but neither MNIST nor Fashion-MNIST by their "
                    f"pixels (mean {mean:.2f}): {_ASK}")
