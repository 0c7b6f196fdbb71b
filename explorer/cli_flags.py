"""The command line's flags for a :class:`~explorer.config.RunConfig`: one flag per setting of
:data:`explorer.options.SETTINGS` (``python -m explorer train --help`` lists them), with its range
and choices from the config, for ``train`` and ``sweep``; ``--config``/``--print-config`` and
``--device``. The flags and the Python API's keywords are the same names (:mod:`explorer.options`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import ConfigError, RunConfig
from .options import SETTINGS, config_from, infer_dataset

_DEST = "opt."                      # argparse dest prefix of a setting's flag


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per setting of :data:`explorer.options.SETTINGS`, by section."""
    groups = {}
    for s in SETTINGS.values():
        g = groups.get(s.section) or groups.setdefault(s.section, p.add_argument_group(f"{s.section} settings"))
        dest, dv = _DEST + s.name, s.default
        if isinstance(dv, bool):
            g.add_argument(s.flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                           help=f"(default {dv})")
        elif isinstance(dv, list):
            g.add_argument(s.flag, dest=dest, default=None, metavar="W,W",
                           help=f"comma-separated widths (default {','.join(map(str, dv))})")
        else:
            typ = (float if isinstance(dv, float) else int if isinstance(dv, int) or s.field.endswith("subset")
                   else str)
            helptext = f"one of {', '.join(s.choices)} " if s.choices else ""
            dv = _DEFAULT_HELP.get(s.name, dv)
            g.add_argument(s.flag, dest=dest, type=typ, default=None, metavar=s.name.upper(),
                           help=f"{helptext}(default {dv})")


_DEFAULT_HELP = {"binarize": "dynamic for mnist and fashion-mnist, else none",
                 "data_path": "none; given alone, the dataset is inferred from the file or refused",
                 "val_subset": "all, or 2000 seeded images of a larger validation split; 0: all",
                 "subset": "all"}


def given_settings(ns: argparse.Namespace) -> dict:
    """The settings given as flags (by name), and ``name``."""
    out = {k[len(_DEST):]: v for k, v in vars(ns).items() if k.startswith(_DEST) and v is not None}
    if getattr(ns, "name", None):
        out["name"] = ns.name
    return out


def config_from_args(ns: argparse.Namespace, *, say=None) -> RunConfig:
    """The run's config: ``--config FILE`` (a run's config.json), then the flags given on top.
    A ``--data-path`` without ``--dataset`` (or a config) names the dataset it holds (``say``
    gets a line saying so) or is refused."""
    base = None
    if getattr(ns, "config", None):
        try:
            base = RunConfig.from_json(Path(ns.config).read_text("utf-8"))
        except OSError as e:
            raise ConfigError(f"--config {ns.config}: cannot read it ({e.strerror or e})") from None
        except ConfigError as e:
            raise ConfigError(f"--config {ns.config}: {e}") from None
    settings, note = infer_dataset(given_settings(ns)) if base is None else (given_settings(ns), None)
    if note and say:
        say(note)
    try:
        return config_from(settings, base)
    except TypeError as e:                     # cannot happen from flags; said plainly if it does
        raise ConfigError(str(e)) from None


def add_device_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None,
                   help="where to train: auto (CUDA when present), cpu, cuda or cuda:N "
                        "(default: the setting LATENT_EXPLORER_DEVICE, else auto)")


def add_config_file_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="start from this config (a run's config.json); "
                                                    "flags given beside it change it")
    p.add_argument("--print-config", action="store_true",
                   help="print the run's config (JSON, as config.json) and stop without training")
