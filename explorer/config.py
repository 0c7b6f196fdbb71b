"""Settings for data, model and training, as plain dataclasses.

A run is fully described by one :class:`RunConfig`. It round-trips through
JSON (``to_dict`` / ``from_dict``), and ``from_dict`` validates everything it
reads: unknown keys, wrong types and out-of-range numbers raise
:class:`ConfigError` with a message a person can act on. Nothing here imports
torch, so the UI can validate settings cheaply.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

DATASETS_IMAGE = ("digits", "mnist", "fashion-mnist", "shapes")
DATASETS_TOY = ("moons", "circles", "swissroll", "pinwheel", "gaussians")
DATASETS = DATASETS_IMAGE + DATASETS_TOY + ("file",)
BINARIZE = ("none", "dynamic", "threshold")
MODEL_KINDS = ("vae", "ae")
BODIES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
BETA_SCHEDULES = ("constant", "warmup", "cyclical", "capacity", "free_bits")

MAX_LATENT_DIM = 256
MAX_WIDTH = 4096


@dataclass(frozen=True)
class Limit:
    """The allowed range of one numeric setting. Every reader uses these: the config's
    validation, the engine's live controls, the trainer's hot parameters and the widgets."""
    lo: float
    hi: float
    integer: bool = False

    def check(self, name: str, value: Any) -> None:
        (_int_range if self.integer else _float_range)(name, value, self.lo, self.hi)

    def __str__(self) -> str:
        """The range as ``[lo, hi]``, numbers written as a person would (1e-7, not 1e-07)."""
        def fmt(v):
            return f"{v:g}".replace("e-0", "e-").replace("e+0", "e+")
        return f"[{fmt(self.lo)}, {fmt(self.hi)}]"

    def contains(self, value: Any) -> bool:
        try:
            self.check("", value)
        except ConfigError:
            return False
        return True


def _i(lo: int, hi: int) -> Limit:
    return Limit(lo, hi, integer=True)


#: section.field -> its range. The one place a setting's bounds are written.
LIMITS: dict[str, Limit] = {
    "data.subset": _i(1, 10_000_000), "data.val_fraction": Limit(0.01, 0.9),
    "data.split_seed": _i(0, 2**31 - 1), "data.threshold": Limit(0.0, 1.0),
    "data.n_points": _i(10, 1_000_000), "data.noise": Limit(0.0, 10.0),
    "model.latent_dim": _i(1, MAX_LATENT_DIM), "model.sigma": Limit(1e-3, 10.0),
    "model.hidden[]": _i(1, MAX_WIDTH),
    "train.epochs": _i(1, 100_000), "train.batch_size": _i(1, 65_536),
    "train.lr": Limit(1e-7, 1.0), "train.seed": _i(0, 2**31 - 1),
    "train.beta": Limit(0.0, 1000.0), "train.warmup_steps": _i(1, 10**9),
    "train.cycle_steps": _i(2, 10**9), "train.cycle_ratio": Limit(0.01, 1.0),
    "train.capacity_max": Limit(0.0, 1e6), "train.capacity_steps": _i(1, 10**9),
    "train.free_bits": Limit(0.0, 100.0), "train.mc_samples": _i(1, 1000),
    "train.grad_clip": Limit(0.0, 1e6), "train.threads": _i(1, 256),
    "train.log_every": _i(1, 10**6), "train.val_subset": _i(0, 10_000_000),
    "train.eval_every": _i(1, 100_000), "train.time_budget_s": Limit(0.0, 86_400.0),
}
VAL_SUBSET_DEFAULT = 2000      # a larger validation split is evaluated on this many images per epoch
_UNSET_MEANS_DEFAULT = ("subset", "val_subset")      # None: "unset", not a value out of range
BETA, LR = LIMITS["train.beta"], LIMITS["train.lr"]


def _check_limits(section: str, obj: Any) -> None:
    """Check every field of ``obj`` that has a limit (``None`` means "unset" for the subsets)."""
    for f in dataclasses.fields(obj):
        limit = LIMITS.get(f"{section}.{f.name}")
        value = getattr(obj, f.name)
        if limit is not None and not (value is None and f.name in _UNSET_MEANS_DEFAULT):
            limit.check(f"{section}.{f.name}", value)


def default_binarize(dataset: str) -> str:
    """The binarisation a dataset starts from when none is given (the one rule of the config,
    so the Train page, the CLI and the Python API agree): dynamic for MNIST and
    Fashion-MNIST (the usual choice for a Bernoulli decoder), none for everything else."""
    return "dynamic" if dataset in ("mnist", "fashion-mnist") else "none"


class ConfigError(ValueError):
    """A setting is missing, of the wrong type or out of range."""


@dataclass
class DataConfig:
    name: str = "digits"
    path: str | None = None          # local IDX folder / .npz for mnist, or the own file for "file"
    subset: int | None = None        # training-subset size (None: all)
    val_fraction: float = 0.2        # used when the source has no test split
    split_seed: int = 0              # seeds the train/validation split and the fixed binarisation of validation
    binarize: str | None = None      # "none" | "dynamic" (resampled per batch) | "threshold";
                                     # None: the dataset's default (default_binarize)
    threshold: float = 0.5
    n_points: int = 4000             # toy sets: number of points; shapes: number of images
    noise: float = 0.05              # toy sets: noise level

    def __post_init__(self) -> None:
        if self.binarize is None:
            self.binarize = default_binarize(self.name)

    def validate(self) -> None:
        _choice("data.name", self.name, DATASETS)
        _choice("data.binarize", self.binarize, BINARIZE)
        _check_limits("data", self)
        if self.name == "file" and not self.path:
            raise ConfigError("data.path: the 'file' dataset needs the path of an .npz, .npy or .csv file")

    @property
    def is_toy(self) -> bool:
        return self.name in DATASETS_TOY


@dataclass
class ModelConfig:
    kind: str = "vae"                # "vae" (seed eq. 2) or "ae" (seed eq. 1)
    body: str = "mlp"                # "mlp" or "conv" (images only)
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    latent_dim: int = 2
    likelihood: str = "bernoulli"    # "bernoulli" (logits) or "gaussian"
    sigma: float = 0.1               # Gaussian likelihood: fixed (or initial) std of p(x|z)
    learn_sigma: bool = False        # Gaussian likelihood: learn one shared log sigma

    def validate(self) -> None:
        _choice("model.kind", self.kind, MODEL_KINDS)
        _choice("model.body", self.body, BODIES)
        _choice("model.likelihood", self.likelihood, LIKELIHOODS)
        if not isinstance(self.hidden, list) or not self.hidden:
            raise ConfigError("model.hidden: give at least one hidden width, e.g. [256, 128]")
        if len(self.hidden) > 8:
            raise ConfigError("model.hidden: at most 8 hidden layers")
        for w in self.hidden:
            LIMITS["model.hidden[]"].check("model.hidden[]", w)
        _check_limits("model", self)
        _bool("model.learn_sigma", self.learn_sigma)


@dataclass
class TrainConfig:
    # The defaults (the Train page's and the CLI's) were chosen by benchmarks/defaults_search.py:
    # on the digits, a clearly separated 2-D latent (5-NN accuracy of the validation means
    # 0.88 over 5 seeds) in a few seconds of training.
    epochs: int = 60
    batch_size: int = 32
    lr: float = 5e-3
    seed: int = 0
    beta: float = 1.0
    beta_schedule: str = "warmup"    # see explorer.schedules.beta_at
    warmup_steps: int = 500          # "warmup": beta rises linearly 0 -> beta over this many steps
    cycle_steps: int = 2000          # "cyclical": period of the cycle (Fu et al. 2019)
    cycle_ratio: float = 0.5         # "cyclical": fraction of a cycle spent rising
    capacity_max: float = 25.0       # "capacity": target KL C in nats (Burgess et al. 2018)
    capacity_steps: int = 10000      # "capacity": steps over which C rises from 0 to capacity_max
    free_bits: float = 0.5           # "free_bits": per-dimension KL floor in nats (Kingma et al. 2016)
    mc_samples: int = 1              # L: Monte Carlo samples of z per image for the reconstruction term
    grad_clip: float = 0.0           # 0: no clipping (the gradient norm is still reported)
    threads: int = 1                 # torch threads for this run
    log_every: int = 1               # a metrics row every this many steps
    val_subset: int | None = None    # validation images evaluated at an epoch's end: None: all, up to
                                     # VAL_SUBSET_DEFAULT (then that many, seeded); 0: all; N: N
    eval_every: int = 1              # validate every this many epochs (and always after the last)
    time_budget_s: float = 0.0       # > 0: finish after this many seconds of training, epochs counted

    def validate(self) -> None:
        _choice("train.beta_schedule", self.beta_schedule, BETA_SCHEDULES)
        _check_limits("train", self)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    name: str = ""                   # a human label; the run id is the folder name

    def validate(self) -> "RunConfig":
        self.data.validate()
        self.model.validate()
        self.train.validate()
        if not isinstance(self.name, str) or len(self.name) > 200:
            raise ConfigError("name: a text of at most 200 characters")
        if self.model.body == "conv" and self.data.is_toy:
            raise ConfigError("model.body: the conv body needs image data; use 'mlp' for the 2-D toy sets")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Any) -> "RunConfig":
        if not isinstance(d, dict):
            raise ConfigError("config: expected a JSON object")
        unknown = set(d) - {"data", "model", "train", "name"}
        if unknown:
            raise ConfigError(f"config: unknown key(s) {sorted(unknown)}")
        cfg = cls(
            data=_section(DataConfig, d.get("data", {}), "data"),
            model=_section(ModelConfig, d.get("model", {}), "model"),
            train=_section(TrainConfig, d.get("train", {}), "train"),
            name=d.get("name", ""),
        )
        return cfg.validate()

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config: not valid JSON ({e})") from None
        return cls.from_dict(d)

    def replace(self, **sections: Any) -> "RunConfig":
        """A copy with some fields changed: ``cfg.replace(train={"beta": 4})``."""
        d = self.to_dict()
        for key, value in sections.items():
            if isinstance(value, dict):
                d[key].update(value)
            else:
                d[key] = value
        return RunConfig.from_dict(d)


# ---------------------------------------------------------------- validation

def _section(cls, d: Any, where: str):
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected an object")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    obj = cls(**d)
    # coerce ints given where floats are expected (JSON "1" vs "1.0")
    for f in dataclasses.fields(cls):
        v = getattr(obj, f.name)
        if f.type in ("float",) and isinstance(v, int) and not isinstance(v, bool):
            setattr(obj, f.name, float(v))
    return obj


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(options)}")


def _int_range(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: expected a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: {value} is out of range [{lo}, {hi}]")


def _float_range(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name}: must be finite, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: {value:g} is out of range [{lo:g}, {hi:g}]")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
