"""Data files uploaded on the Train page, stored where worker processes can read them:
``<runs>/uploads/<owner>/<sha256 prefix>/<the uploaded file's name>``. The hash makes the
same file stored once per owner; the folder per owner counts against that owner's disk cap;
and keeping the uploaded name means a message about the file names the file the user chose."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from .atomic import atomic_write_bytes
from .paths import StoreError

UPLOAD_SUFFIXES = (".npz", ".npy", ".csv")
UPLOADS = "uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(StoreError):
    """An uploaded file is refused (its type or size); nothing is kept."""


def _safe_file_name(name: str, suffix: str) -> str:
    stem = _UNSAFE.sub("_", Path(name or "upload").stem).strip("._") or "upload"
    return stem[:80] + suffix


def owner_folder(owner: str) -> str:
    """The uploads sub-folder of an owner id (ids are made of safe characters already)."""
    return _UNSAFE.sub("_", owner or "_anonymous")[:64]


def save_upload(runs_dir: Path, content: bytes, filename: str, *, owner: str = "",
                max_bytes: int, check=None) -> Path:
    """Store an uploaded data file and return its path. ``check(path)`` validates the stored
    file; if it raises, the file is removed again (a rejected upload leaves nothing behind)
    and the error propagates. ``max_bytes``: the server's ``LATENT_EXPLORER_UPLOAD_MB``."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise UploadError(f"{filename}: unsupported file type {suffix or '(none)'}; "
                          f"use {', '.join(UPLOAD_SUFFIXES)}")
    limit = max_bytes
    if len(content) > limit:
        raise UploadError(f"{filename}: {len(content) / 2**20:.1f} MiB is larger than the "
                          f"{limit / 2**20:.0f} MiB limit (LATENT_EXPLORER_UPLOAD_MB)")
    folder = Path(runs_dir) / UPLOADS / owner_folder(owner) / hashlib.sha256(content).hexdigest()[:24]
    path = folder / _safe_file_name(filename, suffix)
    existed = path.is_file()
    if not existed:
        atomic_write_bytes(path, content)
    if check is not None:
        try:
            check(path)
        except BaseException:
            if not existed:
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    folder.parent.rmdir()         # the owner's folder, if now empty
                except OSError:
                    pass
            raise
    return path


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 if it does not exist)."""
    total = 0
    for dirpath, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def upload_bytes_of(runs_dir: Path, owner: str) -> int:
    """Disk used by one owner's uploads."""
    return folder_bytes(Path(runs_dir) / UPLOADS / owner_folder(owner))


DATASET_NAMES = ("mnist", "fashion-mnist")
DATASET_MAX_BYTES = 200 * 2**20


def save_dataset(data_dir: Path, name: str, content: bytes, *, check) -> Path:
    """Store a standard dataset's .npz (``mnist``, ``fashion-mnist``) where every run reads it
    (``<data folder>/<name>/<name>.npz``; no restart): written to a temporary name, checked by
    ``check(path)`` (which raises on a wrong file: nothing is kept), then moved into place."""
    if name not in DATASET_NAMES:
        raise UploadError(f"the server stores {', '.join(DATASET_NAMES)} this way, not {name!r}")
    if len(content) > DATASET_MAX_BYTES:
        raise UploadError(f"{name}.npz: {len(content) / 2**20:.0f} MiB is larger than the "
                          f"{DATASET_MAX_BYTES / 2**20:.0f} MiB a standard dataset takes")
    folder = Path(data_dir) / name
    final = folder / f"{name}.npz"
    tmp = folder / f".{name}.upload-{os.getpid()}.npz"
    atomic_write_bytes(tmp, content)
    try:
        check(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, final)
    return final
