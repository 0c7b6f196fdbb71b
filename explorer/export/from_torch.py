"""Any PyTorch encoder/decoder pair as this app's ONNX graphs, so Explore and the notebook
widget open a model trained in your own loop (``explorer.track(...).save_model``).

The modules (or bound methods such as ``model.encode``) are traced with ``torch.fx`` and
each step is written as one of the operators the browser's decoder and the server's
interpreter run (:data:`explorer.export.onnx_check.OPS`): ``nn.Linear`` / ``F.linear`` (Gemm),
``nn.Conv2d`` (Conv, encoders), ``nn.ConvTranspose2d``, ReLU and sigmoid (modules,
functions and methods), ``flatten`` / ``nn.Flatten`` / ``nn.Unflatten`` / ``view`` /
``reshape`` (with ``x.size(0)`` or ``-1`` for the batch), ``chunk`` and slices of the last
dimension (an encoder's ``mu, logvar``), ``nn.Sequential``, ``nn.Identity`` and ``nn.Dropout``
(identity at inference). Anything else is refused with a message naming it and this list.

The encoder takes ``x`` and returns ``mu`` (an autoencoder) or ``(mu, logvar)``; the decoder
takes ``z`` and returns the mean of p(x|z) in [0, 1] or logits (a sigmoid is then added:
``decoder_gives``, told from the outputs on the example when "auto"). Both graphs are run
on the example against PyTorch before they are returned.
"""
from __future__ import annotations

import math
import operator

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from .onnx_check import OnnxError, check_onnx
from .onnx_write import _Graph, _value_info

SUPPORTED = ("nn.Linear, nn.Conv2d (encoder), nn.ConvTranspose2d, nn.ReLU, nn.Sigmoid, nn.Flatten, "
             "nn.Unflatten, nn.Sequential, nn.Identity, nn.Dropout; F.linear, relu, sigmoid, flatten, "
             "view/reshape, chunk and slices")
_RELU = {torch.relu, F.relu, torch.nn.functional.relu}
_SIGMOID = {torch.sigmoid, F.sigmoid}


class _Call(nn.Module):
    """A bound method (``model.encode``) as a module fx can trace, its owner's layers inside."""

    def __init__(self, fn):
        super().__init__()
        self.owner, self.method = fn.__self__, fn.__name__

    def forward(self, x):
        return getattr(self.owner, self.method)(x)


def as_module(fn) -> nn.Module:
    if isinstance(fn, nn.Module):
        return fn
    if hasattr(fn, "__self__") and isinstance(fn.__self__, nn.Module):
        return _Call(fn)
    raise OnnxError(f"expected an nn.Module or a method of one (such as model.decode), got {type(fn).__name__}")


def pair_onnx(encoder, decoder, example: torch.Tensor, *, data_shape: tuple[int, ...] | None = None,
              decoder_gives: str = "auto") -> tuple[bytes, bytes, dict]:
    """``(encoder.onnx, decoder.onnx, info)`` for a pair; ``example``: a batch the encoder
    takes; ``data_shape``: one item's shape as Explore shows it (default: the example's,
    e.g. ``(1, 28, 28)`` for an encoder that takes flat 784-vectors). ``info``: kind,
    latent_dim, data_shape, decoder_gives."""
    enc, dec = as_module(encoder), as_module(decoder)
    x = torch.as_tensor(example).detach().float().cpu()
    was = (enc.training, dec.training)
    enc.eval(), dec.eval()
    try:
        with torch.no_grad():
            out = enc(x)
            mu = out[0] if isinstance(out, (tuple, list)) else out
            kind = "vae" if isinstance(out, (tuple, list)) and len(out) == 2 else "ae"
            y = dec(mu)
        shape = tuple(int(s) for s in (data_shape or x.shape[1:]))
        if math.prod(y.shape[1:]) != math.prod(shape) or math.prod(x.shape[1:]) != math.prod(shape):
            raise OnnxError(f"the example's items ({tuple(x.shape[1:])}), the decoder's outputs "
                            f"({tuple(y.shape[1:])}) and data_shape {shape} must hold as many numbers")
        if decoder_gives == "auto":
            decoder_gives = "mean" if float(y.min()) >= 0 and float(y.max()) <= 1 else "logits"
        if decoder_gives not in ("mean", "logits"):
            raise OnnxError(f"decoder_gives: 'auto', 'mean' or 'logits', not {decoder_gives!r}")
        d = int(mu.shape[1])
        eg = _Graph("enc_")
        h = "x" if tuple(x.shape[1:]) == shape else eg.node(
            "Reshape", ["x", eg.const("shape", np.array([-1, *x.shape[1:]], np.int64))])
        outs = _emit(eg, enc, h, "encoder")
        names = ["mu", "logvar"][:len(outs)]
        if kind == "vae" and len(outs) != 2 or kind == "ae" and len(outs) != 1:
            raise OnnxError("the encoder must return mu, or (mu, logvar)")
        for o, name in zip(outs, names):
            eg.node("Reshape", [o, eg.const("shape", np.array([-1, d], np.int64))], out=name)
        enc_bytes = eg.model([_value_info("x", ["N", *shape])], [_value_info(n, ["N", d]) for n in names])
        dg = _Graph("dec_")
        h = _emit(dg, dec, "z", "decoder")
        if len(h) != 1:
            raise OnnxError("the decoder must return one tensor")
        h = dg.node("Reshape", [h[0], dg.const("shape", np.array([-1, *shape], np.int64))],
                    out=None if decoder_gives == "logits" else "x")
        if decoder_gives == "logits":
            dg.node("Sigmoid", [h], out="x")
        dec_bytes = dg.model([_value_info("z", ["N", d])], [_value_info("x", ["N", *shape])])
        for b in (enc_bytes, dec_bytes):
            check_onnx(b, max_bytes=None)
        _verify(enc_bytes, dec_bytes, x, shape, out, y, decoder_gives)
    finally:
        enc.train(was[0])
        dec.train(was[1])
    return enc_bytes, dec_bytes, {"kind": kind, "latent_dim": d, "data_shape": list(shape),
                                  "decoder_gives": decoder_gives}


