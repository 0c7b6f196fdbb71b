"""Open a model trained elsewhere, safely: a run zip, or safetensors weights with a config.json.

Accepted uploads (the Explore page's "Open your own model", or :func:`open_own_model`):

* an exported run zip (``config.json``, ``weights.safetensors``, ``metrics.csv``,
  ``summary.json``, optionally ``probe.safetensors``): imported as it is;
* ``weights.safetensors`` + ``config.json`` (this app's config schema: the exported
  script's ``--save DIR`` writes the pair), optionally with the ``summary.json`` that
  records the data shape of a model of your own data.

Both go through :func:`explorer.exchange.import_run`, the one validated import: every
check happens before anything is written (sizes, the config against its schema, every
tensor's name, shape, type and finiteness against the model the config builds, on the
``meta`` device), and the model becomes a NEW run of the uploader's. Nothing is ever
unpickled: a ``.pt``/``.pth`` (a pickle) is refused with :data:`CONVERT`, three lines
that turn it into safetensors on the person's own machine.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from .. import store
from ..exchange import ExchangeError, import_run

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".joblib")
UPLOAD_TYPES = ["zip", "safetensors", "json"] + [s[1:] for s in PICKLE_SUFFIXES]
CONVERT = ("import torch; from safetensors.torch import save_file\n"
           "state = torch.load(\"model.pt\", map_location=\"cpu\", weights_only=True)  # a file you trust\n"
           "save_file({k: v.contiguous() for k, v in state.items()}, \"weights.safetensors\")")
EXPECTED = ("a run zip exported from this app, or weights.safetensors with its config.json "
            "(and, for a model of your own data, its summary.json)")


class OwnModelError(ValueError):
    """The upload cannot be opened; the message says why and what to upload instead."""


def pickle_refusal(file_name: str) -> str | None:
    """The message for a PyTorch/pickle file, or None for other files."""
    if Path(file_name or "").suffix.lower() not in PICKLE_SUFFIXES:
        return None
    return (f"{file_name} is a pickle (PyTorch's torch.save format), and this app never unpickles a "
            "file: loading one can run any code inside it. Convert it to safetensors on your own "
            "machine with these three lines, then upload weights.safetensors with the model's "
            "config.json (its tensor names must be this app's, as the exported script writes them):\n\n"
            + CONVERT)


def pair_zip(files: dict[str, bytes]) -> bytes:
    """A run zip made of a weights + config pair (and summary, if given): no metrics rows."""
    weights = [n for n in files if n.lower().endswith(".safetensors")]
    configs = [n for n in files if n.lower().endswith(".json") and Path(n).name.lower() != store.SUMMARY]
    summaries = [n for n in files if Path(n).name.lower() == store.SUMMARY]
    if len(weights) != 1 or len(configs) != 1 or len(summaries) > 1:
        raise OwnModelError(f"expected {EXPECTED}; got {', '.join(sorted(files)) or 'nothing'}")
    summary = files[summaries[0]] if summaries else b""
    if not summary:
        summary = json.dumps({"reason": "weights uploaded: trained elsewhere"}).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(store.CONFIG, files[configs[0]])
        zf.writestr(store.WEIGHTS, files[weights[0]])
        zf.writestr(store.METRICS, "")
        zf.writestr(store.SUMMARY, summary)
    return buf.getvalue()


def open_own_model(files: dict[str, bytes], runs_root: Path, *, max_bytes: int, owner: str = "") -> str:
    """Validate the uploaded files (name -> bytes) and write them as a new run of ``owner``;
    returns its id. Raises :class:`OwnModelError` (nothing written) when they cannot be opened."""
    for name in files:
        refusal = pickle_refusal(name)
        if refusal:
            raise OwnModelError(refusal)
    if not files:
        raise OwnModelError(f"nothing uploaded: upload {EXPECTED}")
    total = sum(len(b) for b in files.values())
    if total > max_bytes:
        raise OwnModelError(f"the files hold {total / 2**20:.1f} MiB; the upload limit is "
                            f"{max_bytes / 2**20:.0f} MiB (setting LATENT_EXPLORER_UPLOAD_MB)")
    zips = [n for n in files if n.lower().endswith(".zip")]
    if zips and len(files) > 1:
        raise OwnModelError("upload a run zip on its own, or a weights + config pair without a zip")
    data, label = (files[zips[0]], zips[0]) if zips else (pair_zip(files), _pair_name(files))
    try:
        return import_run(data, Path(runs_root), max_bytes=max_bytes, owner=owner, file_name=label,
                          model_only=not zips)
    except ExchangeError as e:
        raise OwnModelError(str(e)) from None


def _pair_name(files: dict[str, bytes]) -> str:
    weights = next(n for n in files if n.lower().endswith(".safetensors"))
    return Path(weights).stem if Path(weights).stem != "weights" else "own-model"
