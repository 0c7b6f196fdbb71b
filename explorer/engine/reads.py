"""What pages read from the engine (the :class:`Reads` half of
:class:`~explorer.engine.server.Engine`): one run's view and light entry, the lists of runs
(live records held here and the runs folder's index), queue positions in the queue's fair
order, and which ended runs' records stay in memory."""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from .. import store
from ..runs import ENDED, RunEntry, RunView, Status
from . import quotas
from .errors import EngineError
from .record import Job, from_entry

KEEP_ENDED = 8                   # ended runs whose records stay in memory


class Reads:
    """The engine's reads; mixed into :class:`~explorer.engine.server.Engine`, whose state
    (``_lock``, ``_jobs``, ``_queue``, ``index``, ``backend``) they read."""

    _recent_ended: OrderedDict

    # ------------------------------------------------------------- reads
    def queue_position(self, run_id: str) -> int | None:
        """1 for the next run to start; None if the run is not queued."""
        return self._positions().get(run_id)

    def _positions(self) -> dict[str, int]:
        """Every queued run's place in the queue's fair order (:func:`.quotas.fair_order`)."""
        with self._lock:
            running = quotas.running_by_owner(j.owner for j in self._jobs.values()
                                              if j.status.active and j.status != Status.QUEUED)
            order = quotas.fair_order(self._queue, lambda r: self._jobs[r].owner, running)
        return {r: i + 1 for i, r in enumerate(order)}

    def _load(self, run_id: str) -> Job | None:
        """A saved run's record, read from the index (it then stays for a while)."""
        entry = self.index.get(run_id) if self.index is not None else None
        if entry is None:
            return None
        job = from_entry(entry)
        if entry.summary.get("tracked") and entry.status.live:
            return job        # a loop outside the app writes it (explorer.track): read it afresh each time
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
                             rows=job.rows, val_rows=job.val_rows,
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
            where = self._positions()
            mem = [j.entry(where.get(r)) for r, j in self._jobs.items()
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
        """The backend's workers: ``pid``, ``alive``, ``ready``, ``run_id`` (None: idle)."""
        return self.backend.workers()

    def busy_workers(self) -> int:
        return sum(1 for w in self.workers() if w["run_id"])

    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        """Block until every started worker has warmed up (server start-up); False on timeout."""
        return self.backend.wait_workers_ready(timeout)

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

