"""Background training: worker processes, a FIFO queue, a registry of runs, live snapshots.

Training never runs in the Streamlit server's process (two training threads
there reach ~1 core between them, because of the GIL, and slow every page),
and never calls Streamlit. The pieces::

    page ──submit/control──▶ Engine (in the server, one per process)
                               │  registry: run_id -> Job (status, rows, snapshots)
                               │  FIFO queue, at most ``max_jobs`` running
                               ▼
            worker processes (spawned once, reused; ``torch_threads`` each)
              run a Trainer step by step, obey controls between steps,
              publish metrics rows and ~1/s a snapshot, checkpoint each epoch
                               │
                               ▼ pipe per worker
            dispatcher thread: applies messages to the registry,
            notices dead workers (job -> failed), starts queued jobs

Pages only read :meth:`Engine.view` / :meth:`Engine.list`, plain data.

What a job publishes
    * metrics rows, one per step (validation columns at epoch ends), kept in
      memory thinned to at most ``MAX_ROWS`` (every 2nd, 4th, ... step);
    * about every ``snapshot_seconds`` of wall time a *snapshot*: posterior
      means and log-variances of a fixed probe set (the first ``PROBE_N``
      validation points), reconstructions of ``RECON_N`` probe images (of the
      probe points themselves for 2-D data), per-dimension KL (seed eq. 14,
      per dimension), Burda's active units, β and lr. If taking a snapshot is
      slow (a conv net), snapshots are spaced out so that they cost at most
      ~5 % of the training time;
    * a bounded *history* of the probe set's latent means (float16) for the
      replay scrubber: at most ``MAX_HISTORY`` frames and ``HISTORY_BYTES``.

Controls (between two steps): pause, resume, step n (pauses, then runs n
steps), stop, set β, set lr. Controls sent to a queued run are kept and
delivered when it starts. Each control carries a sequence number that the
worker echoes, so a status the page shows never flips back to a stale one.

A run's folder (``explorer.store``) is written by its worker at every epoch
end and at the end (stop, finish, divergence, maximum duration), so a server
restart finds finished, stopped and interrupted runs on disk
(:meth:`Engine.refresh_from_disk`). A worker that dies (killed, out of
memory) turns its job into ``failed`` with the reason; the next job gets a
fresh worker.

Settings (:mod:`explorer.settings`): ``LATENT_EXPLORER_MAX_JOBS`` (concurrent
jobs, default the number of cores), ``LATENT_EXPLORER_TORCH_THREADS`` (per
worker), ``LATENT_EXPLORER_SNAPSHOT_SECONDS``, ``LATENT_EXPLORER_MAX_RUN_SECONDS``,
``LATENT_EXPLORER_MAX_RUNS_PER_SESSION``, ``LATENT_EXPLORER_UPLOAD_MB``.

Worker processes are started with the ``spawn`` method (a clean interpreter: no
state copied from a server with threads), without re-importing the parent's
``__main__`` module (see :func:`_bare_main`), so they import only torch and
``explorer``.
"""
from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
import secrets
import sys
import threading
import time
import traceback
import types
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from . import settings as settings_mod
from .config import RunConfig

QUEUED = "queued"
ACTIVE = ("starting", "running", "paused")
LIVE = (QUEUED,) + ACTIVE        # a page polls while its run is in one of these
ENDED = ("finished", "stopped", "diverged", "failed", "interrupted")
MAX_ROWS = 4000                  # rows kept per job in memory (thinned evenly beyond this)
MAX_DISK_ROWS = 20000            # rows a worker keeps for metrics.csv (thinned likewise)
MAX_HISTORY = 150                # latent frames kept per job for the replay scrubber ...
HISTORY_BYTES = 16 * 2**20       # ... and at most this many bytes of them
KEEP_ENDED = 8                   # ended runs whose rows and replay frames stay in memory
PROBE_N = 2000                   # validation points whose latent means are published
RECON_N = 16                     # validation images whose reconstructions are published
SNAPSHOT_BUDGET = 0.05           # snapshots may take at most this share of a worker's time
UPLOAD_SUFFIXES = (".npz", ".npy", ".csv")
WORKER_NICE = 10                 # workers yield the CPU to the server (see _worker_main)


# ===================================================================== rows

class RowLog:
    """Metrics rows thinned to at most ``max_rows``: a row is kept when
    ``(step - 1) % stride == 0``, and the stride doubles whenever the log is full.
    Epoch-end rows (those with validation columns) are always kept."""

    def __init__(self, max_rows: int, stride: int = 1):
        self.max_rows = max_rows
        self.stride = max(1, int(stride))
        self.rows: list[dict] = []

    def _keep(self, row: dict) -> bool:
        return "val_elbo" in row or (int(row["step"]) - 1) % self.stride == 0

    def add(self, row: dict) -> None:
        if self._keep(row):
            self.rows.append(row)
        while len(self.rows) > self.max_rows and self.stride < 2**40:
            self.stride *= 2
            self.rows = [r for r in self.rows if self._keep(r)]


