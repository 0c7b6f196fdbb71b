"""The command line's flags for a :class:`~explorer.config.RunConfig`: one flag per setting
(``python -m explorer train --help`` lists them), with its range and choices from the config,
for ``train`` and ``sweep``."""
from __future__ import annotations

import argparse
import dataclasses

from .config import (BETA_SCHEDULES, BINARIZE, BODIES, DATASETS, LIKELIHOODS, MODEL_KINDS, ConfigError,
                     DataConfig, ModelConfig, RunConfig, TrainConfig, default_binarize)

# flag name for each config field, where the plain field name would be unclear or collide
_FLAG_NAMES = {("data", "name"): "dataset", ("data", "path"): "data-path",
               ("model", "kind"): "model", ("data", "noise"): "toy-noise",
               ("data", "n_points"): "toy-points"}
_SECTIONS = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
_CHOICES = {"data.name": DATASETS, "data.binarize": BINARIZE, "model.kind": MODEL_KINDS,
            "model.body": BODIES, "model.likelihood": LIKELIHOODS, "train.beta_schedule": BETA_SCHEDULES}


def _flag(section: str, name: str) -> str:
    return _FLAG_NAMES.get((section, name), name.replace("_", "-"))


def add_config_flags(p: argparse.ArgumentParser) -> None:
    for section, cls in _SECTIONS:
        g = p.add_argument_group(f"{section} settings")
        default = cls()
        for f in dataclasses.fields(cls):
            flag = "--" + _flag(section, f.name)
            dv = getattr(default, f.name)
            dest = f"{section}.{f.name}"
            if isinstance(dv, bool):
                g.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default {dv})")
            elif isinstance(dv, list):
                g.add_argument(flag, dest=dest, default=None, metavar="W,W",
                               help=f"comma-separated widths (default {','.join(map(str, dv))})")
            else:
                typ = float if isinstance(dv, float) else int if isinstance(dv, int) else str
                if f.name in ("subset",):
                    typ = int
                options = _CHOICES.get(dest)
                helptext = f"one of {', '.join(options)} " if options else ""
                if dest == "data.binarize":
                    dv = "dynamic for mnist and fashion-mnist, else none"
                g.add_argument(flag, dest=dest, type=typ, default=None, help=f"{helptext}(default {dv})")


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    d: dict = {"data": {}, "model": {}, "train": {}}
    for key, value in vars(ns).items():
        if "." not in key or value is None:
            continue
        section, name = key.split(".", 1)
        if name == "hidden":
            try:
                value = [int(w) for w in str(value).split(",") if w.strip()]
            except ValueError:
                raise ConfigError(f"--hidden: expected comma-separated whole numbers, got {value!r}")
        d[section][name] = value
    if getattr(ns, "name", None):
        d["name"] = ns.name
    d["data"].setdefault("binarize", default_binarize(d["data"].get("name", DataConfig().name)))
    return RunConfig.from_dict(d)
