"""Model shapes, both bodies, both likelihoods, AE and VAE, batched helpers."""
import pytest
import torch

from explorer.config import ModelConfig
from explorer.models import build_model


@pytest.mark.parametrize("body,shape", [("mlp", (1, 8, 8)), ("conv", (1, 8, 8)),
                                        ("conv", (1, 28, 28)), ("conv", (3, 10, 10)),
                                        ("mlp", (2,))])
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_shapes(body, shape, kind):
    if body == "conv" and len(shape) != 3:
        pytest.skip("conv needs images")
    m = build_model(ModelConfig(kind=kind, body=body, hidden=[32, 16], latent_dim=3), shape, "cpu")
    x = torch.rand((5,) + shape)
    mu, lv = m.encode(x)
    assert mu.shape == (5, 3) and lv.shape == (5, 3)
    if kind == "ae":
        assert torch.equal(lv, torch.zeros_like(lv))
    out = m.decode(mu)
    assert out.shape == (5,) + shape
    assert m.reconstruct(x).shape == (5,) + shape
    imgs = m.sample_prior(7, torch.Generator().manual_seed(0))
    assert imgs.shape == (7,) + shape and imgs.min() >= 0 and imgs.max() <= 1


def test_gaussian_decoder_means_in_unit_interval_and_learned_sigma():
    m = build_model(ModelConfig(likelihood="gaussian", learn_sigma=True, sigma=0.2, hidden=[8]),
                    (4,), "cpu")
    out = m.decode(torch.randn(10, 2) * 10)
    assert out.min() >= 0 and out.max() <= 1
    assert isinstance(m.log_sigma, torch.nn.Parameter)
    assert m.log_sigma.item() == pytest.approx(torch.log(torch.tensor(0.2)).item())
    fixed = build_model(ModelConfig(likelihood="gaussian", hidden=[8]), (4,), "cpu")
    assert "log_sigma" not in dict(fixed.named_parameters())
    assert "log_sigma" in fixed.state_dict()


def test_decode_mean_batches_equal_single_decodes():
    torch.manual_seed(0)
    m = build_model(ModelConfig(hidden=[16]), (1, 8, 8), "cpu")
    z = torch.randn(9, 2)
    batched = m.decode_mean(z, batch=4)
    single = torch.cat([m.decode_mean(z[i]) for i in range(9)])
    assert torch.allclose(batched, single, atol=1e-6)
    assert torch.allclose(batched, torch.sigmoid(m.decode(z)), atol=1e-6)


def test_bad_config_rejected():
    from explorer.config import ConfigError
    with pytest.raises(ConfigError, match="latent_dim"):
        build_model(ModelConfig(latent_dim=0), (4,), "cpu")
    with pytest.raises(ValueError, match="conv body needs images"):
        build_model(ModelConfig(body="conv"), (4,), "cpu")
