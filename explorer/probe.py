"""The probe set seen through a model: what a page draws of a run between epochs.

One function, :func:`snapshot`, serves a live run (the worker publishes one about
every second) and a run read back from disk (its saved weights and its probe images).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from . import objective
from .runs import Snapshot
from .training import active_units

PROBE_N = 2000     # validation points whose latent means are published
RECON_N = 16       # validation images whose reconstructions are published
DECODER_MAX_BYTES = 2 * 2**20   # a snapshot carries the decoder's weights up to this size


def decoder_state(model, max_bytes: int = DECODER_MAX_BYTES) -> dict | None:
    """The decoder's part of the model's state (the decoder body and the likelihood's σ) as
    float32 numpy arrays, or None when it is larger than ``max_bytes``."""
    state = {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()
             if k.startswith("decoder.") or k == "log_sigma"}
    return state if sum(a.nbytes for a in state.values()) <= max_bytes else None


def load_decoder_state(model, state: dict) -> None:
    """Put a :func:`decoder_state` into ``model`` (its encoder is left as it is)."""
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)


@torch.no_grad()
def snapshot(model, probe_x: torch.Tensor, recon_x: torch.Tensor | None, *, step: int = 0,
             epoch: float = 0.0, beta: float = 1.0, lr: float = 0.0, with_decoder: bool = False) -> Snapshot:
    """Posterior means and log-variances of ``probe_x``, the reconstructions (decoder mean
    at z = μ) of ``recon_x``, the per-dimension KL (seed eq. 14, dimension by dimension,
    averaged over the probe set) and Burda's active units."""
    was = model.training
    model.eval()
    dev = model.device
    mu, logvar = model.encode_mean(probe_x.to(dev))
    recon = (model.decode_mean(model.encode_mean(recon_x.to(dev))[0])
             if recon_x is not None and len(recon_x) else None)
    kl_dims = (objective.kl_std_normal_per_dim(mu, logvar).mean(0) if model.kind == "vae"
               else torch.zeros(mu.shape[1], device=dev))
    model.train(was)
    au, var = active_units(mu.cpu())
    return Snapshot(
        step=step, epoch=epoch, time=time.time(),
        mu=mu.cpu().numpy().astype(np.float32), logvar=logvar.cpu().numpy().astype(np.float32),
        recon=None if recon is None else recon.cpu().numpy().astype(np.float32),
        kl_per_dim=kl_dims.cpu().numpy().astype(np.float64), active_units=au,
        mu_var=var.numpy().astype(np.float64), beta=beta, lr=lr,
        decoder=decoder_state(model) if with_decoder else None)
