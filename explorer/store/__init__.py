"""Runs on disk. The only package that writes files: run folders (here), uploaded data
files (:func:`save_upload`) and the index of the runs folder (:mod:`explorer.store.index`).

A run is a folder::

    config.json           RunConfig: enough to rebuild the model and the data split
    weights.safetensors   the model's tensors (never a pickle)
    metrics.csv           one row per logged step (validation columns at epoch ends)
    summary.json          final train/validation numbers, status, timings

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so a crash never leaves a half-written file under a real
name, and a folder without a readable ``config.json`` and
``weights.safetensors`` is not a run. Loading validates the config and
accepts only safetensors weights whose names and shapes match the model the
config builds.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .. import settings
from ..config import ConfigError, RunConfig
from ..models import VAE, build_model
from ..paths import SHIPPED_ROOT

CONFIG, WEIGHTS, METRICS, SUMMARY = "config.json", "weights.safetensors", "metrics.csv", "summary.json"
PROBE = "probe.safetensors"   # optional: validation images (+labels) to explore a run without its dataset
DECODER_ONNX = "decoder.onnx"  # derived: the decoder for the browser (explorer.export.onnx), redone when the weights change
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StoreError(ValueError):
    """A run folder is missing, incomplete or invalid."""


class SaveError(OSError):
    """A file could not be written (a full disk, say); the previous version is intact."""


def runs_root() -> Path:
    """Where users' runs live (``LATENT_EXPLORER_RUNS``, :func:`explorer.settings.runs_dir`)."""
    return settings.runs_dir()


def check_run_id(run_id: str) -> str:
    """A run id is a folder name: letters, digits, ``.``, ``_``, ``-``; no path separators."""
    if not isinstance(run_id, str) or not _SAFE_ID.fullmatch(run_id) or ".." in run_id:
        raise StoreError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' or '-'")
    return run_id


# ------------------------------------------------------------ atomic I/O

