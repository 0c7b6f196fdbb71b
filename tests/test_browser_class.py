"""The teacher key without a login, in real browsers: shown once, kept in the teacher's
browser (a cookie) across a reload, never sent to a student's browser; a wrong key typed
by a student is refused with a message. Then a lesson: a question answered on the student's
page, hidden until revealed, and a β ladder push over two students that the student's page
follows into her own run, with the class's reading on the dashboard."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import assert_no_error, open_app, screenshot, wait_for_app

from explorer.classroom.classes import Classroom
from explorer.runs import Actor

pytestmark = pytest.mark.browser
MAIN = '[data-testid="stMain"]'


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
    t.get_by_role("button", name="Push to the class").click()
    t.get_by_text("β spread over them: 0.5, 8; 2 runs started, each with its own seed").wait_for(timeout=30_000)
    s.wait_for_url(re.compile(r"/Train\?run="), timeout=30_000)
    wait_for_app(s)
    s.get_by_text("Base β = 0.5").first.wait_for(timeout=60_000)          # her rung of the ladder
    assert_no_error(s)
    t.get_by_role("tab", name="Dashboard").click()
    t.get_by_text("The class on one rate–distortion plane").first.wait_for(timeout=120_000)
    t.get_by_text("along the class's β ladder").wait_for(timeout=120_000)   # the reading from the numbers
    screenshot(t, "class_ladder_dashboard")
