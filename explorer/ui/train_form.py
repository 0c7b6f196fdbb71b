"""The Train page's settings: widgets that build a :class:`~explorer.config.RunConfig`.

There is one schema, ``RunConfig``: every widget's default is the config's default
(``RunConfig()``), every bound is the setting's :data:`~explorer.config.LIMITS`, and
:func:`widget_state` maps a config back onto the widgets (to copy another run's
settings, or to apply a preset). Widgets are created with a key and no ``value=``:
their state is set once, here, before they are drawn.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from .. import data, settings
from ..config import (BETA, BETA_SCHEDULES, DATASETS_TOY, LIMITS, LR, ConfigError, DataConfig,
                      ModelConfig, RunConfig, TrainConfig, default_binarize)
from ..data import DataError
from ..figures import training as training_figures
from ..presets import PRESETS
from ..store import StoreError, check_run_name
from . import train as train_ui

DEFAULTS = RunConfig()
_MNIST = ("mnist", "fashion-mnist")


def widget_state(cfg: RunConfig) -> dict:
    """The widget values (by key) that show ``cfg``."""
    d, m, t = cfg.data, cfg.model, cfg.train
    return {
        "dataset": d.name, "data_path": (d.path or "") if d.name in _MNIST else "",
        "binarize": d.binarize if d.name in _MNIST else default_binarize("mnist"),
        "n_points": d.n_points, "noise": d.noise, "subset": d.subset or 0,
        "val_fraction": d.val_fraction, "kind": m.kind, "body": m.body,
        "hidden": ", ".join(map(str, m.hidden)), "latent_dim": m.latent_dim,
        "likelihood": m.likelihood, "sigma": m.sigma, "mc_samples": t.mc_samples,
        "beta_schedule": t.beta_schedule, "warmup_steps": t.warmup_steps,
        "cycle_steps": t.cycle_steps, "cycle_ratio": t.cycle_ratio,
        "capacity_max": t.capacity_max, "capacity_steps": t.capacity_steps,
        "free_bits": t.free_bits, "batch_size": t.batch_size, "epochs": t.epochs, "seed": t.seed,
        "time_budget_s": t.time_budget_s, "run_name": "", "beta": t.beta, "lr": t.lr if t.lr in train_ui.LR_CHOICES else DEFAULTS.train.lr,
    }


def init_state() -> None:
    """Give every widget its default once per session (before any widget is drawn)."""
    for k, v in widget_state(DEFAULTS).items():
        st.session_state.setdefault(k, v)


def apply_config(cfg: RunConfig) -> None:
    """Show ``cfg`` in the widgets at the next script run (call before they are drawn)."""
    st.session_state.update(widget_state(cfg))
    if cfg.data.name == "file" and cfg.data.path:
        st.session_state.setdefault("uploads", {})[Path(cfg.data.path).name] = cfg.data.path
        st.session_state["upload_pick"] = Path(cfg.data.path).name


def _num(label: str, field: str, key: str, step=None, lo=None, **kw):
    """A number input over the setting's range (``lo`` overrides its low end: 0 = "all")."""
    lim = LIMITS[field]
    cast = int if lim.integer else float
    return st.number_input(label, cast(lim.lo if lo is None else lo), cast(lim.hi), step=step, key=key, **kw)


# ------------------------------------------------------------------ the form

@dataclass
class Form:
    """What the sidebar gives the page."""
    config: RunConfig | None          # None when a setting is wrong
    error: str | None                 # why there is no config
    data_problem: str | None          # why the chosen data cannot be used (shown already)
    n_train: int | None               # training-set size, when known
    twin: RunConfig | None = None     # a preset's second run, started beside this one


