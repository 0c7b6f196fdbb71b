"""A model's decoder (and encoder) as ONNX: the format the browser decodes with.

``decoder_onnx(model)`` gives the graph ``z [N, D] -> x [N, *data_shape]``, the mean of
p(x|z) (the image the app shows), for every body (MLP, conv) and likelihood (Bernoulli,
Gaussian): both end in a sigmoid (Bernoulli: the mean of Bernoulli(logits) is their
sigmoid; Gaussian: the decoder squashes its mean into [0, 1] with one). ``encoder_onnx``
gives ``x -> mu`` (and ``logvar`` for a VAE; an autoencoder's code is a point).

The graphs are written here, node by node from the model's layers, straight into ONNX's
protobuf wire format, instead of being traced by ``torch.onnx.export``: torch 2.13's
exporter is the dynamo one (~5 s for a small decoder; it needs onnxscript), the TorchScript
one is deprecated, and the ``onnx`` package costs ~1.5 s to import (ml_dtypes) — too much
for a page that exports the decoder of a run it opens. The architectures are a fixed,
short list, so writing them takes milliseconds and gives graphs of a known set of
operators (:data:`OPS`), the set the browser's runtime implements
(``explorer/ui/components/latent_plane``). ``tests/test_onnx_export.py`` checks every
graph with ``onnx.checker`` and against PyTorch with onnxruntime.

:func:`check_onnx` validates a file before it is served or written: it parses it
strictly (a field outside the schema below is refused, so a file holds the graph and its
float32 weights and nothing else: no external data, functions, sub-graphs, metadata or
other operator domains), checks that the graph is wired in order and its weights are
whole and finite, and caps its size (:data:`BROWSER_MAX_BYTES` for the browser).
"""
from __future__ import annotations

import hashlib
import math
import struct
from pathlib import Path

import numpy as np
from torch import nn

from .. import store

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
_ATTR_INT, _ATTR_FLOAT, _ATTR_INTS = 2, 1, 7


class OnnxError(ValueError):
    """An ONNX file that is not one of ours: malformed, too large, or holding more than a
    graph and its weights. The message says what, and which setting makes it smaller."""


# ------------------------------------------------------------- wire format

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1                  # negative int64s: two's complement, 10 bytes
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _f(field: int, value) -> bytes:
    """One field: an int (varint), a float (fixed32), or bytes / str / a message (length-delimited)."""
    if isinstance(value, bool) or isinstance(value, int):
        return _varint(field << 3) + _varint(int(value))
    if isinstance(value, float):
        return _varint(field << 3 | 5) + struct.pack("<f", value)
    value = value.encode() if isinstance(value, str) else bytes(value)
    return _varint(field << 3 | 2) + _varint(len(value)) + value


def _packed(field: int, ints) -> bytes:
    return _f(field, b"".join(_varint(int(i)) for i in ints))


def _tensor(name: str, a: np.ndarray) -> bytes:
    dtype = INT64 if a.dtype.kind in "iu" else FLOAT
    raw = np.ascontiguousarray(a, "<i8" if dtype == INT64 else "<f4").tobytes()
    return _packed(1, a.shape) + _f(2, dtype) + _f(8, name) + _f(9, raw)


def _value_info(name: str, dims: list) -> bytes:
    shape = b"".join(_f(1, _f(2, d) if isinstance(d, str) else _f(1, d)) for d in dims)
    return _f(1, name) + _f(2, _f(1, _f(1, FLOAT) + _f(2, shape)))


def _attribute(name: str, value) -> bytes:
    if isinstance(value, (list, tuple)):
        return _f(1, name) + _f(20, _ATTR_INTS) + _packed(8, value)
    if isinstance(value, float):
        return _f(1, name) + _f(20, _ATTR_FLOAT) + _f(2, value)
    return _f(1, name) + _f(20, _ATTR_INT) + _f(3, value)


# ------------------------------------------------------------------ building

