"""Classes in the library: codes, teacher keys, joining and leaving, settings, caps, pushes,
the teacher actor, persistence across a restart (a new process's Classroom on the same file)."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from explorer import store
from explorer.classroom import board
from explorer.classroom import classes, rules
from explorer.config import RunConfig
from explorer.engine import NotAllowed
from explorer.figures import classroom as classroom_figures
from explorer.runs import Action, Actor, refusal

T, S1, S2 = Actor("b-teacher", "Ms T"), Actor("b-ann"), Actor("b-bob")


@pytest.fixture
def room(tmp_path):
    r = classes.Classroom(tmp_path / "runs")
    yield r
    r.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """One engine for the module's training tests (as conftest's ``engine``: max 2 jobs), its
    workers started once (spawning one costs ~3.5 CPU-s). The tests cannot interfere: each
    has a Classroom of its own (``room``, in its own folder; the class rules are read from
    there), ends every run it starts, checks runs by their ids, and sets no lasting engine
    state (the gate is monkeypatched); the owners' engine-wide caps are far away."""
    from explorer.engine import Engine
    eng = Engine(tmp_path_factory.mktemp("class-engine") / "runs", max_jobs=2, snapshot_seconds=0.2,
                 load_existing=False)
    yield eng
    eng.shutdown()


def tiny(**train) -> RunConfig:
    return RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                               train={"epochs": 1, "batch_size": 64, **train})


