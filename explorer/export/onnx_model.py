"""Run this app's ONNX graphs on the server, with torch: a model saved as ONNX opens as any run.

A model trained in your own loop and saved by a tracker (``explorer.track(...).save_model``,
:mod:`explorer.export.from_torch`) is stored as two ONNX files, ``model.encoder.onnx`` and
``model.decoder.onnx``, instead of weights: its architecture is not this app's. Pages and the
Python API use a model through a few members (``latent_dim``, ``data_shape``, ``kind``,
``encode_mean``, ``decode_mean``); :class:`OnnxModel` gives them from the graphs, run by
:class:`OnnxGraph`, an interpreter of exactly the operators the exporter writes
(:data:`explorer.export.onnx_check.OPS`), each one torch call. Every file is checked by
:func:`~explorer.export.onnx_check.check_onnx` before it is run. :func:`load_any_model` opens
either kind of run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import store
from .onnx_check import (_ATTR, _GRAPH, _MODEL, _NODE, _TENSOR, _VALUE, FLOAT, OnnxError, _ints, _message, _text,
                         check_onnx)


def load_any_model(run_dir: Path, device=None):
    """A run's model: a :class:`~explorer.models.VAE` from its weights, or an
    :class:`OnnxModel` from a tracked model's graphs."""
    run_dir = Path(run_dir)
    if (run_dir / store.WEIGHTS).is_file() or not (run_dir / store.MODEL_DECODER_ONNX).is_file():
        return store.load_model(run_dir, device=device)
    return OnnxModel.from_run(run_dir)


class OnnxGraph:
    """One graph (one input, one or two outputs), parsed and ready to run on torch tensors."""

    def __init__(self, data: bytes):
        check_onnx(data, max_bytes=None)
        g = _message(_message(data, "the model", _MODEL)["graph"][0], "the graph", _GRAPH)
        self.weights = dict(_weight(t) for t in g["initializer"])
        self.input = _text(_message(g["input"][0], "an input", _VALUE)["name"][0])
        self.outputs = [_text(_message(v, "an output", _VALUE)["name"][0]) for v in g["output"]]
        self.nodes = []
        for n in g["node"]:
            node = _message(n, "a node", _NODE)
            attrs = {}
            for a in node["attribute"]:
                attr = _message(a, "an attribute", _ATTR)
                name = _text(attr["name"][0])
                attrs[name] = (_ints(attr["ints"]) if attr["ints"] else attr["i"][0] if attr["i"]
                               else float(np.frombuffer(bytes(attr["f"][0]), "<f4")[0]) if attr["f"] else None)
            self.nodes.append((_text(node["op_type"][0]), [_text(i) for i in node["input"]],
                               [_text(o) for o in node["output"]], attrs))

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> list[torch.Tensor]:
        env = dict(self.weights)
        env[self.input] = x.float()
        for op, ins, outs, attrs in self.nodes:
            env[outs[0]] = _OPS[op]([env[i] if i else None for i in ins], attrs)
        return [env[o] for o in self.outputs]


def _weight(t) -> tuple[str, torch.Tensor]:
    w = _message(t, "a weight", _TENSOR)
    dims, raw = _ints(w["dims"]), b"".join(bytes(r) for r in w["raw_data"])
    a = np.frombuffer(raw, "<f4" if w["data_type"] == [FLOAT] else "<i8").reshape(dims)
    return _text(w["name"][0]), torch.from_numpy(a.copy())


def _gemm(ins, at):
    a, b, c = (ins + [None])[:3]
    a = a.t() if at.get("transA") else a
    b = b.t() if at.get("transB") else b
    y = at.get("alpha", 1.0) * (a @ b)
    return y + at.get("beta", 1.0) * c if c is not None else y


def _reshape(ins, at):
    x, shape = ins
    want = [x.shape[k] if d == 0 else int(d) for k, d in enumerate(shape.tolist())]
    return x.reshape(want)


def _slice(ins, at):
    x, starts, ends, axes = (ins + [None, None])[:4]
    axes = axes.tolist() if axes is not None else list(range(len(starts)))
    index = [slice(None)] * x.ndim
    for a, s, e in zip(axes, starts.tolist(), ends.tolist()):
        index[a] = slice(s, e)
    return x[tuple(index)]


def _pads(at) -> tuple[int, int]:
    pads = at.get("pads") or [0, 0, 0, 0]
    if pads[:2] != pads[2:]:
        raise OnnxError("asymmetric padding is not supported")
    return pads[0], pads[1]


_OPS = {
    "Gemm": _gemm, "Reshape": _reshape, "Slice": _slice,
    "Relu": lambda ins, at: torch.relu(ins[0]), "Sigmoid": lambda ins, at: torch.sigmoid(ins[0]),
    "Flatten": lambda ins, at: ins[0].reshape(int(np.prod(ins[0].shape[:at.get("axis", 1)])), -1),
    "Conv": lambda ins, at: F.conv2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                     stride=tuple(at.get("strides") or (1, 1)), padding=_pads(at)),
    "ConvTranspose": lambda ins, at: F.conv_transpose2d(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                                                        stride=tuple(at.get("strides") or (1, 1)),
                                                        padding=_pads(at)),
}


class OnnxModel:
    """A tracked run's model from its ONNX graphs, with the members pages use of a model."""

    device = torch.device("cpu")
    training = False

    def __init__(self, encoder: bytes, decoder: bytes, data_shape: tuple[int, ...]):
        self.encoder, self.decoder = OnnxGraph(encoder), OnnxGraph(decoder)
        self.data_shape = tuple(int(s) for s in data_shape)
        self.kind = "vae" if len(self.encoder.outputs) == 2 else "ae"
        probe = self.encoder.run(torch.zeros((1,) + self.data_shape))[0]
        self.latent_dim = int(probe.shape[1])

    @classmethod
    def from_run(cls, run_dir: Path) -> "OnnxModel":
        run_dir = Path(run_dir)
        try:
            enc = (run_dir / store.MODEL_ENCODER_ONNX).read_bytes()
            dec = (run_dir / store.MODEL_DECODER_ONNX).read_bytes()
        except OSError as e:
            raise store.StoreError(f"{run_dir}: cannot read its ONNX model ({e})") from None
        try:
            return cls(enc, dec, store.data_shape_of(store.read_config(run_dir), store.read_summary(run_dir)))
        except OnnxError as e:
            raise store.StoreError(f"{run_dir}: its ONNX model cannot be run: {e}") from None

    def eval(self) -> "OnnxModel":
        return self

    def train(self, mode: bool = True) -> "OnnxModel":
        return self

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor, batch: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(x, dtype=torch.float32).reshape((-1,) + self.data_shape)
        mus, lvs = [], []
        for i in range(0, len(x), batch):
            out = self.encoder.run(x[i:i + batch])
            mus.append(out[0])
            lvs.append(out[1] if len(out) > 1 else torch.zeros_like(out[0]))
        return torch.cat(mus), torch.cat(lvs)

    @torch.no_grad()
    def decode_mean(self, z: torch.Tensor, batch: int = 4096) -> torch.Tensor:
        z = torch.as_tensor(z, dtype=torch.float32)
        z = z[None] if z.ndim == 1 else z
        parts = [self.decoder.run(z[i:i + batch])[0] for i in range(0, len(z), batch)]
        return torch.cat(parts).reshape((-1,) + self.data_shape) if parts else z.new_zeros((0,) + self.data_shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_mean(self.encode_mean(x)[0])

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode_mean(torch.randn(n, self.latent_dim, generator=generator))