def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The rename alone is enough when a process is killed; ``durable`` also fsyncs the data so
    that it survives a power cut (skipped for a live run's epoch checkpoints: ~50 ms each)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, SaveError):
            raise SaveError(e.errno, f"could not save {path.name} in {path.parent} "
                                     f"({e.strerror or e}); the previous version is kept") from e
        raise


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def _json_default(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean(o):
    """Replace NaN/inf by None so the JSON is standard."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), indent=2, sort_keys=True, default=_json_default)


# ------------------------------------------------------------------ write

def save_config(run_dir: Path, config: RunConfig, *, durable: bool = True) -> None:
    atomic_write_text(Path(run_dir) / CONFIG, config.to_json(), durable=durable)


def save_weights(run_dir: Path, model: VAE, *, durable: bool = True) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(run_dir) / WEIGHTS, st_save(tensors), durable=durable)


def metrics_to_csv(rows: Iterable[dict]) -> str:
    rows = list(rows)
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def save_metrics(run_dir: Path, rows: Iterable[dict], *, durable: bool = True) -> None:
    atomic_write_text(Path(run_dir) / METRICS, metrics_to_csv(rows), durable=durable)


def save_summary(run_dir: Path, summary: dict, *, durable: bool = True) -> None:
    atomic_write_text(Path(run_dir) / SUMMARY, dumps(summary), durable=durable)


def save_run(run_dir: Path, config: RunConfig, model: VAE, rows: Iterable[dict] = (),
             summary: dict | None = None, *, durable: bool = True) -> Path:
    """Write (or overwrite) a whole run. Weights first, config last: a folder whose
    config is readable therefore always has complete weights beside it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_weights(run_dir, model, durable=durable)
    save_metrics(run_dir, rows, durable=durable)
    save_summary(run_dir, summary or {}, durable=durable)
    save_config(run_dir, config, durable=durable)
    return run_dir


def _compact(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] stored compactly: uint8 when they lie on the 1/255 grid (MNIST),
    float16 otherwise (exact for digits' k/16)."""
    x = x.detach().cpu().float()
    as_u8 = torch.round(x * 255)
    return as_u8.to(torch.uint8) if torch.equal(as_u8 / 255, x) else x.half()


def save_probe(run_dir: Path, x: torch.Tensor, y: torch.Tensor | None,
               class_names: list[str] | None = None, grey: torch.Tensor | None = None) -> None:
    """Store a few validation images with the run (as the model sees them, e.g. binarised),
    their labels, and, for binarised data, ``grey``: the grey images they were drawn from,
    which pages show (:func:`load_probe_display`)."""
    tensors = {"x": _compact(x)}
    if grey is not None and len(grey) >= len(x):
        tensors["x_grey"] = _compact(grey[:len(x)])
    if y is not None:
        tensors["y"] = y.detach().cpu().to(torch.int64)
    meta = {"class_names": json.dumps(class_names or [])}
    atomic_write_bytes(Path(run_dir) / PROBE, st_save(tensors, metadata=meta))


# ------------------------------------------------------------------- read

@dataclass
class Run:
    """A run read from disk."""
    path: Path
    config: RunConfig
    summary: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def shipped(self) -> bool:
        return SHIPPED_ROOT in self.path.resolve().parents

    def load_model(self, device: torch.device | str | None = None) -> VAE:
        return load_model(self.path, self.config, device)

    def metrics(self) -> list[dict]:
        return read_metrics(self.path)


def read_config(run_dir: Path) -> RunConfig:
    p = Path(run_dir) / CONFIG
    try:
        text = p.read_text("utf-8")
    except FileNotFoundError:
        raise StoreError(f"{run_dir}: no {CONFIG}; this folder is not a run") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"{run_dir}: cannot read {CONFIG} ({e})") from None
    try:
        return RunConfig.from_json(text)
    except ConfigError as e:
        raise StoreError(f"{run_dir}: invalid {CONFIG}: {e}") from None


def read_summary(run_dir: Path) -> dict:
    return read_summary_checked(run_dir)[0]


def read_summary_checked(run_dir: Path) -> tuple[dict, str | None]:
    """(the summary, None), ({}, None) when there is none, or ({}, why it cannot be read)."""
    p = Path(run_dir) / SUMMARY
    try:
        d = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        return {}, None
    except json.JSONDecodeError as e:
        return {}, f"not valid JSON: {e.msg} at line {e.lineno}"
    except (UnicodeDecodeError, OSError) as e:
        return {}, str(e)
    return (d, None) if isinstance(d, dict) else ({}, "not a JSON object")


def save_failure(run_dir: Path, config: RunConfig, reason: str, extra: dict | None = None) -> None:
    """Record a run that ended failed in its folder, whatever it had saved: its config (when
    the folder has none readable) and its summary (the last one kept, with ``status``
    failed and the ``reason``), so that the folder and the index say so after a restart."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        read_config(run_dir)
    except StoreError:
        save_config(run_dir, config)
    summary, _ = read_summary_checked(run_dir)
    summary.update(extra or {})
    summary.update(status="failed", reason=reason)
    save_summary(run_dir, summary)


def read_metrics(run_dir: Path) -> list[dict]:
    """The metrics rows as dicts of floats (empty cells omitted)."""
    p = Path(run_dir) / METRICS
    try:
        text = p.read_text("utf-8")
    except (FileNotFoundError, OSError, UnicodeDecodeError):
        return []
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        row = {}
        for k, v in r.items():
            if k is None or v in ("", None):
                continue
            try:
                row[k] = float(v)
            except ValueError:
                row[k] = v
        rows.append(row)
    return rows


def load_probe(run_dir: Path) -> tuple[torch.Tensor, torch.Tensor | None, list[str]] | None:
    """The run's probe images as float32 in [0,1], labels and class names; None if absent."""
    p = Path(run_dir) / PROBE
    if not p.is_file():
        return None
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            x = f.get_tensor("x")
            y = f.get_tensor("y") if "y" in f.keys() else None
        names = json.loads(meta.get("class_names", "[]"))
    except (SafetensorError, ValueError, OSError, json.JSONDecodeError) as e:
        raise StoreError(f"{p}: not a valid probe file ({e})") from None
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return x, y, [str(n) for n in names] if isinstance(names, list) else []


def load_probe_display(run_dir: Path) -> torch.Tensor | None:
    """The probe images as a person should see them: the grey originals of binarised data
    when the run stores them, else the probe images themselves; None without a probe."""
    p = Path(run_dir) / PROBE
    if not p.is_file():
        return None
    try:
        with safe_open(str(p), framework="pt") as f:
            x = f.get_tensor("x_grey" if "x_grey" in f.keys() else "x")
    except (SafetensorError, ValueError, OSError) as e:
        raise StoreError(f"{p}: not a valid probe file ({e})") from None
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


def load_weights(path: Path, model: VAE) -> VAE:
    """Load safetensors weights into ``model``, checking every name and shape."""
    path = Path(path)
    try:
        tensors = st_load(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(f"{path.parent}: no {WEIGHTS}") from None
    except (SafetensorError, ValueError, OSError) as e:
        raise StoreError(f"{path}: not a valid safetensors file ({e})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise StoreError(f"{path}: weights do not match the config's model "
                         f"(missing {missing[:5]}, unexpected {extra[:5]})")
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise StoreError(f"{path}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                             f"the config's model needs {tuple(v.shape)}")
        if not torch.isfinite(tensors[k]).all():
            raise StoreError(f"{path}: tensor {k} holds NaN or inf")
    model.load_state_dict({k: t.to(v.dtype) for k, t in tensors.items()})
    return model


def data_shape_of(config: RunConfig, summary: dict | None = None) -> tuple[int, ...]:
    """One item's shape for a config, without loading the data."""
    if summary and summary.get("data_shape"):
        return tuple(int(s) for s in summary["data_shape"])
    name = config.data.name
    if name == "digits":
        return (1, 8, 8)
    if name in ("mnist", "fashion-mnist"):
        return (1, 28, 28)
    if config.data.is_toy:
        return (2,)
    raise StoreError("the data shape of an own-data run must be recorded in summary.json (data_shape)")


def load_model(run_dir: Path, config: RunConfig | None = None,
               device: torch.device | str | None = None) -> VAE:
    run_dir = Path(run_dir)
    config = config or read_config(run_dir)
    model = build_model(config.model, data_shape_of(config, read_summary(run_dir)), device)
    load_weights(run_dir / WEIGHTS, model)
    model.eval()
    return model


def open_run(run_dir: Path) -> Run:
    """Read a run's config and summary (validated); weights are loaded on demand."""
    run_dir = Path(run_dir)
    if not (run_dir / WEIGHTS).is_file():
        raise StoreError(f"{run_dir}: no {WEIGHTS}; this folder is not a complete run")
    return Run(path=run_dir, config=read_config(run_dir), summary=read_summary(run_dir))


def list_runs(*roots: Path) -> list[Run]:
    """Every valid run under the given folders (default: shipped, then users'), newest last.
    Folders that are not complete runs are skipped silently."""
    roots = roots or (SHIPPED_ROOT, runs_root())
    runs = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                runs.append(open_run(d))
            except StoreError:
                continue
    return runs


# ----------------------------------------------------------------- manage
# Renaming, deleting and creating run folders for the Runs page and imports.
# Ids (folder names) never change; the display name is ``config.name``.

MAX_NAME = 100
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WRITE_ORDER = (WEIGHTS, PROBE, METRICS, SUMMARY, CONFIG)   # config last: see save_run


def is_shipped(run_dir: Path) -> bool:
    """True for the read-only runs shipped in ``trained/``."""
    return SHIPPED_ROOT.resolve() in Path(run_dir).resolve().parents


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


# ----------------------------------------------------------------- uploads
# Data files uploaded on the Train page, stored where worker processes can read them:
# ``<runs>/uploads/<owner>/<sha256 prefix>/<the uploaded file's name>``. The hash makes the
# same file stored once per owner; the folder per owner counts against that owner's disk cap;
# and keeping the uploaded name means a message about the file names the file the user chose.

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
