"""The training engine: worker processes, controls, snapshots, the FIFO queue, dead workers,
reloading runs from disk, uploads and the per-session cap."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch

from explorer import jobs, store
from explorer.config import RunConfig
from explorer.jobs import Engine, EngineError, Job, RowLog
from explorer.models import build_model


def tiny(epochs: int = 2, **train) -> RunConfig:
    """Digits, a small MLP, batch 64: 23 steps per epoch."""
    t = {"epochs": epochs, "batch_size": 64, "lr": 3e-3, "seed": 1}
    t.update(train)
    return RunConfig.from_dict({"model": {"hidden": [32], "latent_dim": 2}, "train": t})


def until(pred, timeout: float = 60.0, what: str = "condition"):
    """Poll ``pred`` until it returns something truthy (the engine works in the background)."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    """One engine for the module, at most one job at a time (so the queue is exercised), its
    worker started once: spawning a worker (importing torch) is the slow part of these tests."""
    e = Engine(tmp_path_factory.mktemp("engine") / "runs", max_jobs=1, snapshot_seconds=0.1,
               max_runs_per_session=3, prestart=1, load_existing=False)
    yield e
    e.shutdown()


# ------------------------------------------------------------------ a whole run

def test_run_publishes_rows_snapshots_and_saves(eng):
    rid = eng.submit(tiny(epochs=2), "alice")
    assert eng.wait(rid, 90) == "finished"
    v = eng.view(rid)
    spe = v["meta"]["steps_per_epoch"]
    assert spe == 23 and v["progress"]["step"] == 2 * spe
    assert [r["step"] for r in v["rows"]] == list(range(1, 2 * spe + 1))
    assert [r["step"] for r in v["val_rows"]] == [spe, 2 * spe]          # one per epoch
    snap = v["snapshot"]
    n_probe = min(jobs.PROBE_N, v["meta"]["n_val"])
    assert snap["mu"].shape == (n_probe, 2) and snap["logvar"].shape == (n_probe, 2)
    assert snap["recon"].shape == (jobs.RECON_N, 1, 8, 8)
    assert v["meta"]["originals"].shape == (jobs.RECON_N, 1, 8, 8)
    assert len(v["meta"]["probe_labels"]) == n_probe
    assert snap["step"] == 2 * spe and snap["beta"] == 1.0 and snap["lr"] == 3e-3
    # per-dimension KL of the snapshot sums to the probe set's KL (eq. 14, dimension by dimension)
    from explorer import objective
    kl = objective.kl_std_normal(torch.from_numpy(snap["mu"]), torch.from_numpy(snap["logvar"]))
    assert snap["kl_per_dim"].sum() == pytest.approx(float(kl.mean()), rel=1e-4)
    # replay history: first frame at step 0, last frame is the final snapshot
    steps = [h["step"] for h in v["history"]]
    assert steps[0] == 0 and steps[-1] == 2 * spe and steps == sorted(steps)
    # the run folder, in the store's format
    run = store.open_run(v["run_dir"])
    assert run.summary["status"] == "finished" and run.summary["owner"] == "alice"
    assert len(run.metrics()) == 2 * spe
    assert run.summary["val"]["elbo"] == pytest.approx(v["summary"]["val"]["elbo"])
    assert run.load_model("cpu").latent_dim == 2
    listed = {d["run_id"]: d for d in eng.list()}
    assert listed[rid]["status"] == "finished" and listed[rid]["saved"]


def test_workers_run_at_a_lower_cpu_priority_than_the_server(eng):
    rid = eng.submit(tiny(epochs=1), "nice")
    eng.wait(rid, 90)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    pids = [w["pid"] for w in eng.workers() if w["alive"]]
    assert pids and all(os.getpriority(os.PRIO_PROCESS, p) == min(19, mine + jobs.WORKER_NICE) for p in pids)


def test_pause_step_resume_stop(eng):
    rid = eng.submit(tiny(epochs=500), "bob", start_paused=True)
    assert eng.wait(rid, 90, statuses=("paused",)) == "paused"
    until(lambda: eng.view(rid)["meta"].get("total_steps"), what="started")
    time.sleep(0.3)
    assert eng.view(rid)["progress"].get("step", 0) == 0         # paused: no step taken
    eng.step(rid, 3)
    until(lambda: eng.view(rid)["progress"]["step"] == 3, what="three single steps")
    time.sleep(0.3)
    v = eng.view(rid)
    assert v["progress"]["step"] == 3 and v["status"] == "paused"
    assert [r["step"] for r in v["rows"]] == [1, 2, 3]
    assert v["snapshot"]["step"] == 3                               # a snapshot after each single step
    eng.resume(rid)
    assert eng.view(rid)["status"] == "running"
    until(lambda: eng.view(rid)["progress"]["step"] > 30, what="training after resume")
    eng.pause(rid)
    assert eng.view(rid)["status"] == "paused"
    until(lambda: eng.view(rid)["progress"].get("paused") and eng.view(rid)["progress"]["seq"] >= 2,
          what="the worker to acknowledge the pause")
    s1 = eng.view(rid)["progress"]["step"]
    time.sleep(0.3)
    assert eng.view(rid)["progress"]["step"] == s1                  # stays paused
    eng.step(rid)                                                   # Step while paused: one more
    until(lambda: eng.view(rid)["progress"]["step"] == s1 + 1, what="one step")
    eng.stop(rid)
    assert eng.wait(rid, 60) == "stopped"
    v = eng.view(rid)
    assert v["reason"] == "stopped by the user"
    run = store.open_run(v["run_dir"])                              # saved at stop
    assert run.summary["status"] == "stopped" and run.summary["steps"] == s1 + 1
    with pytest.raises(EngineError, match="cannot be controlled"):
        eng.pause(rid)


def test_beta_and_lr_changes_reach_the_worker(eng):
    rid = eng.submit(tiny(epochs=500), "carol", start_paused=True)
    eng.wait(rid, 90, statuses=("paused",))
    eng.step(rid, 2)
    until(lambda: eng.view(rid)["progress"].get("step") == 2, what="two steps")
    eng.set_beta(rid, 4.0)
    eng.set_lr(rid, 1e-3)
    eng.step(rid, 2)
    until(lambda: eng.view(rid)["progress"].get("step") == 4, what="two more steps")
    v = eng.view(rid)
    rows = v["rows"]
    assert [r["beta"] for r in rows] == [1.0, 1.0, 4.0, 4.0]
    assert [r["lr"] for r in rows] == [3e-3, 3e-3, 1e-3, 1e-3]
    assert rows[3]["beta_kl"] == pytest.approx(4.0 * rows[3]["kl"], rel=1e-5)
    assert {"step": 2, "param": "beta", "value": 4.0} in v["events"]
    assert {"step": 2, "param": "lr", "value": 1e-3} in v["events"]
    assert v["progress"]["beta"] == 4.0 and v["progress"]["lr"] == 1e-3
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(EngineError, match="β must be"):
            eng.set_beta(rid, bad)
    with pytest.raises(EngineError, match="learning rate"):
        eng.set_lr(rid, 5.0)
    eng.stop(rid)
    eng.wait(rid, 60)
    assert store.read_summary(v["run_dir"])["events"][0] == {"step": 2, "param": "beta", "value": 4.0}


def test_maximum_run_duration_stops_and_saves(eng):
    eng.max_run_seconds = 1.0                                   # LATENT_EXPLORER_MAX_RUN_SECONDS
    try:
        rid = eng.submit(tiny(epochs=100_000), "gina")
    finally:
        eng.max_run_seconds = 1800.0
    assert eng.wait(rid, 90) == "stopped"
    v = eng.view(rid)
    assert "maximum run duration" in v["reason"] and v["progress"]["step"] > 0
    s = store.read_summary(v["run_dir"])
    assert s["status"] == "stopped" and "maximum run duration" in s["reason"]


def test_bad_data_fails_with_the_reason(eng, tmp_path):
    cfg = RunConfig.from_dict({"data": {"name": "file", "path": str(tmp_path / "missing.npz")},
                               "train": {"epochs": 1}})
    rid = eng.submit(cfg, "dave")
    assert eng.wait(rid, 90) == "failed"
    v = eng.view(rid)
    assert "missing.npz" in v["reason"] and "Traceback" not in v["reason"]
    assert not {d["run_id"]: d for d in eng.list()}[rid]["saved"]
    rid2 = eng.submit(tiny(epochs=1), "dave")                    # the worker lives on
    assert eng.wait(rid2, 90) == "finished"


def test_killed_worker_fails_its_job_and_the_next_job_runs(eng):
    rid = eng.submit(tiny(epochs=500), "erin")
    eng.wait(rid, 90, statuses=("running",))
    until(lambda: eng.view(rid)["progress"].get("step", 0) > 5, what="some steps")
    pid = next(w["pid"] for w in eng.workers() if w["run_id"] == rid)
    os.kill(pid, signal.SIGKILL)
    assert eng.wait(rid, 30) == "failed"
    v = eng.view(rid)
    assert "worker process died" in v["reason"] and "signal 9" in v["reason"]
    assert eng._thread.is_alive()                                # the dispatcher lives on
    assert pid not in [w["pid"] for w in eng.workers()]
    rid2 = eng.submit(tiny(epochs=1), "erin")
    assert eng.wait(rid2, 120) == "finished"
    assert pid not in [w["pid"] for w in eng.workers()]


# ------------------------------------------------------- queue, owners, session cap

def test_fifo_queue_under_the_limit(eng):
    e = eng                                                      # max_jobs=1, 3 runs per session
    a = e.submit(tiny(epochs=500), "s1", start_paused=True)
    b = e.submit(tiny(epochs=1), "s1")
    c = e.submit(tiny(epochs=1), "s2")
    d = e.submit(tiny(epochs=1), "s2")
    e.wait(a, 90, statuses=("paused",))
    assert [e.queue_position(r) for r in (a, b, c, d)] == [None, 1, 2, 3]
    assert [e.view(r)["status"] for r in (b, c, d)] == ["queued"] * 3
    x = e.submit(tiny(epochs=1), "s1")                       # s1's third run: allowed
    with pytest.raises(EngineError, match="limit"):         # its fourth: refused
        e.submit(tiny(epochs=1), "s1")
    e.set_beta(c, 2.0)                                       # kept until c starts
    assert e.drop_owner("s1") == 2                           # s1's session ended:
    assert e.view(b) is None and e.view(x) is None           # its queued runs are dropped,
    assert e.view(a)["status"] == "paused"                   # its started run goes on
    assert [e.queue_position(r) for r in (c, d)] == [1, 2]
    e.stop(a)                                                # frees the only worker
    order = []

    def watch():
        while len(order) < 2:
            for r in (c, d):
                if r not in order and e.view(r)["status"] != "queued":
                    order.append(r)
            time.sleep(0.01)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    assert e.wait(d, 120) == "finished"
    t.join(5)
    assert order == [c, d]                                   # first in, first out
    assert e.view(c)["ended"] <= e.view(d)["started"]        # never two at once
    assert [r["beta"] for r in e.view(c)["rows"]] == [2.0] * 23
    assert [r["beta"] for r in e.view(d)["rows"]] == [1.0] * 23


# ------------------------------------------------------------- restart from disk

def test_restart_reloads_runs_from_disk(eng):
    rid = eng.submit(tiny(epochs=1), "fred")
    eng.wait(rid, 90)
    # a folder left by a server that died mid-run: its summary still says "running"
    cfg = tiny(epochs=5)
    model = build_model(cfg.model, (1, 8, 8), "cpu")
    store.save_run(eng.runs_dir / "old-run", cfg, model, [{"step": 1.0, "loss": 3.0}],
                   {"status": "running", "epochs": 2.0, "steps": 46, "data_shape": [1, 8, 8]})
    e2 = Engine(eng.runs_dir, max_jobs=1, load_existing=True)   # "the server restarted"
    try:
        runs = {d["run_id"]: d for d in e2.list()}
        assert runs[rid]["status"] == "finished"
        assert runs["old-run"]["status"] == "interrupted" and "epoch 2" in runs["old-run"]["reason"]
        v = e2.view(rid)
        old = eng.view(rid)
        assert [r["step"] for r in v["rows"]] == [r["step"] for r in old["rows"]]
        assert len(v["val_rows"]) == 1
        assert v["summary"]["val"]["elbo"] == pytest.approx(old["summary"]["val"]["elbo"])
        assert e2.refresh_from_disk() == 0                       # nothing new
        assert e2.workers() == []                                # reading started no worker
    finally:
        e2.shutdown()


# ------------------------------------------------------------------ uploads

def test_save_upload(tmp_path):
    runs = tmp_path / "runs"
    x = np.random.default_rng(0).integers(0, 255, (20, 8, 8), dtype=np.uint8)
    import io
    buf = io.BytesIO()
    np.savez(buf, x=x)
    p1 = jobs.save_upload(runs, buf.getvalue(), "mine.npz")
    p2 = jobs.save_upload(runs, buf.getvalue(), "again.npz")
    assert p1 == p2 and p1.parent == runs / "uploads" and p1.suffix == ".npz"
    from explorer import data
    xs, _ = data.load_array_file(p1)
    assert xs.shape == (20, 1, 8, 8)
    with pytest.raises(EngineError, match="unsupported file type"):
        jobs.save_upload(runs, b"abc", "evil.pkl")
    with pytest.raises(EngineError, match="limit"):
        jobs.save_upload(runs, b"x" * 2000, "big.csv", max_bytes=1000)
    assert store.list_runs(runs) == []                           # uploads are not runs


# ---------------------------------------------------------- bounded memory

def test_ended_runs_beyond_the_last_few_are_read_back_from_disk_not_kept(tmp_path, monkeypatch):
    """An engine that has trained many runs keeps only the KEEP_ENDED most recent ones' rows
    and replay frames in memory; an older run's rows come back from metrics.csv intact."""
    monkeypatch.setattr(jobs, "KEEP_ENDED", 3)
    cfg = tiny(epochs=1)
    model = build_model(cfg.model, (1, 8, 8), "cpu")
    runs = tmp_path / "runs"
    for i in range(6):
        rows = [{"step": float(s), "loss": 10.0 - s - i} for s in range(1, 41)]
        store.save_run(runs / f"r{i}", cfg, model, rows, {"status": "finished", "steps": 40})
    e = Engine(runs, max_jobs=1, load_existing=True)
    try:
        for i in range(6):                                   # a page views each in turn
            v = e.view(f"r{i}")
            assert [r["loss"] for r in v["rows"]] == [10.0 - s - i for s in range(1, 41)]
        loaded = [rid for rid in (f"r{i}" for i in range(6)) if len(e._jobs[rid].rows)]
        assert loaded == ["r3", "r4", "r5"]                  # the three most recently viewed
        assert all(e._jobs[f"r{i}"].rows_on_disk for i in range(3))
        again = e.view("r0")                                 # read back from disk, intact
        assert [r["loss"] for r in again["rows"]] == [10.0 - s for s in range(1, 41)]
        assert not e._jobs["r0"].rows_on_disk and e._jobs["r3"].rows_on_disk
    finally:
        e.shutdown()


