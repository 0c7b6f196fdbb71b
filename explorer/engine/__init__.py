"""Background training: worker processes, a queue that takes turns between people, live runs, controls.

Training never runs in the Streamlit server's process (two training threads there
reach ~1 core between them, because of the GIL, and slow every page) and never calls
Streamlit. The pieces, one module each::

    server.py     Engine: the bookkeeping (submit, controls and who may give them)
    reads.py      the views and lists pages read, which ended runs stay in memory
    admission.py  the one check before a run is queued or stored (class rules, caps, memory)
    record.py     Job: the server's record of one run (rows, snapshots, replay frames) and
                  its status machine (Job.transition)
    quotas.py     per-owner caps and the queue's order (next_queued), for both backends
    backend.py    Backend: the interface of where runs train (enqueue, control a queued
                  run, drop, dispatch, shut down)
    local.py      LocalBackend: worker processes of this machine and their pipes
    backend_ray.py   RayBackend (LATENT_EXPLORER_ENGINE=ray): the app-server side on a cluster
    ray_actors.py    the Ray backend's cluster side: a scheduler actor and one actor per run
    protocol.py   the typed messages server and worker exchange (a run's status and what a
                  run reports are the run's vocabulary, explorer.runs)
    worker.py     a worker: one job at a time, run by training.run_loop
    errors.py     EngineError, NotAllowed

One run's path: a page calls ``Engine.submit`` → the backend queues it → its dispatcher
sends ``StartJob`` to a free worker (the queue's order: ``quotas.next_queued``) → the
worker builds a ``Trainer`` and runs ``training.run_loop`` with a ``JobRunner`` as its
hooks, which applies ``Control`` messages between steps and sends ``Rows``,
``SnapshotMsg`` and at last ``Done`` → the backend hands them to ``Engine.apply``, which
updates the run's ``Job`` → pages read ``Engine.view`` / ``Engine.list``. The worker
writes the run folder (``explorer.store``) at every epoch end and at the end.
"""
from __future__ import annotations

import threading

from .. import settings
from ..runs import ACTIVE, ENDED, LIVE, Status
from .backend import Backend
from .backend_ray import RayBackend
from .errors import EngineError, NotAllowed
from .local import LocalBackend
from .record import Job
from .server import Engine


_ENGINE = None
_ENGINE_LOCK = threading.Lock()


def get_engine(prestart_delay: float = 5.0) -> "Engine":
    """The process-wide engine, created on first use with one worker pre-started
    ``prestart_delay`` seconds later (the server's start-up creates it with no delay and
    waits for the worker: see ``explorer.ui.warmup``)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None or _ENGINE._closed:
            if settings.get().engine == "ray":      # LATENT_EXPLORER_ENGINE=ray: runs on a Ray cluster
                _ENGINE = Engine(backend=RayBackend())
            else:
                _ENGINE = Engine(prestart=1, prestart_delay=prestart_delay)
        return _ENGINE


def set_engine(engine: "Engine | None") -> "Engine | None":
    """Replace the process-wide engine (tests); returns the previous one."""
    global _ENGINE
    with _ENGINE_LOCK:
        old, _ENGINE = _ENGINE, engine
        return old


__all__ = ["ACTIVE", "ENDED", "LIVE", "Status", "Backend", "Engine", "EngineError", "Job", "LocalBackend",
           "NotAllowed", "RayBackend", "get_engine", "set_engine"]
