"""The Class page and follow mode under AppTest: create, join, the dashboard, presentation
mode, pushes reaching a student's Train and Explore pages, and the permission rules through
the pages (a student never sees the key, cannot act on another student's run, cannot change
the class). Each AppTest is one browser session; a session's owner is fixed by its token."""
from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import app_factory, assert_page_ok, switch_to

from explorer.classroom import classes, rules
from explorer.config import RunConfig
from explorer.engine import EngineError, Status
from explorer.runs import Actor
from explorer.ui.identity import owner_id_of_token

PAGES = Path(__file__).resolve().parent.parent / "pages"
CLASS_PAGE, TRAIN_PAGE, EXPLORE_PAGE = (str(PAGES / p) for p in ("6_Class.py", "1_Train.py", "2_Explore.py"))


def session(page: str, token: str, **query):
    at = app_factory(page)(**query)
    at.session_state["_le_token"] = token           # this session's browser: a fixed owner
    return at


def texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "warning", "info", "success", "error", "title",
                                  "code", "text") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def tiny(**train) -> RunConfig:
    return RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                               train={"epochs": 1, "batch_size": 64, **train})


@pytest.fixture
def lesson(page_engine):
    """A class created through the page by a teacher session; Ann joined through the page."""
    teacher = session(CLASS_PAGE, "t" * 24)
    teacher.run()
    teacher.text_input(key="create_name").input("Year 12")
    [b for b in teacher.button if b.label == "Create the class"][0].click().run()
    assert_page_ok(teacher)
    (k,) = [classes.classroom().get(c) for (c,) in classes.classroom()._read("SELECT code FROM classes")]
    student = session(CLASS_PAGE, "a" * 24, **{"class": k.code})
    student.run()
    assert student.text_input(key="join_code").value == k.shown_code    # the link fills the code
    student.text_input(key="join_name").input("Ann")
    [b for b in student.button if b.label == "Join"][0].click().run()
    assert_page_ok(student)
    return teacher, student, k


def test_create_shows_the_key_once_and_join_puts_the_student_on_the_dashboard(lesson, page_engine):
    teacher, student, k = lesson
    key = teacher.session_state["le_class_keys"][k.code]
    (dialog,) = [c for c in teacher.code if c.value == key]             # in its dialog ...
    assert f"`{k.shown_code}`" in texts(teacher)
    assert "You are in this class as **Ann**" in texts(student)
    teacher.session_state["le_present"] = True                           # ... never on the projector
    teacher.run()
    assert key not in texts(teacher) and "key_noted" not in [b.key for b in teacher.button]
    teacher.session_state["le_present"] = False
    teacher.run()
    assert key in texts(teacher)                                         # until the teacher closes it
    teacher.button(key="key_noted").click().run()
    teacher.run()
    assert key not in texts(teacher)                                     # shown once
    assert f"`{k.shown_code}`" in texts(teacher) and "· 1 student\n" in texts(teacher) + "\n"
    students = [d for d in teacher.dataframe if "student" in d.value.columns][0].value
    assert list(students["student"]) == ["Ann"]
    assert any("What to notice" in c.value for c in teacher.caption)


def test_a_student_never_sees_the_key_nor_changes_the_class(lesson, page_engine):
    teacher, student, k = lesson
    key = teacher.session_state["le_class_keys"][k.code]
    student.run()
    assert key not in texts(student)
    labels = {b.label for b in student.button}
    assert not labels & {"Push to the class", "Save the settings", "Remove from class", "Close it now"}
    assert "Leave the class" in labels
    # a wrong key typed by a student on another session changes nothing
    other = session(CLASS_PAGE, "b" * 24)
    other.run()
    other.text_input(key="tk_code").input(k.code)
    other.text_input(key="tk_key").input("x" * 24)
    [b for b in other.button if b.label == "Use this key"][0].click().run()
    assert any("not this class's teacher key" in e.value for e in other.error)
    assert not classes.classroom().is_teacher(k.code, Actor(owner_id_of_token("b" * 24)))


