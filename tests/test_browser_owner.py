"""Only a run's owner controls it, in real browsers: two Chromium profiles stand for two
students on one server. The owner survives a reload and a new tab of the same browser (its
cookie); the caps count per owner, whatever tab a run is started from."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import POLL_MS, assert_no_error, reused_server, screenshot, server_pool, start_server, wait_for_app

pytestmark = pytest.mark.browser

CONTROLS = ("Pause", "Step", "Stop")


def _start(tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("owner_server"),
                        {"LATENT_EXPLORER_MAX_JOBS": "1", "LATENT_EXPLORER_MAX_RUNS_PER_OWNER": "2"})


@pytest.fixture(scope="module")
def _servers():
    """The module's server (starting one is ~9 CPU-s), kept by :func:`server`; the last one is
    stopped at the module's end."""
    yield from server_pool()


@pytest.fixture
def server(_servers, tmp_path_factory, request):
    """One server for the module's tests: each test's people are two fresh profiles (new owners,
    so the per-owner cap starts at 0) and each test ends with every run it started stopped,
    seen stopped (so the one job slot is free for the next). A test that fails may leave a run
    paused in that slot: the next test then gets a fresh server (:func:`conftest.reused_server`)."""
    yield from reused_server(_servers, "server", lambda: _start(tmp_path_factory), request)


def _open(ctx, url):
    page = ctx.new_page()
    page.goto(url)
    wait_for_app(page)
    assert_no_error(page)
    return page


def _enabled(page, name: str) -> bool:
    """Whether the page's current button ``name`` is enabled. While a rerun draws the page (a
    run's status move reruns it), Streamlit keeps the last run's elements, marked stale, until
    it replaces them: a second "Step" for a moment."""
    return _current(page).get_by_role("button", name=name, exact=True).is_enabled(timeout=90_000)


def _current(page):
    """The page's elements drawn by its current script run (not the stale ones of the last)."""
    return page.locator('[data-testid="stElementContainer"]:not([data-stale="true"])')


def _progress(page) -> str:
    page.get_by_text("paused ·").wait_for(timeout=60_000)
    return page.get_by_text("paused ·").inner_text()


def test_another_browser_cannot_control_a_run_and_the_owner_keeps_it(server, two_profiles):
    a_ctx, b_ctx = two_profiles
    a = _open(a_ctx, server.url + "/Train")
    a.get_by_role("button", name="Step", exact=True).click()      # starts a paused run, one step
    a.get_by_text("step 1 /").wait_for(timeout=120_000)
    _progress(a)                                                  # paused after its one step
    run_id = re.search(r"run=([^&]+)", a.url).group(1)
    assert all(_enabled(a, n) for n in ("Resume", "Step", "Stop"))
    a.get_by_text("Reconstruction −log p(x|z)").first.wait_for(timeout=30_000)
    a.wait_for_function("() => document.querySelectorAll("
                        "'[data-testid=\"stVegaLiteChart\"] g.role-axis-label text').length > 0", polling=POLL_MS)
    ticks = a.evaluate("""() => Array.from(document.querySelectorAll(
        '[data-testid="stVegaLiteChart"] g.role-axis-label text')).map(t => t.textContent)""")
    long = [t for t in ticks if len(re.sub(r"\D", "", t).lstrip("0")) > 4]  # > 4 significant digits
    assert ticks and not long, ticks                                           # one point: short labels

    b = _open(b_ctx, f"{server.url}/Train?run={run_id}")         # student B opens A's run
    b.get_by_text("Read-only:").wait_for(timeout=30_000)
    assert "another visitor's run" in b.get_by_text("Read-only:").inner_text()
    assert not any(_enabled(b, n) for n in ("Resume", "Step", "Stop"))
    beta = b.get_by_role("spinbutton", name="β")                  # B cannot re-weight it: β and the
    assert beta.is_disabled() and b.get_by_role("slider", name="Learning rate").is_disabled()   # lr too
    assert_no_error(b)
    screenshot(b, "owner_read_only")

    # A's run goes on untouched: B's visit ended with its script run (wait_for_app), and
    # whatever it could have changed, A's reload now reads
    a.reload()
    wait_for_app(a)
    text = _progress(a)
    assert "step 1 /" in text
    assert a.get_by_role("spinbutton", name="β").input_value() in ("1", "1.00")
    assert a.get_by_text("Read-only:").count() == 0
    assert all(_enabled(a, n) for n in ("Resume", "Step", "Stop"))   # a reload keeps the owner
    a.close()                                                     # (its polling is not needed)

    tab = _open(a_ctx, f"{server.url}/Train?run={run_id}")        # so does a new tab
    _progress(tab)
    assert tab.get_by_text("Read-only:").count() == 0 and _enabled(tab, "Stop")

    b.get_by_role("button", name="Start a run with these settings").click()   # B's own copy
    b.get_by_text("Read-only:").wait_for(state="detached", timeout=60_000)   # (the rerun may lag)
    b.wait_for_function("() => !location.search.includes('run=')", timeout=30_000, polling=POLL_MS)
    wait_for_app(b)
    assert b.get_by_text("Read-only:").count() == 0 and "run=" not in b.url
    assert_no_error(b)

    tab.get_by_role("button", name="Stop", exact=True).click()    # the owner may stop it
    tab.get_by_text("Run stopped").wait_for(timeout=60_000)
    assert_no_error(tab)


def test_caps_count_per_owner_across_tabs(server, two_profiles):
    a_ctx, b_ctx = two_profiles
    first = _open(a_ctx, server.url + "/Train")
    first.get_by_role("button", name="Step", exact=True).click()
    first.get_by_text("step 1 /").wait_for(timeout=240_000)      # (a worker may still be starting)
    second = _open(a_ctx, server.url + "/Train")                   # another tab: a second run
    second.get_by_role("button", name="Start", exact=True).click()
    second.get_by_text("Queued").wait_for(timeout=30_000)
    third = _open(a_ctx, server.url + "/Train")                    # a third tab: over the cap of 2
    third.get_by_role("button", name="Start", exact=True).click()
    third.get_by_text("Cannot start").wait_for(timeout=30_000)
    msg = third.get_by_text("Cannot start").inner_text()
    assert "LATENT_EXPLORER_MAX_RUNS_PER_OWNER" in msg and "limit" in msg
    screenshot(third, "owner_cap")
    third.close()                                                  # (it started nothing)
    other = _open(b_ctx, server.url + "/Train")                    # another person is not capped
    other.get_by_role("button", name="Step", exact=True).click()
    other.get_by_text("Queued").or_(other.get_by_text("step 1 /")).first.wait_for(timeout=60_000)
    assert other.get_by_text("Cannot start").count() == 0
    # each stops: the queued ones first (dropped, so nothing starts in between), then the paused
    # run that holds the one job slot, which is free again for the module's next test
    for p in (other, second):
        p.get_by_role("button", name="Stop", exact=True).click()
        expect(_current(p).get_by_role("button", name="Stop", exact=True)).to_be_disabled(timeout=60_000)
        assert_no_error(p)
    first.get_by_role("button", name="Stop", exact=True).click()
    first.get_by_text("Run stopped").wait_for(timeout=60_000)
    assert_no_error(first)
