"""Share runs as zip files: export a run folder, import a zip as a new run.

A run zip holds exactly these files, at its top level::

    config.json           the RunConfig (validated against its schema on import)
    weights.safetensors   the model's tensors (safetensors only: never a pickle)
    metrics.csv           one row of numbers per logged step
    summary.json          final numbers (a JSON object)
    probe.safetensors     optional: validation images and labels to explore the run

Import trusts nothing in the file and executes nothing in it: JSON is read by
``json``, CSV by ``csv`` and tensors by ``safetensors`` (raw numbers behind a
JSON header; a pickle or a PyTorch ``.pt`` file is rejected). Everything is
checked *before* anything is written:

1. the upload size, then that it is a zip at all;
2. the members: at most a handful, plain names (no folders, no ``..``), exactly
   the expected names, not encrypted, their unpacked sizes and compression
   ratios bounded (a "zip bomb" is refused before it is unpacked), read with
   bounded reads;
3. config.json against the schema (:class:`explorer.config.RunConfig`);
4. weights.safetensors: every tensor name and shape against the model that the
   config describes (built on PyTorch's ``meta`` device, which allocates no
   memory, so a config describing a huge model cannot exhaust the server),
   finite values only;
5. metrics.csv as numbers, summary.json as a JSON object, the probe's shapes.

Only then is a NEW folder made under the runs folder, with a fresh id (an
import never overwrites a run), the files written through :mod:`explorer.store`
and the run opened once more with the normal loader. A failure at any step
raises :class:`ExchangeError` with a message a person can act on.

Who may rename or delete a run is decided by :func:`explorer.runs.refusal`, the one
rule every page uses.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
import secrets
import shutil
import struct
import time
import zipfile
import zlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from . import store
from .config import DATASETS_IMAGE, ConfigError, RunConfig
from .models import VAE
from .runs import ENDED

REQUIRED = (store.CONFIG, store.WEIGHTS, store.METRICS, store.SUMMARY)
OPTIONAL = (store.PROBE,)
MAX_ENTRIES = 64            # more entries than this: refused before even looking at the names
UNPACK_FACTOR = 4           # a zip may unpack to at most this many times the upload limit
MAX_RATIO = 200             # compression ratio above which a large member is a zip bomb
RATIO_MIN_BYTES = 1 << 20   # ... checked for members larger than this (tiny files compress wildly)
MAX_DATA_DIMS = 3           # data_shape: (D,) vectors or (C, H, W) images
MAX_DATA_SIZE = 3 * 1024 * 1024   # at most this many numbers per item
MAX_PROBE_N = 20_000


class ExchangeError(ValueError):
    """A run zip cannot be exported or imported; the message says why."""


# ====================================================================== export

def export_run(run_dir: Path) -> bytes:
    """A zip of the run's four files (and its probe, if any), ready to download.

    The session token in ``summary["owner"]`` stays on this server: it is removed."""
    run_dir = Path(run_dir)
    if store.onnx_model_only(run_dir):
        raise ExchangeError("this model was trained in your own loop (explorer.track) and is saved as ONNX, "
                            "which a run zip does not carry: export its ONNX files instead")
    try:
        store.open_run(run_dir)             # a complete, valid run
    except store.StoreError as e:
        raise ExchangeError(f"cannot export: {e}") from None
    summary = store.read_summary(run_dir)
    summary.pop("owner", None)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in REQUIRED + OPTIONAL:
            path = run_dir / name
            if name == store.SUMMARY:
                zf.writestr(name, store.dumps(summary))
            elif path.is_file():
                zf.writestr(name, path.read_bytes())
            elif name == store.METRICS:
                zf.writestr(name, "")       # a run saved without metrics rows
    return buf.getvalue()


def export_file_name(run_id: str) -> str:
    return f"{store.check_run_id(run_id)}.zip"


# ====================================================================== import

def import_run(data: bytes, runs_root: Path, *, max_bytes: int, owner: str = "",
               file_name: str = "", model_only: bool = False) -> str:
    """Validate a run zip completely, then write it as a new run under ``runs_root``.

    Returns the new run's id. Raises :class:`ExchangeError` (nothing written) if any
    check fails. ``owner`` (the importing session) may later rename or delete it.
    ``model_only``: the zip wraps a model trained elsewhere (weights + config), not a run;
    ``summary["imported"]`` records which (``what``), and for a model whether its config
    gave a β (``beta_given``), so lists show neither a run's status nor a made-up β.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise ExchangeError("expected the bytes of a .zip file")
    if len(data) > max_bytes:
        raise ExchangeError(f"the file is {_mib(len(data))}; the upload limit is {_mib(max_bytes)}")
    files = _read_zip(bytes(data), max_unpacked=UNPACK_FACTOR * max_bytes)

    config = _parse_config(files[store.CONFIG])
    summary = _parse_summary(files[store.SUMMARY])
    data_shape = _data_shape(config, summary)
    weights = _parse_weights(files[store.WEIGHTS], config, data_shape)
    rows = _parse_metrics(files[store.METRICS])
    probe = files.get(store.PROBE)
    if probe is not None:
        _check_probe(probe, data_shape)

    config = _clean_name(_neutralise_paths(config))
    original_id = summary.get("run_id") if isinstance(summary.get("run_id"), str) else ""
    status = summary.get("status")
    if status not in ENDED:  # a run exported mid-training is imported as stopped
        summary["status"] = "stopped"
        summary["reason"] = f"imported while {status!r}" if status else "imported"
    summary["data_shape"] = list(data_shape)
    summary["imported"] = {"at": time.strftime("%Y-%m-%d %H:%M:%S"), "file": str(file_name)[:200],
                           "original_run_id": original_id[:100], "what": "model" if model_only else "run"}
    if model_only:
        summary["imported"]["beta_given"] = _gives_beta(files[store.CONFIG])
    out = {store.WEIGHTS: st_save(weights), store.METRICS: store.metrics_to_csv(rows).encode(),
           store.CONFIG: config.to_json().encode()}
    if probe is not None:
        out[store.PROBE] = probe

    run_dir = store.new_run_dir(runs_root, _fresh_id(original_id or Path(str(file_name)).stem))
    summary["run_id"], summary["owner"] = run_dir.name, owner
    out[store.SUMMARY] = store.dumps(summary).encode()
    try:
        store.save_files(run_dir, out)
        run = store.open_run(run_dir)       # read back with the normal loaders, once
        run.load_model("cpu")
        store.load_probe(run_dir)
    except Exception as e:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise ExchangeError(f"the run could not be saved: {e}") from None
    return run_dir.name


