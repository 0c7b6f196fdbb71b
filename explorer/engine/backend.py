"""Where runs train: the :class:`Backend` interface the engine composes.

The engine (:class:`~explorer.engine.server.Engine`) keeps the bookkeeping: the record of
every run (:class:`~explorer.engine.record.Job`), who may change one, the per-owner caps
(:mod:`.quotas`) and what pages read. A backend trains the runs: it takes a new run into
its queue, changes or drops a run while it is queued, dispatches queued runs to workers
(its own thread), and shuts down. Two implement it: :class:`~explorer.engine.local.LocalBackend`
(worker processes on this machine) and :class:`~explorer.engine.backend_ray.RayBackend`
(actors on a Ray cluster).

The contract, both ways:

* The engine calls :meth:`Backend.start` once, at the end of its own construction, so a
  backend never sees a half-built engine. Every other call comes with the engine's lock
  held, except :meth:`shutdown`, :meth:`workers` and :meth:`wait_workers_ready`.
* A backend reads and changes the engine's records only under ``engine._lock``, and reports
  what a worker says through :meth:`Engine.apply` (a message of
  :mod:`~explorer.engine.protocol` about the run its worker handle holds, ``handle.job``) and
  a run that could not go on through ``Engine._end``.
"""
from __future__ import annotations

import abc

from . import protocol
from .record import Job


class Backend(abc.ABC):
    """Trains an engine's runs (see the module's doc)."""

    name: str = ""                   # "local" or "ray" (LATENT_EXPLORER_ENGINE)
    unavailable: str | None = None   # why this backend cannot train (None: it can)

    def start(self, engine) -> None:
        """Begin, for ``engine`` (an :class:`~explorer.engine.server.Engine`, complete by now):
        start the dispatcher."""
        self.engine = engine

    @abc.abstractmethod
    def enqueue(self, job: Job) -> None:
        """Take a new run into the queue (its caps checked); raise ``EngineError`` to refuse it.
        The engine records the run when this returns."""

    @abc.abstractmethod
    def control_queued(self, job: Job, kind: protocol.ControlKind, value) -> bool:
        """Keep a control of a queued run for its start; False if it started meanwhile (the
        engine then sends the control to its worker)."""

    @abc.abstractmethod
    def drop_queued(self, run_id: str, job: Job | None) -> bool:
        """Drop a run from the queue (``job``: its record, if the engine holds one); False if it
        started meanwhile (the engine then stops it instead)."""

    @abc.abstractmethod
    def drop_owner(self, owner: str) -> list[str]:
        """Drop every queued run of ``owner``; returns their ids."""

    def wake(self) -> None:
        """Something changed (a submit, a control): dispatch soon."""

    @abc.abstractmethod
    def workers(self) -> list[dict]:
        """One entry per worker: ``pid``, ``alive``, ``ready``, ``run_id`` (None: idle)."""

    @abc.abstractmethod
    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        """Block until the workers started so far have warmed up; False on timeout."""

    @property
    @abc.abstractmethod
    def dispatching(self) -> bool:
        """Whether the dispatcher thread is alive."""

    @abc.abstractmethod
    def shutdown(self, timeout: float = 10.0) -> None:
        """End the dispatcher (the engine accepts no new run by now). What happens to the runs
        training is the backend's: local workers stop them (each is saved), Ray runs go on."""
