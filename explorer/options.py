"""A run's settings by the names people type: the CLI's flags and the Python API's keywords.

One table, :data:`SETTINGS`, names every field of :class:`~explorer.config.RunConfig` once
(``latent_dim``, ``beta``, ``epochs``, ``dataset`` for ``data.name``, ``data_path`` for
``data.path``...); ``python -m explorer train --latent-dim 16`` and
``explorer.fit("digits", latent_dim=16)`` both go through :func:`config_from`, and the
Train page starts from the same :class:`RunConfig` defaults, so the three build the same
run from the same words. A misspelt name raises :class:`TypeError` naming the closest one.
"""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import (BETA_SCHEDULES, BINARIZE, BODIES, DATASETS, LIKELIHOODS, MODEL_KINDS, ConfigError,
                     DataConfig, ModelConfig, RunConfig, TrainConfig)

# the name of a field, where its plain name would be unclear or collide
_RENAMED = {("data", "name"): "dataset", ("data", "path"): "data_path", ("model", "kind"): "model",
            ("data", "noise"): "toy_noise", ("data", "n_points"): "toy_points"}
_SECTIONS = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
_CHOICES = {"data.name": DATASETS, "data.binarize": BINARIZE, "model.kind": MODEL_KINDS,
            "model.body": BODIES, "model.likelihood": LIKELIHOODS, "train.beta_schedule": BETA_SCHEDULES}
_READS_A_PATH = ("mnist", "fashion-mnist", "file")


@dataclass(frozen=True)
class Setting:
    """One setting: its name, where it lives in the config, its default and its choices."""
    name: str                        # the API keyword; the CLI flag is ``--`` + name with dashes
    section: str
    field: str
    default: Any
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def key(self) -> str:
        return f"{self.section}.{self.field}"


def _table() -> dict[str, Setting]:
    out = {}
    for section, cls in _SECTIONS:
        default = cls()
        for f in dataclasses.fields(cls):
            name = _RENAMED.get((section, f.name), f.name)
            out[name] = Setting(name, section, f.name, getattr(default, f.name),
                                _CHOICES.get(f"{section}.{f.name}"))
    return out


#: every setting by its name, in the config's order (data, model, train)
SETTINGS: dict[str, Setting] = _table()
#: names that are not config fields but are accepted beside them
OTHER_NAMES = ("name",)


def check_names(names, also: tuple[str, ...] = ()) -> None:
    """Raise :class:`TypeError` for a name that is not a setting, naming the closest one."""
    valid = list(SETTINGS) + list(OTHER_NAMES) + list(also)
    for n in names:
        if n not in valid:
            close = difflib.get_close_matches(n, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TypeError(f"unknown setting {n!r}: {hint}(the settings: {', '.join(SETTINGS)})")


def config_from(settings: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """The :class:`RunConfig` that ``settings`` (names of :data:`SETTINGS`, and ``name``)
    describe, on top of ``base`` (default: the config's defaults). A dataset given without
    ``binarize`` takes that dataset's default binarisation. ``hidden`` is a list of widths or
    text such as ``"256,128"``. Raises :class:`TypeError` for an unknown name and
    :class:`~explorer.config.ConfigError` for a value out of range."""
    check_names(settings)
    d: dict = base.to_dict() if base is not None else {"data": {}, "model": {}, "train": {}}
    if "dataset" in settings and "binarize" not in settings:
        d["data"].pop("binarize", None)            # the new dataset's default, not the base's
    for name, value in settings.items():
        if name == "name":
            d["name"] = value
            continue
        s = SETTINGS[name]
        if s.field == "hidden" and isinstance(value, str):
            try:
                value = [int(w) for w in value.split(",") if w.strip()]
            except ValueError:
                raise ConfigError(f"hidden: expected comma-separated whole numbers, got {value!r}") from None
        elif s.field == "hidden" and isinstance(value, tuple):
            value = list(value)
        d[s.section][s.field] = value
    cfg = RunConfig.from_dict(d)
    check_data_path(cfg)
    return cfg


def check_data_path(cfg: RunConfig) -> None:
    """A path is read only by MNIST, Fashion-MNIST and own files: with another dataset it
    would be recorded as if used. Raises :class:`~explorer.config.ConfigError`."""
    if cfg.data.path and cfg.data.name not in _READS_A_PATH:
        raise ConfigError(f"data_path (--data-path): the dataset {cfg.data.name!r} reads no file; it is read for "
                          f"{', '.join(_READS_A_PATH)} (leave the dataset out to infer it from the path)")


def infer_dataset(settings: Mapping[str, Any]) -> tuple[dict, str | None]:
    """``settings`` with the dataset a ``data_path`` given alone holds (``mnist``,
    ``fashion-mnist`` or ``file``), and a line saying so (None when nothing was inferred).
    Raises :class:`~explorer.data.DataError` when the path cannot be told."""
    settings = dict(settings)
    path = settings.get("data_path")
    if not path or settings.get("dataset"):
        return settings, None
    from .data.infer import infer_dataset as infer     # imports torch: only when a path is given
    settings["dataset"], how = infer(path)
    return settings, f"data_path {path}: read as dataset {settings['dataset']!r} (told by {how})"


def settings_of(cfg: RunConfig) -> dict[str, Any]:
    """The settings (by name) that build ``cfg``: the inverse of :func:`config_from`."""
    d = cfg.to_dict()
    out = {name: d[s.section][s.field] for name, s in SETTINGS.items()}
    out["name"] = cfg.name
    return out
