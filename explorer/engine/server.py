"""The server side of the engine: submit, control, the queue, dispatch to workers.

One :class:`Engine` per server process (:func:`get_engine`). It keeps a record
(:class:`Job`) of every live run and of the few most recently ended or viewed ones;
every other run is read from the runs folder's index (:mod:`explorer.store.index`)
when a list or a page asks for it. Pages read :meth:`Engine.view` (a
:class:`~explorer.runs.RunView`) and :meth:`Engine.list` (:class:`~explorer.runs.RunEntry`),
plain data.

Who may do what: every state-changing call names the acting owner (``by``), and the
engine refuses, with :class:`NotAllowed`, anything :func:`explorer.runs.refusal` refuses.
Per-owner caps (settings ``LATENT_EXPLORER_MAX_RUNNING_PER_OWNER``, ``..._MAX_QUEUED_PER_OWNER``,
``..._MAX_RUNS_PER_OWNER``, ``..._DISK_MB_PER_OWNER``) hold whatever tab or browser
window a person uses.

β has one holder here, ``Job.beta``: set by :meth:`Engine.set_beta` (the worker then
applies it to its trainer between two steps), read by every view. Rows record the β
each step's loss used.
"""
from __future__ import annotations

import multiprocessing as mp
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from multiprocessing.connection import wait
from pathlib import Path

import numpy as np

from .. import data
from .. import settings as settings_mod
from .. import store
from ..config import BETA, LR, RunConfig
from ..runs import ENDED, Action, Actor, Progress, RunEntry, RunView, Status, refusal
from ..store.index import RunIndex
from ..text import count
from . import protocol
from .local import LocalWorker
from .record import HISTORY_BYTES, MAX_HISTORY, MAX_ROWS, Job, apply_to_options, from_entry  # noqa: F401

KEEP_ENDED = 8                   # ended runs whose records stay in memory
MAX_STEPS_PER_CALL = 100_000


class EngineError(RuntimeError):
    """A request the engine cannot carry out (unknown run, wrong state, a limit reached)."""


class NotAllowed(EngineError):
    """The acting owner may not do this to this run."""


# ===================================================================== the engine