class _Graph:
    """The nodes and weights of one graph, added layer by layer."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.inits, self.n = prefix, [], [], 0

    def name(self, what: str) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}_{what}"

    def const(self, what: str, array) -> str:
        name = self.name(what)
        self.inits.append(_tensor(name, np.asarray(array)))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attrs) -> str:
        out = out or self.name(op.lower())
        self.nodes.append(b"".join(_f(1, i) for i in inputs) + _f(2, out) + _f(3, self.name(op))
                          + _f(4, op) + b"".join(_f(5, _attribute(k, v)) for k, v in attrs.items()))
        return out

    def weights(self, module) -> list[str]:
        return [self.const("weight", module.weight.detach().cpu().float().numpy()),
                self.const("bias", module.bias.detach().cpu().float().numpy())]

    def sequential(self, h: str, layers) -> str:
        """Linear / ReLU / Conv2d / ConvTranspose2d / Flatten layers, nested Sequentials."""
        for layer in layers:
            if isinstance(layer, nn.Linear):
                h = self.node("Gemm", [h, *self.weights(layer)], transB=1)
            elif isinstance(layer, nn.ReLU):
                h = self.node("Relu", [h])
            elif isinstance(layer, nn.Flatten):
                h = self.node("Flatten", [h], axis=1)
            elif isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
                if layer.groups != 1 or layer.dilation != (1, 1) or getattr(layer, "output_padding", (0, 0)) != (0, 0):
                    raise OnnxError(f"cannot export this {type(layer).__name__} (groups, dilation or output padding)")
                op = "Conv" if isinstance(layer, nn.Conv2d) else "ConvTranspose"
                (ph, pw) = layer.padding
                h = self.node(op, [h, *self.weights(layer)], kernel_shape=list(layer.kernel_size),
                              strides=list(layer.stride), pads=[ph, pw, ph, pw])
            elif isinstance(layer, nn.Sequential):
                h = self.sequential(h, layer)
            else:
                raise OnnxError(f"cannot export a {type(layer).__name__} layer")
        return h

    def slice(self, h: str, starts, ends, axes, out: str | None = None) -> str:
        return self.node("Slice", [h, self.const("starts", np.array(starts, np.int64)),
                                   self.const("ends", np.array(ends, np.int64)),
                                   self.const("axes", np.array(axes, np.int64))], out=out)

    def model(self, inputs: list[bytes], outputs: list[bytes], tag: str = "") -> bytes:
        graph = (b"".join(_f(1, n) for n in self.nodes) + _f(2, f"{PRODUCER}-{self.prefix.rstrip('_')}")
                 + b"".join(_f(5, t) for t in self.inits)
                 + b"".join(_f(11, v) for v in inputs) + b"".join(_f(12, v) for v in outputs))
        return (_f(1, IR_VERSION) + _f(2, PRODUCER) + (_f(3, tag) if tag else b"") + _f(7, graph)
                + _f(8, _f(1, "") + _f(2, OPSET)))


def decoder_onnx(model, tag: str = "") -> bytes:
    """The decoder of ``model`` (a :class:`~explorer.models.VAE`) as ONNX bytes: input
    ``z`` ``[N, D]``, output ``x`` ``[N, *data_shape]``, the mean of p(x|z) in [0, 1] (what
    ``model.decode_mean`` returns). ``tag`` goes in the producer version (:func:`onnx_tag`;
    :func:`run_decoder` writes the weights' hash there). Checked by :func:`check_onnx` (no
    size cap) first."""
    g = _Graph("dec_")
    shape, dec = list(model.data_shape), model.decoder
    if model.cfg.body == "conv":
        h = g.sequential("z", dec.mlp)
        h = g.node("Reshape", [h, g.const("shape", np.array([-1, 64, dec.h4, dec.w4], np.int64))])
        h = g.sequential(h, dec.deconv)
        h = g.slice(h, [0, 0], list(dec.image_shape[1:]), [2, 3])
    else:
        h = g.sequential("z", dec)
        h = g.node("Reshape", [h, g.const("shape", np.array([-1] + shape, np.int64))])
    g.node("Sigmoid", [h], out="x")            # Bernoulli and Gaussian alike: see the docstring
    data = g.model([_value_info("z", ["N", model.latent_dim])], [_value_info("x", ["N"] + shape)], tag)
    check_onnx(data, max_bytes=None)
    return data


def encoder_onnx(model) -> bytes:
    """The encoder of ``model`` as ONNX bytes: input ``x`` ``[N, *data_shape]``, outputs
    ``mu`` ``[N, D]`` and, for a VAE, ``logvar`` ``[N, D]`` (what ``model.encode`` returns;
    an autoencoder has ``mu`` only). Checked by :func:`check_onnx` (no size cap) first."""
    g = _Graph("enc_")
    d, enc, vae = model.latent_dim, model.encoder, model.kind == "vae"
    h = g.sequential("x", [enc.conv, enc.mlp] if model.cfg.body == "conv" else enc)
    h = g.node("Gemm", [h, *g.weights(model.head)], out=None if vae else "mu", transB=1)
    outputs = [_value_info("mu", ["N", d])]
    if vae:
        g.slice(h, [0], [d], [1], out="mu")
        g.slice(h, [d], [2 * d], [1], out="logvar")
        outputs.append(_value_info("logvar", ["N", d]))
    data = g.model([_value_info("x", ["N"] + list(model.data_shape))], outputs)
    check_onnx(data, max_bytes=None)
    return data


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


# ------------------------------------------------------------- one run's

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
    when the decoder is over ``max_bytes``."""
    run_dir = Path(run_dir)
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