def test_a_student_cannot_act_on_another_students_run(lesson, page_engine):
    teacher, student, k = lesson
    bob = Actor(owner_id_of_token("c" * 24))
    classes.classroom().join(k.code, bob, "Bob")
    rid = rules.start_run(page_engine, classes.classroom(), k, bob, tiny(epochs=500), start_paused=True)
    ann = session(TRAIN_PAGE, "a" * 24, run=rid)
    ann.run()
    assert any(i.value.startswith("Read-only:") for i in ann.info)
    assert ann.button(key="stop").disabled and ann.button(key="pause").disabled
    assert ann.number_input(key="beta").disabled and ann.select_slider(key="lr").disabled   # β, lr too
    assert "its owner's to change" in ann.number_input(key="beta").help
    # the teacher watches read-only, and acts after taking control
    t = session(TRAIN_PAGE, "t" * 24, run=rid)
    t.session_state["le_class_keys"] = dict(teacher.session_state["le_class_keys"])
    t.run()
    assert t.button(key="stop").disabled
    t.session_state["le_control"] = True               # the toggle of another tab: not what gives control
    t.run()
    assert t.button(key="stop").disabled
    classes.classroom().update_settings(k.code, replace(k.settings, teacher_control=True))   # any tab now
    t.run()
    assert not t.button(key="stop").disabled
    t.button(key="stop").click().run()
    assert not t.error
    try:                                        # a started run stops at its next step,
        ended = page_engine.wait(rid, timeout=60)
    except EngineError:                         # a queued one is dropped at once
        ended = None
    assert ended in (None, Status.STOPPED)


def test_pushed_config_reaches_the_train_page_unless_follow_is_off(lesson, page_engine):
    teacher, _, k = lesson
    ann = session(TRAIN_PAGE, "a" * 24)
    ann.run()
    assert any("Class “Year 12”" in c.value for c in ann.caption)
    teacher.number_input(key="push_beta").set_value(4.0)
    teacher.number_input(key="push_epochs").set_value(2)
    teacher.selectbox(key="push_data").set_value("moons")
    teacher.checkbox(key="push_start").uncheck()
    [b for b in teacher.button if b.label == "Push to the class"][0].click().run()
    assert_page_ok(teacher)
    ann.run()                                              # the poll takes the push
    assert ann.session_state["beta"] == 4.0 and ann.session_state["dataset"] == "moons"
    assert ann.sidebar.number_input(key="epochs").value == 2
    ann.toggle(key="le_follow").set_value(False).run()      # follow mode off: pushes wait
    classes.classroom().push(k.code, "config", {"config": tiny(beta=7.0).to_dict(), "start": False})
    ann.run()
    assert ann.session_state["beta"] != 7.0


def test_pushed_view_opens_explore_at_the_run_and_z(lesson, page_engine):
    _, _, k = lesson
    ann = session(EXPLORE_PAGE, "a" * 24)
    ann.run()
    classes.classroom().push(k.code, "view", {"model": "shipped:digits-vae-z2-b1", "z": "1.5,-0.5"})
    ann.run()
    assert_page_ok(ann)
    key = "shipped:digits-vae-z2-b1"
    assert ann.session_state["ex_model"] == key
    mk = hashlib.sha1(key.encode()).hexdigest()[:10]
    assert sorted(ann.session_state[f"ex_z_{mk}_{d}"] for d in (0, 1)) == [-0.5, 1.5]


def test_class_caps_and_presentation_mode(lesson, page_engine):
    teacher, _, k = lesson
    classes.classroom().update_settings(k.code, classes.ClassSettings(max_runs=1, dataset="moons"))
    ann = session(TRAIN_PAGE, "a" * 24)
    ann.run()
    ann.button(key="start").click().run()                  # digits: the class trains moons
    assert any("“dataset”" in e.value for e in ann.error)
    pres = session(CLASS_PAGE, "t" * 24, **{"class": k.code, "present": "1"})
    pres.session_state["le_class_keys"] = dict(teacher.session_state["le_class_keys"])
    pres.run()
    assert_page_ok(pres)
    assert pres.toggle(key="le_present").value is True and not pres.tabs
    assert any("display: none" in h.proto.body for h in pres.get("html"))
    assert "MNIST is not on this server: put `mnist.npz` into" in texts(teacher.run())   # before the lesson
    assert any("No student's run has reported yet" in i.value for i in pres.info)   # no run: no blank plane


def test_a_locked_class_locks_the_live_controls_too(lesson, page_engine):
    """Locked hyperparameters: a student's Train page shows the class's β and lr and cannot
    change them, not even live during a run."""
    _, _, k = lesson
    classes.classroom().update_settings(k.code, classes.ClassSettings(locked=True, dataset="moons"))
    ann = session(TRAIN_PAGE, "a" * 24)
    ann.run()
    assert_page_ok(ann)
    assert ann.number_input(key="beta").proto.disabled and ann.select_slider(key="lr").proto.disabled
    assert "locked the hyperparameters of the class" in texts(ann)
    free = session(TRAIN_PAGE, "z" * 24)                       # not in the class: free to change
    free.run()
    assert not free.number_input(key="beta").proto.disabled


