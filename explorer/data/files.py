"""The user's own data files: ``.npz``/``.npy`` images and ``.csv`` feature tables.

:func:`_own_file` reads a file for ``DataConfig(name="file")``;
:func:`explorer.data.load_array_file` uses :func:`_read_own` directly. The
validators :func:`_images` and :func:`_labels`, the safe ``.npz`` reader and the
size checks are shared with :mod:`.mnist`.

Reading is defensive, because files come from visitors of a web app: the size
is checked before reading, an ``.npz`` may not unpack to more than the limit,
a ``.npy`` header may not promise more data than its file holds, and arrays of
Python objects are never unpickled.
"""
from __future__ import annotations

import csv
import math
import os
import pathlib
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .common import DataError, _hash_arrays, _mib, _over_limit, _shape, _Source

MIN_SIDE, MAX_SIDE = 2, 256          # allowed image height/width for own files
DEFAULT_MAX_FEATURES = 16_384        # values per image or row (64×64×4); setting LATENT_EXPLORER_MAX_FEATURES
DEFAULT_MAX_EXAMPLES = 1_000_000     # images or rows; setting LATENT_EXPLORER_MAX_EXAMPLES
FEATURES_SETTING, EXAMPLES_SETTING = "LATENT_EXPLORER_MAX_FEATURES", "LATENT_EXPLORER_MAX_EXAMPLES"


def _own_file(path: pathlib.Path, max_bytes: int, max_features: int = DEFAULT_MAX_FEATURES,
              max_examples: int = DEFAULT_MAX_EXAMPLES) -> _Source:
    own = _read_own(path, max_bytes, max_features, max_examples)
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


def _read_own(path: pathlib.Path, max_bytes: int, max_features: int = DEFAULT_MAX_FEATURES,
              max_examples: int = DEFAULT_MAX_EXAMPLES) -> _OwnData:
    """The whole file, validated (callers check it first with :mod:`.checks`, whose limits on
    examples and values per example then hold before anything is parsed in full)."""
    _require_file(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".csv"):
        raise DataError(f"{path.name}: unsupported file type {suffix or '(no extension)'}; "
                        f"use .npz or .npy (images) or .csv (feature table)")
    _check_size(path, max_bytes)
    if suffix == ".csv":
        raw, x, y = _read_csv(path, max_features, max_examples)
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
                raise DataError(f"{path.name} unpacks to {_mib(unpacked)}, {_over_limit(max_bytes)}")
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


def _image_layout(shape: tuple[int, ...], dtype: np.dtype, where: str,
                  max_features: int | None = None, max_examples: int | None = None) -> tuple[int, int, int, int]:
    """N, C, H, W of an image array of ``shape`` and ``dtype``, or :class:`DataError` saying
    what is wrong. Needs only a header: the streaming check and the full read share it."""
    if dtype.kind not in "buif":
        raise DataError(f"{where}: pixel values must be numbers, found dtype {dtype}")
    if math.prod(shape) == 0:
        raise DataError(f"{where}: the array is empty (shape {tuple(shape)}); it needs at least 2 images")
    if len(shape) == 3:
        n, h, w = shape
        c = 1
    elif len(shape) == 4 and shape[3] in (1, 3, 4):
        n, h, w, c = shape
        c = min(c, 3)                               # the alpha channel is dropped
    elif len(shape) == 4:
        raise DataError(f"{where}: shape {tuple(shape)} has {shape[3]} channels in the last axis; expected "
                        f"N×H×W×C with C = 1, 3 or 4 (channels last). For channels-first data, "
                        f"use x.transpose(0, 2, 3, 1) before saving")
    else:
        raise DataError(f"{where}: expected images of shape N×H×W or N×H×W×C, got shape {tuple(shape)} "
                        f"({len(shape)} axes). For feature vectors, use a .csv file")
    if n < 2:
        raise DataError(f"{where}: found {n} image; at least 2 are needed to train and validate")
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise DataError(f"{where}: images are {h}×{w} pixels; height and width must be between "
                        f"{MIN_SIDE} and {MAX_SIDE}; resize them before saving")
    _check_counts(n, c * h * w, where, "images", f"{h}×{w}×{c}", max_features, max_examples)
    return n, c, h, w


