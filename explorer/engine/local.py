"""The local backend: worker processes on this machine, each with its own pair of pipes.

Workers are started with the ``spawn`` method (a clean interpreter: no state copied from a
server with threads), without re-importing the parent's ``__main__`` module (see
:func:`_bare_main`), so they import only torch and ``explorer``. Each worker has its own
pipes (not one shared queue): a worker killed in the middle of a message garbles only its
own pipe, which the dispatcher then treats as dead.
"""
from __future__ import annotations

import sys
import threading
import types
from contextlib import contextmanager

from .worker import worker_main


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


class LocalWorker:
    """A worker process and the server's ends of its two pipes."""

    def __init__(self, ctx, threads: int):
        self.inbox_r, self.inbox_w = ctx.Pipe(duplex=False)
        self.out_r, self.out_w = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=worker_main, args=(self.inbox_r, self.out_w, threads),
                                daemon=True, name="latent-explorer-worker")
        with _START_LOCK, _bare_main():
            self.proc.start()
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


