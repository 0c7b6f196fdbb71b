"""The local backend: worker processes on this machine, each with its own pair of pipes.

:class:`LocalBackend` keeps the queue's dispatch: it starts workers up to the engine's
``max_jobs``, gives each free worker the next queued run (:func:`.quotas.next_queued`), reads
what the workers say and hands it to the engine (:meth:`Engine.apply`), and notices a
worker that died.

Workers are children of :mod:`explorer.processes`: forked from a fork server that imported
torch and the worker once (a server's first worker costs its start, ~3 CPU-s; every later one,
a second job slot, a fresh worker after a run stopped at its memory budget or after a crash,
starts in a few milliseconds), with the server's environment and never its ``__main__``.
Each worker has its own pipes (not one shared queue): a worker killed in the middle of a
message garbles only its own pipe, which the dispatcher then treats as dead.
"""
from __future__ import annotations

import multiprocessing as mp
import threading
import time
import traceback
from multiprocessing.connection import wait

from .. import processes
from ..runs import Status
from . import protocol, quotas
from .backend import Backend
from .record import Job, apply_to_options
from .worker import worker_main


class LocalWorker:
    """A worker process and the server's ends of its two pipes."""

    def __init__(self, threads: int):
        self.inbox_r, self.inbox_w = mp.Pipe(duplex=False)
        self.out_r, self.out_w = mp.Pipe(duplex=False)
        self.proc = processes.process(worker_main, (self.inbox_r, self.out_w, threads), name="worker")
        processes.start(self.proc)
        self.out_w.close()       # the server keeps only its ends
        self.inbox_r.close()
        self.job = None          # the Job it trains
        self.ready = False
        self.dead = False

    def send(self, msg) -> bool:
        try:
            self.inbox_w.send(msg)
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False


