"""The load test's protocol client (``benchmarks/st_client.py``) against a live server: it
must see what a browser sees — the pages, the widgets, the decoded images, the Train page's
polling — or the load figures it produces mean nothing."""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from conftest import module_server  # noqa: E402
from st_client import ClientError, Session  # noqa: E402
import load_test  # noqa: E402

CAPTION = "decoder mean at z"

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for this module's tests (one moves sliders, one trains a run, and the load
    test script's two modes run against it instead of starting servers of their own)."""
    yield from module_server(tmp_path_factory, "client_server")



@pytest.mark.slow
def test_client_opens_pages_and_moves_sliders_like_a_browser(server):
    server.wait_for_log("Latent Explorer warmed up")           # st.App's lifespan ran

    async def go():
        s = Session(server.url)
        r = await s.open("")
        assert r.errors == [] and r.status == 0
        assert {"", "Train", "Explore", "Beta_lab", "Theory", "Runs"} <= set(s.pages)
        assert s.image_caption(CAPTION) == "decoder mean at z = (0.00, 0.00)"
        r = await s.set_slider("z₁", 1.25)          # a fragment's run, not the page's
        assert r.status == 3 and r.errors == []
        assert s.image_caption(CAPTION) == "decoder mean at z = (1.25, 0.00)"
        r = await s.open("Explore", "model=shipped:digits-vae-z2-b1")
        assert r.errors == []
        await s.set_slider("z1", -1.5)
        assert s.image_caption(CAPTION).startswith("decoder mean at z = (-1.50, ")
        with pytest.raises(ClientError):
            s.find("slider", "no such slider")
        await s.close()
    asyncio.run(go())


@pytest.mark.slow
def test_client_starts_a_run_and_polls_the_train_page_until_it_ends(server):
    async def go():
        s = Session(server.url)
        await s.open("Train")
        await s.set_number("Epochs", 30)
        await s.click("Start")
        seen_progress = False
        for _ in range(240):                          # ≤ 2 min
            await asyncio.sleep(0.5)
            seen_progress |= "images/s" in " ".join(s.texts())
            if seen_progress and not s.auto:
                break
        assert seen_progress and s.auto_runs > 0 and not s.auto
        assert s.page_errors() == []
        await s.close()
    asyncio.run(go())


def _last_line(out: str) -> dict:
    return dict(kv.split("=") for kv in out.strip().splitlines()[-1].split())


@pytest.mark.slow
def test_load_test_script_runs_a_small_classroom_without_errors(server, capsys):
    load_test.run(["--sessions", "3", "--minutes", "0.15", "--trainers", "1", "--epochs", "20"], server)
    out = capsys.readouterr().out
    fields = _last_line(out)
    assert fields["errors"] == "0", out
    assert int(fields["interactions"]) > 10
    waits = re.search(r"queue waits .* n=(\d+) ", out)
    assert waits and int(waits.group(1)) >= 1               # the trainer's runs started
    assert re.search(r"Train-page polls .* sent: [1-9]", out)


@pytest.mark.slow
def test_load_test_script_runs_a_short_lesson_without_errors(server, capsys):
    """``--classroom``: a teacher's dashboard, students joining, a push followed, Explore."""
    load_test.run(["--classroom", "3", "--minutes", "0.25", "--epochs", "2"], server)
    out = capsys.readouterr().out
    fields = _last_line(out)
    assert fields["students"] == "3" and fields["errors"] == "0", out
    for k in ("dashboard_p95_ms", "follow_p95_ms", "slider_p95_ms"):     # each was measured
        assert float(fields[k]) > 0, out


def test_the_load_test_refuses_settings_past_its_bounds():
    for argv in (["--sessions", "0"], ["--classroom", "41"], ["--minutes", "31"], ["--trainers", "4", "--sessions", "3"]):
        with pytest.raises(SystemExit, match="bounded|trainers"):
            load_test.parse(argv)
