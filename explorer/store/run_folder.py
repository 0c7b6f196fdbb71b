"""A run's folder: writing it (weights first, config last) and reading it back, validated.

A run is a folder::

    config.json           RunConfig: enough to rebuild the model and the data split
    weights.safetensors   the model's tensors (never a pickle)
    metrics.csv           one row per logged step (validation columns at epoch ends)
    summary.json          final train/validation numbers, status, timings
    probe.safetensors     optional: validation images (and labels) to explore the run without its data

A folder without a readable ``config.json`` and ``weights.safetensors`` is not a run.
Loading validates the config and accepts only safetensors weights whose names, shapes and
values fit the model the config builds: :func:`check_weights`, the one validator, which
a run zip's import (:mod:`explorer.exchange`) uses too.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..config import ConfigError, RunConfig
from ..models import VAE, build_model
from .atomic import atomic_write_bytes, atomic_write_text, dumps
from .paths import CONFIG, METRICS, PROBE, SHIPPED_ROOT, SUMMARY, WEIGHTS, StoreError, has_model, runs_root

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
    """The metrics rows as dicts of floats (empty cells omitted). A last line without its
    newline is a row still being appended (a tracked loop's): it is left for the next read."""
    p = Path(run_dir) / METRICS
    try:
        text = p.read_text("utf-8")
    except (FileNotFoundError, OSError, UnicodeDecodeError):
        return []
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
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


FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _names(names: list[str]) -> str:
    return ", ".join(names[:4]) + (" ..." if len(names) > 4 else "")


def check_weights(tensors: dict[str, torch.Tensor], expected: dict[str, tuple[int, ...]],
                  what: str = WEIGHTS) -> None:
    """The one check of a model's weights, for every way weights come in (a run folder, an
    imported run zip): the same names as the model (``expected``: name -> shape), each of its
    shape, floating-point and finite. Raises StoreError naming ``what`` (the file) and the
    first problem."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise StoreError(f"{what} does not match the model in config.json: " + "; ".join(
            p for p in (f"missing {_names(missing)}" if missing else "",
                        f"unexpected {_names(extra)}" if extra else "") if p))
    for name, shape in expected.items():
        t = tensors[name]
        if tuple(t.shape) != tuple(shape):
            raise StoreError(f"{what}: tensor {name} has shape {tuple(t.shape)}, but the model in "
                             f"config.json needs {tuple(shape)}")
        if t.dtype not in FLOAT_DTYPES:
            raise StoreError(f"{what}: tensor {name} holds {t.dtype}, not floating-point numbers")
        if not torch.isfinite(t).all():
            raise StoreError(f"{what}: tensor {name} holds NaN or infinite values")


def load_weights(path: Path, model: VAE) -> VAE:
    """Load safetensors weights into ``model``, checked by :func:`check_weights`."""
    path = Path(path)
    try:
        tensors = st_load(path.read_bytes())
    except FileNotFoundError:
        raise StoreError(f"{path.parent}: no {WEIGHTS}") from None
    except (SafetensorError, ValueError, OSError) as e:
        raise StoreError(f"{path}: not a valid safetensors file ({e})") from None
    expected = model.state_dict()
    check_weights(tensors, {k: tuple(v.shape) for k, v in expected.items()}, str(path))
    model.load_state_dict({k: t.to(expected[k].dtype) for k, t in tensors.items()})
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
    if not has_model(run_dir):
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
