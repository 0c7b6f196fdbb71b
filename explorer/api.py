"""The Python API: train, open, explore and export runs from a notebook or a script.

    import explorer
    run = explorer.fit("digits", latent_dim=2, beta=1.0, epochs=30)   # the CLI's settings, by name
    run.metrics                       # a pandas DataFrame, one row per step (validation at epoch ends)
    mu, logvar = run.encode(images)   # numpy in, numpy out (a tensor in, a tensor out)
    run.explore()                     # the latent plane, decoded in the browser (a notebook widget)
    run.export(onnx="onnx/", script="train_vae.py")
    run = explorer.open("digits-vae-z2-b1")                           # any run: a folder or an id

:func:`fit` builds its :class:`~explorer.config.RunConfig` with the same function as
``python -m explorer train`` (:func:`explorer.options.config_from`), so the same words train
the same model, trains it with the same loop (:func:`explorer.training.fit`) and writes the
same run folder, in the app's runs folder unless ``out`` says otherwise: the app lists it.
docs/API.md is the guide.
"""
from __future__ import annotations

import difflib
import io
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from . import data as data_mod
from . import options, store
from .config import DATASETS, RunConfig
from .data import Dataset
from .decoder_cache import model_file
from .export.onnx_model import load_any_model
from .devices import resolve_device

PROBE_N = 2000            # validation images stored with a run fit() trains (Explore's points)


class Code(NamedTuple):
    """What :meth:`Run.encode` returns: the posterior's mean and log-variance (an
    autoencoder's logvar is zeros: its code is a point)."""
    mu: Any
    logvar: Any


# ------------------------------------------------------------------ open

def run_dir_of(run: str | Path) -> Path:
    """A run folder from a path, or from a run id in the runs folder or the shipped runs."""
    return store.find_run(run)


def open(run: str | Path) -> "Run":  # noqa: A001 - explorer.open(...) reads as it should
    """The run in a folder, or of an id (this machine's runs folder, then the shipped runs)."""
    return Run(run_dir_of(run))


