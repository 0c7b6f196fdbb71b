"""The Ray backend beyond the shared contract (tests/test_jobs.py runs that on both):
several app servers on one cluster, a run that outlives the server that started it, a
server that restarts and reattaches, and a cluster that cannot be reached.

The first test runs two real app servers (``streamlit run app.py`` on two ports, the same
cluster, namespace and runs folder) and drives their pages through Streamlit's own
protocol (``benchmarks/st_client.py``), as one browser would behind a load balancer: the
same owner cookie on both. The next one uses engine processes as "app servers": one in a
child process (started, then killed mid-run, as a crashed server would be) and the test
process's own. They share a real Ray cluster (the ``ray_cluster`` fixture: 2 raylets of 1
CPU each) and one runs folder.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from explorer import store
from explorer.engine import Engine, NotAllowed, RayBackend

from conftest import ROOT, free_port, start_server, stop_server
from test_jobs import ray_engine, tiny, until

sys.path.insert(0, str(ROOT / "benchmarks"))
from st_client import Session  # noqa: E402

pytest.importorskip("ray")

CHILD = textwrap.dedent("""
    import json, sys, time
    from explorer.config import RunConfig
    from explorer.engine import Engine, RayBackend
    cfg = RunConfig.from_dict({"model": {"hidden": [32], "latent_dim": 2},
                               "train": {"epochs": 500, "batch_size": 64, "lr": 3e-3, "seed": 1,
                                         "beta_schedule": "constant"}})
    eng = Engine(sys.argv[1], backend=RayBackend(address=sys.argv[2], namespace=sys.argv[3]),
                 snapshot_seconds=0.2)
    rid = eng.submit(cfg, "alice")
    eng.wait(rid, 120, statuses=("running",))
    print(json.dumps({"run_id": rid, "pid": __import__("os").getpid()}), flush=True)
    time.sleep(600)                    # an app server, serving, until it is killed
""")


@pytest.fixture
def namespace():
    return f"le-test-{secrets.token_hex(4)}"


def _progress(s: Session) -> tuple[int, bool] | None:
    """(step, paused) from the Train page's progress bar, or None when it shows none."""
    import re
    for t in s.texts():
        m = re.search(r"step ([\d,]+) / ", t)
        if m:
            return int(m.group(1).replace(",", "")), t.startswith("⏸ paused")
    return None


async def _until(pred, timeout: float = 90.0, what: str = "condition"):
    import asyncio
    t_end = time.time() + timeout
    while time.time() < t_end:
        if v := pred():
            return v
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_app_servers_on_one_cluster_share_runs_through_their_pages(ray_cluster, tmp_path, namespace):
    """A run started on server A's Train page is shown and controlled on server B's (same
    owner cookie), read-only to another person there, and trains on when A is killed."""
    import asyncio
    runs = tmp_path / "runs"
    env = {"LATENT_EXPLORER_ENGINE": "ray", "RAY_ADDRESS": ray_cluster, "LATENT_EXPLORER_RAY_NAMESPACE": namespace,
           "LATENT_EXPLORER_RUNS": str(runs)}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    server_a = start_server(tmp_path / "a", env, timeout=120)
    server_b = start_server(tmp_path / "b", env, timeout=120)
    alice, bob = {"le_owner": secrets.token_urlsafe(24)}, {"le_owner": secrets.token_urlsafe(24)}

    async def go():
        a = Session(server_a.url, cookies=alice, fetch_media=False)
        await a.open("Train")
        await a.set_number("Epochs", 400)
        await a.click("Start")
        rid = await _until(lambda: next((q.split("run=")[1].split("&")[0] for _, q in a.query_log if "run=" in q), None),
                           what="server A's page to show its run")
        await _until(lambda: _progress(a), what="the run's progress on A")
        b = Session(server_b.url, cookies=alice, fetch_media=False)     # the same person, on B
        await b.open("Train", f"run={rid}")
        await _until(lambda: (p := _progress(b)) and p[0] > 0, what="the live run on B")
        assert not any(t.startswith("Read-only") for t in b.texts()) and b.page_errors() == []
        r = await b.click("Pause")
        assert r.errors == []
        await _until(lambda: (p := _progress(b)) and p[1], what="the pause through B")
        c = Session(server_b.url, cookies=bob, fetch_media=False)       # someone else, on B
        await c.open("Train", f"run={rid}")
        assert any(t.startswith("Read-only") for t in c.texts())
        assert c.find("button", "Resume").proto.disabled and c.find("button", "Stop").proto.disabled
        await c.close()
        server_a.proc.kill()                                             # A crashes mid-run
        server_a.proc.wait(10)
        paused_at = _progress(b)[0]
        await b.click("Resume")
        await _until(lambda: (p := _progress(b)) and not p[1] and p[0] > paused_at + 20,
                     what="the run training on after A died")
        await b.click("Stop")
        await _until(lambda: store.read_summary(runs / rid).get("status") == "stopped",
                     what="the stop, saved in the shared runs folder")
        await a.close()
        await b.close()
        return rid

    try:
        rid = asyncio.run(go())
        assert store.read_summary(runs / rid)["owner"] and "Traceback" not in server_b.log_text()
    finally:
        for srv in (server_a, server_b):
            if srv.proc.poll() is None:
                stop_server(srv)
        import ray
        from explorer.engine.ray_actors import SCHEDULER_NAME
        sched = ray.get_actor(SCHEDULER_NAME, namespace=namespace)
        ray.get(sched.close.remote())
        ray.kill(sched)


