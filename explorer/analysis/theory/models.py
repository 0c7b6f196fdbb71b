"""The Theory page's checks on trained models (sections 1-2 and the Monte Carlo
estimate of section 5): the autoencoder's loss (eq. 1) beside the VAE's (eq. 2 / 13),
and the spread of the loss when its reconstruction term is estimated from L samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ... import objective, store
from .base import F64


def pick_batch(x: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` distinct items of ``x`` chosen at random (reproducibly by ``seed``)."""
    n = int(n)
    if not 1 <= n <= len(x):
        raise ValueError(f"choose between 1 and {len(x)} images.")
    idx = np.random.default_rng(int(seed)).permutation(len(x))[:n]
    return x[torch.as_tensor(np.sort(idx))]


@torch.no_grad()
def ae_vs_vae(vae, ae, x: torch.Tensor, samples: int = 1, seed: int = 0) -> dict:
    """Both losses on the same batch ``x``, batch means per image, in nats.

    ``vae``: eq. 2 / 13 by :func:`objective.vae_loss` (``loss``, ``recon`` =
    −E_q log p(x|z) with L = ``samples``, ``kl`` = the KL term of eq. 14, ``kl_per_dim``),
    and eq. 1's squared error of its mean reconstruction (z = μ), ``sq_err``.
    ``ae``: ``sq_err`` (eq. 1) and ``recon`` = −log p(x | z = g_φ(x)) (:func:`objective.ae_loss`).
    For a Gaussian likelihood, ``nll_const`` = −log p(x | x̂ = x), so that
    −log p(x|x̂) = ‖x − x̂‖² / (2σ²) + nll_const (``ae["recon_from_sq_err"]``). Also the images: ``x``,
    ``ae_recon``, ``vae_recon``.
    """
    if vae.kind != "vae" or ae.kind != "ae":
        raise ValueError("pass a VAE and an autoencoder.")
    if tuple(vae.data_shape) != tuple(ae.data_shape):
        raise ValueError("the two models must take the same kind of data.")
    gen = torch.Generator().manual_seed(int(seed))
    v = objective.vae_loss(vae, x, samples=int(samples), generator=gen)
    a = objective.ae_loss(ae, x)
    vae_recon = vae.reconstruct(x)
    ae_recon = ae.reconstruct(x)
    out = {
        "vae": {"loss": float(v.loss), "recon": float(v.recon), "kl": float(v.kl),
                "kl_per_dim": v.kl_per_dim.numpy(),
                "sq_err": float(objective.squared_error(x, vae_recon).mean())},
        "ae": {"loss": float(a.loss), "recon": float(a.recon),
               "sq_err": float(objective.squared_error(x, ae_recon).mean())},
        "x": x.numpy(), "vae_recon": vae_recon.numpy(), "ae_recon": ae_recon.numpy(),
        "likelihood": ae.likelihood, "nll_const": None, "sigma": None,
    }
    if ae.likelihood == "gaussian":
        sigma = float(torch.exp(ae.log_sigma))
        out["nll_const"] = float(-objective.gaussian_log_prob(x[:1], x[:1], ae.log_sigma)[0])
        out["sigma"] = sigma
        out["ae"]["recon_from_sq_err"] = out["ae"]["sq_err"] / (2 * sigma ** 2) + out["nll_const"]
    return out


LOSS_LS = (1, 2, 5, 10, 20, 50)


@torch.no_grad()
def loss_spread(model, x: torch.Tensor, Ls=LOSS_LS, repeats: int = 30, seed: int = 0) -> dict:
    """The batch loss of eq. 13 (β = 1), its reconstruction term a Monte Carlo estimate
    with L samples, drawn ``repeats`` times at each L.

    Each draw is ``recon + KL`` averaged over the batch, from
    :func:`objective.per_image_terms` on ``repeats`` copies of the batch (one call per L).
    Returns ``values`` [len(Ls), repeats], their ``mean``, ``std`` and ``std_sqrt_L`` = std·√L
    (flat when the spread falls like 1/√L), and ``kl`` (exact, the KL term of eq. 14:
    every bit of the spread is the reconstruction term's).
    """
    if model.kind != "vae":
        raise ValueError("the Monte Carlo spread needs a VAE (an autoencoder draws no z).")
    r = int(repeats)
    if r < 2:
        raise ValueError("need at least 2 repeats to measure a spread.")
    gen = torch.Generator().manual_seed(int(seed))
    b = x.shape[0]
    xr = x.repeat((r,) + (1,) * (x.dim() - 1))
    vals, kl = [], 0.0
    for L in Ls:
        t = objective.per_image_terms(model, xr, samples=int(L), generator=gen)
        loss = (t["recon"] + t["kl"]).to(F64).view(r, b).mean(1)
        vals.append(loss.numpy())
        kl = float(t["kl"][:b].to(F64).mean())
    v = np.stack(vals)
    std = v.std(1, ddof=1)
    return {"Ls": np.asarray(Ls, dtype=np.int64), "values": v, "mean": v.mean(1),
            "std": std, "std_sqrt_L": std * np.sqrt(np.asarray(Ls, dtype=np.float64)), "kl": kl}


# ------------------------------------------------------ the shipped models

DEFAULT_VAE = "digits-vae-z2-b1"


def default_index(run_ids: list[str]) -> int:
    """Where the page's model pickers start: the shipped ``DEFAULT_VAE`` if listed, else the first."""
    return run_ids.index(DEFAULT_VAE) if DEFAULT_VAE in run_ids else 0


def shipped_runs(kind: str, root=None) -> list:
    """Shipped runs (``trained/``, or ``root``) of ``kind`` ('vae' or 'ae') that carry probe images."""
    return [r for r in store.list_runs(root or store.SHIPPED_ROOT)
            if r.config.model.kind == kind and (r.path / store.PROBE).is_file()]


def paired_runs(root=None) -> list[tuple]:
    """``(vae, ae)`` pairs of shipped runs trained on the same data, one per VAE."""
    aes = shipped_runs("ae", root)
    return [(v, next(a for a in aes if a.config.data.name == v.config.data.name))
            for v in shipped_runs("vae", root) if any(a.config.data.name == v.config.data.name for a in aes)]


def probe_batch(run_dir, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` of a run's probe images (validation images stored with it), by :func:`pick_batch`."""
    p = store.load_probe(Path(run_dir))
    if p is None:
        raise store.StoreError(f"{run_dir}: no probe images")
    return pick_batch(p[0], n, seed)
