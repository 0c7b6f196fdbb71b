"""`python -m explorer export RUN --onnx DIR` and the Runs page's ONNX download: the files
written for a run, run by onnxruntime, give PyTorch's numbers (the graphs themselves are
explorer.export.onnx_write's, tested in test_onnx_export.py)."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

from explorer import cli, store
from explorer.config import RunConfig
from explorer.export.downloads import onnx_files, zip_bytes
from explorer.models import build_model

ort = pytest.importorskip("onnxruntime")


def _session(data: bytes):
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _conv_run(root):
    cfg = RunConfig.from_dict({"model": {"body": "conv", "hidden": [24], "latent_dim": 3}})
    torch.manual_seed(1)
    model = build_model(cfg.model, (1, 8, 8), "cpu")
    for p in model.parameters():                   # weights far from the initialisation
        p.data.add_(0.2 * torch.randn_like(p))
    return store.save_run(root / "conv-run", cfg, model, [], {"status": "finished", "data_shape": [1, 8, 8]})


@pytest.mark.parametrize("which", ["digits-vae-z2-b1", "digits-ae-z2", "conv"])
def test_exported_onnx_matches_pytorch(which, tmp_path, capsys):
    run_dir = _conv_run(tmp_path) if which == "conv" else store.SHIPPED_ROOT / which
    out = tmp_path / "onnx"
    assert cli.main(["export", str(run_dir), "--onnx", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)["onnx"]
    assert set(written) == {"encoder.onnx", "decoder.onnx"}
    model = store.load_model(run_dir, device="cpu")
    x = torch.rand(37, *model.data_shape, generator=torch.Generator().manual_seed(0))
    z = torch.randn(29, model.latent_dim, generator=torch.Generator().manual_seed(1))

    enc = _session((out / "encoder.onnx").read_bytes())
    outputs = dict(zip([o.name for o in enc.get_outputs()], enc.run(None, {"x": x.numpy()})))
    mu, logvar = model.encode_mean(x)
    np.testing.assert_allclose(outputs["mu"], mu.numpy(), rtol=1e-4, atol=1e-5)
    if model.kind == "vae":
        np.testing.assert_allclose(outputs["logvar"], logvar.numpy(), rtol=1e-4, atol=1e-5)
    else:
        assert "logvar" not in outputs                  # an autoencoder's code is a point
    (images,) = _session((out / "decoder.onnx").read_bytes()).run(None, {"z": z.numpy()})
    assert images.shape == (29, *model.data_shape)
    np.testing.assert_allclose(images, model.decode_mean(z).numpy(), rtol=1e-4, atol=1e-5)


def test_runs_page_download_holds_the_same_files():
    run_dir = store.SHIPPED_ROOT / "digits-vae-z2-b4"
    files = onnx_files(run_dir)
    with zipfile.ZipFile(io.BytesIO(zip_bytes({f"{run_dir.name}/{k}": v for k, v in files.items()}))) as zf:
        assert sorted(zf.namelist()) == [f"{run_dir.name}/decoder.onnx", f"{run_dir.name}/encoder.onnx"]
        dec = zf.read(f"{run_dir.name}/decoder.onnx")
    z = np.zeros((1, 2), np.float32)
    (img,) = _session(dec).run(None, {"z": z})
    np.testing.assert_allclose(img, store.load_model(run_dir, device="cpu").decode_mean(torch.zeros(1, 2)).numpy(),
                               atol=1e-5)