def test_a_failed_runs_rows_are_never_evicted(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "KEEP_ENDED", 1)
    e = Engine(tmp_path / "runs", max_jobs=1, load_existing=False)
    try:
        cfg = tiny(epochs=1)
        for rid, status in (("bad", "failed"), ("ok1", "finished"), ("ok2", "finished")):
            job = jobs.Job(run_id=rid, owner="", config=cfg, run_dir=tmp_path / "runs" / rid)
            job.add_rows([{"step": 1.0, "loss": 1.0}])
            with e._lock:
                e._jobs[rid] = job
                e._end(job, status, None)
        assert len(e._jobs["bad"].rows) == 1 and not e._jobs["bad"].rows_on_disk
    finally:
        e.shutdown()


def test_rowlog_thins_evenly_and_keeps_epoch_rows():
    log = RowLog(max_rows=100)
    for s in range(1, 1001):
        row = {"step": s, "loss": 1.0}
        if s % 250 == 0:
            row["val_elbo"] = -1.0
        log.add(row)
    steps = [r["step"] for r in log.rows]
    assert len(steps) <= 100 and steps == sorted(steps)
    assert {250, 500, 750, 1000} <= set(steps)
    gaps = np.diff([s for s in steps if s % 250])
    assert gaps.min() == gaps.max() == log.stride                 # evenly spaced


def test_history_is_bounded_in_frames_and_bytes():
    job = Job(run_id="r", owner="", config=RunConfig(), run_dir=None)
    for i in range(1000):
        job.add_snapshot({"step": i, "epoch": i / 10, "mu": np.zeros((2000, 2), np.float32)})
    steps = [h["step"] for h in job.history]
    assert len(steps) <= jobs.MAX_HISTORY and steps[0] == 0 and steps == sorted(steps)
    assert steps[-1] > 900                                         # recent frames are kept
    big = Job(run_id="b", owner="", config=RunConfig(), run_dir=None)
    for i in range(200):
        big.add_snapshot({"step": i, "epoch": i, "mu": np.zeros((2000, 256), np.float32)})
    assert sum(h["mu"].nbytes for h in big.history) <= jobs.HISTORY_BYTES