# ===================================================================== worker side

def _worker_main(inbox: Connection, outbox: Connection, threads: int) -> None:
    """Entry point of a worker process: warm up, then wait for jobs, run them, report.

    Workers run at a lower CPU priority (nice +10) than the server: training is batch work,
    and on a small shared machine the pages must get the CPU the moment someone moves a
    slider. When the server is idle the workers still get every core."""
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):   # no nice() on this platform, or not permitted
        pass
    import torch
    torch.set_num_threads(threads)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the first Adam imports dynamo (~1 s)
    from . import data, training  # noqa: F401 - imported once here, not at each job's start
    try:
        import sklearn.datasets  # noqa: F401 - the digits and toy sets need it (~1 s)
    except ImportError:
        pass
    outbox.send(("ready", os.getpid()))
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "quit":
            return
        if msg[0] == "job":
            _, run_id, cfg_dict, run_dir, opts = msg
            try:
                _run_job(run_id, cfg_dict, Path(run_dir), opts, inbox, outbox)
            except Exception as e:  # noqa: BLE001 - report any failure as the job's reason
                outbox.send(("done", run_id, "failed", _failure_reason(e), None,
                             traceback.format_exc(limit=5)))


def _failure_reason(e: Exception) -> str:
    """A one-line reason: the message alone for input errors (they say what to do),
    the exception type too for anything else."""
    from .config import ConfigError
    from .data import DataError
    if isinstance(e, (DataError, ConfigError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


class _Controls:
    """Run state changed by control messages between steps."""

    def __init__(self, paused: bool):
        self.paused = paused
        self.pending_steps = 0
        self.stop = False
        self.orphaned = False   # the server is gone (its end of the pipe closed)
        self.seq = 0            # control messages applied (echoed to the server)

    @property
    def idle(self) -> bool:
        return self.paused and self.pending_steps == 0


def _apply_controls(inbox: Connection, ctl: _Controls, trainer, block: bool) -> None:
    """Apply every waiting control message; when ``block``, wait up to 0.2 s for one."""
    timeout = 0.2 if block else 0.0
    while True:
        try:
            if not inbox.poll(timeout):
                return
            msg = inbox.recv()
        except (EOFError, OSError):      # the server died: save what we have and end
            ctl.stop = ctl.orphaned = True
            return
        kind = msg[0]
        ctl.seq += 1
        if kind == "pause":
            ctl.paused = True
        elif kind == "resume":
            ctl.paused, ctl.pending_steps = False, 0
        elif kind == "step":                 # n steps, then paused
            ctl.paused = True
            ctl.pending_steps += int(msg[1])
        elif kind in ("stop", "quit"):
            ctl.stop = True
        elif kind == "beta":
            trainer.set_beta(float(msg[1]))
        elif kind == "lr":
            trainer.set_lr(float(msg[1]))
        timeout = 0.0


def _snapshot(trainer, probe_x, recon_x) -> dict:
    """What a page draws between epochs: probe latents, reconstructions, per-dimension KL."""
    import torch

    from . import objective
    from .training import active_units
    model = trainer.model
    was = model.training
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode_mean(probe_x)
        recon = model.decode_mean(model.encode_mean(recon_x)[0]) if len(recon_x) else None
        kl_dims = (objective.kl_std_normal_per_dim(mu, logvar).mean(0) if model.kind == "vae"
                   else torch.zeros(mu.shape[1]))
    model.train(was)
    au, var = active_units(mu)
    return {
        "step": trainer.step_count, "epoch": trainer.epoch_float, "time": time.time(),
        "mu": mu.cpu().numpy().astype(np.float32), "logvar": logvar.cpu().numpy().astype(np.float32),
        "recon": None if recon is None else recon.cpu().numpy().astype(np.float32),
        "kl_per_dim": kl_dims.cpu().numpy().astype(np.float64), "active_units": au,
        "mu_var": var.cpu().numpy().astype(np.float64),
        "beta": trainer.beta, "lr": trainer.lr,
    }


class _Rate:
    """Images per second of wall time, smoothed (pauses excluded)."""

    def __init__(self):
        self.value = 0.0
        self._t = time.perf_counter()
        self._n = 0

    def update(self, samples: int, paused: bool) -> float:
        now = time.perf_counter()
        dt = now - self._t
        if paused:
            self._t, self._n = now, samples
        elif dt >= 0.5:
            rate = (samples - self._n) / dt
            self.value = rate if self.value == 0 else 0.7 * self.value + 0.3 * rate
            self._t, self._n = now, samples
        return self.value


class _JobRunner:
    """One job inside a worker: load the data, then train step by step, obeying controls,
    publishing rows, progress and snapshots, checkpointing at epoch ends and at the end."""

    def __init__(self, run_id: str, cfg_dict: dict, run_dir: Path, opts: dict,
                 inbox: Connection, outbox: Connection):
        from . import data
        from .training import Trainer
        self.run_id, self.run_dir, self.opts = run_id, run_dir, opts
        self.inbox, self.outbox = inbox, outbox
        self.cfg = RunConfig.from_dict(cfg_dict)
        ds = data.load(self.cfg.data, max_bytes=opts.get("max_bytes", data.DEFAULT_MAX_BYTES))
        self.trainer = Trainer(self.cfg, ds, device="cpu")
        n = min(PROBE_N, len(ds.x_val))
        self.probe_x = ds.x_val[:n]
        self.recon_x = ds.x_val[:RECON_N] if ds.is_image else self.probe_x
        self.extra = {"owner": opts.get("owner", ""), "run_id": run_id, "name": self.cfg.name}
        self.ctl = _Controls(paused=opts.get("start_paused", False))
        self.disk = RowLog(MAX_DISK_ROWS, self.cfg.train.log_every)    # rows for metrics.csv
        self.unsent: list[dict] = []
        self.rate = _Rate()
        self.last_flush = self.next_snap = 0.0
        self.send("started", {
            "total_steps": self.trainer.total_steps, "steps_per_epoch": self.trainer.steps_per_epoch,
            "batch_size": self.trainer.batch_size,
            "n_train": len(ds.x_train), "n_val": len(ds.x_val), "data_shape": list(ds.data_shape),
            "is_image": ds.is_image, "class_names": ds.class_names,
            "probe_labels": None if ds.y_val is None else ds.y_val[:n].numpy(),
            "probe_x": self.probe_x.numpy() if not ds.is_image else None,
            "originals": self.recon_x.numpy() if ds.is_image else None,
            "checksum": ds.checksum,
        })
        self.t0 = time.time()                # training time starts here, as in training.fit

    def send(self, kind: str, *payload) -> None:
        if self.ctl_orphaned():
            return
        try:
            self.outbox.send((kind, self.run_id, *payload))
        except (BrokenPipeError, OSError):   # the server died: keep training's files right
            self.ctl.stop = self.ctl.orphaned = True

    def ctl_orphaned(self) -> bool:
        return getattr(self, "ctl", None) is not None and self.ctl.orphaned

    def progress(self) -> dict:
        tr, ctl = self.trainer, self.ctl
        wall = self.rate.update(tr.samples_seen, ctl.idle)
        left = (tr.total_steps - tr.step_count) * tr.batch_size
        return {"step": tr.step_count, "total_steps": tr.total_steps, "epoch": tr.epoch_float,
                "epochs": self.cfg.train.epochs, "samples": tr.samples_seen, "img_s": wall,
                "step_img_s": tr._img_s, "eta_s": left / wall if wall > 0 else None,
                "elapsed_s": time.time() - self.t0, "events": list(tr.events),
                "paused": ctl.paused, "seq": ctl.seq, "beta": tr.beta, "lr": tr.lr}

    def flush(self) -> None:
        """Send the rows not sent yet, with the progress."""
        self.send("rows", self.unsent, self.progress())
        self.unsent, self.last_flush = [], time.time()

    def snapshot(self) -> None:
        """Send a snapshot; space the next one out if this one was slow (≤ 5 % of the time)."""
        a = time.perf_counter()
        self.send("snapshot", _snapshot(self.trainer, self.probe_x, self.recon_x))
        cost = time.perf_counter() - a
        self.next_snap = time.time() + max(self.opts.get("snapshot_seconds", 1.0), cost / SNAPSHOT_BUDGET)

    def why_stop(self) -> tuple[str, str | None] | None:
        """(status, reason) when the run must end now, else None."""
        limit = self.opts.get("max_seconds", math.inf)
        if self.ctl.orphaned:
            return "interrupted", (f"the server stopped during this run; saved at step "
                                   f"{self.trainer.step_count}")
        if self.ctl.stop:
            return "stopped", "stopped by the user"
        if self.trainer.done:
            return "finished", None
        if time.time() - self.t0 > limit:
            return "stopped", f"reached the maximum run duration ({limit:.0f} s)"
        return None

    def step(self) -> None:
        """One training step, its row, and whatever it is time to publish or save."""
        from .training import checkpoint, val_row
        tr = self.trainer
        single = self.ctl.pending_steps > 0
        if single:
            self.ctl.pending_steps -= 1
        row = tr.step()
        if tr.at_epoch_end:
            tr.last_val = tr.evaluate()
            row.update(val_row(tr.last_val))
        self.disk.add(row)
        self.unsent.append(row)
        now = time.time()
        if now - self.last_flush > 0.1 or single or tr.at_epoch_end:
            self.flush()
        if now >= self.next_snap or single:
            self.snapshot()
        if tr.at_epoch_end and not tr.done:
            checkpoint(tr, self.run_dir, self.disk.rows, "running", now - self.t0, extra=self.extra)

    def run(self) -> None:
        from .training import TrainingDiverged, checkpoint
        self.snapshot()
        while True:
            _apply_controls(self.inbox, self.ctl, self.trainer, block=self.ctl.idle)
            end = self.why_stop()
            if end:
                status, reason = end
                break
            if self.ctl.idle:                           # paused: keep the page's progress fresh
                if self.unsent or time.time() - self.last_flush > 1.0:
                    self.flush()
                continue
            try:
                self.step()
            except TrainingDiverged as e:
                status, reason = "diverged", str(e)
                break
        self.ctl.paused = False
        self.flush()
        self.snapshot()
        self.send("saving")
        reason = reason or self.trainer.stop_reason
        summary = checkpoint(self.trainer, self.run_dir, self.disk.rows, status, time.time() - self.t0,
                             final=True, extra=dict(self.extra, reason=reason),
                             iwae_k=self.opts.get("iwae_k", 0))
        self.send("done", status, reason, summary, None)


def _run_job(run_id: str, cfg_dict: dict, run_dir: Path, opts: dict,
             inbox: Connection, outbox: Connection) -> None:
    _JobRunner(run_id, cfg_dict, run_dir, opts, inbox, outbox).run()


# ===================================================================== server side

@dataclass
class Job:
    """The server's record of one run. Mutated only under the engine's lock."""
    run_id: str
    owner: str
    config: RunConfig
    run_dir: Path
    status: str = QUEUED
    reason: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    log: RowLog = field(default_factory=lambda: RowLog(MAX_ROWS))
    val_rows: list = field(default_factory=list)
    snapshot: dict | None = None
    history: list = field(default_factory=list)
    history_stride: int = 1
    meta: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    summary: dict | None = None
    worker: "_Worker | None" = None
    from_disk: bool = False
    rows_on_disk: bool = False                    # rows are in metrics.csv, not here: read them
    pending: list = field(default_factory=list)   # controls sent while queued
    ctl_sent: int = 0                             # controls sent to the worker so far
    _snap_count: int = 0

    @property
    def rows(self) -> list[dict]:
        return self.log.rows

    def add_rows(self, rows: list[dict]) -> None:
        for r in rows:
            if "val_elbo" in r:
                self.val_rows.append(r)
            self.log.add(r)

    def add_snapshot(self, snap: dict) -> None:
        """Keep the latest snapshot, and every ``history_stride``-th one's latent means."""
        self.snapshot = snap
        if self._snap_count % self.history_stride == 0:
            self.history.append({"step": snap["step"], "epoch": snap["epoch"],
                                 "mu": snap["mu"].astype(np.float16)})
        self._snap_count += 1
        frame_bytes = max(1, snap["mu"].size * 2)
        cap = max(2, min(MAX_HISTORY, HISTORY_BYTES // frame_bytes))
        while len(self.history) > cap:                # keep the first, then every other one
            self.history = self.history[:1] + self.history[2::2]
            self.history_stride *= 2


_START_LOCK = threading.Lock()


@contextmanager
def _bare_main():
    """While a worker is spawned, hide the parent's ``__main__`` module: ``spawn`` would
    otherwise re-import it in the child (the Streamlit CLI, or a script without an
    ``if __name__ == "__main__":`` guard, which would start its own engine)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


class _Worker:
    def __init__(self, ctx, threads: int):
        self.inbox_r, self.inbox_w = ctx.Pipe(duplex=False)
        self.out_r, self.out_w = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker_main, args=(self.inbox_r, self.out_w, threads),
                                daemon=True, name="latent-explorer-worker")
        with _START_LOCK, _bare_main():
            self.proc.start()
        self.out_w.close()       # the server keeps only its ends
        self.inbox_r.close()
        self.job: Job | None = None
        self.ready = False
        self.dead = False

    def send(self, msg) -> bool:
        try:
            self.inbox_w.send(msg)
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False


class EngineError(RuntimeError):
    """A request the engine cannot carry out (unknown run, wrong state, a limit reached)."""


def save_upload(runs_dir: Path, content: bytes, filename: str, max_bytes: int | None = None,
                check=None) -> Path:
    """Store an uploaded data file under ``runs_dir/uploads/`` (named by its SHA-256, so the
    same file is stored once) where worker processes can read it; returns its path.
    ``check(path)`` validates the stored file; if it raises, the file is removed again (a
    rejected upload leaves nothing behind) and the error propagates."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise EngineError(f"{filename}: unsupported file type {suffix or '(none)'}; "
                          f"use {', '.join(UPLOAD_SUFFIXES)}")
    limit = max_bytes or settings_mod.get().upload_bytes
    if len(content) > limit:
        raise EngineError(f"{filename}: {len(content) / 2**20:.1f} MiB is larger than the "
                          f"{limit / 2**20:.0f} MiB limit (LATENT_EXPLORER_UPLOAD_MB)")
    from . import store
    path = Path(runs_dir) / "uploads" / (hashlib.sha256(content).hexdigest()[:24] + suffix)
    existed = path.is_file()
    if not existed:
        store.atomic_write_bytes(path, content)
    if check is not None:
        try:
            check(path)
        except BaseException:
            if not existed:
                path.unlink(missing_ok=True)
            raise
    return path


class Engine:
    """Runs training jobs in worker processes, at most ``max_jobs`` at once, FIFO beyond."""

    def __init__(self, runs_dir: Path | None = None, *, max_jobs: int | None = None,
                 torch_threads: int | None = None, snapshot_seconds: float | None = None,
                 max_run_seconds: float | None = None, max_runs_per_session: int | None = None,
                 prestart: int = 0, prestart_delay: float = 0.0, load_existing: bool = True):
        """``prestart`` workers are started ``prestart_delay`` seconds after creation, so the
        first job need not wait for one (~2-5 s) and the first page view need not share the
        CPU with one."""
        s = settings_mod.get()
        self.runs_dir = Path(runs_dir or s.runs_dir)
        self.max_jobs = max_jobs or s.max_jobs
        self.torch_threads = torch_threads or s.torch_threads
        self.snapshot_seconds = snapshot_seconds or s.snapshot_seconds
        self.max_run_seconds = max_run_seconds or s.max_run_seconds
        self.max_runs_per_session = max_runs_per_session or s.max_runs_per_session
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._workers: list[_Worker] = []
        self._recent_ended: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        if load_existing:
            self.refresh_from_disk()
        if prestart:
            timer = threading.Timer(prestart_delay, self._prestart, args=(prestart,))
            timer.daemon = True
            timer.start()
        self._thread = threading.Thread(target=self._dispatch_loop, name="latent-explorer-dispatch",
                                        daemon=True)
        self._thread.start()

    def _prestart(self, n: int) -> None:
        with self._lock:
            while not self._closed and len(self._workers) < min(n, self.max_jobs):
                self._workers.append(_Worker(self._ctx, self.torch_threads))
        self._wake()

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    # ------------------------------------------------------------ submit
    def submit(self, config: RunConfig, owner: str = "", *, start_paused: bool = False,
               iwae_k: int = 0, max_bytes: int | None = None) -> str:
        """Queue a run; returns its id. It starts when a worker is free (FIFO).

        A non-empty ``owner`` (a browser session) may start at most
        ``max_runs_per_session`` runs; beyond that :class:`EngineError` says so."""
        config = RunConfig.from_dict(config.to_dict())   # validated private copy
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{config.data.name}-{config.model.kind}-{secrets.token_hex(3)}"
        job = Job(run_id=run_id, owner=owner, config=config, run_dir=self.runs_dir / run_id)
        job.meta["opts"] = {"start_paused": start_paused, "iwae_k": iwae_k, "owner": owner,
                            "snapshot_seconds": self.snapshot_seconds,
                            "max_seconds": self.max_run_seconds}
        if max_bytes:
            job.meta["opts"]["max_bytes"] = max_bytes
        with self._lock:
            if self._closed:
                raise EngineError("the engine is shut down")
            if owner:
                started = sum(1 for j in self._jobs.values() if j.owner == owner and not j.from_disk)
                if started >= self.max_runs_per_session:
                    raise EngineError(
                        f"this browser session has already started {started} runs, the limit "
                        f"(LATENT_EXPLORER_MAX_RUNS_PER_SESSION) is {self.max_runs_per_session}; "
                        f"reload the page to start a new session")
            self._jobs[run_id] = job
            self._queue.append(run_id)
        self._wake()
        return run_id

    # ---------------------------------------------------------- controls
    def _control(self, run_id: str, *msg) -> None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                raise EngineError(f"no run {run_id!r}")
            kind = msg[0]
            if job.status == QUEUED:                 # deliver when it starts
                opts = job.meta.get("opts", {})
                if kind in ("pause", "step"):
                    opts["start_paused"] = True
                elif kind == "resume":
                    opts["start_paused"] = False
                if kind in ("step", "beta", "lr"):
                    job.pending.append(msg)
                return
            if job.status not in ACTIVE or job.worker is None:
                raise EngineError(f"run {run_id} is {job.status}; it cannot be controlled")
            if not job.worker.send(msg):
                raise EngineError(f"the worker of run {run_id} is gone")
            job.ctl_sent += 1
            if kind in ("pause", "step"):
                job.status = "paused"
            elif kind == "resume":
                job.status = "running"
            elif kind == "beta":
                job.progress["beta"] = msg[1]
            elif kind == "lr":
                job.progress["lr"] = msg[1]

    def pause(self, run_id: str) -> None:
        self._control(run_id, "pause")

    def resume(self, run_id: str) -> None:
        self._control(run_id, "resume")

    def step(self, run_id: str, n: int = 1) -> None:
        """Run ``n`` steps, then stay paused (a running run is paused first)."""
        if not 1 <= int(n) <= 100_000:
            raise EngineError(f"steps must be in [1, 100000], got {n!r}")
        self._control(run_id, "step", int(n))

    def stop(self, run_id: str) -> None:
        """Stop a running run (it is saved), or drop a queued one."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.status == QUEUED:
                self._drop_queued(run_id)
                return
        self._control(run_id, "stop")

    def set_beta(self, run_id: str, beta: float) -> None:
        """Change β from the next step on (the change is recorded as an event)."""
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
                or not (math.isfinite(beta) and 0 <= beta <= 1000):
            raise EngineError(f"β must be in [0, 1000], got {beta!r}")
        self._control(run_id, "beta", float(beta))

    def set_lr(self, run_id: str, lr: float) -> None:
        """Change the learning rate from the next step on (recorded as an event)."""
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) \
                or not (math.isfinite(lr) and 1e-7 <= lr <= 1.0):
            raise EngineError(f"learning rate must be in [1e-7, 1], got {lr!r}")
        self._control(run_id, "lr", float(lr))

    def _drop_queued(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
            self._jobs.pop(run_id, None)

    def drop_owner(self, owner: str) -> int:
        """A browser session ended: drop its queued runs (running ones go on, to their end or
        the maximum run duration). Returns how many were dropped."""
        with self._lock:
            ids = [r for r in self._queue if self._jobs[r].owner == owner]
            for r in ids:
                self._drop_queued(r)
        return len(ids)

    def forget(self, run_id: str) -> None:
        """Remove an ended run from the registry (after its folder was deleted)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.status in ACTIVE:
                raise EngineError(f"run {run_id} is {job.status}; stop it first")
            self._drop_queued(run_id)

    def save_upload(self, content: bytes, filename: str, max_bytes: int | None = None,
                    check=None) -> Path:
        """Store an uploaded data file where the workers can read it (see :func:`save_upload`)."""
        return save_upload(self.runs_dir, content, filename, max_bytes, check)

    # ------------------------------------------------------------- reads
    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if the run is not queued."""
        with self._lock:
            return self._queue.index(run_id) + 1 if run_id in self._queue else None

    def view(self, run_id: str) -> dict | None:
        """A consistent copy of one run's state for a page to draw (plain data).

        ``history`` ends with the current snapshot's latent means, so a replay
        scrubber's last frame is always "now"."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return None
            if job.rows_on_disk:
                self._load_rows(job)
                if job.status in ENDED:
                    self._keep_in_memory(job)
            history = list(job.history)
            snap = job.snapshot
            if snap is not None and (not history or history[-1]["step"] != snap["step"]):
                history.append({"step": snap["step"], "epoch": snap["epoch"],
                                "mu": snap["mu"].astype(np.float16)})
            return {
                "run_id": job.run_id, "owner": job.owner, "name": job.config.name,
                "config": job.config, "run_dir": job.run_dir, "status": job.status,
                "reason": job.reason, "created": job.created, "started": job.started,
                "ended": job.ended, "queue_position": self.queue_position(run_id),
                "progress": dict(job.progress), "rows": list(job.rows),
                "val_rows": list(job.val_rows), "events": list(job.progress.get("events", [])),
                "snapshot": snap, "history": history, "meta": dict(job.meta),
                "summary": job.summary, "from_disk": job.from_disk,
            }

    def list(self, owner: str | None = None) -> list[dict]:
        """Light entries for a run list, newest first. ``saved``: its folder holds weights."""
        from . import store
        with self._lock:
            jobs = [j for j in self._jobs.values() if owner is None or j.owner == owner]
            out = [{"run_id": j.run_id, "name": j.config.name, "owner": j.owner,
                    "status": j.status, "reason": j.reason, "config": j.config,
                    "created": j.created, "progress": dict(j.progress), "summary": j.summary,
                    "queue_position": self.queue_position(j.run_id), "run_dir": j.run_dir}
                   for j in jobs]
        for d in out:
            d["saved"] = (Path(d["run_dir"]) / store.WEIGHTS).is_file()
        return sorted(out, key=lambda d: d["created"], reverse=True)

    def workers(self) -> list[dict]:
        with self._lock:
            return [{"pid": w.proc.pid, "alive": w.proc.is_alive(), "ready": w.ready,
                     "run_id": w.job.run_id if w.job else None} for w in self._workers]

    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        """Block until every started worker has warmed up (server start-up); False on timeout."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            if all(w["ready"] or not w["alive"] for w in self.workers()):
                return True
            time.sleep(0.05)
        return False

    def wait(self, run_id: str, timeout: float = 60.0, statuses=ENDED) -> str:
        """Block until the run reaches one of ``statuses`` (tests, CLI); returns the status."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            with self._lock:
                job = self._jobs.get(run_id)
                if job is None:
                    raise EngineError(f"no run {run_id!r}")
                if job.status in statuses:
                    return job.status
            time.sleep(0.02)
        raise TimeoutError(f"run {run_id} did not reach {statuses} within {timeout} s")

    # -------------------------------------------------------------- disk
    def refresh_from_disk(self) -> int:
        """Register every run folder under ``runs_dir`` that the registry does not know
        (after a server restart). A run that was saved as "running" was interrupted."""
        from . import store
        found = 0
        for run in store.list_runs(self.runs_dir):
            with self._lock:
                if run.run_id in self._jobs:
                    continue
                s = run.summary
                status = s.get("status", "finished")
                reason = s.get("reason")
                if status not in ENDED:
                    status = "interrupted"
                    reason = (f"the server stopped during this run; the checkpoint of epoch "
                              f"{int(s.get('epochs') or 0)} is kept")
                created = run.path.stat().st_mtime
                self._jobs[run.run_id] = Job(
                    run_id=run.run_id, owner=s.get("owner", ""), config=run.config,
                    run_dir=run.path, status=status, reason=reason, created=created,
                    ended=created, summary=s, from_disk=True, rows_on_disk=True,
                    progress={"step": s.get("steps", 0), "total_steps": s.get("steps", 0),
                              "epoch": s.get("epochs", 0), "epochs": run.config.train.epochs,
                              "samples": s.get("samples", 0), "elapsed_s": s.get("elapsed_s"),
                              "events": s.get("events", []), "beta": s.get("beta"),
                              "lr": s.get("lr")})
                found += 1
        return found

    def _load_rows(self, job: Job) -> None:
        from . import store
        job.add_rows(store.read_metrics(job.run_dir))
        job.rows_on_disk = False

    # ---------------------------------------------------------- dispatch
    def _wake(self) -> None:
        try:
            self._wake_w.send(1)
        except (OSError, BrokenPipeError):
            pass

    def _schedule(self) -> None:
        """Give queued jobs to free workers, starting workers up to ``max_jobs``."""
        with self._lock:
            self._workers = [w for w in self._workers if not w.dead]
            while self._queue:
                running = sum(1 for w in self._workers if w.job is not None)
                if running >= self.max_jobs:
                    return
                free = next((w for w in self._workers if w.job is None and w.ready), None)
                if free is None:
                    if any(w.job is None and not w.ready for w in self._workers):
                        return                      # wait for its "ready"
                    if len(self._workers) >= self.max_jobs:
                        return
                    try:
                        self._workers.append(_Worker(self._ctx, self.torch_threads))
                    except Exception as e:  # noqa: BLE001 - cannot start a process at all
                        job = self._jobs[self._queue.pop(0)]
                        self._end(job, "failed", f"could not start a worker process: {e}")
                    return
                run_id = self._queue.pop(0)
                job = self._jobs[run_id]
                job.worker, free.job = free, job
                job.status, job.started = "starting", time.time()
                opts = job.meta.pop("opts", {})
                job.meta["start_paused"] = opts.get("start_paused", False)
                msgs = [("job", run_id, job.config.to_dict(), str(job.run_dir), opts)] + job.pending
                job.ctl_sent, job.pending = len(job.pending), []
                if not all(free.send(m) for m in msgs):
                    self._worker_died(free)

    def _end(self, job: Job, status: str, reason: str | None) -> None:
        job.status, job.reason, job.ended = status, reason, time.time()
        job.worker = None
        self._keep_in_memory(job)

    def _keep_in_memory(self, job: Job) -> None:
        """Ended runs' rows and replay frames (a few MiB each) stay in memory for the
        ``KEEP_ENDED`` most recently ended or viewed; older ones are read back from their
        ``metrics.csv`` when viewed again. Without this the server's memory grew with every
        run it trained (the load test, 54 runs in 5 minutes: 462 -> 650 MiB and climbing;
        with this and the malloc settings of ``explorer.ui.warmup`` it levels off)."""
        from . import store
        self._recent_ended.pop(job.run_id, None)
        self._recent_ended[job.run_id] = None
        while len(self._recent_ended) > KEEP_ENDED:
            old = self._jobs.get(self._recent_ended.popitem(last=False)[0])
            if (old is None or old.status not in ENDED or old.status == "failed"
                    or not (old.run_dir / store.METRICS).is_file()):
                continue          # a failed run's rows may exist only here: keep them
            old.log, old.val_rows, old.history = RowLog(MAX_ROWS), [], []
            old.rows_on_disk = True

    def _worker_died(self, w: _Worker) -> None:
        if w.proc.exitcode is None:
            w.proc.join(timeout=1.0)              # reap it, to report its exit code
        with self._lock:
            w.dead = True
            code = w.proc.exitcode
            if w.job is not None and w.job.status not in ENDED:
                how = (f"signal {-code}" if code is not None and code < 0 else f"exit code {code}")
                self._end(w.job, "failed",
                          f"the worker process died ({how}: killed, or out of memory); "
                          f"the last epoch checkpoint, if any, is kept")
            w.job = None
            for conn in (w.out_r, w.inbox_w):
                try:
                    conn.close()
                except OSError:
                    pass

    def _handle(self, w: _Worker, msg) -> None:
        kind = msg[0]
        with self._lock:
            if kind == "ready":
                w.ready = True
                return
            job = w.job
            if job is None or (len(msg) > 1 and msg[1] != job.run_id):
                return
            if kind == "started":
                job.meta.update(msg[2])
                if job.status == "starting":
                    job.status = "paused" if job.meta.get("start_paused") else "running"
                job.progress.update(total_steps=msg[2]["total_steps"], step=0, epoch=0.0,
                                    epochs=job.config.train.epochs,
                                    beta=job.config.train.beta, lr=job.config.train.lr)
            elif kind == "rows":
                job.add_rows(msg[2])
                prog = msg[3]
                current = prog.get("seq", 0) >= job.ctl_sent   # no control still in flight
                if not current:                                 # keep the values the page set
                    prog = {k: v for k, v in prog.items() if k not in ("beta", "lr")}
                job.progress.update(prog)
                if current and job.status in ACTIVE:
                    job.status = "paused" if prog.get("paused") else "running"
            elif kind == "snapshot":
                job.add_snapshot(msg[2])
            elif kind == "saving":
                job.meta["saving"] = True
            elif kind == "done":
                _, _, status, reason, summary, tb = msg
                job.summary = summary
                if tb:
                    job.meta["traceback"] = tb
                job.meta["saving"] = False
                self._end(job, status, reason)
                w.job = None

    def _poll_workers(self, conns: dict) -> None:
        ready = wait(list(conns) + [self._wake_r], timeout=0.25)
        for c in ready:
            if c is self._wake_r:
                while self._wake_r.poll():
                    self._wake_r.recv()
                continue
            w = conns[c]
            try:
                while c.poll():
                    self._handle(w, c.recv())
            except (EOFError, OSError, ValueError, TypeError, AttributeError, ImportError):
                self._worker_died(w)      # closed or garbled pipe: the worker is gone
        for w in list(conns.values()):
            if not w.dead and not w.proc.is_alive():
                try:                       # drain what it said before dying
                    while w.out_r.poll():
                        self._handle(w, w.out_r.recv())
                except (EOFError, OSError, ValueError, TypeError):
                    pass
                self._worker_died(w)

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                conns = {w.out_r: w for w in self._workers if not w.dead}
            try:
                self._schedule()
                self._poll_workers(conns)
            except (EOFError, OSError):
                if self._closed:
                    return
                time.sleep(0.1)
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bug
                traceback.print_exc()
                time.sleep(0.1)

    # ---------------------------------------------------------- shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running job (each is saved), drop the queue, end the workers."""
        with self._lock:
            if self._closed:
                return
            self._queue.clear()
            for w in self._workers:
                if w.job is not None:
                    w.send(("stop",))
        t_end = time.time() + timeout
        while time.time() < t_end:
            with self._lock:
                if all(w.job is None or w.dead for w in self._workers):
                    break
            time.sleep(0.05)
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        self._wake()
        for w in workers:
            w.send(("quit",))
        for w in workers:
            w.proc.join(timeout=2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=2)
        self._thread.join(timeout=2)


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine(prestart_delay: float = 5.0) -> Engine:
    """The process-wide engine, created on first use with one worker pre-started
    ``prestart_delay`` seconds later (the server's start-up creates it with no delay and
    waits for the worker: see ``explorer.ui.warmup``)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None or _ENGINE._closed:
            _ENGINE = Engine(prestart=1, prestart_delay=prestart_delay)
        return _ENGINE