def _check_counts(n: int, features: int, where: str, items: str, size: str,
                  max_features: int | None, max_examples: int | None) -> None:
    """The settings' limits on the number of examples and of values per example."""
    if max_features is not None and features > max_features:
        raise DataError(f"{where}: {items} of {size} = {features:,} values each; this server takes at most "
                        f"{max_features:,} (setting {FEATURES_SETTING})")
    if max_examples is not None and n > max_examples:
        raise DataError(f"{where}: holds {n:,} {items}; this server takes at most {max_examples:,} "
                        f"(setting {EXAMPLES_SETTING})")


class _ValueRange:
    """The pixel-value checks of :func:`_images`, over one array or chunk after chunk."""

    def __init__(self, dtype: np.dtype, where: str):
        self.kind, self.where = dtype.kind, where
        self.lo = self.hi = None

    def add(self, a: np.ndarray) -> None:
        if a.size == 0 or self.kind == "b":
            return
        if self.kind == "f" and not np.isfinite(a).all():
            raise DataError(f"{self.where}: contains NaN or infinite values; remove or replace them")
        lo, hi = a.min(), a.max()
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)

    def check(self) -> None:
        if self.lo is None:
            return
        if self.kind in "ui" and (int(self.lo) < 0 or int(self.hi) > 255):
            raise DataError(f"{self.where}: integer pixel values must lie in 0..255, found {int(self.lo)}.."
                            f"{int(self.hi)}; scale them to 0..255 (uint8) or to floats in [0, 1]")
        if self.kind == "f" and (float(self.lo) < 0.0 or float(self.hi) > 1.0):
            raise DataError(f"{self.where}: float pixel values must already lie in [0, 1], found "
                            f"{float(self.lo):g}..{float(self.hi):g}; rescale them (e.g. x / 255 for 8-bit "
                            f"images) or save them as uint8")


def _images(a: np.ndarray, where: str, max_features: int | None = None,
            max_examples: int | None = None) -> np.ndarray:
    """Validated images as C-contiguous N×C×H×W, uint8 (0..255) or float32 in [0, 1]."""
    _image_layout(a.shape, a.dtype, where, max_features, max_examples)
    if a.ndim == 3:
        a = a[:, None]
    else:
        a = a.transpose(0, 3, 1, 2)[:, :3]   # channels first; drop alpha
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "b":
        return a.astype(np.float32, order="C")
    values = _ValueRange(a.dtype, where)
    values.add(a)
    values.check()
    return a.astype(np.uint8 if a.dtype.kind in "ui" else np.float32, order="C")


def _label_layout(shape: tuple[int, ...], dtype: np.dtype, n: int, where: str) -> None:
    """Labels of ``shape`` and ``dtype`` for ``n`` examples, or :class:`DataError`."""
    if dtype.kind not in "buif":
        raise DataError(f"{where}: labels must be whole numbers, found dtype {dtype}")
    if len(shape) != 1:
        raise DataError(f"{where}: labels must be a flat list (1 axis), got shape {tuple(shape)}")
    if shape[0] != n:
        raise DataError(f"{where}: {shape[0]} labels for {n} examples; give exactly one label per example")


def _label_values(a: np.ndarray, where: str) -> None:
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            raise DataError(f"{where}: labels must be whole numbers, found {a[bad][0]:g}")


def _labels(a: np.ndarray, n: int, where: str) -> np.ndarray:
    """Validated labels: one whole number per example, as int64."""
    _label_layout(a.shape, a.dtype, n, where)
    _label_values(a, where)
    return a.astype(np.int64)


CSV_CELL_CHARS = 64     # a CSV line may hold this many characters per column the settings allow


def _csv_lines(f, name: str, max_features: int):
    """The lines of an open text file. A line longer than ``max_features`` columns can
    hold is refused before anything splits it (10 million cells would be 10 million
    Python strings); its columns are counted a chunk at a time for the message."""
    max_chars = (max_features + 1) * CSV_CELL_CHARS
    line_no = 0
    while True:
        line = f.readline(max_chars)
        if not line:
            return
        line_no += 1
        if len(line) >= max_chars and not line.endswith("\n"):
            columns = line.count(",") + 1
            while (more := f.readline(2**20)):
                columns += more.count(",")
                if more.endswith("\n"):
                    break
            raise DataError(f"{name}, line {line_no}: {columns:,} columns; this server takes at most "
                            f"{max_features:,} features per row (setting {FEATURES_SETTING})")
        yield line


