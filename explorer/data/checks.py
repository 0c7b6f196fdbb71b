"""Own data files checked before they are parsed in full, at a cost bounded by their size.

A visitor's upload is checked on the app server, and a file is looked at before a run is
admitted (the memory estimate needs its size), so neither may cost more than a small
multiple of the file: a 40 MB CSV of 10 million columns parsed by ``csv`` and numpy took
the server from 550 to 1,443 MB, and a 20 KB ``.npz`` can unpack to a gigabyte.

* :func:`inspect_file`: what a file holds, from its headers (``.npy``, each ``.npz``
  member's ``.npy`` header) or one streaming pass (``.csv``, a row at a time); the
  settings' limits on examples and on values per example are checked here.
* :func:`check_array_file`: :func:`inspect_file`, then every value read a chunk at a time
  (pixel ranges, NaN, whole-number labels), with the same messages as the full read
  (:func:`explorer.data.files._read_own`), which the worker does under its memory budget.

Arrays of Python objects are refused from their header: nothing is ever unpickled.
"""
from __future__ import annotations

import math
import pathlib
import zipfile
import zlib
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from .common import DataError, _mib, _over_limit
from .files import (DEFAULT_MAX_EXAMPLES, DEFAULT_MAX_FEATURES, _check_size, _csv_shape, _image_layout,
                    _label_layout, _label_values, _npz_layout, _require_file, _unreadable, _ValueRange)

CHUNK_BYTES = 2**20            # values are checked this many bytes at a time (zipfile copies a read ~3 times)


@dataclass(frozen=True)
class Footprint:
    """What a data file holds: enough to estimate a run's memory without reading it."""
    n: int                          # examples in all splits
    item_shape: tuple[int, ...]     # (C, H, W) for images, (D,) for a table
    itemsize: int                   # bytes per value as read (uint8 images: 1; a CSV: 8)
    is_image: bool


@dataclass
class _Array:
    """One array of a file, as its ``.npy`` header describes it."""
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    open: object                    # () -> a binary stream positioned at the first value


