"""The teacher key without a login, in real browsers: shown once, kept in the teacher's
browser (a cookie) across a reload, never sent to a student's browser; a wrong key typed
by a student is refused with a message. Then a lesson: a question answered on the student's
page, hidden until revealed, and a β ladder push over two students that the student's page
follows into her own run, with the class's reading on the dashboard. Then pushes to a group
(Ann's page says it was not hers and stays), a pushed run that waits in the queue while Ann's
tab is closed and trains after the teacher stops Bob's run, and a second push that replaces
Ann's first (stopped and kept). The server trains one run at a time (so a queue forms), on
the digits; the runs that must stay live until a step stops them are long, the last one short."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from conftest import (assert_no_error, open_app, open_tab, painted, screenshot, start_server, stop_server, wait_for_app,
                      wait_settled)

from explorer import store
from explorer.classroom import pushes
from explorer.classroom.classes import Classroom
from explorer.runs import Actor

pytestmark = pytest.mark.browser
MAIN = '[data-testid="stMain"]'
LONG = 5000            # epochs of a run that must still be live when the next step comes (stopped by it)


@pytest.fixture
def server(tmp_path):
    """One run trains at a time: a pushed run waits in the queue behind another."""
    s = start_server(tmp_path, {"LATENT_EXPLORER_MAX_JOBS": "1"})
    yield s
    stop_server(s)


def _pick(page, name: str, value: str, shown: str | None = None) -> None:
    """Type ``value`` into the combobox ``name`` and enter it (a dashboard refresh may close
    an open list); ``shown``: what it then reads."""
    box = page.get_by_role("combobox", name=name, exact=True)
    box.click()
    box.fill(value)
    box.press("Enter")
    if shown is not None:
        expect(box).to_have_value(shown)


def _push(t, room: Classroom, code: str, *, to: str, epochs: int, chosen: str | None = None) -> int:
    """The teacher's push form, no ladder, started now: returns the push's number, once the
    page has said what it did."""
    version = room.latest_push(code).version + 1
    _pick(t, "Ladder: spread over the class", "no ladder", "no ladder")
    _pick(t, "To", to, pushes.GROUPS[to])
    if chosen:
        _pick(t, "Chosen students", chosen)
    t.get_by_label("Epochs").fill(str(epochs))
    t.get_by_role("button", name="Push to the class").click()
    t.get_by_text(f"Pushed (#{version}) to 1 student; 1 run started").wait_for(timeout=30_000)
    return version


def _stop_the_run_of(t, name: str) -> None:
    """On the teacher's Students tab, in control: stop the newest run of ``name``."""
    _pick(t, "Student", name, name)
    wait_for_app(t)
    t.get_by_role("button", name="Stop their run").click()
    t.get_by_text("Stopped: the student reads").wait_for(timeout=30_000)


def _until(condition, timeout: float) -> None:
    """Wait until ``condition()`` holds (fails after ``timeout`` seconds)."""
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, "timed out"
        time.sleep(0.2)


def _my_runs_row(page, text: str):
    """The row of the student's "Your runs in this class" table that holds ``text``."""
    return page.locator('[data-testid="stDataFrame"] [role="row"]', has_text=text).first

# The R–D chart, scrolled into view: its box, its axis and chart titles' boxes and the part of
# the window the page's content shows in (below Streamlit's header).
RD_BOXES = """() => {
  const c = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
      .find(e => [...e.querySelectorAll('text')].some(t => t.textContent.startsWith('rate: KL')));
  if (!c) return null;
  c.scrollIntoView({block: 'end'});
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const header = document.querySelector('[data-testid="stHeader"]');
  const titles = [...c.querySelectorAll('.role-axis-title text, .role-title-text text, .role-legend-title text')]
      .map(t => [t.textContent, r(t)]);
  return {chart: r(c), svg: r(c.querySelector('svg')), titles, view: [0, header ? header.getBoundingClientRect().bottom : 0,
          window.innerWidth, window.innerHeight]};
}"""


