"""``explorer.fit(..., live=True)``: the run's curves and latent plane, updating in the cell.

:class:`LiveView` is the callback :func:`explorer.training.fit` calls after every step. It
keeps the rows and, at most every :data:`ROWS_S` seconds, sends the widget the curves
(reconstruction and KL, training averaged over recent batches, validation at each
evaluation: the Train page's binning, :func:`explorer.figures.training.bin_rows`) and a
status line; every :data:`PLANE_S` seconds (and at each epoch's end) the latent means of up
to :data:`PROBE_N` validation items and the current decoder, which the browser runs under
the pointer. It only reads the model (no randomness), so a run trains the same numbers with
or without it. Outside a notebook it is a one-line progress bar.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from ..figures.training import bin_rows
from .widget import LatentWidget, plane_data

ROWS_S, PLANE_S = 0.5, 2.0
PROBE_N = 1000
MAX_POINTS = 300               # curve points sent per term


def _show(widget) -> bool:
    """Display ``widget`` in the running notebook (Jupyter, VS Code, marimo); False outside one."""
    try:
        import marimo as mo                       # a marimo notebook: its own output channel
        if mo.running_in_notebook():
            mo.output.append(widget)
            return True
    except (ImportError, AttributeError):
        pass
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or "IPKernelApp" not in getattr(ip, "config", {}):
        return False
    display(widget)
    return True


class LiveView:
    """The live view of one training run (see the module's text)."""

    def __init__(self, cfg, dataset, run_dir):
        self.cfg, self.run_dir = cfg, run_dir
        self.widget = LatentWidget(kind="live")
        self.rows: list[dict] = []
        self.val: list[dict] = []
        self.t_rows = self.t_plane = 0.0
        n = min(PROBE_N, len(dataset.x_val))
        self.probe_x = dataset.x_val[:n]
        self.probe_y = None if dataset.y_val is None else dataset.y_val[:n].numpy()
        self.names = dataset.class_names
        self.in_notebook = _show(self.widget)
        self.bar = None
        if not self.in_notebook:
            from ..progress import Progress
            self.bar = Progress(0)

    def __call__(self, row: dict, trainer) -> None:
        self.rows.append(row)
        if "val_elbo" in row:
            self.val.append(row)
        if self.bar is not None:
            self.bar.total = trainer.total_steps
            self.bar(row, trainer)
            return
        now = time.monotonic()
        if now - self.t_rows >= ROWS_S or trainer.done or "val_elbo" in row:
            self.t_rows = now
            self.send_rows(trainer)
        if now - self.t_plane >= PLANE_S or trainer.done or "val_elbo" in row:
            self.t_plane = now
            self.send_plane(trainer.model)

    def send_rows(self, trainer=None) -> None:
        b = bin_rows(self.rows, ("recon", "kl"), MAX_POINTS)
        self.widget.rows = {"step": b["step"].tolist(), "recon": b["recon"].tolist(), "kl": b["kl"].tolist(),
                            "val_step": [r["step"] for r in self.val],
                            "val_recon": [r["val_recon"] for r in self.val],
                            "val_kl": [r["val_kl"] for r in self.val]}
        if trainer is not None and self.rows:
            r = self.rows[-1]
            self.widget.status = (f"{self.run_dir.name}: epoch {trainer.epoch_float:.1f} of "
                                  f"{self.cfg.train.epochs}, step {trainer.step_count:,} of "
                                  f"{trainer.total_steps:,} · recon {r['recon']:.2f} · KL {r['kl']:.2f} "
                                  f"· β {r['beta']:.2g} · {r['img_s']:,.0f} images/s")

    @torch.no_grad()
    def send_plane(self, model) -> None:
        from ..export.onnx_check import OnnxError
        from ..export.onnx_write import decoder_onnx
        was = model.training
        model.eval()
        try:
            mu, logvar = (a.cpu().numpy() for a in model.encode_mean(self.probe_x))
            try:
                self.widget.set_decoder(decoder_onnx(model))
            except OnnxError:
                pass                                  # the plane still shows the points
            z = np.asarray(self.widget.z) if len(self.widget.z) == model.latent_dim else None
            self.widget.data = plane_data(model, mu, logvar, self.probe_y, self.names, z=z,
                                          sliders=False, traversals=False, decoder_key=self.widget.decoder_key)
        finally:
            model.train(was)

    def close(self, summary: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.close()
            return
        self.send_rows()
        status = (summary or {}).get("status", "ended")
        val = (summary or {}).get("val") or {}
        if self.cfg.model.kind == "ae":            # an autoencoder has no ELBO: its recon is its loss
            said = f" · validation loss (recon) {val['recon']:.2f}" if "recon" in val else ""
        else:
            said = (f" · validation ELBO {val['elbo']:.2f} (recon {val['recon']:.2f}, "
                    f"KL {val['kl']:.2f})" if "elbo" in val else "")
        self.widget.status = f"{self.run_dir.name}: {status}" + said


def live_view(cfg, dataset, run_dir) -> LiveView:
    return LiveView(cfg, dataset, run_dir)