def _header(f, size: int, where: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an open ``.npy`` stream (left at its first value)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(f)
    except (ValueError, TypeError, OverflowError, EOFError, SyntaxError) as e:
        raise DataError(_unreadable(name, e)) from None
    if dtype.hasobject:
        raise DataError(_unreadable(name, "Object arrays cannot be loaded when allow_pickle=False"))
    declared, header = math.prod(shape) * dtype.itemsize, f.tell()
    if declared > size - header:
        raise DataError(f"{where}: its header promises an array of shape {'×'.join(map(str, shape))} "
                        f"({_mib(declared)}) but the file holds only {_mib(max(size - header, 0))}; "
                        f"the file is damaged or not written by numpy.save")
    return tuple(int(s) for s in shape), dtype


def _npy_arrays(path: pathlib.Path) -> dict[str, _Array]:
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise DataError(f"{path.name} is not a .npy file: save the array with numpy.save")
        f.seek(0)
        shape, dtype = _header(f, path.stat().st_size, path.name, path.name)
        offset = f.tell()

    def opener():
        f = open(path, "rb")
        f.seek(offset)
        return f
    return {"x": _Array("x", shape, dtype, opener)}


def _npz_arrays(path: pathlib.Path, max_bytes: int) -> dict[str, _Array]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as e:
        raise DataError(f"{path.name} is not a valid .npz file ({e}): save it with numpy.savez "
                        f"or numpy.savez_compressed") from None
    unpacked = sum(info.file_size for info in infos)
    if unpacked > max_bytes:
        raise DataError(f"{path.name} unpacks to {_mib(unpacked)}, {_over_limit(max_bytes)}")
    arrays = {}
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        where = f"{path.name}: member {info.filename!r}"
        try:
            with zipfile.ZipFile(path) as zf, zf.open(info) as f:
                if f.read(6) != b"\x93NUMPY":
                    raise DataError(f"{path.name}: member {key!r} is not a NumPy array: save the file "
                                    f"with numpy.savez or numpy.savez_compressed")
            with zipfile.ZipFile(path) as zf, zf.open(info) as f:
                shape, dtype = _header(f, info.file_size, where, path.name)
                skip = f.tell()
        except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as e:
            raise DataError(f"{path.name} is not a valid .npz file ({e}): save it with numpy.savez "
                            f"or numpy.savez_compressed") from None

        def opener(info=info, skip=skip):
            stack = ExitStack()
            zf = stack.enter_context(zipfile.ZipFile(path))
            f = zf.open(info)
            f.read(skip)
            f.close_all = stack.close
            return f
        arrays[key] = _Array(key, shape, dtype, opener)
    return arrays


def _arrays(path: pathlib.Path, max_bytes: int) -> tuple[dict[str, _Array], tuple[str | None, ...]]:
    """The arrays of an image file and which of them are (x, y, x_test, y_test)."""
    if path.suffix.lower() == ".npy":
        arrays = _npy_arrays(path)
        return arrays, ("x", None, None, None)
    arrays = _npz_arrays(path, max_bytes)
    return arrays, _npz_layout(arrays, path.name)


def _start(path: pathlib.Path, max_bytes: int) -> str:
    _require_file(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".csv"):
        raise DataError(f"{path.name}: unsupported file type {suffix or '(no extension)'}; "
                        f"use .npz or .npy (images) or .csv (feature table)")
    _check_size(path, max_bytes)
    return suffix


def inspect_file(path: str | pathlib.Path, *, max_bytes: int, max_features: int = DEFAULT_MAX_FEATURES,
                 max_examples: int = DEFAULT_MAX_EXAMPLES) -> Footprint:
    """What an own data file holds, checked against the limits, without reading its values
    into memory (a CSV is read once, a row at a time). Raises :class:`DataError`."""
    return _inspect(pathlib.Path(path).expanduser(), max_bytes, max_features, max_examples)[0]


def _inspect(path, max_bytes, max_features, max_examples):
    suffix = _start(path, max_bytes)
    if suffix == ".csv":
        n, width, header = _csv_shape(path, max_features, max_examples)
        labelled = header is not None and any(h.lower() == "label" for h in header)
        return Footprint(n, (width - labelled,), 8, False), {}, (None, None, None, None)
    arrays, keys = _arrays(path, max_bytes)
    x_key, y_key, xt_key, yt_key = keys
    x = arrays[x_key]
    n, c, h, w = _image_layout(x.shape, x.dtype, f"{path.name}: array {x_key!r}", max_features, max_examples)
    if y_key:
        _label_layout(arrays[y_key].shape, arrays[y_key].dtype, n, f"{path.name}: labels {y_key!r}")
    total = n
    if xt_key:
        xt = arrays[xt_key]
        nt, ct, ht, wt = _image_layout(xt.shape, xt.dtype, f"{path.name}: array {xt_key!r}", max_features,
                                       max_examples)
        if (ct, ht, wt) != (c, h, w):
            raise DataError(f"{path.name}: {x_key!r} holds {h}×{w}×{c} images but {xt_key!r} holds "
                            f"{ht}×{wt}×{ct}; both splits need the same image size")
        if (y_key is None) != (yt_key is None):
            have, lack = (y_key, "y_test") if y_key is not None else (yt_key, "y_train")
            raise DataError(f"{path.name}: has labels {have!r} but no {lack!r}; give labels for both "
                            f"splits or for neither")
        if yt_key:
            _label_layout(arrays[yt_key].shape, arrays[yt_key].dtype, nt, f"{path.name}: labels {yt_key!r}")
        total += nt
        if total > max_examples:
            raise DataError(f"{path.name}: holds {total:,} images; this server takes at most {max_examples:,} "
                            f"(setting LATENT_EXPLORER_MAX_EXAMPLES)")
    return Footprint(total, (c, h, w), x.dtype.itemsize, True), arrays, keys


def _chunks(a: _Array):
    """The values of ``a``, ``CHUNK_BYTES`` at a time (the stream is closed at the end)."""
    f = a.open()
    try:
        left = math.prod(a.shape)
        step = max(1, CHUNK_BYTES // a.dtype.itemsize)
        while left > 0:
            k = min(step, left)
            buf = f.read(k * a.dtype.itemsize)
            if len(buf) < k * a.dtype.itemsize:
                raise DataError(f"{a.key}: the file ends before its last value; it is damaged")
            yield np.frombuffer(buf, dtype=a.dtype)
            left -= k
    except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as e:
        raise DataError(f"the file is damaged ({e}): save it again with numpy") from None
    finally:
        f.close()
        getattr(f, "close_all", lambda: None)()


def check_array_file(path: str | pathlib.Path, *, max_bytes: int, max_features: int = DEFAULT_MAX_FEATURES,
                     max_examples: int = DEFAULT_MAX_EXAMPLES) -> Footprint:
    """Everything :func:`explorer.data.load_array_file` would refuse, refused with the same
    message, in memory of a few chunks (an upload's check on the app server)."""
    path = pathlib.Path(path).expanduser()
    footprint, arrays, keys = _inspect(path, max_bytes, max_features, max_examples)
    x_key, y_key, xt_key, yt_key = keys
    for key, kind in ((x_key, "x"), (y_key, "y"), (xt_key, "x"), (yt_key, "y")):
        if not key:
            continue
        a = arrays[key]
        where = f"{path.name}: {'array' if kind == 'x' else 'labels'} {key!r}"
        if kind == "x":
            if a.dtype == np.uint8 or a.dtype.kind == "b":
                continue
            values = _ValueRange(a.dtype, where)
            for chunk in _chunks(a):
                values.add(chunk)
            values.check()
        else:
            for chunk in _chunks(a):
                _label_values(chunk, where)
    return footprint
