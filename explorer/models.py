"""Encoders and decoders, and the autoencoder / VAE built from them.

One class, :class:`VAE`, covers both models of the seed:

* ``kind="vae"`` (eq. 2): the encoder outputs the mean and the log-variance
  of q(z|x) = N(mu, diag(exp(logvar))) — the seed's "exp(Sigma) instead of
  Sigma" — and the loss (in :mod:`explorer.objective`) samples z from it;
* ``kind="ae"`` (eq. 1): the same bodies, but z = mu, a point.

Bodies: an MLP with configurable widths, or a small conv net for images. The
decoder outputs the parameters of p(x|z): Bernoulli logits, or Gaussian
means (through a sigmoid, since data lie in [0,1]) with a fixed or learned
shared sigma. No loss is computed here: that is :mod:`explorer.objective`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class _ConvEncoderBody(nn.Module):
    """Two stride-2 convolutions (32, 64 channels), then the MLP widths."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        c, h, w = image_shape
        self.conv = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.mlp = _mlp([n] + hidden)

    def forward(self, x):
        return self.mlp(self.conv(x))


class _ConvDecoderBody(nn.Module):
    """The mirror of :class:`_ConvEncoderBody`; output cropped to the image size."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, hidden: list[int]):
        super().__init__()
        c, h, w = image_shape
        self.h4, self.w4 = math.ceil(h / 4), math.ceil(w / 4)
        self.image_shape = image_shape
        self.mlp = _mlp([latent_dim] + hidden[::-1] + [64 * self.h4 * self.w4])
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )

    def forward(self, z):
        h = self.mlp(z).view(-1, 64, self.h4, self.w4)
        _, hh, ww = self.image_shape
        return self.deconv(h)[:, :, :hh, :ww]


class VAE(nn.Module):
    """Autoencoder (``kind="ae"``) or variational autoencoder (``kind="vae"``).

    ``data_shape`` is one item's shape: ``(C, H, W)`` for images, ``(D,)`` for vectors.
    """

    def __init__(self, cfg: ModelConfig, data_shape: tuple[int, ...]):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.kind = cfg.kind
        self.likelihood = cfg.likelihood
        self.latent_dim = cfg.latent_dim
        self.data_shape = tuple(int(s) for s in data_shape)
        d_in = math.prod(self.data_shape)
        hidden = list(cfg.hidden)
        if cfg.body == "conv":
            if len(self.data_shape) != 3:
                raise ValueError("the conv body needs images (C, H, W)")
            self.encoder = _ConvEncoderBody(self.data_shape, hidden)
            self.decoder = _ConvDecoderBody(self.data_shape, cfg.latent_dim, hidden)
        else:
            self.encoder = nn.Sequential(nn.Flatten(), _mlp([d_in] + hidden))
            self.decoder = nn.Sequential(_mlp([cfg.latent_dim] + hidden[::-1]),
                                         nn.Linear(hidden[0], d_in))
        # one linear head gives mu and log-variance together (one matmul)
        n_out = 2 * cfg.latent_dim if cfg.kind == "vae" else cfg.latent_dim
        self.head = nn.Linear(hidden[-1], n_out)
        log_sigma = torch.tensor(math.log(cfg.sigma))
        if cfg.learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    # ------------------------------------------------------------ encoder
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [B, *data_shape] -> (mu [B, D], logvar [B, D])``. For the AE, z = mu and
        logvar is a tensor of zeros that no loss uses."""
        h = self.head(self.encoder(x))
        if self.kind == "vae":
            mu, logvar = h.chunk(2, dim=-1)
            return mu, logvar
        return h, torch.zeros_like(h)

    # ------------------------------------------------------------ decoder
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z [N, D] -> parameters of p(x|z)``, shaped ``[N, *data_shape]``:
        logits (Bernoulli) or means in [0,1] (Gaussian)."""
        out = self.decoder(z)
        out = out.view((z.shape[0],) + self.data_shape)
        return torch.sigmoid(out) if self.likelihood == "gaussian" else out

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The mean of p(x|z) from decoder parameters: the image to show."""
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    @torch.no_grad()
    def decode_mean(self, z: torch.Tensor, batch: int = 4096) -> torch.Tensor:
        """Batched decoding of many z to images in [0,1] (no gradients)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.ndim == 1:
            z = z[None]
        parts = [self.mean(self.decode(z[i:i + batch])) for i in range(0, len(z), batch)]
        return torch.cat(parts) if parts else z.new_zeros((0,) + self.data_shape)

    @torch.no_grad()
    def encode_mean(self, x: torch.Tensor, batch: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched encoding (no gradients): ``(mu, logvar)``."""
        x = x.to(self.device)
        mus, lvs = [], []
        for i in range(0, len(x), batch):
            mu, lv = self.encode(x[i:i + batch])
            mus.append(mu)
            lvs.append(lv)
        return torch.cat(mus), torch.cat(lvs)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of p(x | z = mu(x)): the deterministic reconstruction."""
        mu, _ = self.encode_mean(x)
        return self.decode_mean(mu)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Means of p(x|z) for z ~ N(0, I): ``[n, *data_shape]``."""
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode_mean(z)

    @property
    def device(self) -> torch.device:
        return self.head.weight.device


def build_model(cfg: ModelConfig, data_shape: tuple[int, ...],
                device: torch.device | str | None = None) -> VAE:
    """Build the model of ``cfg`` for items of ``data_shape`` on ``device`` (default: CUDA if present)."""
    return VAE(cfg, data_shape).to(device or default_device())