class Engine:
    """Runs training jobs in worker processes, at most ``max_jobs`` at once, FIFO beyond."""

    backend = "local"            # LATENT_EXPLORER_ENGINE (the Ray backend: backend_ray.RayEngine)

    def __init__(self, runs_dir: Path | None = None, *, max_jobs: int | None = None,
                 torch_threads: int | None = None, snapshot_seconds: float | None = None,
                 max_run_seconds: float | None = None, max_runs_per_owner: int | None = None,
                 max_running_per_owner: int | None = None, max_queued_per_owner: int | None = None,
                 disk_bytes_per_owner: int | None = None, device: str | None = None,
                 dataset_bytes: int | None = None, prestart: int = 0, prestart_delay: float = 0.0,
                 load_existing: bool = True):
        """``prestart`` workers are started ``prestart_delay`` seconds after creation, so the
        first job need not wait for one (~2-5 s) and the first page view need not share the
        CPU with one. ``load_existing``: list the saved runs of ``runs_dir`` too."""
        s = settings_mod.get()
        self.runs_dir = Path(runs_dir or s.runs_dir)
        self.max_jobs = max_jobs or s.max_jobs
        self.torch_threads = torch_threads or s.torch_threads
        self.snapshot_seconds = snapshot_seconds or s.snapshot_seconds
        self.max_run_seconds = max_run_seconds or s.max_run_seconds
        self.max_runs_per_owner = max_runs_per_owner or s.max_runs_per_owner
        self.max_running_per_owner = max_running_per_owner or s.max_running_per_owner
        self.max_queued_per_owner = max_queued_per_owner or s.max_queued_per_owner
        self.disk_bytes_per_owner = disk_bytes_per_owner or s.disk_bytes_per_owner
        self.device = device or s.device
        self.dataset_bytes = dataset_bytes or s.dataset_bytes
        self.index = RunIndex(self.runs_dir) if load_existing else None
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []
        self._workers: list[LocalWorker] = []
        self._recent_ended: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        if self.index is not None:
            self.index.refresh(force=True)
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
                self._workers.append(LocalWorker(self._ctx, self.torch_threads))
        self._wake()

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    # ------------------------------------------------------------ submit
    def submit(self, config: RunConfig, owner: "Actor | str" = "", *, start_paused: bool = False,
               iwae_k: int = 0, max_bytes: int | None = None, max_seconds: float | None = None,
               max_seconds_setting: str = "") -> str:
        """Queue a run for ``owner``; returns its id. It starts when a worker is free (FIFO),
        and when its owner trains fewer than ``max_running_per_owner`` runs. ``max_seconds``
        (with the name of the setting behind it, for the message): a shorter run-time limit
        than the server's (a class's), which the run loop itself enforces."""
        actor, s = Actor.of(owner), settings_mod.get()
        config = RunConfig.from_dict(config.to_dict())   # validated private copy
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{config.data.name}-{config.model.kind}-{secrets.token_hex(3)}"
        options = protocol.JobOptions(owner=actor.id, owner_name=actor.name, start_paused=start_paused,
                                      iwae_k=iwae_k, snapshot_seconds=self.snapshot_seconds,
                                      max_seconds=self.max_run_seconds,
                                      max_bytes=max_bytes or self.dataset_bytes, device=self.device,
                                      data_dir=str(s.data_dir), max_features=s.max_features,
                                      max_examples=s.max_examples)
        if max_seconds is not None and max_seconds < options.max_seconds:
            options.max_seconds = float(max_seconds)
            options.max_seconds_setting = max_seconds_setting or "the run's time limit"
        job = Job(run_id=run_id, owner=actor.id, owner_name=actor.name, config=config,
                  run_dir=self.runs_dir / run_id, options=options)
        job.options.created = job.created
        with self._lock:
            if self._closed:
                raise EngineError("the engine is shut down")
            if actor.id:
                self._check_caps(actor.id)
            self._enqueue(job)
        self._wake()
        return run_id

    def _enqueue(self, job: Job) -> None:
        """Put a new run in the queue (under the lock, its owner's caps checked)."""
        self._jobs[job.run_id] = job
        self._queue.append(job.run_id)

    def _check_caps(self, owner: str) -> None:
        queued = sum(1 for r in self._queue if self._jobs[r].owner == owner)
        if queued >= self.max_queued_per_owner:
            raise EngineError(f"you already have {count(queued, 'run')} waiting in the queue; the limit "
                              f"(LATENT_EXPLORER_MAX_QUEUED_PER_OWNER) is {self.max_queued_per_owner}. "
                              f"Wait for one to start, or stop one")
        why = self.runs_cap_refusal(owner)
        if why:
            raise EngineError(why)
        used = self.disk_bytes_of(owner)
        if used >= self.disk_bytes_per_owner:
            raise EngineError(f"your runs and uploads use {used / 2**20:.1f} MiB of disk; the limit "
                              f"(LATENT_EXPLORER_DISK_MB_PER_OWNER) is "
                              f"{self.disk_bytes_per_owner / 2**20:.0f} MiB. Delete runs on the Runs page")

    def runs_cap_refusal(self, owner: str) -> str | None:
        """Why ``owner`` may not hold one more run on this server (a new one, an upload, an
        import), or None."""
        held = self.runs_of(owner)
        if held < self.max_runs_per_owner:
            return None
        return (f"you already have {count(held, 'run')} on this server; the limit "
                f"(LATENT_EXPLORER_MAX_RUNS_PER_OWNER) is {self.max_runs_per_owner}. "
                f"Delete runs you no longer need on the Runs page")

    def runs_of(self, owner: str) -> int:
        """Runs ``owner`` holds on this server: live, and saved in the runs folder."""
        with self._lock:
            mine = {r for r, j in self._jobs.items() if j.owner == owner}
        on_disk = self.index.ids(owner) if self.index is not None else set()
        return len(mine | on_disk)

    def disk_bytes_of(self, owner: str) -> int:
        """Disk used by ``owner``'s run folders and uploads."""
        runs = self.index.owner_bytes(owner) if self.index else 0
        return runs + store.upload_bytes_of(self.runs_dir, owner)

    # ---------------------------------------------------------- controls
    def _control(self, run_id: str, by: "Actor | str", kind: protocol.ControlKind, value=None) -> None:
        with self._lock:
            job = self._job(run_id)
            why = refusal(Action.CONTROL, run_owner=job.owner, shipped=False, status=job.status,
                          actor=by, owner_name=job.owner_name)
            if why:
                raise NotAllowed(f"run {run_id}: {why}")
            if kind == protocol.ControlKind.BETA:
                job.beta = value
            elif kind == protocol.ControlKind.LR:
                job.lr = value
            if job.status == Status.QUEUED and self._control_queued(job, kind, value):
                return                               # delivered in the options when it starts
            if job.worker is None or not job.worker.send(protocol.Control(run_id, kind, value)):
                raise EngineError(f"the worker of run {run_id} is gone")
            job.ctl_sent += 1
            if kind in (protocol.ControlKind.PAUSE, protocol.ControlKind.STEP):
                job.status = Status.PAUSED
            elif kind == protocol.ControlKind.RESUME:
                job.status = Status.RUNNING

    def _control_queued(self, job: Job, kind: protocol.ControlKind, value) -> bool:
        """Keep a control of a queued run for its start; False if it started meanwhile."""
        apply_to_options(job.options, kind, value)
        return True

    def _job(self, run_id: str) -> Job:
        job = self._jobs.get(run_id) or self._load(run_id)
        if job is None:
            raise EngineError(f"no run {run_id!r}")
        return job

    def pause(self, run_id: str, by: "Actor | str") -> None:
        self._control(run_id, by, protocol.ControlKind.PAUSE)

    def resume(self, run_id: str, by: "Actor | str") -> None:
        self._control(run_id, by, protocol.ControlKind.RESUME)

    def step(self, run_id: str, by: "Actor | str", n: int = 1) -> None:
        """Run ``n`` steps, then stay paused (a running run is paused first)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS_PER_CALL:
            raise EngineError(f"steps must be in [1, {MAX_STEPS_PER_CALL}], got {n!r}")
        self._control(run_id, by, protocol.ControlKind.STEP, n)

    def stop(self, run_id: str, by: "Actor | str") -> None:
        """Stop a running run (it is saved), or drop a queued one."""
        with self._lock:
            job = self._job(run_id)
            if job.status == Status.QUEUED:
                why = refusal(Action.CONTROL, run_owner=job.owner, shipped=False, status=job.status,
                              actor=by, owner_name=job.owner_name)
                if why:
                    raise NotAllowed(f"run {run_id}: {why}")
                if self._drop_queued(run_id):
                    return
        self._control(run_id, by, protocol.ControlKind.STOP)

    def set_beta(self, run_id: str, by: "Actor | str", beta: float) -> None:
        """Change β from the next step on (the change is recorded as an event)."""
        if not BETA.contains(beta):
            raise EngineError(f"β must be in {BETA}, got {beta!r}")
        self._control(run_id, by, protocol.ControlKind.BETA, float(beta))

    def set_lr(self, run_id: str, by: "Actor | str", lr: float) -> None:
        """Change the learning rate from the next step on (recorded as an event)."""
        if not LR.contains(lr):
            raise EngineError(f"learning rate must be in {LR}, got {lr!r}")
        self._control(run_id, by, protocol.ControlKind.LR, float(lr))

    def _drop_queued(self, run_id: str) -> bool:
        """Forget a queued run; False if it has started meanwhile (then stop it instead)."""
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
            self._jobs.pop(run_id, None)
        return True

    def drop_owner(self, owner: str) -> int:
        """An owner left (their last browser session ended): drop their queued runs (running
        ones go on, to their end or the maximum run duration). Returns how many were dropped."""
        with self._lock:
            ids = [r for r in self._queue if self._jobs[r].owner == owner]
            for r in ids:
                self._drop_queued(r)
        return len(ids)

    def forget(self, run_id: str) -> None:
        """Remove an ended run from the registry (after its folder was deleted or renamed)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None and job.status.active:
                raise EngineError(f"run {run_id} is {job.status}; stop it first")
            self._drop_queued(run_id)
            self._recent_ended.pop(run_id, None)
        if self.index is not None:
            self.index.refresh(force=True)

    def save_upload(self, content: bytes, filename: str, owner: "Actor | str" = "", *,
                    max_bytes: int | None = None, check=None) -> Path:
        """Store an uploaded data file of ``owner`` where the workers can read it
        (:func:`explorer.store.save_upload`), within the owner's disk cap and the upload limit
        (``max_bytes``, default ``LATENT_EXPLORER_UPLOAD_MB``), after ``check`` (default:
        :func:`explorer.data.check_array_file` with the server's limits, which reads the file a
        chunk at a time: the server never parses an upload in full)."""
        oid = Actor.of(owner).id
        if oid and self.disk_bytes_of(oid) + len(content) > self.disk_bytes_per_owner:
            raise EngineError(f"{filename}: your runs and uploads would use more than "
                              f"{self.disk_bytes_per_owner / 2**20:.0f} MiB of disk, the limit "
                              f"(LATENT_EXPLORER_DISK_MB_PER_OWNER). Delete runs on the Runs page")
        s = settings_mod.get()
        check = check or (lambda p: data.check_array_file(p, max_bytes=self.dataset_bytes,
                                                          max_features=s.max_features,
                                                          max_examples=s.max_examples))
        limit = max_bytes if max_bytes is not None else s.upload_bytes
        return store.save_upload(self.runs_dir, content, filename, owner=oid, max_bytes=limit, check=check)

    # ------------------------------------------------------------- reads
    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if the run is not queued."""
        with self._lock:
            return self._queue.index(run_id) + 1 if run_id in self._queue else None

    def _load(self, run_id: str) -> Job | None:
        """A saved run's record, read from the index (it then stays for a while)."""
        entry = self.index.get(run_id) if self.index is not None else None
        if entry is None:
            return None
        job = from_entry(entry)
        self._jobs[run_id] = job
        self._keep_in_memory(job)
        return job

    def view(self, run_id: str) -> RunView | None:
        """A consistent copy of one run's state for a page to draw (plain data).

        ``history`` ends with the current snapshot's latent means, so a replay
        scrubber's last frame is always "now"."""
        with self._lock:
            try:
                job = self._job(run_id)
            except EngineError:
                return None
            if job.rows_on_disk:
                self._read_rows(job)
            if job.status.ended:
                self._keep_in_memory(job)
            history = list(job.history)
            snap = job.snapshot
            if snap is not None and (not history or history[-1]["step"] != snap.step):
                history.append({"step": snap.step, "epoch": snap.epoch, "mu": snap.mu.astype(np.float16)})
            return job.entry(self.queue_position(run_id), RunView, started=job.started, ended=job.ended,
                             rows=list(job.rows), val_rows=list(job.val_rows),
                             events=list(job.progress.events), snapshot=snap, history=history,
                             info=job.info, from_disk=job.from_disk, saving=job.saving,
                             traceback=job.traceback)

    def entry(self, run_id: str) -> RunEntry | None:
        """One run's light entry (no rows read)."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None:
                return job.entry(self.queue_position(run_id))
        return self.index.get(run_id) if self.index is not None else None

    def list(self, owner: str | None = None, *, limit: int | None = None, offset: int = 0,
             name_prefix: str | None = None, newest_first: bool = True) -> list[RunEntry]:
        """Every run: the live and recent ones held here and the runs folder's saved runs
        (from its index), by creation time. ``limit``/``offset`` give one page; ``owner``
        and ``name_prefix`` (of the display name) filter."""
        sign = -1 if newest_first else 1
        with self._lock:
            mem = [j.entry(self.queue_position(r)) for r, j in self._jobs.items()
                   if (owner is None or j.owner == owner)
                   and (name_prefix is None or j.config.name.startswith(name_prefix))]
            held = set(self._jobs)
        end = None if limit is None else offset + limit
        disk: list[RunEntry] = []
        if self.index is not None:      # the first `end` saved runs not held here, at most
            disk = self.index.entries(owner=owner, exclude=held, name_prefix=name_prefix,
                                      limit=end, offset=0, newest_first=newest_first)
        merged = sorted(mem + disk, key=lambda e: (sign * e.created, e.run_id))
        return merged[offset:end]

    def count(self, owner: str | None = None) -> int:
        """How many runs :meth:`list` would give without a limit."""
        with self._lock:
            held = {r for r, j in self._jobs.items() if owner is None or j.owner == owner}
        return len(held | (self.index.ids(owner) if self.index is not None else set()))

    def workers(self) -> list[dict]:
        with self._lock:
            return [{"pid": w.proc.pid, "alive": w.proc.is_alive(), "ready": w.ready,
                     "run_id": w.job.run_id if w.job else None} for w in self._workers]

    def busy_workers(self) -> int:
        return sum(1 for w in self.workers() if w["run_id"])

    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        """Block until every started worker has warmed up (server start-up); False on timeout."""
        t_end = time.time() + timeout
        while time.time() < t_end:
            if all(w["ready"] or not w["alive"] for w in self.workers()):
                return True
            time.sleep(0.05)
        return False

    def wait(self, run_id: str, timeout: float = 60.0, statuses=ENDED) -> Status:
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
        """Re-read the runs folder now (runs another process wrote); returns how many are new."""
        return self.index.refresh(force=True) if self.index is not None else 0

    def _read_rows(self, job: Job) -> None:
        job.add_rows(store.read_metrics(job.run_dir))
        job.rows_on_disk = False

    def _keep_in_memory(self, job: Job) -> None:
        """Ended runs' records (rows and replay frames: a few MiB each) stay in memory for the
        ``KEEP_ENDED`` most recently ended or viewed; older ones are dropped and read back
        from their folder when viewed again. Without this the server's memory grew with every
        run it trained (the load test, 54 runs in 5 minutes: 462 -> 650 MiB and climbing)."""
        self._recent_ended.pop(job.run_id, None)
        self._recent_ended[job.run_id] = None
        while len(self._recent_ended) > KEEP_ENDED:
            rid = self._recent_ended.popitem(last=False)[0]
            old = self._jobs.get(rid)
            if (old is None or not old.status.ended or old.status == Status.FAILED
                    or not (old.run_dir / store.METRICS).is_file() or self.index is None):
                continue          # a failed run's rows may exist only here: keep them
            del self._jobs[rid]

    # ---------------------------------------------------------- dispatch
    def _wake(self) -> None:
        try:
            self._wake_w.send(1)
        except (OSError, BrokenPipeError):
            pass

    def _next_queued(self) -> str | None:
        """The first queued run whose owner is under the running-at-once cap."""
        running: dict[str, int] = {}
        for w in self._workers:
            if w.job is not None:
                running[w.job.owner] = running.get(w.job.owner, 0) + 1
        for rid in self._queue:
            owner = self._jobs[rid].owner
            if not owner or running.get(owner, 0) < self.max_running_per_owner:
                return rid
        return None

    def _schedule(self) -> None:
        """Give queued jobs to free workers, starting workers up to ``max_jobs``."""
        with self._lock:
            self._workers = [w for w in self._workers if not w.dead]
            while self._queue:
                running = sum(1 for w in self._workers if w.job is not None)
                if running >= self.max_jobs:
                    return
                run_id = self._next_queued()
                if run_id is None:
                    return
                free = next((w for w in self._workers if w.job is None and w.ready), None)
                if free is None:
                    if any(w.job is None and not w.ready for w in self._workers):
                        return                      # wait for its "ready"
                    if len(self._workers) >= self.max_jobs:
                        return
                    try:
                        self._workers.append(LocalWorker(self._ctx, self.torch_threads))
                    except Exception as e:  # noqa: BLE001 - cannot start a process at all
                        self._queue.remove(run_id)
                        self._end(self._jobs[run_id], Status.FAILED, f"could not start a worker process: {e}")
                    return
                self._queue.remove(run_id)
                job = self._jobs[run_id]
                job.worker, free.job = free, job
                job.status, job.started = Status.STARTING, time.time()
                msg = protocol.StartJob(run_id, job.config.to_dict(), str(job.run_dir), job.options)
                if not free.send(msg):
                    self._worker_died(free)

    def _end(self, job: Job, status: Status, reason: str | None) -> None:
        job.status, job.reason, job.ended = Status(status), reason, time.time()
        job.worker = None
        self._keep_in_memory(job)

    def _worker_died(self, w: LocalWorker) -> None:
        if w.proc.exitcode is None:
            w.proc.join(timeout=1.0)              # reap it, to report its exit code
        with self._lock:
            w.dead = True
            code = w.proc.exitcode
            if w.job is not None and not w.job.status.ended:
                how = (f"signal {-code}" if code is not None and code < 0 else f"exit code {code}")
                self._end(w.job, Status.FAILED,
                          f"the worker process died ({how}: killed, or out of memory); "
                          f"the last epoch checkpoint, if any, is kept")
            w.job = None
            for conn in (w.out_r, w.inbox_w):
                try:
                    conn.close()
                except OSError:
                    pass

    def _handle(self, w: LocalWorker, msg) -> None:
        with self._lock:
            if isinstance(msg, protocol.Ready):
                w.ready = True
                return
            job = w.job
            if job is None or getattr(msg, "run_id", None) != job.run_id:
                return
            if isinstance(msg, protocol.Started):
                job.info = msg.info
                if job.status == Status.STARTING:
                    job.status = Status.PAUSED if job.options.start_paused or job.options.initial_steps \
                        else Status.RUNNING
                job.progress = Progress(total_steps=msg.info.total_steps, epochs=job.config.train.epochs)
            elif isinstance(msg, protocol.Rows):
                job.add_rows(msg.rows)
                job.progress = msg.progress
                if msg.progress.seq >= job.ctl_sent and job.status.active:   # no control in flight
                    job.status = Status.PAUSED if msg.progress.paused else Status.RUNNING
            elif isinstance(msg, protocol.SnapshotMsg):
                job.add_snapshot(msg.snapshot)
            elif isinstance(msg, protocol.Saving):
                job.saving = True
            elif isinstance(msg, protocol.Done):
                job.summary = msg.summary
                job.traceback = msg.traceback
                job.saving = False
                if msg.summary:
                    job.beta, job.lr = msg.summary.get("beta", job.beta), msg.summary.get("lr", job.lr)
                self._end(job, Status(msg.status), msg.reason)
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
                    w.send(protocol.Control(w.job.run_id, protocol.ControlKind.STOP))
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
            w.send(protocol.Quit())
        for w in workers:
            w.proc.join(timeout=2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=2)
        self._thread.join(timeout=2)
        if self.index is not None:
            self.index.close()
