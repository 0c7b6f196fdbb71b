"""Presets for a lesson: complete run settings with one line on what to watch for.

Each preset is a :class:`RunConfig` (every setting of the Train page's widgets) and a
sentence for the class. "AE vs VAE" also has a twin: pressing Start trains both, so the
two can be compared side by side on the Runs page. The numbers behind the choices are
measured by ``benchmarks/defaults_search.py`` (the default run) and
``benchmarks/presets.py`` (how long each preset takes here, and its latent's knn5_acc).
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig


@dataclass(frozen=True)
class Preset:
    name: str
    config: RunConfig
    watch: str                       # what to watch for, in one line
    twin: RunConfig | None = None    # a second run started with it (AE vs VAE)


def _cfg(**sections) -> RunConfig:
    return RunConfig.from_dict(sections)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("2-minute MNIST",
           _cfg(data={"name": "mnist", "subset": 20_000, "binarize": "dynamic"},
                model={"hidden": [256, 128], "latent_dim": 2, "likelihood": "bernoulli"},
                train={"epochs": 100, "batch_size": 128, "lr": 3e-3, "beta_schedule": "warmup",
                       "warmup_steps": 400, "time_budget_s": 120.0},
                name="2-minute MNIST"),
           "Watch the ten digit classes pull apart in the latent scatter, and the reconstructions "
           "sharpen from grey blobs to digits. It trains for two minutes of wall time on any "
           "machine (validating on 2,000 fixed test images) and says how many epochs fitted."),
    Preset("collapse demo",
           _cfg(model={"hidden": [256, 128], "latent_dim": 2},
                train={"epochs": 40, "beta": 12.0, "beta_schedule": "constant"}, name="collapse demo (β = 12)"),
           "Watch KL fall to zero: with β = 12 the code carries nothing, every point huddles at the "
           "prior's centre, every image decodes to the same average, and the collapse alarm rings."),
    Preset("overfit demo",
           _cfg(data={"subset": 150}, model={"hidden": [512, 256], "latent_dim": 8},
                train={"epochs": 600, "beta": 0.0, "batch_size": 32, "beta_schedule": "constant"},
                name="overfit demo (150 images, β = 0)"),
           "Watch the dashed validation curve: it stops following the training curve and rises "
           "while training keeps falling — the model memorises 150 images (β = 0: no KL to stop it)."),
    Preset("AE vs VAE",
           _cfg(model={"kind": "ae", "hidden": [256, 128], "latent_dim": 2},
                train={"epochs": 60, "beta_schedule": "constant"}, name="AE vs VAE: the autoencoder"),
           "Start trains an autoencoder and its VAE twin: compare them on the Runs page — the AE's "
           "codes spread far outside the prior's circles, so its prior samples are not digits.",
           twin=_cfg(model={"kind": "vae", "hidden": [256, 128], "latent_dim": 2},
                     train={"epochs": 60}, name="AE vs VAE: the VAE")),
)}