class Run:
    """A run on disk: its settings, metrics and model, and what you can do with them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        store.read_config(self.path)                  # a run folder (its model may come later)
        self._model, self._model_mtime = None, None

    def __repr__(self) -> str:
        s = self.summary
        ae = self.config.model.kind == "ae"        # an autoencoder has no ELBO: its recon is its loss
        val = (s.get("val") or {}).get("recon" if ae else "elbo")
        what = "val loss (recon)" if ae else "val ELBO"
        return (f"Run({self.id!r}, {s.get('status', '?')}" + (f", {what} {val:.2f}" if val is not None else "")
                + f", {self.path})")

    # ------------------------------------------------------------ what it is
    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> RunConfig:
        """Its settings (:class:`~explorer.config.RunConfig`; ``explorer.options.settings_of``
        gives them by the names ``fit`` takes)."""
        return store.read_config(self.path)

    @property
    def summary(self) -> dict:
        """``summary.json``: status, final train/validation numbers (per image, nats), timings."""
        return store.read_summary(self.path)

    @property
    def metrics(self):
        """A pandas DataFrame of ``metrics.csv``: one row per logged step (recon, kl, beta,
        loss...), the validation columns (val_recon, val_kl, val_elbo) at epoch ends."""
        import pandas as pd                       # ~0.3 s to import: only when asked for
        return pd.DataFrame(store.read_metrics(self.path))

    @property
    def model(self):
        """The model (a :class:`~explorer.models.VAE`, or for a model saved by a tracker its
        ONNX graphs), loaded on first use and again when the run saves a newer one."""
        if not model_file(self.path).is_file():
            raise store.StoreError(f"{self.id} has no model saved yet (a run saves one at its first epoch's "
                                   f"end; a tracked loop with tracker.save_model)")
        mtime = model_file(self.path).stat().st_mtime_ns
        if self._model is None or mtime != self._model_mtime:
            self._model, self._model_mtime = load_any_model(self.path), mtime
        return self._model

    # ------------------------------------------------------------ the model
    def encode(self, x) -> Code:
        """``(mu, logvar)`` of q(z|x) for images ``x`` (``[N, C, H, W]``, ``[N, H, W]`` or
        flat ``[N, C*H*W]``; floats in [0, 1] or uint8 0..255); numpy in, numpy out."""
        model = self.model
        t, was_numpy = _as_items(x, model.data_shape)
        mu, logvar = model.encode_mean(t)
        return Code(*(_like(v, was_numpy) for v in (mu, logvar)))

    def decode(self, z) -> Any:
        """The decoder's mean (the image) for each row of ``z`` ``[N, latent_dim]``."""
        was_numpy = not isinstance(z, torch.Tensor)
        z = torch.as_tensor(np.asarray(z, np.float32) if was_numpy else z, dtype=torch.float32)
        return _like(self.model.decode_mean(z.reshape(-1, self.model.latent_dim)), was_numpy)

    def reconstruct(self, x) -> Any:
        """The decoder's mean at z = μ(x): what the model makes of ``x``."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def sample(self, n: int = 16, seed: int = 0) -> np.ndarray:
        """``n`` images decoded from z ~ N(0, I) (the prior), seeded."""
        z = torch.randn(int(n), self.model.latent_dim, generator=torch.Generator().manual_seed(seed))
        return self.decode(z.numpy())

    # ------------------------------------------------------------ views, files
    def explore(self, **options_):
        """The latent plane as a notebook widget: the points of the run's validation images
        and a decoder running in your browser under the pointer; a click pins z
        (``widget.z``). Works in JupyterLab, Jupyter Notebook, VS Code and marimo."""
        from .notebook.widget import explore
        return explore(self, **options_)

    def export(self, *, tensorboard: str | Path | None = None, script: str | Path | None = None,
               onnx: str | Path | None = None, zip: str | Path | None = None,  # noqa: A002 - the CLI's name
               replay: bool | None = None, data_path: str | None = None) -> dict:
        """Write the run as TensorBoard event files (a folder), one runnable PyTorch script,
        ONNX files (a folder) and/or a run zip, as ``python -m explorer export`` does;
        returns what was written."""
        from .cli_export import write_exports
        return write_exports(self.path, tensorboard=tensorboard, script=script, onnx=onnx, zip=zip,
                             replay=replay, data_path=data_path)

    def resume(self, epochs: int | None = None, *, device: str | None = None) -> "Run":
        """Train on from the last checkpoint, exactly (``epochs``: to this many in all)."""
        from .resume import resume
        with run_threads(self.config.train.threads):
            resume(self.path, epochs=epochs, device=resolve_device(device))
        return self


# ------------------------------------------------------------------ fit

@contextmanager
def run_threads(n: int):
    """Torch's thread count while a run trains: the run's ``threads`` setting (default 1), as
    the CLI and the app's workers train it; the caller's own count back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit(data, *, out: str | Path | None = None, live: bool = False, labels=None, device: str | None = None,
        iwae_k: int = 0, **settings) -> Run:
    """Train a model and return its :class:`Run`.

    ``data``: a dataset's name (``"digits"``, ``"mnist"``...), a path (an ``.npz``/``.npy``/
    ``.csv`` of your own, or MNIST/Fashion-MNIST files: the kind is told from the file or
    refused), a numpy array or torch tensor of images (``labels=`` or a tuple ``(x, y)`` for
    their labels), or a :class:`~explorer.data.Dataset`. ``settings``: the CLI's settings
    by name (``latent_dim=16, beta=4, epochs=20``...; :data:`explorer.options.SETTINGS`),
    with the CLI's and the app's defaults; a misspelt one raises TypeError naming the
    closest. ``out``: the run's folder (a plain name: a run id in the app's runs folder;
    default: a new id there). ``live``: curves and the latent plane update in the notebook
    cell (a progress bar outside a notebook). ``device``: auto, cpu, cuda, cuda:N (default:
    the setting LATENT_EXPLORER_DEVICE)."""
    options.check_names(settings)
    settings, dataset = _data_settings(data, labels, settings)
    settings, _ = options.infer_dataset(settings)
    cfg = options.config_from(settings)
    where = resolve_device(device)
    if dataset is None:
        dataset = data_mod.load(cfg.data)
    run_dir = out_dir(out, cfg)
    from .training import fit as train
    view = None
    if live:
        from .notebook.live import live_view
        view = live_view(cfg, dataset, run_dir)
    summary = None
    try:
        with run_threads(cfg.train.threads):
            _, _, summary = train(cfg, dataset, run_dir, on_row=view, iwae_k=iwae_k, device=where)
    finally:
        if view is not None:
            view.close(summary)
    _save_probe(run_dir, dataset)
    return Run(run_dir)


def out_dir(out: str | Path | None, cfg: RunConfig) -> Path:
    """A run's folder: ``out`` as a path, a plain name as a run id in the runs folder, or
    (None) a new id there from the settings and the time, as the CLI names it."""
    root = store.runs_root()
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = f"{cfg.data.name}-{cfg.model.kind}-z{cfg.model.latent_dim}-b{cfg.train.beta:g}-{stamp}"
        return store.new_run_dir(root, base)
    text = str(out)
    if isinstance(out, str) and "/" not in text and "\\" not in text and text not in (".", ".."):
        return root / store.check_run_id(text)
    return Path(out).expanduser()


