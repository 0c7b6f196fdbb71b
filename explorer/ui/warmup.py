"""Server start-up: pay for the heavy work before the first visitor does.

``streamlit run app.py`` serves ``app.py`` (its menu and frame, then ``home.py`` or a page
of ``pages/``) through ``st.App``, whose ``lifespan`` runs :func:`warm` before the server
accepts connections: it imports torch, plotly and the modules every page needs, runs one
forward pass, creates
the training engine (which reloads the runs on disk and starts its first worker process)
and freezes the heap so that garbage collections stop walking it. The server then serves
(~2-3 s after launch) while the worker warms up on the other core (~6 s, niced: it
imports torch, sklearn and Adam's machinery); a run started meanwhile waits in the queue
for it. The log says "Latent Explorer warmed up" when the worker is ready.

On 2 cores: without this the first page view of a fresh server spent ~2.5 s importing,
and automatic full garbage collections (~100 ms each, ``benchmarks/gc_pause.py``) were
the slider's latency outliers.

The lifespan also caps glibc's malloc arenas and trims the heap once a minute
(:func:`limit_malloc_arenas`, :func:`trim_heap`), so that a server with many sessions
does not keep every thread's high-water mark of memory.

A warm-up failure never stops the server: the page that needs the failed piece says why.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


def warm(worker_timeout: float | None = 30.0) -> dict[str, float]:
    """Import and exercise what the first page run needs, start the engine and (unless
    ``worker_timeout`` is None) wait for its first worker. Returns the seconds each stage took."""
    times = {}
    t0 = time.perf_counter()
    from ..engine import get_engine
    engine = get_engine(prestart_delay=0.0)  # its worker warms up on the other core meanwhile
    times["engine"] = time.perf_counter() - t0
    import torch
    torch.set_num_threads(1)  # as every page sets it (explorer.ui.frame.page_setup)
    import plotly.graph_objects  # noqa: F401
    import streamlit.elements.plotly_chart  # noqa: F401  (its theme set-up: ~0.2 s)
    import streamlit.emojis  # noqa: F401  (page icons: ~0.15 s)

    from .. import data, models, objective, store  # noqa: F401
    from ..analysis import latent  # noqa: F401
    from ..config import ModelConfig
    from ..figures import latent as latent_figures  # noqa: F401
    with torch.no_grad():
        models.build_model(ModelConfig(), (1, 8, 8), "cpu").reconstruct(torch.zeros(2, 1, 8, 8))
    times["imports"] = time.perf_counter() - t0 - times["engine"]
    if worker_timeout is not None:
        t1 = time.perf_counter()
        engine.wait_workers_ready(worker_timeout)
        times["worker"] = time.perf_counter() - t1
    return times


def freeze_heap() -> None:
    """Move every object alive now (the imported modules: ~220k objects) out of the garbage
    collector's reach (``gc.freeze``). Python's automatic full collections then no longer
    walk them: a full collection goes from ~100 ms to under 1 ms (``benchmarks/gc_pause.py``);
    those collections had been the slider's latency outliers."""
    gc.collect()
    gc.freeze()


def _warm_logged() -> dict[str, float] | None:
    """:func:`warm` without the wait for the worker, then :func:`freeze_heap`; None on failure."""
    try:
        times = warm(worker_timeout=None)
        freeze_heap()
        return times
    except Exception:  # noqa: BLE001 - never stop the server; pages report their own errors
        log.exception("warm-up failed; pages will load what they need themselves")
        return None


def _report_when_ready(times: dict[str, float], timeout: float = 120.0) -> None:
    """Wait (in the background) for the engine's first worker, then log the start-up times."""
    try:
        from ..engine import get_engine
        t1 = time.perf_counter()
        get_engine().wait_workers_ready(timeout)
        times = dict(times, worker=time.perf_counter() - t1)
    except Exception:  # noqa: BLE001 - the Train page reports an engine that cannot start
        log.exception("the training engine's first worker did not start")
    print("Latent Explorer warmed up: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()),
          flush=True)


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (``mallopt(M_ARENA_MAX)``; the ``MALLOC_ARENA_MAX``
    environment variable does the same). Streamlit runs every session's script in its own
    thread, and glibc can give each busy thread its own arena (up to 8 per core), each
    keeping its own high-water mark of freed memory. In the 20-session load test the
    server's memory kept creeping (~6 MiB a minute) without this and the minutely trim, and
    levelled off with them. Returns False where this is not glibc (nothing to do there)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-8, int(arenas)))        # -8: M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def trim_heap() -> bool:
    """Give freed heap memory back to the operating system (glibc ``malloc_trim``)."""
    try:
        import ctypes
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def _trim_forever(every: float) -> None:
    while True:
        time.sleep(every)
        trim_heap()


def match_upload_limit() -> int | None:
    """Streamlit's server refuses any upload above ``server.maxUploadSize`` before a page
    sees it: make that the app's own limit (``LATENT_EXPLORER_UPLOAD_MB``), so the one
    setting governs. Returns the limit in MiB (None when the settings are malformed: the
    pages then say so)."""
    from streamlit import config

    from .. import settings
    try:
        mb = settings.get().upload_mb
    except ValueError:
        return None
    config.set_option("server.maxUploadSize", mb)
    return mb


SWITCH_INTERVAL_S = 0.001    # the interpreter's thread switch interval (CPython's default: 5 ms)


def shorten_switch_interval(seconds: float = SWITCH_INTERVAL_S) -> None:
    """Hand the interpreter (the GIL) over between threads every ``seconds`` instead of
    CPython's 5 ms. Every session's script runs in its own thread of this one process, and a
    thread coming back from a blocking call (an SQLite statement, a file read) waits for a
    busy thread to hand over: up to one interval each time. A teacher's push of 30 runs makes
    ~700 such calls (benchmarks/push_load.py, beside 4 threads spinning in Python: 19-25 s
    with 5 ms, 3.2-4.0 s with 1 ms), and the server's event loop, which sends every
    session's messages, waits the same way behind the page runs."""
    sys.setswitchinterval(seconds)


@asynccontextmanager
async def lifespan(_app):
    shorten_switch_interval()
    limit_malloc_arenas()
    match_upload_limit()
    times = await asyncio.to_thread(_warm_logged)
    if times is not None:            # serve now; the first worker finishes warming meanwhile
        threading.Thread(target=_report_when_ready, args=(times,), name="latent-explorer-ready",
                         daemon=True).start()
    threading.Thread(target=_trim_forever, args=(60.0,), name="latent-explorer-trim", daemon=True).start()
    yield
