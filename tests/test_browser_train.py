"""The Train page in a real Chromium against `streamlit run`: a live run's curves grow in
place without a blank frame, a β change marks every curve, Stop works, a refresh reattaches,
and with a limit of one job a second browser session waits in the queue.

The charts are drawn as SVG (``usermeta.embedOptions.renderer``), so these tests read what
is plotted from the page itself: the points of each line, the rules of β changes.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from conftest import (POLL_MS, assert_no_error, progress_step, screenshot, start_server, stop_server, wait_for_app,
                      wait_for_step_past)

pytestmark = pytest.mark.browser

BETA_PURPLE = "#9467bd"
VALIDATION_RED = "#d62728"

# What one loss panel shows: its lines (stroke colour, number of points) and rules.
READ_PANEL = """(title) => {
  const c = Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'))
                 .find(e => e.textContent.includes(title));
  const svg = c && c.querySelector('svg');
  if (!svg) return null;
  const lines = Array.from(svg.querySelectorAll('g.mark-line path')).map(p => ({
      stroke: p.getAttribute('stroke'),
      points: ((p.getAttribute('d') || '').match(/[ML]/g) || []).length}));
  const rules = Array.from(svg.querySelectorAll('g.mark-rule > *')).map(r => r.getAttribute('stroke'));
  return {lines, rules, same: svg.__tagged === true};
}"""

# Tag the charts present now and count animation frames in which one of them is blank: gone
# from the page, without its SVG, or with an SVG of no height. A chart that remounted on a
# data change, instead of updating in place, would show such a frame. Watching asks the tab
# for a frame every display refresh: it stops once ``window.__watched`` is set.
WATCH_CHARTS = """() => {
  window.__frames = 0; window.__blank = 0; window.__blankWhat = []; window.__watched = false;
  const charts = Array.from(document.querySelectorAll('[data-testid="stVegaLiteChart"]'));
  charts.forEach(c => { const s = c.querySelector('svg'); if (s) s.__tagged = true; });
  const tick = () => {
    window.__frames++;
    for (const c of charts) {
      const s = c.querySelector('svg');
      if (!document.contains(c) || !s || s.getBoundingClientRect().height < 10) {
        window.__blank++; window.__blankWhat.push(c.textContent.slice(0, 40)); break;
      }
    }
    if (!window.__watched) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  return charts.length;
}"""

RECON = "Reconstruction −log p(x|z)"
PANELS = (RECON, "KL(q(z|x) ‖ p(z))", "β·KL (the penalty)", "Total loss = recon + β·KL")


def set_epochs(page, n: int) -> None:
    page.get_by_text("Training", exact=True).click()              # open the sidebar's expander
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(n))
    box.press("Enter")
    wait_for_app(page)


def val_points(page) -> int:
    panel = page.evaluate(READ_PANEL, RECON)
    return max((ln["points"] for ln in panel["lines"] if ln["stroke"] == VALIDATION_RED), default=0) \
        if panel else 0


@pytest.fixture(scope="module")
def server1(tmp_path_factory):
    """One `streamlit run` for this module, with a limit of one job at a time (so a second
    session queues); starting a server and its worker is the slow part of these tests. (The
    blank-frame watch once failed here and on a server shared with the class lesson: the
    replay slider, appearing above the latent chart with the second snapshot after the watch
    had begun, moved the chart, which the browser then replaced; its place is now kept,
    test_train_page.test_the_replay_slider_appearing_leaves_the_latent_chart_in_its_place.)"""
    s = start_server(tmp_path_factory.mktemp("train_server"), {"LATENT_EXPLORER_MAX_JOBS": "1"})
    yield s
    stop_server(s)


def test_live_run_curves_grow_beta_marker_stop_and_refresh(server1, browser_context):
    server = server1
    page = browser_context.new_page()
    page.goto(server.url + "/Train")
    wait_for_app(page)
    assert_no_error(page)
    set_epochs(page, 400)
    page.get_by_role("button", name="Start").click()
    # the first validation points appear (one per epoch end)
    page.wait_for_function(f"() => ({READ_PANEL})({RECON!r})?.lines.some(l => l.stroke === "
                           f"{VALIDATION_RED!r} && l.points >= 2)", timeout=120_000, polling=POLL_MS)
    page.get_by_text("Probe set in latent space").wait_for(timeout=30_000)   # the slow views too
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg')"
                           ".length >= 7", timeout=30_000, polling=POLL_MS)     # (the last chart may mount a poll later)
    assert page.evaluate(WATCH_CHARTS) >= 7
    counts = [val_points(page)]
    for _ in range(3):                        # the curve grows from poll to poll, in place
        page.wait_for_function(f"() => ({READ_PANEL})({RECON!r}).lines.some(l => l.stroke === "
                               f"{VALIDATION_RED!r} && l.points > {counts[-1]})", timeout=30_000, polling=POLL_MS)
        counts.append(val_points(page))
    assert counts == sorted(counts) and counts[-1] > counts[0]
    panel = page.evaluate(READ_PANEL, RECON)
    assert panel["same"], "the chart was remounted instead of updated in place"
    assert any(ln["stroke"] != VALIDATION_RED and ln["points"] > 10 for ln in panel["lines"])
    screenshot(page, "train_running")

    beta = page.get_by_role("spinbutton", name="β")                # a β change mid-run
    beta.fill("3")
    beta.press("Enter")
    for title in PANELS:                                            # marked on every curve
        page.wait_for_function(f"() => ({READ_PANEL})({title!r})?.rules.includes({BETA_PURPLE!r})",
                               timeout=30_000, polling=POLL_MS)
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] "
                           "g.mark-text text')).some(t => t.textContent === 'β=3')", timeout=30_000, polling=POLL_MS)
    n0 = page.evaluate("() => window.__frames")                      # the marker says its value; then
    page.wait_for_function(f"() => window.__frames >= {n0 + 20}", polling=POLL_MS)     # 20 more frames are watched
    frames, blank, what = page.evaluate("() => { window.__watched = true; "
                                        "return [window.__frames, window.__blank, window.__blankWhat]; }")
    assert frames > 20 and blank == 0, f"{blank} blank frames out of {frames}: {what[:5]}"
    screenshot(page, "train_beta_marker")
    assert_no_error(page)

    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Run stopped").wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Start").is_enabled()
    assert "run=" in page.url
    assert_no_error(page)
    screenshot(page, "train_stopped")

    page.reload()                                                   # ?run=<id> reattaches
    wait_for_app(page)
    page.get_by_text("Run stopped").wait_for(timeout=30_000)
    page.wait_for_function(f"() => ({READ_PANEL})({RECON!r})?.rules.includes({BETA_PURPLE!r})",
                           timeout=30_000, polling=POLL_MS)
    assert_no_error(page)
    screenshot(page, "train_reattached")


def shows(page, box, text: str, timeout: float = 30.0) -> str:
    """``box``'s accessibility snapshot once it holds ``text`` (a selectbox's chosen text is
    drawn by the rerun its choice starts); fails after ``timeout`` seconds."""
    t_end = time.time() + timeout
    while text not in (snap := box.aria_snapshot()) and time.time() < t_end:
        page.wait_for_timeout(200)
    assert text in snap, snap
    return snap


def open_option(page, picker, typed: str, option: str, tries: int = 6) -> None:
    """Open ``picker``, type ``typed`` and wait until the option named ``option`` shows. The
    runs list below a live run is redrawn every few seconds, and a redraw closes an open list
    (and drops what was typed): then open it again. (Not ``conftest.choose``: it clicks the
    option, which a list redrawn under the pointer detaches before the click lands; the caller
    presses Enter.)"""
    shown = page.get_by_role("option", name=re.compile(re.escape(option)))
    for _ in range(tries - 1):
        picker.click()
        page.keyboard.type(typed)
        try:
            expect(shown).to_be_visible(timeout=5_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    picker.click()
    page.keyboard.type(typed)
    expect(shown).to_be_visible(timeout=5_000)


def test_two_sessions_with_a_limit_of_one(server1, browser_context):
    server = server1
    a, b = browser_context.new_page(), browser_context.new_page()   # two tabs: two sessions
    for p in (a, b):
        p.goto(server.url + "/Train")
        wait_for_app(p)
    set_epochs(a, 400)
    set_epochs(b, 400)                        # b's run too trains until this test stops it
    a.get_by_role("button", name="Start").click()
    a.get_by_text("images/s").wait_for(timeout=120_000)            # running
    b.get_by_role("button", name="Start").click()
    b.get_by_text("Queued: position 1 in the queue").wait_for(timeout=30_000)
    wait_for_step_past(a, progress_step(a), timeout=30_000)         # a still trains:
    assert a.get_by_text("images/s").count() == 1                    # its step moves on, b waits
    assert b.get_by_text("Queued: position 1 in the queue").count() == 1
    for p, name in ((a, "two_sessions_running"), (b, "two_sessions_queued")):
        assert_no_error(p)
        screenshot(p, name)
    a.get_by_role("button", name="Stop").click()                    # frees the only slot
    a.get_by_text("Run stopped").wait_for(timeout=60_000)
    b.get_by_text("images/s").wait_for(timeout=60_000)              # b starts
    b_run = re.search(r"run=([^&]+)", b.url).group(1)
    # a's own run ended, but its run picker shows b's run live, then stopped (issue 31: it
    # said "(queued)" or "(running)" after the end, being drawn once and never again)
    picker = a.get_by_role("combobox", name="Open a run on this page")
    box = a.locator('[data-testid="stSelectbox"]').filter(has_text="Open a run on this page")
    open_option(a, picker, b_run, f"{b_run} (running)")            # b's run, chosen: its text must follow too
    a.keyboard.press("Enter")
    wait_for_app(a)
    shows(a, box, f"{b_run} (running)")        # the choice, drawn (until then: the typed text)
    b.get_by_role("button", name="Stop").click()
    b.get_by_text("Run stopped").wait_for(timeout=60_000)
    expect(a.get_by_text("Live runs' status and epochs as of")).to_have_count(0, timeout=30_000)   # redrawn
    snap = shows(a, box, f"{b_run} (stopped)")
    assert "(running)" not in snap                                   # the chosen one's text too
    picker.click()
    expect(a.get_by_role("option", name=re.compile(re.escape(f"{b_run} (stopped)")))).to_be_visible(timeout=30_000)
    screenshot(a, "two_sessions_list_after_end")
    a.keyboard.press("Escape")
    for p in (a, b):
        assert_no_error(p)
