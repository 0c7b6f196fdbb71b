"""What every data source shares: the error type, the record of arrays as read,
checksums, seeded random streams and the wording of size limits.

Each source (:mod:`.mnist`, :mod:`.files`, :mod:`.toys`, and digits in the
package itself) reads its data into a :class:`_Source`; :func:`explorer.data.load`
then applies the common split, subset and binarise steps to it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_BYTES = 200 * 2**20

# Independent random streams derived from split_seed.
_SPLIT_STREAM, _SUBSET_STREAM, _TOY_STREAM, _SHAPES_STREAM = 0, 1, 2, 3

# The settings that set the byte limits passed down as ``max_bytes``.
_LIMIT_SETTINGS = "setting LATENT_EXPLORER_DATASET_MB for datasets, LATENT_EXPLORER_UPLOAD_MB for uploads"


class DataError(ValueError):
    """The data cannot be used; the message says what is wrong and what to do."""


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
    factors: np.ndarray | None = None  # generated sets: each item's generating factors (level indices)


def _hash_arrays(*arrays: np.ndarray | None) -> str:
    """SHA-256 over each array's dtype, shape and bytes (None counts too)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none;")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _as_float32(x: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy in [0, 1] of uint8 or float32 data."""
    out = x.astype(np.float32, order="C")
    if x.dtype == np.uint8:
        out /= 255
    return out


def _over_limit(max_bytes: int) -> str:
    """The end of every size message: the limit and the settings that raise it."""
    return f"more than the limit of {_mib(max_bytes)} ({_LIMIT_SETTINGS})"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _shape(dims: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in dims)
