"""A shared server's engine against its least careful visitors (issue 25): a fair queue over
owners and a cap on the queue as a whole; a memory budget per run, estimated before it starts
and held while it trains; a worker killed or out of memory recorded as failed in the run's
folder; a worker that never runs the page that spawned it."""
from __future__ import annotations

import os
import resource
import signal
import sys
import threading
import time
import types

import pytest

from explorer import store
from explorer.config import RunConfig
from explorer.engine import Engine, EngineError, quotas
from explorer.runs import Status

MNIST_ISSUE = RunConfig().replace(data={"name": "mnist", "binarize": "dynamic"},
                                  train={"batch_size": 20_000, "mc_samples": 1000, "epochs": 1})


def tiny(**train) -> RunConfig:
    return RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                               train={"epochs": 1, "batch_size": 64, **train})


# ------------------------------------------------------------------ the queue

def test_the_queue_goes_round_robin_over_owners():
    queue = [f"{o}{i}" for o in "abcd" for i in range(12)] + ["e0"]
    order = quotas.fair_order(queue, lambda r: r[0], running={"a": 1}, max_running_per_owner=2)
    assert order.index("e0") < 5                       # a person's first run before anyone's second
    assert order[:4] == ["b0", "c0", "d0", "e0"]       # a trains one already: its first waits a round
    assert order[4:8] == ["a0", "b1", "c1", "d1"]
    assert sorted(order) == sorted(queue)
    # the one to start: the first in that order whose owner is under the running cap
    assert quotas.next_queued(queue, lambda r: r[0], {"a": 1, "b": 2, "c": 2}, 2) == "d0"


@pytest.fixture(scope="module")
def queue_engine(tmp_path_factory):
    """One engine, one worker (started once), for the queue test and then the memory budget
    test: the queue test leaves nothing queued or live behind (its owners' queued runs are
    dropped, its paused run stopped and ended), and the budget test's owner checks only the
    runs it starts, by id."""
    eng = Engine(tmp_path_factory.mktemp("limits") / "runs", max_jobs=1, max_queued_per_owner=12,
                 max_queued=50, load_existing=False)
    yield eng
    eng.shutdown()


def test_a_fifth_owner_is_at_most_fifth_in_line_and_the_queue_has_a_cap(queue_engine):
    eng = queue_engine
    first = eng.submit(tiny(epochs=100_000), "a", start_paused=True)     # holds the one slot
    try:
        eng.wait(first, 60, statuses={Status.PAUSED})
        for owner in "abcd":
            for _ in range(12 if owner != "a" else 11):
                eng.submit(tiny(epochs=100_000), owner)
        late = eng.submit(tiny(), "e")
        assert eng.queue_position(late) <= 5                   # not 48th: four people are not 48
        assert eng.entry(late).queue_position == eng.queue_position(late)
        eng.submit(tiny(), "f")
        eng.submit(tiny(), "g")
        with pytest.raises(EngineError, match=r"the queue is full: 50 runs wait.*LATENT_EXPLORER_MAX_QUEUED"):
            eng.submit(tiny(), "h")
    finally:
        for owner in "abcdefg":
            eng.drop_owner(owner)                              # the queued runs
        eng.stop(first, "a")
        assert eng.wait(first, 60) == Status.STOPPED


# ------------------------------------------------------------------ memory

def test_an_over_budget_run_is_refused_before_it_starts_and_the_server_stays_small(tmp_path):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    eng = Engine(tmp_path / "runs", max_jobs=1, load_existing=False)
    try:
        with pytest.raises(EngineError, match=r"this run would need about \d+\.\d GB of memory.*"
                                              r"LATENT_EXPLORER_RUN_MEMORY_MB\)\. Lower Batch size \(20,000\), "
                                              r"L samples of z per image \(1,000\)"):
            eng.submit(MNIST_ISSUE, "a")
        assert eng.list() == [] and eng.workers() == []           # nothing queued, no worker grew
    finally:
        eng.shutdown()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024    # KiB


