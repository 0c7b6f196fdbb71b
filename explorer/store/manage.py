"""Managing run folders for the Runs page and imports: a display name, renaming, deleting
for good, a fresh folder for a new run, writing validated files, and where a run's browser
decoder is cached. Ids (folder names) never change; the display name is ``config.name``."""
from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from ..config import RunConfig
from .atomic import atomic_write_bytes
from .paths import (CONFIG, DECODER_ONNX, METRICS, MODEL_DECODER_ONNX, MODEL_ENCODER_ONNX, PROBE, SUMMARY, WEIGHTS,
                    StoreError, check_run_id, is_shipped, runs_root)
from .run_folder import read_config, save_config

MAX_NAME = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WRITE_ORDER = (WEIGHTS, PROBE, METRICS, SUMMARY, CONFIG)   # config last: see save_run


def check_run_name(name: str) -> str:
    """A display name: text of at most 100 characters, no control characters (stripped)."""
    if not isinstance(name, str):
        raise StoreError("a run name must be text")
    name = name.strip()
    if not name:
        raise StoreError("a run name cannot be empty")
    if len(name) > MAX_NAME:
        raise StoreError(f"a run name has at most {MAX_NAME} characters (this one has {len(name)})")
    if _CONTROL_CHARS.search(name):
        raise StoreError("a run name cannot hold control characters (line breaks, tabs, ...)")
    return name


def rename_run(run_dir: Path, new_name: str) -> RunConfig:
    """Give a user's run a new display name (rewrites config.json atomically)."""
    run_dir = Path(run_dir)
    if is_shipped(run_dir):
        raise StoreError("shipped runs are read-only")
    config = read_config(run_dir)
    config.name = check_run_name(new_name)
    save_config(run_dir, config.validate())
    return config


def delete_run(run_dir: Path, root: Path | None = None) -> None:
    """Delete a user's run folder for good. Refused for shipped runs and for any folder
    that is not directly inside the runs folder ``root`` (default :func:`runs_root`).

    The folder is first renamed to a hidden name (so it leaves every run list at once,
    and a crash half-way never leaves a half-deleted run), then removed."""
    run_dir = Path(run_dir)
    if is_shipped(run_dir):
        raise StoreError("shipped runs are read-only")
    root = Path(root or runs_root()).resolve()
    check_run_id(run_dir.name)
    if run_dir.resolve().parent != root or run_dir.is_symlink():
        raise StoreError(f"{run_dir} is not a run folder inside {root}")
    if not run_dir.is_dir():
        raise StoreError(f"no run {run_dir.name!r}")
    trash = root / f".trash-{run_dir.name}-{secrets.token_hex(4)}"
    os.replace(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)


def new_run_dir(root: Path, wanted_id: str) -> Path:
    """Create a fresh, empty run folder under ``root``: ``wanted_id``, or ``wanted_id-2``,
    ``-3``, ... if taken. ``mkdir`` is atomic, so two writers never share a folder and an
    existing run is never overwritten."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = check_run_id(wanted_id[:90])
    for k in range(1, 1000):
        candidate = root / (base if k == 1 else f"{base}-{k}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise StoreError(f"no free run id near {base!r}")


def save_files(run_dir: Path, files: dict[str, bytes]) -> None:
    """Write a run's files (already validated bytes) atomically, config last, so a reader
    never sees a config without complete weights beside it."""
    unknown = set(files) - set(_WRITE_ORDER)
    if unknown:
        raise StoreError(f"not a run file: {sorted(unknown)}")
    for name in _WRITE_ORDER:
        if name in files:
            atomic_write_bytes(Path(run_dir) / name, files[name])


def decoder_cache_path(run_dir: Path) -> Path:
    """Where a run's browser decoder (:data:`DECODER_ONNX`) is cached: in its folder, or for a
    shipped run (``trained/`` is read-only) in ``<runs folder>/.cache/decoders/<run id>.onnx``."""
    run_dir = Path(run_dir)
    if is_shipped(run_dir):
        return runs_root() / ".cache" / "decoders" / f"{check_run_id(run_dir.name)}.onnx"
    return run_dir / DECODER_ONNX


def save_decoder_onnx(run_dir: Path, data: bytes) -> Path:
    """Cache a run's exported decoder (validated bytes) atomically; returns its path."""
    path = decoder_cache_path(run_dir)
    atomic_write_bytes(path, data, durable=False)     # derived data: rebuilt if lost
    return path


def save_onnx_model(run_dir: Path, encoder: bytes, decoder: bytes) -> None:
    """A tracked model's graphs (validated bytes), the encoder first: the decoder's file
    marks a new model (:func:`explorer.decoder_cache.model_file`)."""
    atomic_write_bytes(Path(run_dir) / MODEL_ENCODER_ONNX, encoder)
    atomic_write_bytes(Path(run_dir) / MODEL_DECODER_ONNX, decoder)
