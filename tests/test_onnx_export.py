"""The ONNX export (explorer.export.onnx_write, checked by explorer.export.onnx_check): every body, likelihood and kind against PyTorch,
run by onnxruntime and checked by onnx.checker; the validator refuses what is not ours."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import store
from explorer.config import ModelConfig
from explorer.export.onnx_check import BROWSER_MAX_BYTES, OnnxError, check_onnx
from explorer.export.onnx_write import decoder_onnx, encoder_onnx
from explorer.models import build_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

CASES = [("mlp", (1, 8, 8)), ("mlp", (1, 28, 28)), ("mlp", (2,)),
         ("conv", (1, 8, 8)), ("conv", (1, 28, 28)), ("conv", (3, 13, 11))]


def _model(body, shape, likelihood, kind, d=3, seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelConfig(kind=kind, body=body, likelihood=likelihood, latent_dim=d,
                                hidden=[48, 24]), shape, "cpu").eval()
    for p in m.parameters():                       # weights far from the init, so a wrong
        p.data.add_(0.3 * torch.randn_like(p))     # layer order or transpose would show
    return m


def _run(data: bytes, **feeds) -> list[np.ndarray]:
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.astype(np.float32) for k, v in feeds.items()})


@pytest.mark.parametrize("body,shape", CASES)
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_decoder_matches_pytorch(body, shape, likelihood, kind):
    m = _model(body, shape, likelihood, kind)
    data = decoder_onnx(m)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    z = np.random.default_rng(1).standard_normal((17, 3)) * 2
    (x,) = _run(data, z=z)
    ref = m.decode_mean(torch.as_tensor(z, dtype=torch.float32)).numpy()
    assert x.shape == (17,) + shape
    np.testing.assert_allclose(x, ref, atol=1e-5, rtol=0)   # float32 sums in another order
    assert 0 <= x.min() and x.max() <= 1          # a mean in [0, 1] for both likelihoods


def close_in_float32(got, ref):
    """Equal up to float32 sums taken in another order: the error scales with the largest
    value in the output (an untrained conv encoder gives some in the hundreds), not with
    each element (a -0.3 next to a 200 may be off by a few 1e-5)."""
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5 + 2e-6 * float(np.abs(ref).max()))


@pytest.mark.parametrize("body,shape", CASES)
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_encoder_matches_pytorch(body, shape, kind):
    m = _model(body, shape, "bernoulli", kind, d=4)
    data = encoder_onnx(m)
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    x = np.random.default_rng(2).random((6,) + shape)
    outs = _run(data, x=x)
    mu, logvar = m.encode_mean(torch.as_tensor(x, dtype=torch.float32))
    close_in_float32(outs[0], mu.numpy())
    if kind == "vae":
        assert len(outs) == 2
        close_in_float32(outs[1], logvar.numpy())
    else:
        assert len(outs) == 1                      # an autoencoder's code has no variance


@pytest.mark.parametrize("run_id", ["digits-vae-z2-b1", "mnist-vae-z2"])
def test_shipped_decoders_match(run_id):
    m = store.load_model(store.SHIPPED_ROOT / run_id, device="cpu")
    data = decoder_onnx(m)
    check_onnx(data)                               # and under the browser's cap
    z = np.random.default_rng(3).standard_normal((64, m.latent_dim)) * 1.5
    (x,) = _run(data, z=z)
    np.testing.assert_allclose(x, m.decode_mean(torch.as_tensor(z, dtype=torch.float32)).numpy(),
                               atol=2e-6, rtol=0)


def test_files_written_by_onnx_itself_pass():
    """A file re-serialised by the onnx package (unpacked repeated fields) is still ours."""
    data = decoder_onnx(_model("conv", (1, 8, 8), "gaussian", "vae"))
    check_onnx(onnx.load_from_string(data).SerializeToString())


# ------------------------------------------------------------------ refusals

def _decoder_proto():
    return onnx.load_from_string(decoder_onnx(_model("mlp", (1, 8, 8), "bernoulli", "vae")))


def _refused(proto, match: str) -> None:
    with pytest.raises(OnnxError, match=match):
        check_onnx(proto.SerializeToString())


def test_size_cap_names_the_setting():
    data = decoder_onnx(_model("mlp", (1, 8, 8), "bernoulli", "vae"))
    with pytest.raises(OnnxError, match=r"model\.hidden"):
        check_onnx(data, max_bytes=len(data) - 1)
    check_onnx(data, max_bytes=len(data))
    big = build_model(ModelConfig(hidden=[2048, 2048]), (1, 28, 28), "cpu")
    with pytest.raises(OnnxError, match="over the 16.0 MiB"):
        check_onnx(decoder_onnx(big))
    assert len(decoder_onnx(big)) > BROWSER_MAX_BYTES


@pytest.mark.parametrize("junk", [b"", b"\x00\x01garbage", b"\xff" * 64, "text"])
def test_garbage_refused(junk):
    with pytest.raises(OnnxError):
        check_onnx(junk)


def test_truncated_file_refused():
    data = decoder_onnx(_model("mlp", (1, 8, 8), "bernoulli", "vae"))
    with pytest.raises(OnnxError, match="truncated"):
        check_onnx(data[:-100])


def test_foreign_operator_refused():
    p = _decoder_proto()
    p.graph.node.append(onnx.helper.make_node("Loop", ["x"], ["y"]))
    _refused(p, "outside the exporter's set")
    p = _decoder_proto()
    p.graph.node[0].domain = "com.microsoft"
    _refused(p, "outside the exporter's set")


def test_more_than_graph_and_weights_refused():
    p = _decoder_proto()
    onnx.helper.set_model_props(p, {"note": "hello"})
    _refused(p, "outside a graph and its weights")
    p = _decoder_proto()
    p.graph.initializer[0].data_location = onnx.TensorProto.EXTERNAL
    _refused(p, "outside a graph and its weights")
    p = _decoder_proto()
    p.doc_string = "anything"
    _refused(p, "outside a graph and its weights")


def test_bad_weights_refused():
    p = _decoder_proto()
    w = p.graph.initializer[0]
    a = onnx.numpy_helper.to_array(w).copy()
    a.flat[0] = np.nan
    w.CopyFrom(onnx.numpy_helper.from_array(a, w.name))
    _refused(p, "NaN or inf")
    p = _decoder_proto()
    p.graph.initializer[0].raw_data = p.graph.initializer[0].raw_data[:-4]
    _refused(p, "truncated")
    p = _decoder_proto()
    t = onnx.numpy_helper.from_array(np.zeros(3, np.float64), "doubles")
    p.graph.initializer.append(t)
    _refused(p, "float32 or int64")


def test_unwired_graph_refused():
    p = _decoder_proto()
    p.graph.node[0].input[0] = "nowhere"
    _refused(p, "not defined before it")
    p = _decoder_proto()
    p.graph.output[0].name = "missing"
    _refused(p, "never computed")
