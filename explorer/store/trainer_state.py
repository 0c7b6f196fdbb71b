"""The trainer's state beside a run's weights, so that a run can resume exactly.

``trainer_state.safetensors`` holds the tensors (Adam's moments, the generators' states,
the current epoch's batch order) and, in its metadata, one JSON object with the rest (the
step, β, the learning rate, the optimiser's hyperparameters...). Safetensors and JSON:
never a pickle. Written atomically at every checkpoint, before the weights (see
:func:`explorer.training.checkpoint`), so that the step it records can be checked against
the summary written after them.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from .atomic import atomic_write_bytes
from .paths import StoreError

TRAINER_STATE = "trainer_state.safetensors"
_META_KEY = "state"


def save_trainer_state(run_dir: Path, tensors: dict[str, torch.Tensor], meta: dict, *,
                       durable: bool = True) -> None:
    data = st_save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                   metadata={_META_KEY: json.dumps(meta)})
    atomic_write_bytes(Path(run_dir) / TRAINER_STATE, data, durable=durable)


def load_trainer_state(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)``; :class:`~explorer.store.StoreError` when absent or unreadable."""
    path = Path(run_dir) / TRAINER_STATE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{run_dir}: no {TRAINER_STATE}, so it cannot resume exactly (runs saved by an "
                         f"older version keep only their weights); train it again instead") from None
    except OSError as e:
        raise StoreError(f"{path}: cannot read it ({e})") from None
    try:
        tensors = st_load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        header = json.loads(raw[8:8 + header_len])
        meta = json.loads((header.get("__metadata__") or {})[_META_KEY])
    except (SafetensorError, ValueError, KeyError, TypeError) as e:
        raise StoreError(f"{path}: not a valid trainer state ({e})") from None
    if not isinstance(meta, dict):
        raise StoreError(f"{path}: not a valid trainer state")
    return tensors, meta
