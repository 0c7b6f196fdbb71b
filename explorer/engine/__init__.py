"""Background training: worker processes, a FIFO queue, live runs, controls.

Training never runs in the Streamlit server's process (two training threads there
reach ~1 core between them, because of the GIL, and slow every page) and never calls
Streamlit. The pieces, one module each::

    protocol.py   the typed messages both sides exchange (the contract; a run's status and
                  what a run reports are the run's vocabulary, explorer.runs)
    server.py     Engine: submit, control, the queue, dispatch
    record.py     Job: the server's record of one run (rows, snapshots, replay frames)
    local.py      the local backend's worker processes and their pipes
    worker.py     a worker process: one job at a time, run by training.run_loop
    backend_ray.py   the Ray backend's app-server side: RayEngine (LATENT_EXPLORER_ENGINE=ray)
    ray_actors.py    the Ray backend's cluster side: a scheduler actor and one actor per run

One run's path: a page calls ``Engine.submit`` → the run waits in the FIFO queue →
the dispatcher thread sends ``StartJob`` to a free worker → the worker builds a
``Trainer`` and runs ``training.run_loop`` with a ``JobRunner`` as its hooks, which
applies ``Control`` messages between steps and sends ``Rows``, ``SnapshotMsg`` and at
last ``Done`` → the dispatcher applies them to the run's ``Job`` → pages read
``Engine.view`` / ``Engine.list``. The worker writes the run folder (``explorer.store``)
at every epoch end and at the end.
"""
from __future__ import annotations

import threading

from .. import settings
from ..runs import ACTIVE, ENDED, LIVE, Status
from .backend_ray import RayEngine
from .server import Engine, EngineError, Job, NotAllowed


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
                _ENGINE = RayEngine()
            else:
                _ENGINE = Engine(prestart=1, prestart_delay=prestart_delay)
        return _ENGINE


def set_engine(engine: "Engine | None") -> "Engine | None":
    """Replace the process-wide engine (tests); returns the previous one."""
    global _ENGINE
    with _ENGINE_LOCK:
        old, _ENGINE = _ENGINE, engine
        return old


__all__ = ["ACTIVE", "ENDED", "LIVE", "Status", "Engine", "EngineError", "Job", "NotAllowed",
           "get_engine", "set_engine"]