def _rd_titles_shown_whole(page, name: str) -> None:
    """At 1400×1000 and 1000×800, the R–D chart scrolled into view shows every title whole:
    inside the chart's own box and inside the window (none cut at its bottom)."""
    for w, h in ((1400, 1000), (1000, 800)):
        page.set_viewport_size({"width": w, "height": h})
        painted(page, 10)                                   # laid out again at the new size
        wait_settled(page)
        page.evaluate(RD_BOXES)                             # scrolled into view, then measured
        painted(page)
        got = page.evaluate(RD_BOXES)
        assert got is not None and len(got["titles"]) >= 3, got
        outer = [max(a, b) if i < 2 else min(a, b) for i, (a, b) in enumerate(zip(got["chart"], got["view"]))]
        for text, (x0, y0, x1, y1) in got["titles"]:
            assert x0 >= outer[0] - 1 and y0 >= outer[1] - 1 and x1 <= outer[2] + 1 and y1 <= outer[3] + 1, \
                (name, w, h, text, (x0, y0, x1, y1), got)
        screenshot(page, f"{name}_{w}x{h}")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_the_teacher_key_survives_a_reload_and_never_reaches_a_student(server, two_profiles):
    teacher_ctx, student_ctx = two_profiles
    t = open_app(teacher_ctx, server.url + "/Class")
    t.get_by_label("Class name").fill("Tuesday")
    t.get_by_role("button", name="Create the class").click()
    dialog = t.get_by_role("dialog")
    dialog.get_by_text("never show it to the class").wait_for(timeout=30_000)
    wait_for_app(t)
    key = dialog.locator("code").inner_text().strip()
    code = re.search(r"[?&]class=([A-Z0-9]+)", t.url).group(1)
    assert code not in dialog.inner_text() and f"{code[:4]}-{code[4:]}" not in dialog.inner_text()
    screenshot(t, "class_teacher_key_dialog")                # the key alone, over the page
    dialog.get_by_role("button", name="I have noted it: close").click()
    dialog.wait_for(state="detached", timeout=30_000)
    wait_for_app(t)
    assert key not in t.inner_text(MAIN)
    assert {c["name"]: c["value"] for c in teacher_ctx.cookies()}.get(f"le_tk_{code}") == key

    t.reload()                                              # a new session: the cookie says who
    wait_for_app(t)
    t.get_by_text("The class queue").wait_for(timeout=30_000)
    text = t.inner_text(MAIN)
    assert "Tuesday" in text and f"Join code {code[:4]}-{code[4:]}" in text and "0 students" in text
    assert key not in t.content()                           # shown once, never again
    assert_no_error(t)
    t.get_by_text("No student's run has reported yet").wait_for(timeout=30_000)   # not a blank plane
    screenshot(t, "class_teacher_after_reload")

    s = open_app(student_ctx, server.url + f"/Class?class={code}")
    expect(s.get_by_role("textbox", name="Class code", exact=True)).to_have_value(f"{code[:4]}-{code[4:]}")
    s.get_by_text("I am this class's teacher on another device").click()
    s.get_by_label("Code of the class you teach").fill(code)
    s.get_by_label("Teacher key").fill("not-" + key)
    s.get_by_role("button", name="Use this key").click()
    s.get_by_text("That key is not this class's teacher key").wait_for(timeout=30_000)
    s.get_by_label("Your name, as your teacher will see it").fill("Ann")
    s.get_by_role("button", name="Join", exact=True).click()
    s.get_by_text("You are in this class as").wait_for(timeout=30_000)
    wait_for_app(s)
    assert_no_error(s)
    assert key not in s.content() and "The class queue" not in s.inner_text(MAIN)
    assert not [c for c in student_ctx.cookies() if c["name"].startswith("le_tk_")]
    screenshot(s, "class_student_joined")

    t.reload()
    wait_for_app(t)
    t.get_by_text("· 1 student", exact=False).first.wait_for(timeout=30_000)    # Ann joined
    assert key not in t.content()

    # predict, then see: a ready question; Ann answers on her page; hidden until revealed
    Classroom(server.runs).join(code, Actor("b-bob-in-class"), "Bob")   # a second student (no tab)
    t.get_by_role("tab", name="Follow me").click()
    question = t.get_by_role("combobox", name="Question")
    question.click()
    question.fill("What happens to the samples at β = 8")
    question.press("Enter")
    expect(question).to_have_value("β ladder: What happens to the samples at β = 8?")
    t.get_by_role("button", name="Ask the class").click()
    t.get_by_text("Asked: your following students' pages open the question.").wait_for(timeout=30_000)
    s.get_by_text("Your teacher asks:").wait_for(timeout=30_000)
    s.get_by_text("all alike (collapse)").click()
    s.get_by_role("button", name="Send my answer").click()
    s.get_by_text("Your answer: all alike (collapse).").wait_for(timeout=30_000)
    screenshot(s, "class_student_answers")
    t.get_by_role("tab", name="Dashboard").click()
    t.get_by_text("1 answer so far").wait_for(timeout=30_000)            # the count, not the distribution
    t.get_by_role("tab", name="Follow me").click()
    t.get_by_role("button", name="Reveal").click()
    wait_for_app(t)
    t.get_by_role("tab", name="Dashboard").click()
    t.get_by_text("first vote (1 answer): sharper 0, blurrier 0, all alike (collapse) 1").first.wait_for(
        timeout=30_000)

    # a β ladder over the class: Ann gets 0.5, Bob 8, each their own run and seed; Ann's page follows
    t.get_by_role("tab", name="Follow me").click()
    ladder = t.get_by_role("combobox", name="Ladder: spread over the class")
    ladder.click()                     # typed and entered: a dashboard refresh may close an open list
    ladder.fill("β")
    ladder.press("Enter")
    expect(ladder).to_have_value("β")
    t.get_by_role("textbox", name="Ladder values, in turn over the students").fill("0.5, 8")
    t.get_by_label("Epochs").fill(str(LONG))
    t.get_by_role("button", name="Push to the class").click()
    t.get_by_text("β spread over them: 0.5, 8; 2 runs started, each with its own seed").wait_for(timeout=30_000)
    s.wait_for_url(re.compile(r"/Train\?run="), timeout=30_000)
    wait_for_app(s)
    s.get_by_text("Base β = 0.5").first.wait_for(timeout=60_000)          # her rung of the ladder
    assert_no_error(s)
    # one run trains at a time: Ann's trains, Bob's waits; the teacher, in control, stops Ann's
    open_tab(t, "Students", "Take control of my students' runs").click()
    t.get_by_role("button", name="Stop their run").wait_for(timeout=30_000)   # the class keeps the switch now
    _stop_the_run_of(t, "Ann")
    s.get_by_text("stopped by your teacher").first.wait_for(timeout=60_000)
    t.get_by_role("tab", name="Dashboard").click()
    t.get_by_text("The class on one rate–distortion plane").first.wait_for(timeout=120_000)
    t.get_by_text("along the class's β ladder").wait_for(timeout=120_000)   # the reading from the numbers
    wait_settled(t)
    screenshot(t, "class_ladder_dashboard")
    _rd_titles_shown_whole(t, "class_ladder_rd")
    t.get_by_text("Presentation mode").click()                              # and on the projector
    t.locator("[data-testid='stSidebar']").wait_for(state="hidden", timeout=30_000)
    _rd_titles_shown_whole(t, "class_ladder_rd_present")
    t.get_by_text("Presentation mode").click()                              # back to the tabs
    t.get_by_role("tab", name="Follow me").wait_for(timeout=30_000)

    # a push to a group reaches only its group: half B is Bob; Ann's page says so and stays on her run
    room = Classroom(server.runs)
    ann = next(m.owner for m in room.members(code) if m.name == "Ann")
    a1 = re.search(r"run=([^&]+)", s.url).group(1)
    t.get_by_role("tab", name="Follow me").click()
    b1 = room.pushed_runs(code, "b-bob-in-class")[0]
    v = _push(t, room, code, to="half B", epochs=LONG)
    s.get_by_text(f"Your teacher's push #{v} went to half B (second half), not to you").wait_for(timeout=30_000)
    assert f"run={a1}" in s.url and room.pushed_runs(code, ann) == [a1]
    assert room.pushed_runs(code, "b-bob-in-class")[1] == b1                 # Bob's new one replaced his first:
    _until(lambda: store.read_summary(server.runs / b1).get("reason") == pushes.REPLACED, 30)   # stopped, kept
    screenshot(s, "class_push_to_another_group")

    # a pushed run waits in the queue (Bob's trains); Ann's tab closes; it stays queued, and
    # trains once the teacher, in control, stops Bob's run
    _push(t, room, code, to="chosen", chosen="Ann", epochs=LONG)
    a2 = room.pushed_runs(code, ann)[0]
    s.wait_for_url(re.compile(rf"/Train\?run={a2}"), timeout=30_000)
    s.get_by_text("Queued:").first.wait_for(timeout=30_000)
    assert not store.read_summary(server.runs / a2)                        # it has not started
    s.close()
    t.get_by_role("tab", name="Students").click()
    t.get_by_text("no tab open: Ann, Bob").wait_for(timeout=30_000)       # the server saw her session end
    screenshot(t, "class_students_no_tab_open")
    _stop_the_run_of(t, "Bob")                                             # still in control
    _until(lambda: store.read_summary(server.runs / a2).get("status") == "running", 60)   # it trains
    s = open_app(student_ctx, server.url + f"/Class?class={code}")         # Ann is back: her run trains
    _my_runs_row(s, "running").wait_for(state="attached", timeout=30_000)
    assert room.pushed_runs(code, ann)[0] == a2

    # a second push replaces the first pushed run: stopped and kept (its weights saved), listed
    t.get_by_role("tab", name="Follow me").click()
    _push(t, room, code, to="chosen", epochs=3)                             # Ann is still chosen
    s.wait_for_url(re.compile(r"/Train\?run="), timeout=30_000)
    assert a2 not in s.url
    wait_for_app(s)
    s.goto(server.url + f"/Class?class={code}")
    wait_for_app(s)
    replaced = _my_runs_row(s, pushes.REPLACED)
    replaced.wait_for(state="attached", timeout=60_000)
    assert "stopped" in replaced.inner_text()
    assert store.read_summary(server.runs / a2)["status"] == "stopped" and store.has_model(server.runs / a2)
    assert_no_error(s)
    screenshot(s, "class_push_replaced")