def _verify(enc_bytes, dec_bytes, x, shape, out, y, gives) -> None:
    """The graphs, run by the server's interpreter, against PyTorch on the example."""
    from .onnx_model import OnnxGraph
    got = OnnxGraph(enc_bytes).run(x.reshape((-1,) + shape))
    want = list(out) if isinstance(out, (tuple, list)) else [out]
    z = want[0].reshape(len(x), -1)
    img = OnnxGraph(dec_bytes).run(z)[0].reshape(len(x), -1)
    want_img = (torch.sigmoid(y) if gives == "logits" else y).reshape(len(x), -1)
    for a, b, what in [(g.reshape(len(x), -1), w.reshape(len(x), -1), "encoder") for g, w in zip(got, want)] \
            + [(img, want_img, "decoder")]:
        if not torch.allclose(a, b, atol=1e-4, rtol=1e-4):
            raise OnnxError(f"the exported {what} does not give PyTorch's numbers on the example "
                            f"(largest difference {float((a - b).abs().max()):.3g}); it uses something "
                            f"this exporter writes wrongly: please report it")


# ------------------------------------------------------------------ tracing

class _Batch:
    """``x.size(0)`` / ``x.shape[0]``: the batch, written 0 ("copy") in a Reshape's shape."""


class _Shape:
    def __init__(self, name):
        self.name = name


def _emit(g: _Graph, module: nn.Module, inp: str, role: str) -> list[str]:
    """Write ``module``'s traced graph into ``g`` from input ``inp``; returns the output names."""
    try:
        gm = fx.symbolic_trace(module)
    except Exception as e:  # noqa: BLE001 - any tracing failure means: tell the person why
        raise OnnxError(f"the {role} cannot be traced by torch.fx ({type(e).__name__}: {e}); use "
                        f"{SUPPORTED}, without Python control flow on tensor values") from None
    env: dict = {}

    def val(a):
        return env[a] if isinstance(a, fx.Node) else a

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node] = inp
        elif node.op == "get_attr":
            env[node] = _get_attr(gm, node.target)
        elif node.op == "call_module":
            env[node] = _module(g, gm.get_submodule(node.target), val(node.args[0]), role)
        elif node.op in ("call_function", "call_method"):
            env[node] = _call(g, node, [val(a) for a in node.args],
                              {k: val(v) for k, v in node.kwargs.items()}, role)
        elif node.op == "output":
            res = val(node.args[0]) if not isinstance(node.args[0], (tuple, list)) \
                else [val(a) for a in node.args[0]]
            outs = res if isinstance(res, list) else list(res) if isinstance(res, tuple) else [res]
            if not all(isinstance(o, str) for o in outs):
                raise OnnxError(f"the {role} returns something other than tensors")
            return outs
    raise OnnxError(f"the {role} has no output")


