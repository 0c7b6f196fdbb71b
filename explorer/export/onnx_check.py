"""The ONNX files this app writes, checked before they are served or saved.

:func:`check_onnx` validates a file before it is served or written: it parses it
strictly (a field outside the schema below is refused, so a file holds the graph and its
float32 weights and nothing else: no external data, functions, sub-graphs, metadata or
other operator domains), checks that the graph is wired in order and its weights are
whole and finite, and caps its size (:data:`BROWSER_MAX_BYTES` for the browser).

The constants of the format (:data:`OPS`, the opset) are here, with the checker that holds
files to them; :mod:`.onnx_write` writes by the same constants.
"""
from __future__ import annotations

import math

import numpy as np

OPSET = 17
IR_VERSION = 8                          # opset 17's; read by every onnxruntime since 1.12
PRODUCER = "latent-explorer"
BROWSER_MAX_BYTES = 16 * 2**20          # a decoder sent to a browser: at most 16 MiB
#: every operator an exported graph uses, with the attributes it may carry
OPS = {"Gemm": {"transA", "transB", "alpha", "beta"}, "Relu": set(), "Sigmoid": set(),
       "Reshape": set(), "Slice": set(), "Flatten": {"axis"},
       "Conv": {"kernel_shape", "strides", "pads", "dilations", "group"},
       "ConvTranspose": {"kernel_shape", "strides", "pads", "dilations", "group"}}
FLOAT, INT64 = 1, 7                     # TensorProto.DataType


class OnnxError(ValueError):
    """An ONNX file that is not one of ours: malformed, too large, or holding more than a
    graph and its weights. The message says what, and which setting makes it smaller."""


# ------------------------------------------------------------------ parsing

def _read_varint(buf: memoryview, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise OnnxError("truncated or malformed protobuf")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(buf: memoryview, what: str) -> list[tuple[int, int, object]]:
    """A message's fields in order: ``(field, wire type, int or memoryview)``."""
    out, i = [], 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            if i + n > len(buf):
                raise OnnxError(f"truncated {what}")
            v, i = buf[i:i + n], i + n
        elif wire == 5:
            if i + 4 > len(buf):
                raise OnnxError(f"truncated {what}")
            v, i = buf[i:i + 4], i + 4
        else:
            raise OnnxError(f"unexpected wire type {wire} in {what}")
        out.append((field, wire, v))
    return out


def _message(buf, what: str, schema: dict[int, tuple[str, int]]) -> dict[str, list]:
    """Parse ``buf`` keeping only the fields of ``schema`` (number -> (name, wire type; 9:
    a repeated integer, packed or not)):
    any other field means the file holds something this app does not write."""
    got: dict[str, list] = {name: [] for name, _ in schema.values()}
    for field, wire, v in _fields(memoryview(buf), what):
        if field not in schema or wire not in _WIRES[schema[field][1]]:
            raise OnnxError(f"{what} has a field (#{field}) outside a graph and its weights")
        got[schema[field][0]].append(v)
    return got


def _text(v) -> str:
    try:
        return bytes(v).decode("utf-8")
    except UnicodeDecodeError:
        raise OnnxError("a name is not UTF-8") from None


def _ints(parts) -> list[int]:
    out = []
    for p in parts:                    # packed (a memoryview) or one varint each
        if isinstance(p, int):
            out.append(p)
            continue
        i = 0
        while i < len(p):
            v, i = _read_varint(p, i)
            out.append(v)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in out]


_WIRES = {0: (0,), 2: (2,), 5: (5,), 9: (0, 2)}      # 9: a repeated integer, packed or not
_MODEL = {1: ("ir_version", 0), 2: ("producer_name", 2), 3: ("producer_version", 2), 7: ("graph", 2),
          8: ("opset_import", 2)}
_OPSET = {1: ("domain", 2), 2: ("version", 0)}
_GRAPH = {1: ("node", 2), 2: ("name", 2), 5: ("initializer", 2), 11: ("input", 2), 12: ("output", 2),
          13: ("value_info", 2)}
_NODE = {1: ("input", 2), 2: ("output", 2), 3: ("name", 2), 4: ("op_type", 2), 5: ("attribute", 2),
         7: ("domain", 2)}