# ---------------------------------------------------------------- the zip

def _read_zip(data: bytes, *, max_unpacked: int) -> dict[str, bytes]:
    """The members of a run zip as bytes, after checking names, count and sizes."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ExchangeError("this file is not a zip archive; export a run from the Runs page "
                            "to get one") from None
    except (OSError, ValueError, EOFError, struct.error) as e:
        raise ExchangeError(f"this zip is damaged ({e})") from None
    with zf:
        infos = zf.infolist()
        _check_members(infos, max_unpacked)
        files = {}
        for info in infos:
            files[info.filename] = _read_member(zf, info)
    return files


def _check_members(infos: list[zipfile.ZipInfo], max_unpacked: int) -> None:
    expected = ", ".join(REQUIRED) + f" (and optionally {', '.join(OPTIONAL)})"
    if not infos:
        raise ExchangeError(f"the zip is empty; a run zip holds {expected}")
    if len(infos) > MAX_ENTRIES:
        raise ExchangeError(f"the zip holds {len(infos)} entries; a run zip holds only {expected}")
    names = [i.filename for i in infos]
    for info in infos:
        n = info.filename
        if "/" in n or "\\" in n or n in ("", ".", "..") or "\x00" in n or info.is_dir():
            raise ExchangeError(f"the zip holds {n!r}: files of a run zip lie at its top level, "
                                f"not in folders; it should hold {expected}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ExchangeError(f"the zip holds {', '.join(dup)} more than once")
    unknown = sorted(set(names) - set(REQUIRED + OPTIONAL))
    if unknown:
        raise ExchangeError(f"the zip holds unexpected file(s): {', '.join(repr(u) for u in unknown)}; "
                            f"a run zip holds only {expected}")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise ExchangeError(f"the zip lacks {', '.join(missing)}; a run zip holds {expected}")
    for info in infos:
        if info.flag_bits & 0x1:
            raise ExchangeError(f"{info.filename} is encrypted; export the run again without a password")
    total = sum(i.file_size for i in infos)
    if total > max_unpacked:
        raise ExchangeError(f"the zip unpacks to {_mib(total)}; at most {_mib(max_unpacked)} is accepted")
    for info in infos:
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ExchangeError(f"{info.filename} is compressed {info.file_size // max(info.compress_size, 1)}"
                                f" times: refused as a possible zip bomb")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member, never more than its declared size (+1 byte, to notice a lie)."""
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error) as e:
        raise ExchangeError(f"{info.filename} in the zip is damaged ({e})") from None
    except NotImplementedError as e:
        raise ExchangeError(f"{info.filename} uses a compression this app does not read ({e}); "
                            f"use plain zip (deflate)") from None
    except RuntimeError as e:            # e.g. "File is encrypted, password required"
        raise ExchangeError(f"{info.filename} cannot be read ({e})") from None
    if len(data) != info.file_size:
        raise ExchangeError(f"{info.filename} in the zip is damaged (its size does not match the "
                            f"zip's directory)")
    return data