def test_create_gives_a_code_and_a_key_only_its_hash_is_stored(room):
    k, key = room.create("Year 12", T)
    assert len(k.code) == classes.CODE_LEN and set(k.code) <= set(classes.CODE_ALPHABET)
    assert room.is_teacher(k.code, S1, key) and not room.is_teacher(k.code, S1, key[:-1] + ("y" if key.endswith("x") else "x"))
    assert not room.is_teacher(k.code, T)            # no login: the key is what counts
    raw = sqlite3.connect(room.path).execute("SELECT * FROM classes").fetchall()
    assert key not in repr(raw)                      # the secret itself is never written
    assert sqlite3.connect(room.path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(classes.ClassroomError, match="name"):
        room.create("  ", T)


def test_logged_in_creator_is_teacher_without_key(room):
    u = Actor("u-abc", "T")
    k, _ = room.create("Logged", u)
    assert room.is_teacher(k.code, u) and [c.code for c in room.taught_by(u)] == [k.code]
    assert room.taught_by(T) == []


def test_join_leave_remove_close(room):
    k, _ = room.create("C", T)
    room.join(k.code.lower(), S1, "  Ann  ")          # codes are case-insensitive
    room.join(k.code, S2, "Bob")
    assert [m.name for m in room.members(k.code)] == ["Ann", "Bob"]
    assert room.membership(S1.id)[0].code == k.code
    with pytest.raises(classes.ClassroomError, match="name"):
        room.join(k.code, Actor("b-x"), "")
    with pytest.raises(classes.ClassroomError, match="no class"):
        room.join("ZZZZZZZZ", Actor("b-x"), "X")
    with pytest.raises(classes.ClassroomError, match="teacher"):
        room.join(k.code, T, "me")
    room.leave(k.code, S1.id)
    assert room.membership(S1.id) is None and [m.name for m in room.members(k.code)] == ["Bob"]
    room.remove(k.code, S2.id)
    assert room.members(k.code) == [] and [m.name for m in room.removed(k.code)] == ["Bob"]
    with pytest.raises(classes.ClassroomError, match="removed you.*only they can let you back in"):
        room.join(k.code, S2, "Bob")                   # removal sticks, whatever the link
    room.readmit(k.code, S2.id)
    room.join(k.code, S2, "Bob")
    assert [m.name for m in room.members(k.code)] == ["Bob"] and room.removed(k.code) == []
    room.join(k.code, S1, "Ann")
    room.close_class(k.code)
    assert room.membership(S1.id) is None
    with pytest.raises(classes.ClassroomError, match="closed"):
        room.join(k.code, S2, "Bob")


def test_joining_another_class_leaves_the_first(room):
    a, _ = room.create("A", T)
    b, _ = room.create("B", T)
    room.join(a.code, S1, "Ann")
    room.join(b.code, S1, "Ann")
    assert room.membership(S1.id)[0].code == b.code and room.members(a.code) == []


def test_settings_are_checked_and_name_the_setting(room):
    k, _ = room.create("C", T)
    k = room.update_settings(k.code, classes.ClassSettings(max_runs=3, dataset="moons", max_run_seconds=60))
    assert room.get(k.code).settings.max_runs == 3
    with pytest.raises(classes.ClassroomError, match="runs per student"):
        room.update_settings(k.code, classes.ClassSettings(max_runs=0))
    with pytest.raises(classes.ClassroomError, match="dataset"):
        room.update_settings(k.code, classes.ClassSettings(dataset="nope"))


def test_class_caps_refuse_with_the_class_setting(room):
    k, _ = room.create("C", T)
    k = room.update_settings(k.code, classes.ClassSettings(max_runs=2, dataset="moons"))
    room.join(k.code, S1, "Ann")
    assert "“dataset”" in rules.start_refusal(room, k, S1.id, tiny().replace(data={"name": "circles"}))
    assert rules.start_refusal(room, k, S1.id, tiny()) is None
    room.record_run(k.code, S1.id, "r1")
    room.record_run(k.code, S1.id, "r2")
    assert "“runs per student” is 2" in rules.start_refusal(room, k, S1.id, tiny())
    assert rules.start_refusal(room, k, S2.id, tiny()) is None        # per student


def test_locked_class_only_starts_the_pushed_config(room):
    k, _ = room.create("C", T)
    k = room.update_settings(k.code, classes.ClassSettings(locked=True))
    assert "not pushed" in rules.start_refusal(room, k, S1.id, tiny())
    room.push(k.code, "config", {"config": tiny(beta=4.0).to_dict(), "start": False})
    assert "lock hyperparameters" in rules.start_refusal(room, k, S1.id, tiny())
    assert rules.start_refusal(room, k, S1.id, tiny(beta=4.0).replace(name="mine")) is None


def test_pushes_are_versioned_per_class(room):
    a, _ = room.create("A", T)
    b, _ = room.create("B", T)
    assert room.latest_push(a.code) is None
    room.push(a.code, "config", {"config": tiny().to_dict(), "start": True})
    p = room.push(a.code, "view", {"model": "shipped:x", "z": "1,2"})
    assert (p.version, room.latest_push(a.code).payload["z"]) == (2, "1,2")
    assert room.latest_config_push(a.code).version == 1 and room.latest_push(b.code) is None
    with pytest.raises(classes.ClassroomError):
        room.push(a.code, "other", {})


def test_a_teachers_power_stops_at_the_class(room):
    """The teacher controls the runs a current student made in the class: never the
    student's private runs (made before joining, or outside the class), never a rename or
    a delete, and nothing once the student is removed."""
    k, _ = room.create("C", T)
    room.join(k.code, S1, "Ann")
    room.record_run(k.code, S1.id, "class-run")
    boss = rules.teacher_actor(room, k, T)
    live, ended = dict(shipped=False, status="running"), dict(shipped=False, status="finished")
    assert refusal(Action.CONTROL, run_owner=S1.id, run_id="class-run", actor=boss, **live) is None
    assert refusal(Action.CONTROL, run_owner=S1.id, run_id="private-run", actor=boss, **live) is not None
    for action in (Action.RENAME, Action.DELETE):
        assert refusal(action, run_owner=S1.id, run_id="class-run", actor=boss, **ended) is not None
        assert refusal(action, run_owner=S1.id, run_id="private-run", actor=boss, **ended) is not None
    assert refusal(Action.CONTROL, run_owner="b-stranger", run_id="x", actor=boss, **live) is not None
    assert refusal(Action.CONTROL, run_owner=S2.id, run_id="class-run", actor=S1, **live) is not None
    room.remove(k.code, S1.id)
    assert refusal(Action.CONTROL, run_owner=S1.id, run_id="class-run", actor=rules.teacher_actor(room, k, T),
                   **live) is not None


def test_join_codes_are_long_and_guessing_them_is_slowed(room, monkeypatch):
    k, _ = room.create("C", T)
    assert len(k.code) * 5 >= 40 and k.shown_code == f"{k.code[:4]}-{k.code[4:]}"
    assert room.find(k.shown_code.lower(), "10.0.0.1").code == k.code      # typed as shown, any case
    clock = [1000.0]
    monkeypatch.setattr(classes.time, "time", lambda: clock[0])
    for i in range(classes.FREE_MISSES):
        with pytest.raises(classes.ClassroomError, match="no class"):
            room.find(f"ZZZZZZ{i:02d}", "10.0.0.1")
    waits = []
    for _ in range(4):                                  # then each miss doubles the wait ...
        waits.append(room.wait_s("10.0.0.1"))
        with pytest.raises(classes.ClassroomError, match=r"too many wrong class codes.*try again in \d+ s"):
            room.find(k.code, "10.0.0.1")               # ... during which even a right code waits
        clock[0] += waits[-1]
        with pytest.raises(classes.ClassroomError, match="no class"):
            room.find("ZZZZZZZZ", "10.0.0.1")
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert room.find(k.code, "10.0.0.2").code == k.code      # another client is not held up
    clock[0] += classes.MISS_MEMORY_S + 1
    assert room.wait_s("10.0.0.1") == 0.0                    # forgotten after an hour


def test_classes_survive_a_restart(tmp_path):
    room = classes.Classroom(tmp_path / "runs")
    k, key = room.create("Persist", T)
    room.join(k.code, S1, "Ann")
    room.push(k.code, "config", {"config": tiny().to_dict(), "start": True})
    room.close()
    code = ("from explorer.classroom import classes; from pathlib import Path; import sys;"
            f"r = classes.Classroom(Path(sys.argv[1])); k = r.get({k.code!r});"
            f"print(k.name, [m.name for m in r.members(k.code)], r.latest_push(k.code).version,"
            f" r.is_teacher(k.code, '', {key!r}))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "runs")], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "Persist ['Ann'] 1 True"


def test_start_run_board_figures_and_the_time_cap(room, engine):
    """Two students train: caps are counted per student, the board and its figures show
    both, and the run still going past the class's run-time cap is stopped (and saved)."""
    k, _ = room.create("C", T)
    k = room.update_settings(k.code, classes.ClassSettings(max_runs=1, max_run_seconds=3600))
    room.join(k.code, S1, "Ann")
    room.join(k.code, S2, "Bob")
    long = rules.start_run(engine, room, k, S1, tiny(beta=0.5, epochs=5000))
    short = rules.start_run(engine, room, k, S2, tiny(beta=8.0, epochs=2))
    assert room.runs_of(k.code, S1.id) == [(S1.id, long)]
    with pytest.raises(classes.ClassroomError, match="runs per student"):
        rules.start_run(engine, room, k, S1, tiny())
    engine.wait(short, 120)
    engine.wait(long, 60, statuses={"running"})
    while not engine.view(long).rows:
        time.sleep(0.2)
    assert rules.overdue_runs(engine, room, k) == []                  # an hour not reached yet
    students = board.board(engine, room, k)
    assert [s.name for s in students] == ["Ann", "Bob"] and all(s.trail and s.curve for s in students)
    assert {s.beta for s in students} == {0.5, 8.0}
    rd = classroom_figures.rd_frame(students)
    assert set(rd[rd.kind == "now"].student) == {"Ann", "Bob"} and rd.beta.notna().all()
    assert set(classroom_figures.curves_frame(students).term) == {"reconstruction", "KL"}
    assert "β > 1.5" in board.notice_rd(students)
    for kind in ("rd", "latent", "curves"):
        assert classroom_figures.class_spec(kind, True)["config"]["background"] == "#111111"
    assert [q["student"] for q in board.queue(engine, room, k)] == ["Ann"]      # Bob's has ended
    k = room.update_settings(k.code, classes.ClassSettings(max_runs=1, max_run_seconds=5))
    while (engine.entry(long).progress.elapsed_s or 0) <= 5.2 and engine.entry(long).status.live:
        time.sleep(0.3)
    assert rules.overdue_runs(engine, room, k) == [long]
    assert engine.wait(long, 60) == "stopped"


def test_a_class_run_stops_itself_at_the_class_run_time(room, engine):
    """The class's run-time limit travels with the run: its loop stops it, saved, with the
    class setting named, whether or not a class page is open, and also when the student
    paused it and walked away (paused time counts: a paused run holds a worker). (A running
    run stopped by a limit given at submit, the class's wording: test_jobs.py's
    test_a_shorter_limit_given_at_submit_stops_the_run_itself; one stopped by the class's
    page: test_start_run_board_figures_and_the_time_cap.) Paused, it waits out the 5 s
    (the setting's least) without training on a core."""
    k, _ = room.create("C", T)
    k = room.update_settings(k.code, classes.ClassSettings(max_run_seconds=5))
    room.join(k.code, S1, "Ann")
    rid = rules.start_run(engine, room, k, S1, tiny(epochs=100_000))
    t_end = time.time() + 90
    while not engine.view(rid).progress.step and time.time() < t_end:     # it trains
        time.sleep(0.05)
    engine.pause(rid, S1)
    assert engine.view(rid).status == "paused"
    assert engine.wait(rid, 90) == "stopped"
    v = engine.view(rid)
    assert "run time per run" in v.reason and v.progress.step > 0
    assert store.read_summary(v.run_dir)["status"] == "stopped"


def test_every_way_to_start_or_store_a_run_passes_the_class_rules(room, engine, tmp_path, monkeypatch):
    """Issue 25's side doors, at the engine (the app installs its gate): a two-β sweep in a
    class of one run per student is refused whole; a run that starts is a class run with the
    class's run-time limit; an import counts as a run; in a locked class neither a sweep of
    one's own, an import nor an upload gets through; a non-member is not held by any class."""
    monkeypatch.setattr(engine, "gate", rules.Gate(tmp_path / "runs"))   # this test's room
    before = {e.run_id for e in engine.list()}                           # (the module's engine)
    k, _ = room.create("C", T)
    room.update_settings(k.code, classes.ClassSettings(max_runs=1, max_run_seconds=600))
    room.join(k.code, S1, "Ann")
    with pytest.raises(NotAllowed, match="this asks for 2 more; the class setting “runs per student” is 1"):
        engine.submit_many([tiny(beta=0.0), tiny(beta=50.0)], S1)          # the β lab's "0, 50"
    assert {e.run_id for e in engine.list()} == before                  # nothing was started
    rid = engine.submit(tiny(), S1)
    assert room.runs_of(k.code, S1.id) == [(S1.id, rid)]
    assert engine.view(rid).run_id == rid and engine._jobs[rid].options.max_seconds == 600
    with pytest.raises(NotAllowed, match="runs per student"):
        engine.admit_store(S1, 10_000)                                    # a run zip, an own model
    room.update_settings(k.code, classes.ClassSettings(locked=True, max_runs=5))
    for attempt in (lambda: engine.submit_many([tiny(beta=0.0)], S1), lambda: engine.admit_store(S1, 10),
                    lambda: engine.save_upload(b"1,2\n3,4\n", "mine.csv", S1)):
        with pytest.raises(NotAllowed, match="locked the hyperparameters"):
            attempt()
    engine.wait(engine.submit(tiny(), S2), 120)                          # not in a class: no class rule
    assert room.runs_of(k.code, S2.id) == []
    engine.wait(rid, 120)                                                # (ended before the next test)
