"""Background training: worker processes, a FIFO queue, a registry of runs, live snapshots.

Training never runs in the Streamlit server's process (two training threads
there reach ~1 core between them, because of the GIL, and slow every page),
and never calls Streamlit. The pieces::

    page ──submit/control──▶ Engine (in the server, one per process)
                               │  registry: run_id -> Job (status, rows, snapshots)
                               │  FIFO queue, at most ``max_jobs`` running
                               ▼
            worker processes (spawned once, reused; 1 torch thread each)
              run a Trainer step by step, obey controls between steps,
              publish metrics rows and ~1/s a snapshot, checkpoint each epoch
                               │
                               ▼ pipe per worker
            dispatcher thread: applies messages to the registry,
            notices dead workers (job -> failed), starts queued jobs

Pages only read :meth:`Engine.view` / :meth:`Engine.list`, plain data.
A run's folder (``explorer.store``) is written by its worker at every epoch
end and at the end, so a server restart finds finished, stopped and
interrupted runs on disk (:meth:`Engine.refresh_from_disk`).
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

import numpy as np

from . import settings as settings_mod
from .config import RunConfig

ACTIVE = ("starting", "running", "paused")
ENDED = ("finished", "stopped", "diverged", "failed", "interrupted")
MAX_ROWS = 4000          # rows kept per job in memory (thinned evenly beyond this)
MAX_HISTORY = 150        # latent snapshots kept per job for the replay scrubber
PROBE_N = 2000           # validation points whose latent means are published
RECON_N = 16             # validation images whose reconstructions are published


# ===================================================================== worker side

def _worker_main(inbox: Connection, outbox: Connection, threads: int) -> None:
    """Entry point of a worker process: wait for jobs, run them, report."""
    import torch
    torch.set_num_threads(threads)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the first Adam imports dynamo (~1 s)
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
                outbox.send(("done", run_id, "failed", f"{type(e).__name__}: {e}", None,
                             traceback.format_exc(limit=5)))


class _Controls:
    """Hot parameters and run state, changed by messages between steps."""

    def __init__(self, paused: bool):
        self.paused = paused
        self.pending_steps = 0
        self.stop = False


def _apply_controls(inbox: Connection, ctl: _Controls, trainer, block: bool) -> None:
    timeout = 0.2 if block else 0.0
    while inbox.poll(timeout):
        msg = inbox.recv()
        kind = msg[0]
        if kind == "pause":
            ctl.paused = True
        elif kind == "resume":
            ctl.paused = False
        elif kind == "step":
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
        kl_dims = objective.kl_std_normal_per_dim(mu, logvar).mean(0) if model.kind == "vae" \
            else torch.zeros(mu.shape[1])
    model.train(was)
    au, _ = active_units(mu)
    return {
        "step": trainer.step_count, "epoch": trainer.epoch_float, "time": time.time(),
        "mu": mu.cpu().numpy().astype(np.float32), "logvar": logvar.cpu().numpy().astype(np.float32),
        "recon": None if recon is None else recon.cpu().numpy().astype(np.float32),
        "kl_per_dim": kl_dims.cpu().numpy().astype(np.float64), "active_units": au,
        "beta": trainer.beta, "lr": trainer.lr,
    }


def _run_job(run_id: str, cfg_dict: dict, run_dir: Path, opts: dict,
             inbox: Connection, outbox: Connection) -> None:
    from . import data
    from .training import Trainer, TrainingDiverged, checkpoint, val_row

    t0 = time.time()
    cfg = RunConfig.from_dict(cfg_dict)
    ds = data.load(cfg.data, max_bytes=opts.get("max_bytes", data.DEFAULT_MAX_BYTES))
    trainer = Trainer(cfg, ds)
    extra = {"owner": opts.get("owner", ""), "run_id": run_id, "name": cfg.name}
    n = min(PROBE_N, len(ds.x_val))
    probe_x = ds.x_val[:n]
    recon_x = ds.x_val[:RECON_N] if ds.is_image else ds.x_val[:0]
    outbox.send(("started", run_id, {
        "total_steps": trainer.total_steps, "steps_per_epoch": trainer.steps_per_epoch,
        "n_train": len(ds.x_train), "n_val": len(ds.x_val), "data_shape": list(ds.data_shape),
        "is_image": ds.is_image, "class_names": ds.class_names,
        "probe_labels": None if ds.y_val is None else ds.y_val[:n].numpy(),
        "probe_x": probe_x.numpy() if not ds.is_image else None,
        "originals": recon_x.numpy() if ds.is_image else None,
        "checksum": ds.checksum,
    }))
    ctl = _Controls(paused=opts.get("start_paused", False))
    rows: list[dict] = []          # every row of the run (for metrics.csv)
    unsent: list[dict] = []
    last_flush = last_snap = 0.0
    status, reason = "finished", None
    outbox.send(("snapshot", run_id, _snapshot(trainer, probe_x, recon_x)))

    def progress() -> dict:
        el = time.time() - t0
        return {"step": trainer.step_count, "total_steps": trainer.total_steps,
                "epoch": trainer.epoch_float, "epochs": cfg.train.epochs,
                "img_s": trainer._img_s, "elapsed_s": el, "events": list(trainer.events),
                "paused": ctl.paused, "beta": trainer.beta, "lr": trainer.lr}

    while True:
        _apply_controls(inbox, ctl, trainer, block=ctl.paused and ctl.pending_steps == 0)
        if ctl.stop:
            status, reason = "stopped", "stopped by the user"
            break
        if trainer.done:
            break
        if time.time() - t0 > opts.get("max_seconds", math.inf):
            status = "stopped"
            reason = f"reached the maximum run duration ({opts['max_seconds']:.0f} s)"
            break
        if ctl.paused and ctl.pending_steps == 0:
            if unsent or time.time() - last_flush > 1.0:
                outbox.send(("rows", run_id, unsent, progress()))
                unsent, last_flush = [], time.time()
            continue
        single = ctl.pending_steps > 0
        if single:
            ctl.pending_steps -= 1
        try:
            row = trainer.step()
        except TrainingDiverged as e:
            status, reason = "diverged", str(e)
            break
        if trainer.at_epoch_end:
            trainer.last_val = trainer.evaluate()
            row.update(val_row(trainer.last_val))
        rows.append(row)
        unsent.append(row)
        now = time.time()
        if now - last_flush > 0.1 or single or trainer.at_epoch_end:
            outbox.send(("rows", run_id, unsent, progress()))
            unsent, last_flush = [], now
        if now - last_snap > opts.get("snapshot_seconds", 1.0) or single or trainer.at_epoch_end:
            outbox.send(("snapshot", run_id, _snapshot(trainer, probe_x, recon_x)))
            last_snap = now
        if trainer.at_epoch_end and not trainer.done:
            checkpoint(trainer, run_dir, rows, "running", time.time() - t0, extra=extra)
    if unsent:
        outbox.send(("rows", run_id, unsent, progress()))
    outbox.send(("snapshot", run_id, _snapshot(trainer, probe_x, recon_x)))
    outbox.send(("saving", run_id))
    summary = checkpoint(trainer, run_dir, rows, status, time.time() - t0, final=True,
                         extra=extra, iwae_k=opts.get("iwae_k", 0))
    outbox.send(("done", run_id, status, reason or trainer.stop_reason, summary, None))


# ===================================================================== server side

@dataclass
class Job:
    """The server's record of one run. Mutated only under the engine's lock."""
    run_id: str
    owner: str
    config: RunConfig
    run_dir: Path
    status: str = "queued"
    reason: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    rows: list = field(default_factory=list)
    row_stride: int = 1
    val_rows: list = field(default_factory=list)
    snapshot: dict | None = None
    history: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    summary: dict | None = None
    worker: "_Worker | None" = None
    from_disk: bool = False
    _row_count: int = 0

    def add_rows(self, rows: list[dict]) -> None:
        for r in rows:
            if "val_elbo" in r:
                self.val_rows.append(r)
            if self._row_count % self.row_stride == 0:
                self.rows.append(r)
            self._row_count += 1
        if len(self.rows) > MAX_ROWS:                 # thin evenly: keep every other row
            self.rows = self.rows[::2]
            self.row_stride *= 2

    def add_snapshot(self, snap: dict) -> None:
        self.snapshot = snap
        self.history.append({"step": snap["step"], "epoch": snap["epoch"],
                             "mu": snap["mu"].astype(np.float16)})
        if len(self.history) > MAX_HISTORY:          # keep the first, thin the rest evenly
            self.history = self.history[:1] + self.history[1::2]


class _Worker:
    def __init__(self, ctx, threads: int):
        self.inbox_r, self.inbox_w = ctx.Pipe(duplex=False)
        self.out_r, self.out_w = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_worker_main, args=(self.inbox_r, self.out_w, threads),
                                daemon=True, name="latent-explorer-worker")
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
        except (BrokenPipeError, OSError):
            return False


class EngineError(RuntimeError):
    """A request the engine cannot carry out (unknown run, wrong state)."""


class Engine:
    """Runs training jobs in worker processes, at most ``max_jobs`` at once, FIFO beyond."""

    def __init__(self, runs_dir: Path | None = None, *, max_jobs: int | None = None,
                 torch_threads: int | None = None, snapshot_seconds: float | None = None,
                 max_run_seconds: float | None = None, prestart: int = 0,
                 load_existing: bool = True):
        s = settings_mod.get()
        self.runs_dir = Path(runs_dir or s.runs_dir)
        self.max_jobs = max_jobs or s.max_jobs
        self.torch_threads = torch_threads or s.torch_threads
        self.snapshot_seconds = snapshot_seconds or s.snapshot_seconds
        self.max_run_seconds = max_run_seconds or s.max_run_seconds
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._workers: list[_Worker] = []
        self._closed = False
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        if load_existing:
            self.refresh_from_disk()
        with self._lock:
            for _ in range(min(prestart, self.max_jobs)):
                self._workers.append(_Worker(self._ctx, self.torch_threads))
        self._thread = threading.Thread(target=self._dispatch_loop, name="latent-explorer-dispatch",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ submit
    def submit(self, config: RunConfig, owner: str = "", *, start_paused: bool = False,
               iwae_k: int = 0, max_bytes: int | None = None) -> str:
        """Queue a run; returns its id. It starts when a worker is free (FIFO)."""
        config = RunConfig.from_dict(config.to_dict())   # validated private copy
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{config.data.name}-{config.model.kind}-{secrets.token_hex(2)}"
        job = Job(run_id=run_id, owner=owner, config=config, run_dir=self.runs_dir / run_id)
        job.meta["opts"] = {"start_paused": start_paused, "iwae_k": iwae_k, "owner": owner,
                            "snapshot_seconds": self.snapshot_seconds,
                            "max_seconds": self.max_run_seconds}
        job.meta["start_paused"] = start_paused
        if max_bytes:
            job.meta["opts"]["max_bytes"] = max_bytes
        with self._lock:
            if self._closed:
                raise EngineError("the engine is shut down")
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
            if job.status not in ACTIVE or job.worker is None:
                raise EngineError(f"run {run_id} is {job.status}; it cannot be controlled")
            if not job.worker.send(msg):
                raise EngineError(f"the worker of run {run_id} is gone")
            if msg[0] == "pause":
                job.status = "paused"
            elif msg[0] == "resume":
                job.status = "running"

    def pause(self, run_id: str) -> None:
        self._control(run_id, "pause")

    def resume(self, run_id: str) -> None:
        self._control(run_id, "resume")

    def step(self, run_id: str, n: int = 1) -> None:
        """Run ``n`` steps of a paused run, then stay paused."""
        self._control(run_id, "step", int(n))

    def stop(self, run_id: str) -> None:
        """Stop a running run (it is saved), or drop a queued one."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.status == "queued":
                self._drop_queued(run_id)
                return
        self._control(run_id, "stop")

    def set_beta(self, run_id: str, beta: float) -> None:
        if not (math.isfinite(beta) and 0 <= beta <= 1000):
            raise EngineError(f"β must be in [0, 1000], got {beta!r}")
        self._control(run_id, "beta", float(beta))

    def set_lr(self, run_id: str, lr: float) -> None:
        if not (math.isfinite(lr) and 1e-7 <= lr <= 1.0):
            raise EngineError(f"learning rate must be in [1e-7, 1], got {lr!r}")
        self._control(run_id, "lr", float(lr))

    def _drop_queued(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
            self._jobs.pop(run_id, None)

    def drop_owner(self, owner: str) -> int:
        """A browser session ended: drop its queued runs (running ones go on). Returns how many."""
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

    # ------------------------------------------------------------- reads
    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if the run is not queued."""
        with self._lock:
            return self._queue.index(run_id) + 1 if run_id in self._queue else None

    def view(self, run_id: str) -> dict | None:
        """A consistent copy of one run's state for a page to draw (plain data)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None:
                return None
            if job.from_disk and not job.rows:
                self._load_rows(job)
            return {
                "run_id": job.run_id, "owner": job.owner, "name": job.config.name,
                "config": job.config, "run_dir": job.run_dir, "status": job.status,
                "reason": job.reason, "created": job.created, "started": job.started,
                "ended": job.ended, "queue_position": self.queue_position(run_id),
                "progress": dict(job.progress), "rows": list(job.rows),
                "val_rows": list(job.val_rows), "events": list(job.progress.get("events", [])),
                "snapshot": job.snapshot, "history": list(job.history), "meta": dict(job.meta),
                "summary": job.summary,
            }

    def list(self, owner: str | None = None) -> list[dict]:
        """Light entries for a run list, newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if owner is None or j.owner == owner]
            out = [{"run_id": j.run_id, "name": j.config.name, "owner": j.owner,
                    "status": j.status, "reason": j.reason, "config": j.config,
                    "created": j.created, "progress": dict(j.progress), "summary": j.summary,
                    "queue_position": self.queue_position(j.run_id), "run_dir": j.run_dir}
                   for j in jobs]
        return sorted(out, key=lambda d: d["created"], reverse=True)

    def workers(self) -> list[dict]:
        with self._lock:
            return [{"pid": w.proc.pid, "alive": w.proc.is_alive(), "ready": w.ready,
                     "run_id": w.job.run_id if w.job else None} for w in self._workers]

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
                    ended=created, summary=s, from_disk=True,
                    progress={"step": s.get("steps", 0), "total_steps": s.get("steps", 0),
                              "epoch": s.get("epochs", 0), "epochs": run.config.train.epochs,
                              "events": s.get("events", [])})
                found += 1
        return found

    def _load_rows(self, job: Job) -> None:
        from . import store
        rows = store.read_metrics(job.run_dir)
        job.add_rows(rows)

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
                    starting = [w for w in self._workers if w.job is None and not w.ready]
                    if starting:
                        return                      # wait for its "ready"
                    if len(self._workers) >= self.max_jobs:
                        return
                    self._workers.append(_Worker(self._ctx, self.torch_threads))
                    return
                run_id = self._queue.pop(0)
                job = self._jobs[run_id]
                job.worker, free.job = free, job
                job.status, job.started = "starting", time.time()
                opts = job.meta.pop("opts", {})
                if not free.send(("job", run_id, job.config.to_dict(), str(job.run_dir), opts)):
                    self._worker_died(free)

    def _worker_died(self, w: _Worker) -> None:
        with self._lock:
            w.dead = True
            code = w.proc.exitcode
            if w.job is not None and w.job.status not in ENDED:
                how = (f"signal {-code}" if code is not None and code < 0 else f"exit code {code}")
                w.job.status = "failed"
                w.job.reason = (f"the worker process died ({how}: killed, or out of memory); "
                                f"the last epoch checkpoint, if any, is kept")
                w.job.ended = time.time()
                w.job.worker = None
            w.job = None
            try:
                w.out_r.close()
                w.inbox_w.close()
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
                job.status = "paused" if job.meta.get("start_paused") else "running"
                job.progress.update(total_steps=msg[2]["total_steps"], step=0, epoch=0.0,
                                    epochs=job.config.train.epochs)
            elif kind == "rows":
                job.add_rows(msg[2])
                job.progress.update(msg[3])
                if job.status in ("running", "paused", "starting"):
                    job.status = "paused" if msg[3].get("paused") else "running"
            elif kind == "snapshot":
                job.add_snapshot(msg[2])
            elif kind == "saving":
                job.status = "running" if job.status == "starting" else job.status
                job.meta["saving"] = True
            elif kind == "done":
                _, _, status, reason, summary, tb = msg
                job.status, job.reason, job.summary = status, reason, summary
                if tb:
                    job.meta["traceback"] = tb
                job.ended = time.time()
                job.worker, w.job = None, None

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                conns = {w.out_r: w for w in self._workers if not w.dead}
            self._schedule()
            ready = wait(list(conns) + [self._wake_r], timeout=0.25)
            for c in ready:
                if c is self._wake_r:
                    try:
                        while self._wake_r.poll():
                            self._wake_r.recv()
                    except (EOFError, OSError):
                        return
                    continue
                w = conns[c]
                try:
                    while c.poll():
                        self._handle(w, c.recv())
                except (EOFError, OSError, ValueError, TypeError, AttributeError, ImportError):
                    self._worker_died(w)      # closed or garbled pipe: the worker is gone
            for w in list(conns.values()):
                if not w.dead and not w.proc.is_alive():
                    # drain what it said before dying, then declare it dead
                    try:
                        while w.out_r.poll():
                            self._handle(w, w.out_r.recv())
                    except (EOFError, OSError, ValueError):
                        pass
                    self._worker_died(w)

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


def get_engine() -> Engine:
    """The process-wide engine (created on first use, one worker pre-started)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None or _ENGINE._closed:
            _ENGINE = Engine(prestart=1)
        return _ENGINE