def test_a_run_started_through_one_server_is_seen_controlled_and_outlives_it(
        ray_cluster, tmp_path, namespace):
    runs = tmp_path / "runs"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(runs), ray_cluster, namespace],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line, child.stderr.read()[-3000:]
        rid = json.loads(line)["run_id"]
        other = Engine(runs, backend=RayBackend(namespace=namespace), snapshot_seconds=0.2)   # a second server
        try:
            seen = {e.run_id: e for e in other.list()}
            assert seen[rid].status == "running" and seen[rid].owner == "alice"
            until(lambda: other.view(rid).progress.step > 30, what="rows through the second server")
            import torch                                 # the actor honours LATENT_EXPLORER_DEVICE=auto
            assert other.view(rid).info.device == ("cuda" if torch.cuda.is_available() else "cpu")
            # an epoch was saved: its summary says "running", and the run is live, not "interrupted"
            until(lambda: store.read_summary(runs / rid).get("status") == "running", what="a checkpoint")
            assert other.entry(rid).status == "running"
            with pytest.raises(NotAllowed):
                other.pause(rid, "bob")
            child.send_signal(signal.SIGKILL)                      # the first server crashes
            child.wait(10)
            t0 = time.perf_counter()
            other.pause(rid, "alice")
            until(lambda: other.view(rid).progress.paused, what="the pause to land")
            pause_s = time.perf_counter() - t0
            s1 = other.view(rid).progress.step
            other.set_beta(rid, "alice", 3.0)
            other.step(rid, "alice", 2)
            until(lambda: other.view(rid).progress.step == s1 + 2, what="two steps")
            assert [r["beta"] for r in other.view(rid).rows[-2:]] == [3.0, 3.0]
            # a third server (the first one, restarted) reattaches and sees the same run
            again = Engine(runs, backend=RayBackend(namespace=namespace))
            try:
                v = until(lambda: (x := again.view(rid)).progress.step == s1 + 2 and x, what="the replay")
                assert v.status == "paused" and v.beta == 3.0
                assert [r["step"] for r in v.rows] == [r["step"] for r in other.view(rid).rows]
                again.stop(rid, "alice")
                assert again.wait(rid, 60) == "stopped"
            finally:
                again.shutdown()
            assert other.wait(rid, 60) == "stopped"
            summary = store.read_summary(runs / rid)
            assert summary["status"] == "stopped" and summary["steps"] == s1 + 2
            # the scheduler, started by the killed server, still starts new runs
            assert other.wait(other.submit(tiny(epochs=1), "alice"), 120) == "finished"
            print(f"pause landed in {pause_s * 1000:.0f} ms (a 0.1 s poll, both ways)")
        finally:
            other.shutdown()
            import ray
            ray.get(other.backend.scheduler.close.remote())
            ray.kill(other.backend.scheduler)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def test_an_unreachable_cluster_says_so_and_saved_runs_still_open(tmp_path):
    """Checked in a fresh process (Ray connects a process to one cluster only)."""
    cfg = tiny(epochs=1)
    from explorer.models import build_model
    store.save_run(tmp_path / "runs" / "saved", cfg, build_model(cfg.model, (1, 8, 8), "cpu"),
                   [{"step": 1.0, "loss": 1.0}], {"status": "finished", "steps": 1})
    script = textwrap.dedent("""
        import json
        from explorer.config import RunConfig
        from explorer.engine import EngineError, get_engine
        eng = get_engine()
        out = {"backend": eng.backend.name, "unavailable": eng.unavailable,
               "listed": [e.run_id for e in eng.list()], "rows": len(eng.view("saved").rows)}
        try:
            eng.submit(RunConfig(), "x")
        except EngineError as e:
            out["submit"] = str(e)
        import sys
        sys.path.insert(0, "tests")
        from conftest import app_test
        for page in ("pages/1_Train.py", "home.py"):
            at = app_test(page, default_timeout=120).run()
            out[page] = {"errors": [e.value for e in at.error], "exceptions": [e.value for e in at.exception]}
        print(json.dumps(out))
    """)
    env = dict(os.environ, LATENT_EXPLORER_ENGINE="ray", RAY_ADDRESS=f"127.0.0.1:{free_port()}",
               LATENT_EXPLORER_RUNS=str(tmp_path / "runs"))
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["backend"] == "ray" and got["listed"] == ["saved"] and got["rows"] == 1
    assert "cannot reach the Ray cluster at 127.0.0.1:" in got["unavailable"]
    assert "LATENT_EXPLORER_ENGINE=local" in got["unavailable"] and got["submit"] == got["unavailable"]
    train, home = got["pages/1_Train.py"], got["home.py"]       # one clear message where one trains
    assert not train["exceptions"] and len(train["errors"]) == 1, train
    assert train["errors"][0].startswith("Training is not available on this server: cannot reach the Ray")
    assert home == {"errors": [], "exceptions": []}                  # the rest of the app works


def test_an_unknown_engine_setting_is_refused(monkeypatch):
    from explorer import settings
    monkeypatch.setenv("LATENT_EXPLORER_ENGINE", "dask")
    with pytest.raises(ValueError, match="LATENT_EXPLORER_ENGINE='dask': expected one of local, ray"):
        settings.get()
    monkeypatch.setenv("LATENT_EXPLORER_ENGINE", "ray")
    assert settings.get().engine == "ray"