def _data_settings(data, labels, settings: dict) -> tuple[dict, Dataset | None]:
    """The settings that name ``data`` (dataset, data_path), and the Dataset when one was given."""
    settings = dict(settings)
    if isinstance(data, tuple) and len(data) == 2 and labels is None:
        data, labels = data
    if isinstance(data, Dataset):
        settings.update(dataset="file", data_path=str(_save_arrays(
            data.x_train, data.y_train, data.x_val, data.y_val)))
        settings.setdefault("binarize", data.binarize)
        return settings, data
    if isinstance(data, (np.ndarray, torch.Tensor)):
        settings.update(dataset="file", data_path=str(_save_arrays(data, labels)))
        return settings, None
    if isinstance(data, Path) or (isinstance(data, str) and data not in DATASETS):
        path = Path(data).expanduser()
        if isinstance(data, str) and not path.exists() and "/" not in data and not path.suffix:
            close = difflib.get_close_matches(data, DATASETS, n=1)
            raise ValueError(f"{data!r} is neither a dataset ({', '.join(d for d in DATASETS if d != 'file')}) "
                             f"nor a file here" + (f"; did you mean {close[0]!r}?" if close else ""))
        settings["data_path"] = str(path)
        return settings, None
    if isinstance(data, str):
        settings["dataset"] = data
        return settings, None
    raise TypeError(f"data: expected a dataset's name, a path, a numpy array or torch tensor of images, "
                    f"or an explorer.data.Dataset; got {type(data).__name__}")


def _save_arrays(x, y=None, x_val=None, y_val=None) -> Path:
    """Arrays given in memory, stored as an ``.npz`` in the runs folder's uploads (checked as
    an uploaded file is), so that the run names its data and Explore and ``resume`` find them."""
    def arr(a, integer=False):
        if a is None:
            return None
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        if integer:
            return a.astype(np.int64)
        if a.dtype.kind == "f" and a.size and np.array_equal(np.round(a * 255) / 255, a):
            return np.round(a * 255).astype(np.uint8)        # images on the 1/255 grid: 4x smaller
        return a
    x, y, x_val, y_val = arr(x), arr(y, True), arr(x_val), arr(y_val, True)
    if y is not None and len(y) != len(x):
        raise ValueError(f"labels: {len(y)} labels for {len(x)} images")
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3, 4):
        x = x.transpose(0, 2, 3, 1)                           # N×C×H×W (PyTorch) -> N×H×W×C (the file layout)
        x_val = None if x_val is None else x_val.transpose(0, 2, 3, 1)
    arrays = {"x": x} if x_val is None else {"x_train": x, "x_test": x_val}
    if y is not None:
        arrays["y" if x_val is None else "y_train"] = y
    if y_val is not None and x_val is not None:
        arrays["y_test"] = y_val
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    from . import settings as app_settings
    limit = app_settings.get().dataset_bytes
    return store.save_upload(store.runs_root(), buf.getvalue(), "arrays.npz", owner="api", max_bytes=limit,
                             check=lambda p: data_mod.load_array_file(p, max_bytes=limit))


def _save_probe(run_dir: Path, ds: Dataset) -> None:
    n = min(PROBE_N, len(ds.x_val))
    store.save_probe(run_dir, ds.x_val[:n], None if ds.y_val is None else ds.y_val[:n], ds.class_names,
                     grey=ds.val_display(n))


# ------------------------------------------------------------------ helpers

def _as_items(x, data_shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """``x`` as a float32 tensor of items of ``data_shape``, and whether it was numpy."""
    was_numpy = not isinstance(x, torch.Tensor)
    t = torch.from_numpy(np.asarray(x)) if was_numpy else x.detach().cpu()
    if t.dtype == torch.uint8:
        t = t.float() / 255
    t = t.float()
    if tuple(t.shape[1:]) != tuple(data_shape):
        if t[0].numel() != int(np.prod(data_shape)):
            raise ValueError(f"expected items of shape {tuple(data_shape)} (or as many numbers each), "
                             f"got {tuple(t.shape[1:])}")
        t = t.reshape((len(t),) + tuple(data_shape))
    return t, was_numpy


def _like(t: torch.Tensor, as_numpy: bool):
    t = t.detach().cpu()
    return t.numpy() if as_numpy else t