# ------------------------------------------------------------- the members

def _parse_config(data: bytes) -> RunConfig:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ExchangeError("config.json is not UTF-8 text") from None
    try:
        return RunConfig.from_json(text)
    except ConfigError as e:
        raise ExchangeError(f"config.json is not a valid run configuration: {e}") from None
    except (RecursionError, TypeError, ValueError) as e:
        raise ExchangeError(f"config.json is not a valid run configuration ({e})") from None


def _parse_summary(data: bytes) -> dict:
    try:
        summary = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ExchangeError(f"summary.json is not valid JSON ({e})") from None
    if not isinstance(summary, dict):
        raise ExchangeError(f"summary.json must hold a JSON object {{...}}, not a {type(summary).__name__}")
    return summary


def _data_shape(config: RunConfig, summary: dict) -> tuple[int, ...]:
    """One item's shape, from the summary (checked) or the config's dataset."""
    raw = summary.get("data_shape")
    if raw is not None:
        ok = (isinstance(raw, list) and 1 <= len(raw) <= MAX_DATA_DIMS
              and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s for s in raw)
              and math.prod(raw) <= MAX_DATA_SIZE)
        if not ok:
            raise ExchangeError(f"summary.json: data_shape {str(raw)[:80]} is not a valid item shape "
                                f"(1 to {MAX_DATA_DIMS} positive whole numbers, at most "
                                f"{MAX_DATA_SIZE:,} values per item)")
    try:
        shape = store.data_shape_of(config, summary)
    except store.StoreError as e:
        raise ExchangeError(f"summary.json: {e}") from None
    if config.model.body == "conv" and len(shape) != 3:
        raise ExchangeError("config.json: the conv body needs images, but the data are vectors")
    return shape


def _parse_weights(data: bytes, config: RunConfig, data_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """The tensors of weights.safetensors, checked against the config's model."""
    tensors = _load_safetensors(data, store.WEIGHTS)
    try:
        with torch.device("meta"):          # shapes only: nothing is allocated
            expected = {k: tuple(v.shape) for k, v in VAE(config.model, data_shape).state_dict().items()}
    except (ValueError, RuntimeError) as e:
        raise ExchangeError(f"config.json describes a model this app cannot build ({e})") from None
    try:
        store.check_weights(tensors, expected)      # the same check as a run folder's weights
    except store.StoreError as e:
        raise ExchangeError(str(e)) from None
    return {k: tensors[k].to(torch.float32).contiguous() for k in expected}


def _load_safetensors(data: bytes, what: str) -> dict[str, torch.Tensor]:
    try:
        return st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError, TypeError) as e:
        hint = " (a PyTorch .pt/.pth file or a pickle is never loaded: save with safetensors)" \
            if data[:2] in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") else ""
        raise ExchangeError(f"{what} is not a safetensors file{hint} [{str(e)[:120]}]") from None


