"""The child processes that do a server's heavy work, in one place: the engine's training
workers (:mod:`explorer.engine.local`), the pages' small networks
(:mod:`explorer.analysis.offload`) and the pre-lesson calibration
(:mod:`explorer.engine.calibration`).

Each is forked from a fork server (``multiprocessing``'s ``forkserver``: a clean interpreter,
started once per process, with no state copied from a server's threads) that imported what
they need once (:data:`PRELOAD`: torch, what the first Adam imports, those modules and sklearn's
datasets). The first child of a process pays the fork server's start (~3 CPU-s, what a fresh
interpreter paid for every child); every later one starts in a few milliseconds and shares
the imported pages with the others. Where there is no fork server (Windows), children are
spawned.

Two things a child must not inherit from how it was started:

* **the fork server's environment**, as it was when that started: :func:`process` hands the
  parent's environment, as it is at the child's start, to the child (:func:`_main`);
* **the parent's** ``__main__`` **module**: Streamlit runs each page as ``__main__`` in its
  script threads, and a child would re-import it, running the page (issue 25; a worker once
  re-ran home.py and crashed). :func:`_preparation` leaves it out of the start-up data of this
  module's children; other processes' data is left as it is. Hiding ``__main__`` while starting
  was not enough: a script thread puts a page back as ``__main__`` at any moment.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import traceback
from multiprocessing import spawn
from pathlib import Path

from . import settings

PREFIX = "latent-explorer-"      # the names of this module's children (and nothing else's)
ERROR_FILE = "error.txt"         # a child's failure, one line (:func:`run_in`)

# Imported once by the fork server before it forks any child; a module that cannot be
# imported (sklearn, optional) is skipped. Imports only: none of them runs a torch op at
# import, so no thread pool exists to be forked.
PRELOAD = ["explorer.engine.worker", "explorer.engine.calibration", "explorer.analysis.offload",
           "torch._dynamo", "sklearn.datasets"]

_START_LOCK = threading.Lock()


def context():
    """The multiprocessing context children start from: a fork server with :data:`PRELOAD`
    where the platform has one, else ``spawn``."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def process(target, args: tuple = (), *, name: str):
    """A child (not started: :func:`start`) that runs ``target(*args)`` with this process's
    environment as it is now. ``target`` and ``args`` travel pickled to a process this one
    starts: functions of ``explorer``, pipes, plain values."""
    return context().Process(target=_main, args=(settings.environment(), target, args),
                             name=PREFIX + name, daemon=True)


def start(proc) -> None:
    """Start ``proc``, one start at a time in this process."""
    with _START_LOCK:
        proc.start()


def run(target, args: tuple = (), *, name: str, timeout: float) -> int | None:
    """Run ``target(*args)`` in a child and wait for it: its exit code, or None when it took
    longer than ``timeout`` seconds (it is then killed). The calling thread only waits."""
    proc = process(target, args, name=name)
    start(proc)
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        return None
    return proc.exitcode


class ChildError(RuntimeError):
    """A child of :func:`run_in` failed; the message is one line: the exception it raised, or
    how it ended when it could not say."""


def run_in(folder: Path, target, args: tuple = (), *, name: str, timeout: float) -> None:
    """Run ``target(folder, *args)`` in a child that reads and writes its files in ``folder``
    (no data travels pickled, only the folder's path and ``args``). Raises :class:`TimeoutError`
    when it takes longer than ``timeout`` seconds (it is killed) and :class:`ChildError` when
    it fails."""
    code = run(_in_folder, (str(folder), target, args), name=name, timeout=timeout)
    if code is None:
        raise TimeoutError(f"more than {timeout:g} s")
    if code != 0:
        error = Path(folder) / ERROR_FILE
        raise ChildError(error.read_text("utf-8").strip() if error.is_file()
                         else f"killed by signal {-code}" if code < 0 else f"exit code {code}")


def _in_folder(folder: str, target, args: tuple) -> None:
    """The child of :func:`run_in`: any failure is one line in the folder's ``error.txt`` and
    exit code 1 (with its traceback on stderr, unless it is a ``ValueError``: a bad input that
    its message names)."""
    try:
        target(Path(folder), *args)
    except Exception as e:  # noqa: BLE001 - every failure goes back as one line
        if not isinstance(e, ValueError):
            traceback.print_exc(file=sys.stderr)
        (Path(folder) / ERROR_FILE).write_text(" ".join(f"{type(e).__name__}: {e}".split()), "utf-8")
        sys.exit(1)


def _main(environ: dict[str, str], target, args: tuple) -> None:
    settings.adopt_environment(environ)
    target(*args)


def _preparation(name):
    """``multiprocessing.spawn.get_preparation_data`` without the parent's ``__main__`` for
    this module's children (see the module's docstring). The data is read here, once, for the
    process being started."""
    data = _PREPARATION(name)
    if name.startswith(PREFIX):
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
    return data


_PREPARATION = spawn.get_preparation_data
if getattr(spawn.get_preparation_data, "__name__", "") != "_preparation":
    spawn.get_preparation_data = _preparation