def data_section(eng, owner: str) -> DataConfig:
    s = st.session_state
    st.selectbox("Dataset", list(train_ui.DATASET_LABELS), format_func=train_ui.DATASET_LABELS.get,
                 key="dataset")
    name = s["dataset"]
    path = None
    if name in _MNIST:
        st.text_input("Data file or folder (optional)", key="data_path",
                      help="An .npz with x_train, y_train, x_test, y_test, or a folder with the four "
                           "IDX files, inside this server's data folder. Empty: the data folder's "
                           "copy, downloaded once if missing.")
        st.selectbox("Binarise", ["dynamic", "none", "threshold"], key="binarize",
                     help="dynamic: each batch draws binary pixels from the grey values (the usual "
                          "choice for a Bernoulli decoder)")
        path = s["data_path"].strip() or None
    if name in DATASETS_TOY:
        _num("Points", "data.n_points", "n_points", 100)
        _num("Noise", "data.noise", "noise", 0.01)
    if name == "shapes":
        _num("Images (made from the seed, no download)", "data.n_points", "n_points", 500)
    if name == "file":
        path = own_file(eng, owner)
    _num("Training subset (0 = all)", "data.subset", "subset", 100, lo=0,
         help="Train on this many randomly chosen training examples")
    lim = LIMITS["data.val_fraction"]
    st.slider("Validation fraction", lim.lo, 0.5, step=0.01, key="val_fraction",
              help="Held out for validation curves (MNIST and Fashion-MNIST use their official "
                   "test split instead)")
    return DataConfig(name=name, path=path, subset=int(s["subset"]) or None,
                      val_fraction=float(s["val_fraction"]),
                      binarize=s["binarize"] if name in _MNIST else "none",
                      n_points=int(s["n_points"]), noise=float(s["noise"]))


