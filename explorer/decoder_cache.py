"""The decoder a browser decodes with (Explore's and the Train page's pointer): one per run,
exported from its weights (:mod:`explorer.export.onnx_write`), checked
(:mod:`explorer.export.onnx_check`) and cached beside the run (:func:`explorer.store.decoder_cache_path`).
A runtime cache, not an export: every page view of a run asks it."""
from __future__ import annotations

import hashlib
from pathlib import Path

from . import store
from .export.onnx_check import BROWSER_MAX_BYTES, OnnxError, check_onnx, onnx_tag
from .export.onnx_write import decoder_onnx


def model_file(run_dir: Path) -> Path:
    """The file whose change means a new model: the weights, or a tracked model's decoder
    (``explorer.track(...).save_model``: its own ONNX graphs, :data:`store.MODEL_DECODER_ONNX`)."""
    run_dir = Path(run_dir)
    return run_dir / (store.MODEL_DECODER_ONNX if store.onnx_model_only(run_dir) else store.WEIGHTS)


def weights_key(run_dir: Path) -> str:
    """A run's weights file, identified: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256((Path(run_dir) / store.WEIGHTS).read_bytes()).hexdigest()[:32]


def run_decoder(run_dir: Path, model=None, max_bytes: int | None = BROWSER_MAX_BYTES) -> tuple[bytes, str]:
    """A run's decoder for the browser and its key (:func:`weights_key`).

    Read from the run's cache (:func:`explorer.store.decoder_cache_path`) when that file was
    exported from these weights, else exported and cached (a cache that cannot be written is
    skipped). ``model``: the caller's loaded copy of these weights; without it the weights
    are loaded here, and a file replaced meanwhile (a live run's next checkpoint) is read
    again, so a key never names another checkpoint's decoder. Raises :class:`OnnxError`
    when the decoder is over ``max_bytes``. A tracked model's run: its own decoder graph, checked."""
    run_dir = Path(run_dir)
    if store.onnx_model_only(run_dir):
        data = (run_dir / store.MODEL_DECODER_ONNX).read_bytes()
        check_onnx(data, max_bytes)
        return data, hashlib.sha256(data).hexdigest()[:32]
    path = store.decoder_cache_path(run_dir)
    for _ in range(3):
        key = weights_key(run_dir)
        try:
            data = path.read_bytes()
            if onnx_tag(data) == key:
                check_onnx(data, max_bytes)
                return data, key
        except (OSError, OnnxError):
            pass
        data = decoder_onnx(model if model is not None else store.load_model(run_dir, device="cpu"), tag=key)
        if model is not None or weights_key(run_dir) == key:
            break
    else:
        check_onnx(data, max_bytes)
        return data, key                       # a run checkpointing faster than this: no cache
    check_onnx(data, max_bytes)
    try:
        store.save_decoder_onnx(run_dir, data)
    except (OSError, store.StoreError):
        pass                                   # a read-only folder: serve it uncached
    return data, key
