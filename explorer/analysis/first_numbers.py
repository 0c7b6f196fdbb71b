"""The first numbers a newcomer reads about a model (the home page): one plain sentence,
truthful for the model's likelihood, then what keeps it honest.

* A Bernoulli VAE on binarised images (the shipped MNIST model): every term is a positive
  number of nats, and their sum is a bound on −log p(x), also said in bits per pixel.
* A Gaussian likelihood: its −log density can have either sign, so the sentence leads with
  what anyone can read, the reconstructions' squared error, and then the ELBO with
  :func:`~explorer.analysis.beta.reading.likelihood_notes`' explanation.
* A Bernoulli on grey pixels: positive numbers, but not a bound (the notes say so).
* An autoencoder has no ELBO: its reconstruction loss only.
"""
from __future__ import annotations

import math

from ..config import DATASETS_TOY
from .beta.reading import likelihood_notes


def first_numbers(cfg, val: dict, n_pixels: int, *, mse: float | None = None) -> list[str]:
    """Sentences (Markdown) about a run's validation numbers (``val``: its summary's
    ``val``; ``cfg``: its RunConfig; ``mse``: the per-pixel squared error of its
    reconstructions, for a Gaussian likelihood), the plain one first."""
    recon, kl = val.get("recon"), val.get("kl")
    if recon is None:
        return []
    m, d = cfg.model, cfg.data
    per = f"summed over {n_pixels:,} pixels, " if n_pixels else ""
    no_elbo = "An autoencoder has no ELBO: it minimises the reconstruction term only."
    if m.likelihood == "gaussian":
        out = []
        if mse is not None:
            out.append(f"On validation images this model's reconstructions are off by **{math.sqrt(mse):.3f}** "
                       f"per pixel (root mean squared error on a 0–1 scale; lower is better).")
        out.append(f"Validation: reconstruction loss {recon:.2f} per image." if m.kind == "ae" else
                   f"Validation: ELBO {-(recon + kl):.2f} nats per image, reconstruction {recon:.2f}, "
                   f"KL {kl:.2f}.")
        return out + likelihood_notes(cfg, n_pixels)
    if m.kind == "ae":
        return [f"On validation images this autoencoder's reconstruction loss is **{recon:.2f}** nats per "
                f"image ({per}lower is better). {no_elbo}"] + likelihood_notes(cfg, n_pixels)
    total = recon + kl
    binarised = d.binarize != "none" and d.name not in DATASETS_TOY
    line = (f"On validation images this model spends **{recon:.1f} nats per image** on reconstruction "
            f"(−log p(x|z), {per}lower is better) and **{kl:.1f} nats** on the code (the KL "
            f"term), {total:.1f} nats in all (the ELBO is −{total:.1f}).")
    if binarised and n_pixels:
        line += (f" That total is an upper bound on −log p(x), the image's code length: "
                 f"{total / n_pixels / math.log(2):.2f} bits per pixel. (A nat is a unit of "
                 f"information: 1 nat = log₂ e ≈ 1.44 bits.)")
    return [line] + likelihood_notes(cfg, n_pixels)