def _get_attr(gm, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _module(g: _Graph, m: nn.Module, h, role: str) -> str:
    if isinstance(m, (nn.Identity, nn.Dropout)):
        return h
    if isinstance(m, nn.Linear):
        return _linear(g, h, m.weight, m.bias)
    if isinstance(m, nn.ReLU):
        return g.node("Relu", [h])
    if isinstance(m, nn.Sigmoid):
        return g.node("Sigmoid", [h])
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise OnnxError("nn.Flatten: only start_dim=1, end_dim=-1")
        return g.node("Flatten", [h], axis=1)
    if isinstance(m, nn.Unflatten):
        if m.dim not in (1, -1):
            raise OnnxError("nn.Unflatten: only of the dimension after the batch")
        return g.node("Reshape", [h, g.const("shape", np.array([0, *m.unflattened_size], np.int64))])
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        if isinstance(m, nn.Conv2d) and role == "decoder":
            raise OnnxError("nn.Conv2d in a decoder: the browser runs ConvTranspose2d only; "
                            "upsample with nn.ConvTranspose2d")
        if m.bias is None:
            m = _with_bias(m)
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise OnnxError(f"{type(m).__name__}: only zero padding given as numbers")
        return g.sequential(h, [m])
    if isinstance(m, nn.Sequential):
        for layer in m:
            h = _module(g, layer, h, role)
        return h
    raise OnnxError(f"the {role} uses {type(m).__name__}, which the browser's decoder cannot run; "
                    f"use {SUPPORTED}")


def _with_bias(m):
    c = type(m)(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                dilation=m.dilation, groups=m.groups, bias=True,
                **({"output_padding": m.output_padding} if isinstance(m, nn.ConvTranspose2d) else {}))
    c.weight.data.copy_(m.weight.data)
    c.bias.data.zero_()
    return c


def _linear(g: _Graph, h: str, w: torch.Tensor, b: torch.Tensor | None) -> str:
    b = torch.zeros(w.shape[0]) if b is None else b
    return g.node("Gemm", [h, g.const("weight", w.detach().cpu().float().numpy()),
                           g.const("bias", b.detach().cpu().float().numpy())], transB=1)


def _call(g: _Graph, node: fx.Node, args: list, kwargs: dict, role: str):
    f = node.target
    name = f if isinstance(f, str) else getattr(f, "__name__", str(f))
    if f in _RELU or name == "relu":
        return g.node("Relu", [args[0]])
    if f in _SIGMOID or name == "sigmoid":
        return g.node("Sigmoid", [args[0]])
    if f is F.linear:
        return _linear(g, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("bias"))
    if name in ("flatten",) and node.op == "call_method" or f is torch.flatten:
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0 if f is torch.flatten else 0)
        if start != 1:
            raise OnnxError(f"the {role} flattens from dimension {start}; only flatten(x, 1) is supported")
        return g.node("Flatten", [args[0]], axis=1)
    if name in ("view", "reshape") or f is torch.reshape:
        dims = args[1:] if len(args) > 2 or not isinstance(args[1] if len(args) > 1 else None, (tuple, list)) \
            else list(args[1])
        dims = list(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else list(dims)
        shape = [0 if isinstance(d, _Batch) else int(d) for d in dims]
        return g.node("Reshape", [args[0], g.const("shape", np.array(shape, np.int64))])
    if name == "size" and node.op == "call_method":
        if args[1:] in ([0], [-0]) or kwargs.get("dim") == 0:
            return _Batch()
        raise OnnxError(f"the {role} uses x.size() of a dimension other than the batch")
    if f is getattr and args[1] == "shape":
        return _Shape(args[0])
    if f is operator.getitem:
        return _getitem(g, args[0], args[1], role)
    if name == "chunk" or f is torch.chunk:
        n = args[1] if len(args) > 1 else kwargs["chunks"]
        dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
        return _chunks(g, args[0], n, dim, node, role)
    raise OnnxError(f"the {role} calls {name}, which the browser's decoder cannot run; use {SUPPORTED}")


def _chunks(g: _Graph, h: str, n: int, dim: int, node: fx.Node, role: str) -> list[str]:
    meta = _width(node)
    if dim not in (1, -1) or meta is None or meta % n:
        raise OnnxError(f"the {role} splits a tensor in a way this exporter cannot: use chunk(n, dim=-1) of a 2-D tensor")
    k = meta // n
    return [g.slice(h, [i * k], [(i + 1) * k], [1]) for i in range(n)]


def _width(node: fx.Node) -> int | None:
    """The width of a chunked tensor, from the module that made it (a Linear's out_features)."""
    src = node.args[0]
    if isinstance(src, fx.Node) and src.op == "call_module":
        m = src.graph.owning_module.get_submodule(src.target)
        if isinstance(m, nn.Linear):
            return m.out_features
    return None


def _getitem(g: _Graph, obj, key, role: str):
    if isinstance(obj, list):                       # one of chunk()'s results
        return obj[key]
    if isinstance(obj, _Shape):
        if key == 0:
            return _Batch()
        raise OnnxError(f"the {role} uses x.shape[{key}]: only the batch, x.shape[0], is supported")
    if isinstance(obj, str) and isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None) \
            and isinstance(key[1], slice) and key[1].step in (None, 1):
        s = key[1]
        return g.slice(obj, [s.start or 0], [s.stop if s.stop is not None else 2**62], [1])
    raise OnnxError(f"the {role} indexes a tensor as [{key}]: only x[:, a:b] is supported")