def _csv_rows(path: pathlib.Path, max_features: int, max_examples: int, header_out: list):
    """(line number, float64 values) of each data row of a numeric CSV file, validated as
    it is read: one row in memory at a time. ``header_out`` receives the header (or None)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(_csv_lines(f, path.name, max_features))
            header, width, n = None, None, 0
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                if width is None:
                    width = len(row)
                    _check_counts(1, width, path.name, "rows", f"{width} columns", max_features, None)
                    if not all(_is_number(cell) for cell in row):
                        header = [cell.strip() for cell in row]
                        header_out.append(header)
                        continue
                    header_out.append(None)
                if len(row) != width:
                    raise DataError(f"{path.name}, line {line}: {len(row)} cells where the file has {width} columns")
                n += 1
                if n > max_examples:
                    raise DataError(f"{path.name}: holds more than {max_examples:,} rows; this server takes at "
                                    f"most {max_examples:,} (setting {EXAMPLES_SETTING})")
                try:
                    values = np.array(row, dtype=np.float64)
                except ValueError:
                    col, cell = next((j, c) for j, c in enumerate(row) if not _is_number(c))
                    column = repr(header[col]) if header is not None else str(col + 1)
                    raise DataError(f"{path.name}, line {line}, column {column}: {cell!r} is not a number. The "
                                    f"file must hold comma-separated numbers, with an optional header line and "
                                    f"an optional integer 'label' column") from None
                if not np.isfinite(values).all():
                    raise DataError(f"{path.name}, line {line}: contains NaN or infinite values; remove or "
                                    f"replace them")
                yield line, values
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path.name} is not a readable CSV text file ({e})") from None


def _csv_shape(path: pathlib.Path, max_features: int, max_examples: int) -> tuple[int, int, list | None]:
    """(data rows, columns, header) of a CSV file, every row validated, none kept."""
    header: list = []
    n, width, label_col = 0, 0, None
    for _, values in _csv_rows(path, max_features, max_examples, header):
        if n == 0 and header[0] is not None:
            label_col = next((j for j, h in enumerate(header[0]) if h.lower() == "label"), None)
        if label_col is not None:
            _label_values(values[label_col:label_col + 1], f"{path.name}: column 'label'")
        n, width = n + 1, len(values)
    if not header:
        raise DataError(f"{path.name} holds no data")
    if n < 2:
        raise DataError(f"{path.name}: found {n} data row(s); at least 2 are needed")
    head = header[0]
    width = width or len(head)
    label_col = None if head is None else next((j for j, h in enumerate(head) if h.lower() == "label"), None)
    if label_col is not None and width == 1:
        raise DataError(f"{path.name}: has a label column but no feature columns")
    return n, width, head


def _read_csv(path: pathlib.Path, max_features: int = 0,
              max_examples: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(raw values, features scaled to [0, 1], labels or None) of a numeric CSV file. Read
    twice, a row at a time (checked and counted, then copied into one array), so it never
    holds more than its numbers."""
    max_features, max_examples = max_features or DEFAULT_MAX_FEATURES, max_examples or DEFAULT_MAX_EXAMPLES
    n, width, header = _csv_shape(path, max_features, max_examples)
    raw = np.empty((n, width), dtype=np.float64)
    for i, (_, values) in enumerate(_csv_rows(path, max_features, max_examples, [])):
        raw[i] = values
    label_col = None
    if header is not None:
        label_col = next((j for j, name in enumerate(header) if name.lower() == "label"), None)
    labels = None
    keep = np.arange(width)
    if label_col is not None:
        labels = _labels(raw[:, label_col], n, f"{path.name}: column 'label'")
        keep = keep[keep != label_col]
    lo, hi = raw[:, keep].min(axis=0), raw[:, keep].max(axis=0)
    span = hi - lo
    span[span == 0] = 1.0
    features = np.empty((n, len(keep)), dtype=np.float32)
    for i in range(0, n, 4096):                         # scaled a block at a time: no float64 copy
        features[i:i + 4096] = (raw[i:i + 4096][:, keep] - lo) / span
    return raw, features, labels


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
        raise DataError(f"{path.name} is {_mib(size)}, {_over_limit(max_bytes)}")