class LocalBackend(Backend):
    """Runs an engine's queue on worker processes of this machine, at most the engine's
    ``max_jobs`` at once. ``prestart`` workers start ``prestart_delay`` seconds after the
    engine, so the first run need not wait for one (~2-5 s) and the first page view need
    not share the CPU with one."""

    name = "local"

    def __init__(self, prestart: int = 0, prestart_delay: float = 0.0):
        self.prestart, self.prestart_delay = prestart, prestart_delay
        self._workers: list[LocalWorker] = []
        self._wake_r, self._wake_w = mp.Pipe(duplex=False)
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self, engine) -> None:
        super().start(engine)
        if self.prestart:
            timer = threading.Timer(self.prestart_delay, self._prestart, args=(self.prestart,))
            timer.daemon = True
            timer.start()
        self._thread = threading.Thread(target=self._dispatch_loop, name="latent-explorer-dispatch",
                                        daemon=True)
        self._thread.start()

    def _prestart(self, n: int) -> None:
        eng = self.engine
        with eng._lock:
            while not (self._stopping or eng.closed) and len(self._workers) < min(n, eng.max_jobs):
                self._workers.append(LocalWorker(eng.torch_threads))
        self.wake()

    # ------------------------------------------------------------ the queue
    def enqueue(self, job: Job) -> None:
        """Nothing to do here: the engine's queue is this backend's."""

    def control_queued(self, job: Job, kind: protocol.ControlKind, value) -> bool:
        apply_to_options(job.options, kind, value)
        return True

    def drop_queued(self, run_id: str, job: Job | None) -> bool:
        return True

    def drop_owner(self, owner: str) -> list[str]:
        eng = self.engine
        with eng._lock:
            return [r for r in eng._queue if eng._jobs[r].owner == owner]

    def wake(self) -> None:
        try:
            self._wake_w.send(1)
        except (OSError, BrokenPipeError):
            pass

    # ------------------------------------------------------------ workers
    def workers(self) -> list[dict]:
        with self.engine._lock:
            return [{"pid": w.proc.pid, "alive": w.proc.is_alive(), "ready": w.ready,
                     "run_id": w.job.run_id if w.job else None} for w in self._workers]

    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        t_end = time.time() + timeout
        while time.time() < t_end:
            if all(w["ready"] or not w["alive"] for w in self.workers()):
                return True
            time.sleep(0.05)
        return False

    @property
    def dispatching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------ dispatch
    def _schedule(self) -> None:
        """Give queued jobs to free workers, starting workers up to ``max_jobs``."""
        eng = self.engine
        with eng._lock:
            self._workers = [w for w in self._workers if not w.dead]
            while eng._queue:
                running = [w.job.owner for w in self._workers if w.job is not None]
                if len(running) >= eng.max_jobs:
                    return
                run_id = quotas.next_queued(eng._queue, lambda r: eng._jobs[r].owner,
                                            quotas.running_by_owner(running),
                                            eng.quotas.max_running_per_owner)
                if run_id is None:
                    return
                free = next((w for w in self._workers if w.job is None and w.ready), None)
                if free is None:
                    if any(w.job is None and not w.ready for w in self._workers):
                        return                      # wait for its "ready"
                    if len(self._workers) >= eng.max_jobs:
                        return
                    try:
                        self._workers.append(LocalWorker(eng.torch_threads))
                    except Exception as e:  # noqa: BLE001 - cannot start a process at all
                        eng._queue.remove(run_id)
                        eng._end(eng._jobs[run_id], Status.FAILED, f"could not start a worker process: {e}")
                    return
                eng._queue.remove(run_id)
                job = eng._jobs[run_id]
                job.worker, free.job = free, job
                job.transition(Status.STARTING)
                job.started = time.time()
                msg = protocol.StartJob(run_id, job.config.to_dict(), str(job.run_dir), job.options)
                if not free.send(msg):
                    self._worker_died(free)

    def _worker_died(self, w: LocalWorker) -> None:
        if w.proc.exitcode is None:
            w.proc.join(timeout=1.0)              # reap it, to report its exit code
        with self.engine._lock:
            w.dead = True
            code = w.proc.exitcode
            if w.job is not None and not w.job.status.ended:
                how = (f"signal {-code}" if code is not None and code < 0 else f"exit code {code}")
                self.engine._end(w.job, Status.FAILED,
                                 f"the worker process died ({how}: killed, or out of memory); "
                                 f"the last epoch checkpoint, if any, is kept")
            w.job = None
            for conn in (w.out_r, w.inbox_w):
                try:
                    conn.close()
                except OSError:
                    pass

    def _handle(self, w: LocalWorker, msg) -> None:
        if isinstance(msg, (protocol.Ready, protocol.Retiring)):
            with self.engine._lock:
                w.ready = isinstance(msg, protocol.Ready)     # a retiring worker takes no more runs
            return
        self.engine.apply(w, msg)

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
            with self.engine._lock:
                if self._stopping:
                    return
                conns = {w.out_r: w for w in self._workers if not w.dead}
            try:
                self._schedule()
                self._poll_workers(conns)
            except (EOFError, OSError):
                if self._stopping:
                    return
                time.sleep(0.1)
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bug
                traceback.print_exc()
                time.sleep(0.1)

    # ------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every running job (each is saved), drop the queue, end the workers."""
        eng = self.engine
        with eng._lock:
            eng._queue.clear()
            for w in self._workers:
                if w.job is not None:
                    w.send(protocol.Control(w.job.run_id, protocol.ControlKind.STOP))
        t_end = time.time() + timeout
        while time.time() < t_end:
            with eng._lock:
                if all(w.job is None or w.dead for w in self._workers):
                    break
            time.sleep(0.05)
        with eng._lock:
            self._stopping = True
            workers = list(self._workers)
        self.wake()
        for w in workers:
            w.send(protocol.Quit())
        for w in workers:
            w.proc.join(timeout=2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=2)
        if self._thread is not None:
            self._thread.join(timeout=2)
