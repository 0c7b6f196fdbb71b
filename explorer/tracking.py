"""Watch your own training loop in the app: ``explorer.track``.

    tracker = explorer.track("my-vae", config={"dataset": "mnist", "latent_dim": 20, "beta": 1.0})
    for step, (x, _) in enumerate(loader, 1):
        ...                                          # your model, your loss, your optimiser
        tracker.log(step, recon=recon.item(), kl=kl.item(), beta=1.0)
    tracker.log(step, recon=val_recon, kl=val_kl, split="val")
    tracker.save_model(model.encode, model.decode, example=x)   # Explore and the widget open it
    tracker.close()                                  # or: with explorer.track(...) as tracker:

A tracker writes a run folder the app reads like any other (in the app's runs folder for a
plain name; ``out`` may also be a path): ``config.json`` (``config``: a
:class:`~explorer.config.RunConfig` or settings by the CLI's names, describing your run),
``metrics.csv`` (one row per :meth:`Tracker.log`, in the app's columns: recon, kl, beta,
β·KL, total; validation rows in val_recon, val_kl, val_elbo) and ``summary.json`` (status
"running" with a heartbeat). The Train page (``?run=<id>``) shows its curves live,
read-only as anyone's run; the run counts as interrupted when no row arrived for
:data:`STALE_SECONDS` (:func:`explorer.runs.tracked_live`), and as finished after
:meth:`Tracker.close`.

Cost: a row is a small dict kept in memory; every :data:`FLUSH_SECONDS` the new rows are
appended to ``metrics.csv`` in one write and the summary is replaced (atomically), so the
loop is not slowed (``benchmarks/api_overhead.py``: ``track_overhead``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from . import options, store
from .config import RunConfig
from .runs import TRACK_STALE_S
from .store.appender import append_rows

FLUSH_SECONDS = 1.0
STALE_SECONDS = TRACK_STALE_S     # no row for this long: the app shows the run as interrupted
COLUMNS = ("step", "epoch", "samples", "loss", "recon", "kl", "beta", "beta_kl", "lr",
           "val_recon", "val_kl", "val_elbo")
_TRAIN = ("loss", "recon", "kl", "beta", "beta_kl")
PLACEHOLDER_PATH = "(your own training loop)"


def track(out: str | Path, *, config: RunConfig | dict | None = None) -> "Tracker":
    """A :class:`Tracker` writing the run ``out`` (a plain name: a run id in the app's runs
    folder; else a path). ``config`` describes the run (a RunConfig, or settings by the CLI's
    names such as ``{"dataset": "mnist", "latent_dim": 20, "beta": 1.0}``)."""
    return Tracker(out, config=config)


def tracked_config(config: RunConfig | dict | None, name: str) -> RunConfig:
    """The config a tracked run records (its data: "your own training loop" unless given)."""
    if isinstance(config, RunConfig):
        return config
    settings = dict(config or {})
    if "dataset" not in settings and "data_path" not in settings:
        settings.update(dataset="file", data_path=PLACEHOLDER_PATH)
    settings.setdefault("name", name)
    return options.config_from(settings)


class Tracker:
    """Rows of your own loop, written where the app reads runs. See the module's text."""

    def __init__(self, out: str | Path, *, config: RunConfig | dict | None = None):
        from .api import out_dir
        self.run_dir = out_dir(out, RunConfig())
        self.config = tracked_config(config, self.run_dir.name)
        if (self.run_dir / store.CONFIG).is_file():
            raise FileExistsError(f"{self.run_dir} holds a run already; track into a new name")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._pending: list[dict] = []
        self._last_train: dict = {}
        self._last_val: dict = {}
        self._last_flush = time.monotonic()
        self.created = time.time()
        self.summary: dict[str, Any] = {"status": "running", "reason": None, "created": self.created,
                                        "run_id": self.run_dir.name, "owner": "", "steps": 0, "epochs": 0,
                                        "samples": 0, "events": [],
                                        "tracked": {"pid": os.getpid(), "started": self.created}}
        self.closed = False
        store.atomic_write_text(self.run_dir / store.METRICS, ",".join(COLUMNS) + "\n")
        self._write_summary(durable=False)
        store.save_config(self.run_dir, self.config)

    # ------------------------------------------------------------------ rows
    def log(self, step: int, *, recon: float, kl: float = 0.0, beta: float = 1.0, split: str = "train",
            epoch: float | None = None, lr: float | None = None, samples: int | None = None) -> None:
        """One row: per-image reconstruction and KL (nats, averaged over the batch) at ``step``,
        for the training batch (``split="train"``) or the validation set (``split="val"``).
        Tensors are accepted (one ``.item()`` each)."""
        if self.closed:
            raise RuntimeError("this tracker is closed")
        recon, kl = _number(recon), _number(kl)
        if split == "train":
            beta = _number(beta)
            row = {"step": int(step), "recon": recon, "kl": kl, "beta": beta, "beta_kl": beta * kl,
                   "loss": recon + beta * kl}
            self._last_train = row
        elif split == "val":
            row = {**{k: self._last_train[k] for k in _TRAIN if k in self._last_train}, "step": int(step),
                   "val_recon": recon, "val_kl": kl, "val_elbo": -(recon + kl)}
            self._last_val = row
        else:
            raise ValueError(f"split: 'train' or 'val', not {split!r}")
        for key, value in (("epoch", epoch), ("lr", lr), ("samples", samples)):
            if value is not None:
                row[key] = float(value)
        self._pending.append(row)
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the rows logged since the last flush, and the summary (its heartbeat)."""
        self._last_flush = time.monotonic()
        rows, self._pending = self._pending, []
        if rows:
            append_rows(self.run_dir / store.METRICS, COLUMNS, rows)
            last = rows[-1]
            self.summary["steps"] = int(last["step"])
            for key, name in (("epoch", "epochs"), ("samples", "samples")):
                if key in last:
                    self.summary[name] = last[key]
        self._write_summary(durable=False)

    def _write_summary(self, durable: bool) -> None:
        s = self.summary
        s["tracked"]["heartbeat"] = time.time()
        s["elapsed_s"] = time.time() - self.created
        tr, va = self._last_train, self._last_val
        if tr:
            s["beta"] = tr["beta"]
            s["train"] = {"recon": tr["recon"], "kl": tr["kl"], "elbo": -(tr["recon"] + tr["kl"])}
        if va:
            s["val"] = {"recon": va["val_recon"], "kl": va["val_kl"], "elbo": va["val_elbo"]}
        store.save_summary(self.run_dir, s, durable=durable)

    # ------------------------------------------------------------------ the model
    def save_model(self, encoder, decoder, example, *, labels=None, data_shape: tuple[int, ...] | None = None,
                   decoder_gives: str = "auto") -> Path:
        """Export your encoder and decoder (modules, or methods such as ``model.encode``) as
        ONNX into the run, with up to 2,000 of the ``example`` inputs (and their ``labels``)
        as the points Explore and the notebook widget draw. ``data_shape``: one item's shape
        as an image (e.g. ``(1, 28, 28)`` for an encoder that takes flat vectors);
        ``decoder_gives``: "mean" (images in [0, 1]), "logits", or "auto" (told from the
        example). Call it again to save a newer model. Returns the run's folder."""
        import torch

        from .export.from_torch import pair_onnx
        from .export.onnx_check import BROWSER_MAX_BYTES, OnnxError, check_onnx
        x = torch.as_tensor(example).detach().float().cpu()
        enc, dec, info = pair_onnx(encoder, decoder, x, data_shape=data_shape, decoder_gives=decoder_gives)
        try:
            check_onnx(dec, BROWSER_MAX_BYTES)
        except OnnxError as e:
            raise OnnxError(f"the decoder is too large for a browser: {e}") from None
        shape = tuple(info["data_shape"])
        n = min(len(x), 2000)
        y = None if labels is None else torch.as_tensor(labels)[:n].long()
        store.save_probe(self.run_dir, x[:n].reshape((n,) + shape).clamp(0, 1), y)
        self.summary["data_shape"] = list(shape)
        self.summary["tracked"]["model"] = info
        self.config = self.config.replace(model={"kind": info["kind"], "latent_dim": info["latent_dim"]})
        store.save_onnx_model(self.run_dir, enc, dec)
        store.save_config(self.run_dir, self.config)
        self._write_summary(durable=False)
        return self.run_dir

    # ------------------------------------------------------------------ the end
    def close(self, status: str = "finished", reason: str | None = None) -> None:
        """Write the last rows and mark the run ended (``finished``, ``stopped`` or ``failed``)."""
        if self.closed:
            return
        self.flush()
        self.summary["status"], self.summary["reason"] = status, reason
        self._write_summary(durable=True)
        self.closed = True

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        elif issubclass(kind, KeyboardInterrupt):
            self.close("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.close("failed", f"{kind.__name__}: {exc}"[:300])

    def __repr__(self) -> str:
        return f"Tracker({self.run_dir}, step {self.summary['steps']}{', closed' if self.closed else ''})"


def _number(v) -> float:
    """A float from a number or a one-element tensor (``loss.item()`` without the warning)."""
    return float(v.detach()) if hasattr(v, "detach") else float(v)
