"""Server start-up: ``app.py`` is an ``st.App`` whose lifespan warms the server before its
first visitor (imports, the engine) and lets its first worker warm up in the background."""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_app_py_is_an_st_app_that_streamlit_run_detects_and_serves_itself():
    from streamlit.web.server.app_discovery import discover_asgi_app
    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string.endswith(":app")
    source = (ROOT / "app.py").read_text()
    # every visit runs app.py (the menu and the frame, then home.py or a page of pages/), with
    # the warm-up lifespan and the handler that keeps tracebacks from visitors
    assert re.search(r'st\.App\(__file__, lifespan=lifespan, on_script_error=on_script_error\)', source)
    assert (ROOT / "home.py").is_file() and (ROOT / "pages").is_dir()


@pytest.fixture
def fresh_engine(tmp_path, monkeypatch):
    from explorer.engine import set_engine
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    for _ in range(2):
        old = set_engine(None)
        if old is not None:
            old.shutdown()
        if _ == 0:
            yield


def test_warm_imports_starts_the_engine_and_waits_for_its_worker(fresh_engine, tmp_path):
    import torch

    from explorer import engine as engine_pkg
    from explorer.engine import get_engine
    from explorer.ui import warmup
    times = warmup.warm(worker_timeout=120)
    assert set(times) == {"engine", "imports", "worker"} and all(v >= 0 for v in times.values())
    assert torch.get_num_threads() == 1
    engine = engine_pkg._ENGINE
    assert engine is not None and engine.runs_dir == tmp_path / "runs"
    workers = engine.workers()
    assert len(workers) == 1 and workers[0]["alive"] and workers[0]["ready"]
    assert get_engine() is engine           # pages get the engine the warm-up made


def test_lifespan_serves_after_the_imports_and_logs_when_the_worker_is_ready(fresh_engine, monkeypatch, capsys):
    import time

    from explorer import engine as engine_pkg
    from explorer.ui import warmup
    calls = []
    real_warm = warmup.warm
    monkeypatch.setattr(warmup, "warm", lambda **kw: calls.append(("warm", kw)) or real_warm(**kw))

    async def serve():
        async with warmup.lifespan(None):
            calls.append(("serving", sys.getswitchinterval()))
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)                                        # CPython's default
    try:
        asyncio.run(serve())
    finally:
        sys.setswitchinterval(before)
    # no wait for the worker; the interpreter hands over between the sessions' threads every 1 ms
    assert calls == [("warm", {"worker_timeout": None}), ("serving", pytest.approx(warmup.SWITCH_INTERVAL_S))]
    assert warmup.SWITCH_INTERVAL_S == 0.001
    assert engine_pkg._ENGINE is not None                               # but it was started
    out, t_end = "", time.time() + 120
    while "warmed up" not in out and time.time() < t_end:     # logged once the worker is ready
        time.sleep(0.2)
        out += capsys.readouterr().out
    assert "Latent Explorer warmed up: engine" in out and "worker" in out
    assert engine_pkg._ENGINE.workers()[0]["ready"]

    def broken(**kw):
        raise OSError("disk gone")
    monkeypatch.setattr(warmup, "warm", broken)
    calls.clear()
    asyncio.run(serve())                          # a failed warm-up never stops the server
    sys.setswitchinterval(before)
    assert [c[0] for c in calls] == ["serving"]


def test_freeze_heap_takes_live_objects_out_of_the_collectors_reach():
    import gc

    from explorer.ui import warmup
    before = gc.get_freeze_count()
    try:
        keep = [[i] for i in range(1000)]          # noqa: F841 - lists: tracked by gc
        warmup.freeze_heap()
        assert gc.get_freeze_count() >= before + 1000
    finally:
        gc.unfreeze()


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc only")
def test_malloc_arenas_are_capped_and_the_heap_can_be_trimmed():
    from explorer.ui import warmup
    assert warmup.limit_malloc_arenas(2) is True
    junk = [bytearray(1 << 16) for _ in range(200)]      # ~13 MB from the heap, then freed
    del junk
    assert warmup.trim_heap() is True                     # memory went back to the OS


def test_the_servers_upload_limit_is_the_apps_setting(monkeypatch):
    from streamlit import config

    from explorer.ui import warmup
    old = config.get_option("server.maxUploadSize")
    try:
        monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "123")
        assert warmup.match_upload_limit() == 123
        assert config.get_option("server.maxUploadSize") == 123
        monkeypatch.setenv("LATENT_EXPLORER_UPLOAD_MB", "lots")     # malformed: left as it was
        assert warmup.match_upload_limit() is None and config.get_option("server.maxUploadSize") == 123
    finally:
        config.set_option("server.maxUploadSize", old)