def _safetensors_metadata(data: bytes) -> dict:
    """The ``__metadata__`` of an already-validated safetensors file (from its JSON header)."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def _parse_metrics(data: bytes) -> list[dict]:
    """metrics.csv as rows of floats: a header of column names, then numbers (or empty cells)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ExchangeError("metrics.csv is not UTF-8 text") from None
    if not text.strip():
        return []
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        if not header or any(not h.strip() for h in header) or len(set(header)) != len(header):
            raise ExchangeError("metrics.csv: the first line must name each column once")
        rows = []
        for line_no, cells in enumerate(reader, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                raise ExchangeError(f"metrics.csv line {line_no}: {len(cells)} cells, but the header "
                                    f"names {len(header)} columns")
            row = {}
            for col, cell in zip(header, cells):
                if cell == "":
                    continue
                try:
                    row[col] = float(cell)
                except ValueError:
                    raise ExchangeError(f"metrics.csv line {line_no}, column {col!r}: "
                                        f"{cell[:40]!r} is not a number") from None
            rows.append(row)
    except csv.Error as e:
        raise ExchangeError(f"metrics.csv is not a valid CSV file ({e})") from None
    return rows


def _check_probe(data: bytes, data_shape: tuple[int, ...]) -> None:
    """probe.safetensors: images ``x`` of the run's item shape, optional labels ``y``."""
    tensors = _load_safetensors(data, store.PROBE)
    extra = sorted(set(tensors) - {"x", "y"})
    if "x" not in tensors or extra:
        raise ExchangeError("probe.safetensors must hold a tensor 'x' (and optionally 'y'), "
                            f"found {', '.join(sorted(tensors)) or 'nothing'}")
    x = tensors["x"]
    if tuple(x.shape[1:]) != tuple(data_shape) or not 1 <= x.shape[0] <= MAX_PROBE_N:
        raise ExchangeError(f"probe.safetensors: x has shape {tuple(x.shape)}; expected up to "
                            f"{MAX_PROBE_N} items of shape {tuple(data_shape)}")
    if x.dtype not in store.FLOAT_DTYPES + (torch.uint8,) or (x.dtype != torch.uint8 and not torch.isfinite(x).all()):
        raise ExchangeError("probe.safetensors: x must hold finite numbers")
    y = tensors.get("y")
    if y is not None and (tuple(y.shape) != (x.shape[0],) or y.dtype not in (torch.int64, torch.int32)):
        raise ExchangeError(f"probe.safetensors: y must hold one whole-number label per item, "
                            f"got shape {tuple(y.shape)} of {y.dtype}")
    try:
        names = json.loads(_safetensors_metadata(data).get("class_names", "[]"))
    except (json.JSONDecodeError, UnicodeDecodeError, struct.error, RecursionError):
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ExchangeError("probe.safetensors: class_names must be a JSON list of texts")


# ----------------------------------------------------------------- helpers

def _neutralise_paths(config: RunConfig) -> RunConfig:
    """An imported config must not point this server at its own files: a folder for
    MNIST is dropped (the standard cache is used), an own-data file keeps only its name."""
    path = config.data.path
    if not path:
        return config
    if config.data.name in DATASETS_IMAGE:
        return config.replace(data={"path": None})
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(str(path).replace("\\", "/")).name)[:100] or "data"
    return config.replace(data={"path": f"imported-{name}"})


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _clean_name(config: RunConfig) -> RunConfig:
    """The run's display name from another server, made safe to show: control characters
    (line breaks, terminal escapes) become spaces, at most ``store.MAX_NAME`` characters."""
    name = " ".join(_CONTROL_CHARS.sub(" ", config.name).split())[:store.MAX_NAME]
    return config if name == config.name else config.replace(name=name)


def _gives_beta(config_bytes: bytes) -> bool:
    """Whether an uploaded config.json states its β (``train.beta``), rather than leaving
    the schema's default to stand in for it."""
    try:
        train = json.loads(config_bytes).get("train")
    except (ValueError, AttributeError):
        return False
    return isinstance(train, dict) and isinstance(train.get("beta"), (int, float))


def _fresh_id(hint: str) -> str:
    """A safe, new-looking run id from a hint (the original id or the file name)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", hint or "").strip("-._")
    slug = re.sub(r"(-imported-[0-9a-f]{4}(-[0-9]+)?)+$", "", slug)[:60].strip("-._") or "run"
    return store.check_run_id(f"{slug}-imported-{secrets.token_hex(2)}")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"