def own_file(eng, owner: str) -> str | None:
    """Upload (or pick an earlier upload of this session); return its stored path."""
    limit = settings.get().upload_bytes
    uploads: dict = st.session_state.setdefault("uploads", {})
    f = st.file_uploader("Your data (.npz, .npy or .csv)", type=["npz", "npy", "csv"], key="upload",
                         max_upload_size=max(1, limit // 2**20),
                         help=f"Images N×H×W or N×H×W×C (uint8 or floats in [0,1]), optional labels y; "
                              f"or a CSV table with an optional 'label' column. At most "
                              f"{limit / 2**20:.0f} MiB (setting LATENT_EXPLORER_UPLOAD_MB).")
    seen: set = st.session_state.setdefault("upload_ids", set())
    if f is not None and f.file_id not in seen:                  # a new upload: store and check it
        seen.add(f.file_id)
        st.session_state.pop("upload_error", None)
        try:                                                     # validated, never unpickled
            path = eng.save_upload(f.getvalue(), f.name, owner, max_bytes=limit)
            uploads.pop(f.name, None)                            # the newest upload is picked, and
            uploads[f.name] = str(path)                          # listed last
            st.session_state["upload_pick"] = f.name
        except Exception as e:  # noqa: BLE001 - EngineError, UploadError, DataError: say why
            st.session_state["upload_error"] = f"{f.name}: {e}"
    if st.session_state.get("upload_error") and f is not None:
        st.error(st.session_state["upload_error"])
    if not uploads:
        return None
    names = list(uploads)
    if st.session_state.get("upload_pick") not in names:
        st.session_state["upload_pick"] = names[-1]
    return uploads[st.selectbox("Uploaded file", names, key="upload_pick")]


def model_section() -> ModelConfig:
    s = st.session_state
    st.radio("Model", ["vae", "ae"], horizontal=True, key="kind",
             format_func={"vae": "VAE (eq. 2)", "ae": "Autoencoder (eq. 1)"}.get)
    st.radio("Body", ["mlp", "conv"], horizontal=True, key="body",
             format_func={"mlp": "MLP", "conv": "Conv (images)"}.get)
    st.text_input("Hidden widths", key="hidden",
                  help="Comma-separated layer widths of the encoder; the decoder mirrors them")
    _num("Latent dimension", "model.latent_dim", "latent_dim")
    st.selectbox("Likelihood p(x|z)", ["bernoulli", "gaussian"], key="likelihood",
                 help="Bernoulli: cross-entropy; Gaussian: squared error / 2σ²")
    if s["likelihood"] == "bernoulli" and s["dataset"] in DATASETS_TOY:
        st.caption("For the 2-D sets, a Gaussian likelihood is the natural choice.")
    if s["likelihood"] == "gaussian":
        _num("σ of p(x|z)", "model.sigma", "sigma", 0.01, format="%.3f")
    _num("L samples of z per image", "train.mc_samples", "mc_samples",
         help="Monte Carlo samples for the reconstruction term")
    return dataclasses.replace(DEFAULTS.model, kind=s["kind"], body=s["body"],
                               hidden=train_ui.parse_widths(s["hidden"]), latent_dim=int(s["latent_dim"]),
                               likelihood=s["likelihood"], sigma=float(s["sigma"]))


def train_section() -> TrainConfig:
    s = st.session_state
    ae = s["kind"] == "ae"
    st.selectbox("β schedule", list(BETA_SCHEDULES), key="beta_schedule", disabled=ae,
                 help="How β changes during the run (an autoencoder has no KL term, so no β)")
    sched = "constant" if ae else s["beta_schedule"]
    if sched == "warmup":
        _num("Warm-up steps", "train.warmup_steps", "warmup_steps")
    elif sched == "cyclical":
        _num("Cycle steps", "train.cycle_steps", "cycle_steps")
        _num("Rising part of a cycle", "train.cycle_ratio", "cycle_ratio", 0.05)
    elif sched == "capacity":
        _num("Capacity C max (nats)", "train.capacity_max", "capacity_max")
        _num("Capacity steps", "train.capacity_steps", "capacity_steps")
    elif sched == "free_bits":
        _num("Free bits λ per dimension (nats)", "train.free_bits", "free_bits", 0.1)
    _num("Batch size", "train.batch_size", "batch_size")
    _num("Epochs", "train.epochs", "epochs")
    _num("Seed", "train.seed", "seed")
    _num("Time budget (s; 0: no budget)", "train.time_budget_s", "time_budget_s", 10.0,
         help="Finish after this many seconds of training, whatever the machine: the run counts the "
              "epochs that fitted (Epochs is then the most it may train). The presets for a lesson use it.")
    st.text_input("Run name (optional)", key="run_name")
    return dataclasses.replace(
        DEFAULTS.train, beta_schedule=sched, warmup_steps=int(s["warmup_steps"]),
        cycle_steps=int(s["cycle_steps"]), cycle_ratio=float(s["cycle_ratio"]),
        capacity_max=float(s["capacity_max"]), capacity_steps=int(s["capacity_steps"]),
        free_bits=float(s["free_bits"]), batch_size=int(s["batch_size"]), epochs=int(s["epochs"]),
        seed=int(s["seed"]), time_budget_s=float(s["time_budget_s"]), mc_samples=int(s["mc_samples"]), beta=float(s["beta"]), lr=float(s["lr"]))


def live_controls(on_beta, on_lr, col_beta, col_lr, locked: str | None = None) -> None:
    """β and the learning rate: settings of the next run and live controls of this one
    (``locked``: why they cannot change, e.g. a class with locked hyperparameters)."""
    with col_beta:
        st.number_input("β", BETA.lo, BETA.hi, step=0.25, key="beta", on_change=on_beta, disabled=bool(locked),
                        help=locked or "Weight of the KL term (β-VAE). Live: a change applies from the "
                                       "next step and is marked on every curve.")
    with col_lr:
        st.select_slider("Learning rate", [v for v in train_ui.LR_CHOICES if LR.contains(v)], key="lr",
                         on_change=on_lr, format_func=lambda x: f"{x:g}", disabled=bool(locked),
                         help=locked or "Adam's step size. Live, like β.")


NO_PRESET = "your own settings"


def _on_preset() -> None:
    p = PRESETS.get(st.session_state.get("preset"))
    if p is not None:
        apply_config(p.config)
        st.session_state["run_name"] = p.config.name


def preset_picker():
    """Presets for a lesson: each sets every widget; returns the chosen one (or None)."""
    st.session_state.setdefault("preset", NO_PRESET)
    st.selectbox("Preset", [NO_PRESET] + list(PRESETS), key="preset", on_change=_on_preset,
                 help="Settings for a lesson; each sets every widget below (change any afterwards)")
    p = PRESETS.get(st.session_state["preset"])
    if p is not None:
        st.caption(f"**What to watch:** {p.watch}")
    return p


def mnist_size_note(cfg: DataConfig, epochs: int, budget_s: float = 0.0) -> str | None:
    """A warning before a long MNIST run: how many images it will see, and the shorter way
    (none for a run with a time budget: it ends in time, whatever its epochs)."""
    if cfg.name not in _MNIST or budget_s or (cfg.subset and cfg.subset * epochs <= 200_000):
        return None
    n = cfg.subset or 60_000
    return (f"{n:,} images × {epochs} epochs = {n * epochs / 1e6:.1f} million images to train on: "
            f"on a small shared server that takes many minutes. For a lesson, the preset "
            f"“2-minute MNIST” trains for two minutes (its time budget, under Training).")


def sidebar(eng, owner: str) -> Form:
    """Every setting of the next run, in the sidebar; returns the config they describe."""
    error = data = model = train = None
    with st.sidebar:
        st.header("Settings")
        preset = preset_picker()
        st.caption("For the next run. β and the learning rate are above the charts: they stay live "
                   "during a run.")
        with st.expander("Data", expanded=True):
            data = data_section(eng, owner)
            problem, n_train = check_data(data)
        with st.expander("Model", expanded=True):
            try:
                model = model_section()
            except ConfigError as e:
                error = str(e)
        with st.expander("Training", expanded=False):
            train = train_section()
            if note := train_ui.batch_note(train.batch_size, n_train):
                st.warning(note)
        if note := mnist_size_note(data, train.epochs, train.time_budget_s):
            st.warning(note)
    if error is None and model is not None:
        error = _assemble_error(data, model, train)
    cfg = None if error else RunConfig(data=data, model=model, train=train,
                                       name=st.session_state["run_name"].strip())
    twin = preset.twin if preset is not None and cfg is not None and _same_run(cfg, preset.config) else None
    return Form(cfg, error, problem, n_train, twin)


def _same_run(a: RunConfig, b: RunConfig) -> bool:
    """Whether two configs describe the same run (names aside)."""
    return a.replace(name="") == b.replace(name="")


def _assemble_error(data: DataConfig, model: ModelConfig, train: TrainConfig) -> str | None:
    if data.name == "file" and not data.path:
        return "own data: upload a file (.npz, .npy or .csv) first"
    name = st.session_state["run_name"].strip()
    try:
        if name:
            try:
                check_run_name(name)
            except StoreError as e:
                raise ConfigError(f"run name: {e}") from None
        RunConfig(data=data, model=model, train=train, name=name).validate()
    except ConfigError as e:
        return str(e)
    return None


# ------------------------------------------------------------------ the data

@st.cache_data(show_spinner="Reading the data…", max_entries=16)
def _preview(data_json: str, max_bytes: int, mtime: float) -> dict:
    return train_ui.data_preview(DataConfig(**json.loads(data_json)), max_bytes)


def check_data(cfg: DataConfig) -> tuple[str | None, int | None]:
    """Check the chosen data once, as the worker will read it, and preview it. MNIST is
    checked for where it is (paths typed here must lie in the data folders), not read: the
    worker reads or downloads it. Returns (the reason it cannot be used, the training size)."""
    s = settings.get()
    if cfg.name in _MNIST:
        if cfg.path:
            try:
                cfg.path = str(data.confine_path(cfg.path, s.allowed_data_roots))
            except DataError as e:
                st.error(f"Data: {e}")
                return str(e), None
        return None, None
    if cfg.name == "file" and not cfg.path:
        return None, None
    try:
        cfg.validate()
    except ConfigError:
        return None, None                       # reported when Start is pressed
    mtime = os.path.getmtime(cfg.path) if cfg.path and os.path.exists(cfg.path) else 0.0
    try:
        d = _preview(json.dumps(dataclasses.asdict(cfg)), s.dataset_bytes, mtime)
    except DataError as e:
        st.error(f"Data: {e}")
        return str(e), None
    st.caption(train_ui.describe_line(d))
    if cfg.name == "file":
        if d["is_image"]:
            st.image(training_figures.sample_grid(d["samples"]), clamp=True,
                     caption="the first training items",
                     alt=f"The first {len(d['samples'])} training items of the data file.")
        if d["label_counts"]:
            st.caption("Labels: " + ", ".join(f"{k}: {n}" for k, n in d["label_counts"].items()))
    return None, d["n_train"]