def test_a_lesson_vote_then_a_ladder_push_through_the_pages(lesson, page_engine):
    """The teacher asks a ready question; Ann answers on her Class page; the teacher sees the
    count (hidden from the dashboard until revealed), pushes a β ladder (the answers lock),
    and Ann's and Bob's runs differ in β and seed; Ann's page follows into her run."""
    teacher, student, k = lesson
    bob = session(CLASS_PAGE, "c" * 24, **{"class": k.code})
    bob.run()
    bob.text_input(key="join_name").input("Bob")
    [b for b in bob.button if b.label == "Join"][0].click().run()
    teacher.run()
    teacher.selectbox(key="ask_pick").set_value("β ladder: What happens to the samples at β = 8?")
    [b for b in teacher.button if b.label == "Ask the class"][0].click().run()
    assert_page_ok(teacher)
    student.run()
    assert "What happens to the samples at β = 8?" in texts(student)
    student.radio(key="ans_1_1").set_value("all alike (collapse)")
    [b for b in student.button if b.label == "Send my answer"][0].click().run()
    assert "Your answer: all alike (collapse)" in texts(student)
    teacher.run()
    assert "hidden until the teacher reveals it" in texts(teacher)         # the dashboard's line
    assert "first vote (1 answer): sharper 0, blurrier 0, all alike (collapse) 1" in texts(teacher)
    ann = session(TRAIN_PAGE, "a" * 24)
    ann.run()                                              # Ann's Train page is open before the push
    teacher.selectbox(key="push_data").set_value("moons")
    teacher.selectbox(key="push_ladder").set_value("beta")
    teacher.text_input(key="push_rungs").input("0.5, 8")
    teacher.number_input(key="push_epochs").set_value(1)
    [b for b in teacher.button if b.label == "Push to the class"][0].click().run()
    assert_page_ok(teacher)
    assert any("β spread over them: 0.5, 8" in m.value for m in teacher.success)
    room = classes.classroom()
    runs = {o: page_engine.entry(r) for o, r in room.latest_runs(k.code).items()}
    assert sorted(e.base_beta for e in runs.values()) == [0.5, 8.0]
    assert len({e.config.train.seed for e in runs.values()}) == 2
    ann.run()                                              # the poll takes the push: her own run
    assert ann.session_state["beta"] == 0.5
    student.run()                                          # her Class page follows into it too
    assert [t.value for t in student.title] == ["Train"] and student.session_state["beta"] == 0.5
    switch_to(student, CLASS_PAGE).run()                   # back to the Class page
    assert "Answers are locked" in texts(student)
    for r in room.latest_runs(k.code).values():
        page_engine.wait(r, 120)


def test_before_the_lesson_the_teacher_measures_how_long_each_preset_takes(lesson, page_engine):
    """Settings → "Measure this server": a calibration in a worker process; the table is the
    estimate for the number of students typed (default: the class's size), over this
    server's workers, labelled as measured here at a time; a student's page has no such button."""
    from explorer.engine import calibration
    from explorer.presets import PRESETS
    from explorer.ui import classroom_views
    teacher, student, k = lesson
    teacher.run()
    assert teacher.number_input(key="cal_students").value == 1                   # Ann
    assert not [d for d in teacher.dataframe if "preset" in d.value.columns]    # nothing measured yet
    teacher.number_input(key="cal_students").set_value(30)
    teacher.button(key="cal_run").click().run(timeout=240)
    assert_page_ok(teacher)
    cal, _ = classroom_views._calibrations()["latest"]
    assert cal.pid != os.getpid()                                  # never the server's process
    table = [d for d in teacher.dataframe if "preset" in d.value.columns][0].value
    assert list(table["preset"]) == list(PRESETS)
    want = calibration.estimate(cal.timings, 30, page_engine.max_jobs)
    assert list(table["30 students"]) == [calibration.duration(e.total_s) for e in want]
    assert list(table["runs"]) == [30, 30, 30, 60]                             # AE vs VAE trains a twin
    assert list(table[f"rounds of {page_engine.max_jobs}"]) == [e.rounds for e in want]
    said = texts(teacher)
    assert "An estimate from a measurement: s/step measured on this server at" in said and " UTC (" in said
    assert "cal_run" not in [b.key for b in student.run().button]