def test_a_run_past_its_budget_fails_with_the_reason_and_the_next_run_trains(queue_engine):
    """A run held to 300 MB (its worker alone needs more): the allocation past the budget fails
    in the worker, the run is failed with "memory budget exceeded" and the settings to change,
    in its folder too; the engine and the next run carry on (on a fresh worker: the one past
    its budget retires). The module's engine: its worker is warm, spawned for the queue test."""
    eng = queue_engine
    big_step = RunConfig().replace(train={"epochs": 1, "batch_size": 1024, "mc_samples": 10})
    rid = eng.submit(big_step, "budget", memory_mb=300, estimate=False)   # digits: ~60 MB a step
    assert eng.wait(rid, 120) == Status.FAILED
    v = eng.view(rid)
    assert v.reason.startswith("memory budget exceeded") and "LATENT_EXPLORER_RUN_MEMORY_MB" in v.reason
    assert store.read_summary(v.run_dir)["status"] == "failed"
    ok = eng.submit(tiny(), "budget")
    assert eng.wait(ok, 120) == Status.FINISHED


# ------------------------------------------------------------------ records

def test_a_killed_worker_leaves_a_failed_run_that_stays_failed_after_a_restart(tmp_path):
    runs = tmp_path / "runs"
    eng = Engine(runs, max_jobs=1)
    try:
        rid = eng.submit(tiny(epochs=100_000), "a")
        eng.wait(rid, 60, statuses={Status.RUNNING})
        pid = next(w["pid"] for w in eng.workers() if w["run_id"] == rid)
        os.kill(pid, signal.SIGKILL)                               # a real kill -9
        assert eng.wait(rid, 60) == Status.FAILED
        assert "signal 9" in eng.view(rid).reason
    finally:
        eng.shutdown()
    summary = store.read_summary(runs / rid)
    assert summary["status"] == "failed" and "signal 9" in summary["reason"] and summary["owner"] == "a"
    again = Engine(runs, max_jobs=1)                               # the server restarted
    try:
        e = again.entry(rid)
        assert e.status == Status.FAILED and "signal 9" in e.reason and "interrupted" not in e.reason
    finally:
        again.shutdown()


# ------------------------------------------------------------------ the worker's start

def test_a_worker_never_runs_the_page_that_spawned_it(tmp_path):
    """Streamlit runs each page as ``__main__`` in its script threads: while a worker was being
    spawned, a page's run could put itself back as ``__main__`` and the worker ran the page
    (a worker re-ran home.py and crashed). A page that writes a marker stands for it here.
    The page's thread puts itself back again and again until the worker has been started
    (``Process.start`` has returned: its start-up data is sent, the race is over); it then
    stays ``__main__`` while the worker warms up and trains on, with no other worker started.
    (Spinning on through the worker's warm-up and run cost a core for nothing.)"""
    marker, page = tmp_path / "page-ran", tmp_path / "page.py"
    page.write_text(f"open({str(marker)!r}, 'a').write('ran\\n')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(page)
    real, stop = sys.modules["__main__"], threading.Event()

    def page_runs():                                   # a script thread, again and again
        while not stop.is_set():
            sys.modules["__main__"] = fake
    thread = threading.Thread(target=page_runs, daemon=True)
    thread.start()
    eng = Engine(tmp_path / "runs", max_jobs=1, load_existing=False, prestart=1)
    try:
        t_end = time.time() + 60
        while not eng.workers() and time.time() < t_end:     # listed once its start() returned
            time.sleep(0.01)
        stop.set()
        thread.join()
        assert sys.modules["__main__"] is fake                 # the page is still __main__
        (pid,) = [w["pid"] for w in eng.workers()]
        assert eng.wait_workers_ready(120)
        rid = eng.submit(tiny(), "a")
        assert eng.wait(rid, 120) == Status.FINISHED
        assert [w["pid"] for w in eng.workers()] == [pid]     # the one worker started under the page
    finally:
        stop.set()
        thread.join()
        sys.modules["__main__"] = real
        eng.shutdown()
    assert not marker.exists()
