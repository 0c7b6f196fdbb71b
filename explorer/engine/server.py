"""The engine's bookkeeping: submit, controls, who may do what, what pages read.

One :class:`Engine` per server process (:func:`get_engine`). It keeps a record
(:class:`Job`) of every live run and of the few most recently ended or viewed ones;
every other run is read from the runs folder's index (:mod:`explorer.store.index`)
when a list or a page asks for it. Pages read :meth:`Engine.view` (a
:class:`~explorer.runs.RunView`) and :meth:`Engine.list` (:class:`~explorer.runs.RunEntry`),
plain data. The runs train on a :class:`~explorer.engine.backend.Backend` the engine is
given: worker processes of this machine (:class:`~explorer.engine.local.LocalBackend`, the
default) or a Ray cluster (:class:`~explorer.engine.backend_ray.RayBackend`).

Who may do what: every state-changing call names the acting owner (``by``), and the
engine refuses, with :class:`NotAllowed`, anything :func:`explorer.runs.refusal` refuses.
Per-owner caps (:class:`~explorer.engine.quotas.Quotas`) hold whatever tab or browser
window a person uses; every start and store passes one check first (:mod:`.admission`: the
class rules of ``Engine.gate``, the caps, the memory estimate).

β has one holder here, ``Job.beta``: set by :meth:`Engine.set_beta` (the worker then
applies it to its trainer between two steps), read by every view. Rows record the β
each step's loss used. A run's status moves only through ``Job.transition``.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from .. import data
from .. import settings as settings_mod
from ..store import StoreError
from .. import store
from ..config import BETA, LR, RunConfig
from ..runs import Action, Actor, Progress, Status, refusal
from ..store.index import RunIndex
from . import admission, protocol, quotas
from .backend import Backend
from .errors import EngineError, NotAllowed
from .local import LocalBackend
from .reads import KEEP_ENDED, Reads  # noqa: F401
from .record import HISTORY_BYTES, MAX_HISTORY, MAX_ROWS, Job, from_entry  # noqa: F401

MAX_STEPS_PER_CALL = 100_000


# ===================================================================== the engine

class Engine(Reads):
    """The bookkeeping of every run on this server; the runs train on its ``backend``."""

    def __init__(self, runs_dir: Path | None = None, *, backend: Backend | None = None,
                 max_jobs: int | None = None, torch_threads: int | None = None,
                 snapshot_seconds: float | None = None, max_run_seconds: float | None = None,
                 max_runs_per_owner: int | None = None, max_running_per_owner: int | None = None,
                 max_queued_per_owner: int | None = None, disk_bytes_per_owner: int | None = None,
                 max_queued: int | None = None,
                 device: str | None = None, dataset_bytes: int | None = None, prestart: int = 0,
                 prestart_delay: float = 0.0, load_existing: bool = True):
        """``backend``: where runs train (default: a :class:`LocalBackend` that starts
        ``prestart`` workers ``prestart_delay`` seconds from now). ``load_existing``: list the
        saved runs of ``runs_dir`` too. Every other argument replaces its setting."""
        s = settings_mod.get()
        self.runs_dir = Path(runs_dir or s.runs_dir)
        self.max_jobs_bound = max_jobs or (s.max_jobs if s.max_jobs_set else None)   # None: the backend's
        self.max_jobs = max_jobs or s.max_jobs      # runs training at once (a Ray backend updates it)
        self.torch_threads = torch_threads or s.torch_threads
        self.snapshot_seconds = snapshot_seconds or s.snapshot_seconds
        self.max_run_seconds = max_run_seconds or s.max_run_seconds
        self.quotas = quotas.Quotas.from_settings(s, max_running_per_owner=max_running_per_owner,
                                           max_queued_per_owner=max_queued_per_owner,
                                           max_runs_per_owner=max_runs_per_owner,
                                           disk_bytes_per_owner=disk_bytes_per_owner)
        self.max_queued = max_queued or s.max_queued        # runs waiting, all owners together
        self.gate = None        # the class rules (explorer.classroom.rules.Gate; the app installs it)
        self.device = device or s.device
        self.dataset_bytes = dataset_bytes or s.dataset_bytes
        self.index = RunIndex(self.runs_dir) if load_existing else None
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._queue: list[str] = []          # queued run ids, in the backend's order
        self._recent_ended: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        if self.index is not None:
            self.index.refresh(force=True)
        self.backend = backend or LocalBackend(prestart=prestart, prestart_delay=prestart_delay)
        self.backend.start(self)                    # last: the backend sees a complete engine

    @property
    def closed(self) -> bool:
        """True after :meth:`shutdown`."""
        return self._closed

    @property
    def unavailable(self) -> str | None:
        """Why this server cannot train (its Ray cluster could not be reached), or None."""
        return self.backend.unavailable

    # ------------------------------------------------------------ submit
    def submit(self, config: RunConfig, owner: "Actor | str" = "", **kw) -> str:
        """Queue a run for ``owner``; returns its id (:meth:`submit_many`'s arguments)."""
        return self.submit_many([config], owner, **kw)[0]

    def submit_many(self, configs, owner: "Actor | str" = "", *, start_paused: bool = False,
                    iwae_k: int = 0, max_bytes: int | None = None, max_seconds: float | None = None,
                    max_seconds_setting: str = "", memory_mb: int | None = None,
                    estimate: bool = True) -> list[str]:
        """Queue runs for ``owner`` after one check of them all (:func:`.admission.admit`: the
        class rules, the caps, each run's memory estimate; ``estimate=False`` skips the
        estimate, tests). They start when a worker is free, in the queue's fair order
        (:func:`.quotas.next_queued`), each held to its memory budget (``memory_mb``, default
        the setting). ``max_seconds`` (with the name of the setting behind it, for the
        message): a shorter run-time limit than the server's, which the run loop enforces."""
        actor, s = Actor.of(owner), settings_mod.get()
        configs = [RunConfig.from_dict(c.to_dict()) for c in configs]   # validated private copies
        ticket = admission.admit(self, actor.id, configs=configs, iwae_k=iwae_k, memory_mb=memory_mb,
                                 estimate=estimate)
        limits = [(max_seconds, max_seconds_setting), (ticket.max_seconds, ticket.max_seconds_setting)]
        ids = []
        for config in configs:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_id = f"{stamp}-{config.data.name}-{config.model.kind}-{secrets.token_hex(3)}"
            options = protocol.JobOptions(owner=actor.id, owner_name=actor.name, start_paused=start_paused,
                                          iwae_k=iwae_k, snapshot_seconds=self.snapshot_seconds,
                                          max_seconds=self.max_run_seconds,
                                          max_bytes=max_bytes or self.dataset_bytes, device=self.device,
                                          data_dir=str(s.data_dir), max_features=s.max_features,
                                          max_examples=s.max_examples, memory_bytes=ticket.memory_bytes)
            for limit, setting in limits:
                if limit is not None and limit < options.max_seconds:
                    options.max_seconds = float(limit)
                    options.max_seconds_setting = setting or "the run's time limit"
            job = Job(run_id=run_id, owner=actor.id, owner_name=actor.name, config=config,
                      run_dir=self.runs_dir / run_id, options=options)
            job.options.created = job.created
            with self._lock:
                if self._closed:
                    raise EngineError("the engine is shut down")
                self.backend.enqueue(job)
                self._jobs[job.run_id] = job
                self._queue.append(job.run_id)
            ids.append(run_id)
        admission.admitted(self, ticket, ids)
        self.backend.wake()
        return ids

    def admit_store(self, owner: "Actor | str", size: int, name: str = "this run") -> admission.Ticket:
        """Check that ``owner`` may store one more run of about ``size`` bytes (a run zip, an
        own model): the class rules and the person's caps; raises :class:`EngineError`. Pass
        the ticket to :meth:`stored` with the new run's id."""
        return admission.admit(self, Actor.of(owner).id, stored=1, size=size, estimate=False, name=name)

    def stored(self, ticket: admission.Ticket, run_id: str) -> None:
        """A run admitted by :meth:`admit_store` was written: record it (a class run) and list it."""
        admission.admitted(self, ticket, [run_id])
        self.refresh_from_disk()

    def runs_cap_refusal(self, owner: str) -> str | None:
        """Why ``owner`` may not hold one more run on this server (a new one, an upload, an
        import), or None."""
        return self.quotas.runs_refusal(self.runs_of(owner))

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
                          actor=by, owner_name=job.owner_name, run_id=job.run_id)
            if why:
                raise NotAllowed(f"run {run_id}: {why}")
            if kind == protocol.ControlKind.BETA:
                job.beta = value
            elif kind == protocol.ControlKind.LR:
                job.lr = value
            if job.status == Status.QUEUED and self.backend.control_queued(job, kind, value):
                return                               # delivered in the options when it starts
            if job.worker is None or not job.worker.send(protocol.Control(run_id, kind, value)):
                raise EngineError(f"the worker of run {run_id} is gone")
            job.ctl_sent += 1
            if kind in (protocol.ControlKind.PAUSE, protocol.ControlKind.STEP):
                job.transition(Status.PAUSED)       # as the page expects; the worker confirms
            elif kind == protocol.ControlKind.RESUME:
                job.transition(Status.RUNNING)

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

    def stop(self, run_id: str, by: "Actor | str", reason: str | None = None) -> None:
        """Stop a running run (it is saved), or drop a queued one. ``reason`` is recorded
        with the run; by default "stopped by the user", or "stopped by your teacher" when the
        actor is not the run's owner (a teacher, for a student's class run)."""
        with self._lock:
            job = self._job(run_id)
            if job.status == Status.QUEUED:
                why = refusal(Action.CONTROL, run_owner=job.owner, shipped=False, status=job.status,
                              actor=by, owner_name=job.owner_name, run_id=job.run_id)
                if why:
                    raise NotAllowed(f"run {run_id}: {why}")
                if self._drop_queued(run_id):
                    return
            if reason is None and Actor.of(by).id != job.owner:
                reason = "stopped by your teacher"
        self._control(run_id, by, protocol.ControlKind.STOP, reason)

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
            if not self.backend.drop_queued(run_id, self._jobs.get(run_id)):
                return False
            self._forget_queued(run_id)
        return True

    def _forget_queued(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._queue:
                self._queue.remove(run_id)
            self._jobs.pop(run_id, None)

    def drop_owner(self, owner: str) -> int:
        """An owner left (their last browser session ended): drop their queued runs (running
        ones go on, to their end or the maximum run duration). Returns how many were dropped."""
        ids = self.backend.drop_owner(owner)
        for r in ids:
            self._forget_queued(r)
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
        admission.admit(self, oid, size=len(content), upload=True, estimate=False, name=filename)
        s = settings_mod.get()
        check = check or (lambda p: data.check_array_file(p, max_bytes=self.dataset_bytes,
                                                          max_features=s.max_features,
                                                          max_examples=s.max_examples))
        limit = max_bytes if max_bytes is not None else s.upload_bytes
        return store.save_upload(self.runs_dir, content, filename, owner=oid, max_bytes=limit, check=check)

    # ------------------------------------------------ what workers report
    def _end(self, job: Job, status: Status, reason: str | None) -> None:
        """A run ended (under the lock): its final status and reason, its worker freed. A
        failed run is recorded as failed in its folder (and so in the index, after a restart
        too), whatever its worker saved before it failed or died."""
        job.transition(status, reason)
        job.ended = time.time()
        job.worker = None
        self._keep_in_memory(job)
        if status == Status.FAILED:
            try:
                store.save_failure(job.run_dir, job.config, reason or "failed", {
                    "owner": job.owner, "owner_name": job.owner_name, "run_id": job.run_id,
                    "name": job.config.name, "created": job.created})
            except (OSError, StoreError, ValueError):
                pass                      # an unwritable folder: the run stays failed here

    def apply(self, handle, msg) -> None:
        """Apply a worker's message (:mod:`.protocol`) about the run its ``handle`` trains
        (``handle.job``); a backend calls this for every message but its own."""
        with self._lock:
            job = handle.job
            if job is None or getattr(msg, "run_id", None) != job.run_id:
                return
            if isinstance(msg, protocol.Started):
                job.info = msg.info
                if job.status == Status.STARTING:
                    job.transition(Status.PAUSED if job.options.start_paused or job.options.initial_steps
                                   else Status.RUNNING)
                job.progress = Progress(total_steps=msg.info.total_steps, epochs=job.config.train.epochs)
            elif isinstance(msg, protocol.Rows):
                job.add_rows(msg.rows)
                job.progress = msg.progress
                if msg.progress.seq >= job.ctl_sent and job.status.active:   # no control in flight
                    job.transition(Status.PAUSED if msg.progress.paused else Status.RUNNING)
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
                handle.job = None

    # ---------------------------------------------------------- shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Accept no more runs and end the backend's dispatcher (local workers stop their runs,
        each saved; Ray runs go on, on their actors)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.backend.shutdown(timeout)
        if self.index is not None:
            self.index.close()
