"""What a run folder's files are called, where users' runs live, what a run id may be, and
the errors of the store."""
from __future__ import annotations

import re
from pathlib import Path

from .. import settings
from ..paths import SHIPPED_ROOT

CONFIG, WEIGHTS, METRICS, SUMMARY = "config.json", "weights.safetensors", "metrics.csv", "summary.json"
PROBE = "probe.safetensors"   # optional: validation images (+labels) to explore a run without its dataset
DECODER_ONNX = "decoder.onnx"  # derived: the decoder for the browser (explorer.decoder_cache), redone when the weights change
# a model trained in your own loop (explorer.track ... save_model): ONNX graphs instead of weights
MODEL_ENCODER_ONNX, MODEL_DECODER_ONNX = "model.encoder.onnx", "model.decoder.onnx"
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


def is_shipped(run_dir: Path) -> bool:
    """True for the read-only runs shipped in ``trained/``."""
    return SHIPPED_ROOT.resolve() in Path(run_dir).resolve().parents


def has_model(run_dir: Path) -> bool:
    """Whether a run folder holds a model: its weights, or a tracked model's ONNX graphs."""
    return (Path(run_dir) / WEIGHTS).is_file() or (Path(run_dir) / MODEL_DECODER_ONNX).is_file()


def model_saved(run_dir: Path) -> bool:
    """Whether a run folder's model can be read now: a model (:func:`has_model`) with its config
    beside it. ``save_run`` writes the config last, so while a run's first checkpoint is being
    written its weights exist without it; later checkpoints replace the weights atomically."""
    return has_model(run_dir) and (Path(run_dir) / CONFIG).is_file()


def onnx_model_only(run_dir: Path) -> bool:
    """Whether a run's model is a tracked loop's ONNX graphs (no weights of this app's models)."""
    return not (Path(run_dir) / WEIGHTS).is_file() and (Path(run_dir) / MODEL_DECODER_ONNX).is_file()


def find_run(text: str | Path) -> Path:
    """A run folder from a path, or from a run id in the runs folder, then the shipped runs
    (the CLI's ``RUN`` arguments and ``explorer.open``)."""
    p = Path(text).expanduser()
    if (p / CONFIG).is_file():
        return p
    for root in (runs_root(), SHIPPED_ROOT):
        try:
            candidate = Path(root) / check_run_id(str(text))
        except StoreError:
            break
        if (candidate / CONFIG).is_file():
            return candidate
    raise StoreError(f"{text}: no such run folder, and no run of this id in {runs_root()} or {SHIPPED_ROOT}")