_ATTR = {1: ("name", 2), 2: ("f", 5), 3: ("i", 0), 8: ("ints", 9), 20: ("type", 0)}
_TENSOR = {1: ("dims", 9), 2: ("data_type", 0), 8: ("name", 2), 9: ("raw_data", 2)}
_VALUE = {1: ("name", 2), 2: ("type", 2)}
_TYPE = {1: ("tensor_type", 2)}
_TTYPE = {1: ("elem_type", 0), 2: ("shape", 2)}
_SHAPE = {1: ("dim", 2)}
_DIM = {1: ("dim_value", 0), 2: ("dim_param", 2)}


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _check_value(v) -> str:
    """A graph input or output: a float tensor with a shape; returns its name."""
    info = _message(v, "an input or output", _VALUE)
    for t in info["type"]:
        for tt in _message(t, "a type", _TYPE)["tensor_type"]:
            tensor = _message(tt, "a tensor type", _TTYPE)
            if tensor["elem_type"] != [FLOAT]:
                raise OnnxError("inputs and outputs must be float32 tensors")
            for s in tensor["shape"]:
                for dim in _message(s, "a shape", _SHAPE)["dim"]:
                    _message(dim, "a dimension", _DIM)
    return _text(info["name"][0]) if info["name"] else ""


def _check_weight(t) -> str:
    w = _message(t, "a weight", _TENSOR)
    name = _text(w["name"][0]) if w["name"] else ""
    dims, dtype, raw = _ints(w["dims"]), w["data_type"], b"".join(bytes(r) for r in w["raw_data"])
    if dtype not in ([FLOAT], [INT64]) or any(d < 0 for d in dims):
        raise OnnxError(f"weight {name!r} is not a float32 or int64 tensor")
    size = 4 if dtype == [FLOAT] else 8
    if len(raw) != size * math.prod(dims):
        raise OnnxError(f"weight {name!r} is truncated (its data do not match its shape)")
    if dtype == [FLOAT] and not np.isfinite(np.frombuffer(raw, "<f4")).all():
        raise OnnxError(f"weight {name!r} holds NaN or inf")
    return name


def check_onnx(data: bytes, max_bytes: int | None = BROWSER_MAX_BYTES) -> None:
    """Raise :class:`OnnxError` unless ``data`` is an ONNX model of the kind this module
    writes (see the module's docstring), at most ``max_bytes`` long (None: no cap)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or not len(data):
        raise OnnxError("empty, or not bytes: not an ONNX file")
    if max_bytes is not None and len(data) > max_bytes:
        raise OnnxError(f"the decoder is {_mib(len(data))}, over the {_mib(max_bytes)} a browser is "
                        "sent; a model with smaller model.hidden widths fits")
    m = _message(data, "the model", _MODEL)
    if len(m["graph"]) != 1 or not m["ir_version"]:
        raise OnnxError("not an ONNX model (no graph, or no IR version)")
    for o in m["opset_import"]:
        op = _message(o, "an opset", _OPSET)
        if any(_text(d) not in ("", "ai.onnx") for d in op["domain"]):
            raise OnnxError("the file imports operators from another domain")
    g = _message(m["graph"][0], "the graph", _GRAPH)
    known = {_check_weight(t) for t in g["initializer"]}
    inputs = [_check_value(v) for v in g["input"]]
    outputs = [_check_value(v) for v in g["output"]]
    if len(inputs) != 1 or not 1 <= len(outputs) <= 2:
        raise OnnxError("expected one input and one or two outputs")
    for v in g["value_info"]:
        _check_value(v)
    known.update(inputs)
    for n in g["node"]:
        node = _message(n, "a node", _NODE)
        op = _text(node["op_type"][0]) if node["op_type"] else ""
        if op not in OPS or any(_text(d) not in ("", "ai.onnx") for d in node["domain"]):
            raise OnnxError(f"operator {op!r} is outside the exporter's set {sorted(OPS)}")
        for a in node["attribute"]:
            attr = _message(a, "an attribute", _ATTR)
            name = _text(attr["name"][0]) if attr["name"] else ""
            if name not in OPS[op]:
                raise OnnxError(f"{op} has an attribute {name!r} this app does not write")
        ins = [_text(i) for i in node["input"]]
        if any(i and i not in known for i in ins):
            raise OnnxError(f"{op} reads a tensor that is not defined before it")
        known.update(_text(o) for o in node["output"])
    if any(o not in known for o in outputs):
        raise OnnxError("an output of the graph is never computed")


def onnx_tag(data: bytes) -> str:
    """The producer version written by :func:`decoder_onnx` (``tag``), or ""."""
    got = _message(data, "the model", _MODEL)["producer_version"]
    return _text(got[0]) if got else ""
