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
operators (:data:`.onnx_check.OPS`), the set the browser's runtime implements
(``explorer/ui/components/latent_plane``). ``tests/test_onnx_export.py`` checks every
graph with ``onnx.checker`` and against PyTorch with onnxruntime.

A written file is checked before it is served or saved: :mod:`.onnx_check`.
"""
from __future__ import annotations

import struct

import numpy as np
from torch import nn

from .onnx_check import FLOAT, INT64, IR_VERSION, OPSET, PRODUCER, OnnxError, check_onnx

_ATTR_INT, _ATTR_FLOAT, _ATTR_INTS = 2, 1, 7     # AttributeProto.AttributeType

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
