"""Where to train: the device a person names (``--device``, ``device=``) or the setting
``LATENT_EXPLORER_DEVICE``, checked against the machine."""
from __future__ import annotations

import torch

from . import settings
from .config import ConfigError
from .models import default_device


def resolve_device(name: str | None = None) -> torch.device:
    """The device ``name`` says: ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``
    or ``cuda:N``; None reads the setting ``LATENT_EXPLORER_DEVICE``. A CUDA device that is not
    there is a :class:`~explorer.config.ConfigError` naming the setting."""
    where = "the setting LATENT_EXPLORER_DEVICE" if name is None else "device"
    try:
        name = settings.device(name)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if name == "auto":
        return default_device()
    if name.startswith("cuda"):
        index = int(name[5:] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError(f"{where} {name!r}: no such CUDA device here "
                              f"({torch.cuda.device_count()} found); use cpu or auto")
    return torch.device(name)
