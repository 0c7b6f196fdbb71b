"""The exports as bytes, for the Runs page's download buttons and the CLI: the ONNX pair
(through :mod:`explorer.export.onnx_write`, written with the in-browser decoding) and zips."""
from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

from .. import store
from .onnx_write import decoder_onnx, encoder_onnx


class ExportUnavailable(ValueError):
    """This installation cannot make the export (a module or package is missing)."""


def onnx_available() -> bool:
    """True when :mod:`explorer.export.onnx_write` is part of this installation."""
    return importlib.util.find_spec("explorer.export.onnx_write") is not None


def onnx_files(run_dir: Path) -> dict[str, bytes]:
    """``encoder.onnx`` (x -> mu, and logvar for a VAE) and ``decoder.onnx`` (z -> the mean of
    p(x|z)) of a run; both are checked by ``check_onnx`` as they are written (no size cap:
    these are files to download, not decoders sent to a browser)."""
    if not onnx_available():
        raise ExportUnavailable("ONNX export is not part of this installation")
    if store.onnx_model_only(Path(run_dir)):            # a tracked loop's model: its own graphs
        return {"encoder.onnx": (Path(run_dir) / store.MODEL_ENCODER_ONNX).read_bytes(),
                "decoder.onnx": (Path(run_dir) / store.MODEL_DECODER_ONNX).read_bytes()}
    model = store.load_model(Path(run_dir), device="cpu")
    return {"encoder.onnx": encoder_onnx(model), "decoder.onnx": decoder_onnx(model)}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of ``name -> bytes`` (names may hold folders: ``run/encoder.onnx``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()
