"""A lesson in the library: pushes that build a picture (own seeds, a ladder over the class,
a group, a new push replacing the last), predict-then-see votes (answers, lock, reveal, a
second vote, the record as CSV), and the dashboard's ladder line, reading and labels."""
from __future__ import annotations

import csv
import io
import json

import pytest

from explorer.classroom import board, classes, pushes, rules, votes
from explorer.config import RunConfig
from explorer.engine import EngineError, Status
from explorer.figures import classroom as classroom_figures
from explorer.figures import votes as vote_figures
from explorer.runs import Actor

T = Actor("b-teacher", "Ms T")
NAMES = ["Ann", "Bob", "Cy", "Di"]
STUDENTS = [Actor(f"b-{n.lower()}", n) for n in NAMES]


@pytest.fixture
def klass(tmp_path):
    room = classes.Classroom(tmp_path / "runs")
    k, _ = room.create("Lesson", T)
    for s in STUDENTS:
        room.join(k.code, s, s.name)
    yield room, k
    room.close()


def tiny(**train) -> RunConfig:
    return RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                               train={"epochs": 1, "batch_size": 64, **train})


def test_ladder_values_are_checked_and_name_the_setting():
    assert pushes.parse_ladder("beta", "0, 0.25,0.5; 1,2,4,8, 8") == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    assert pushes.parse_ladder("latent_dim", "2, 8, 16") == [2, 8, 16]
    with pytest.raises(classes.ClassroomError, match="latent dimensions.*whole"):
        pushes.parse_ladder("latent_dim", "2, 2.5")
    with pytest.raises(classes.ClassroomError, match="β.*must lie in"):
        pushes.parse_ladder("beta", "1, 1e9")
    with pytest.raises(classes.ClassroomError, match="2 to"):
        pushes.parse_ladder("beta", "4")
    with pytest.raises(classes.ClassroomError, match="'x' is not one"):
        pushes.parse_ladder("beta", "1, x")


def test_groups_halves_chosen_and_by_answer(klass):
    room, k = klass
    names = lambda ms: [m.name for m in ms]           # noqa: E731
    assert names(pushes.targets(room, k, "all")) == NAMES
    assert names(pushes.targets(room, k, "half A")) == ["Ann", "Bob"]
    assert names(pushes.targets(room, k, "half B")) == ["Cy", "Di"]
    assert names(pushes.targets(room, k, "chosen", chosen=["b-di", "b-ann"])) == ["Ann", "Di"]
    q = votes.ask(room, k.code, "Sharpest β?", "choice", ["0", "8"])
    for s, a in zip(STUDENTS, ["0", "8", "8", "0"]):
        votes.answer(room, k, q.qid, s.id, a)
    assert names(pushes.targets(room, k, "answered", answered=(q.qid, "8"))) == ["Bob", "Cy"]
    with pytest.raises(classes.ClassroomError, match="a push goes to one of"):
        pushes.targets(room, k, "everyone but Bob")


def test_a_ladder_push_gives_each_student_a_rung_and_an_own_seed_and_replaces_the_last(klass, engine):
    room, k = klass
    p = pushes.push_config(engine, room, k, T, tiny(epochs=100_000), ladder=("beta", [0.5, 4.0, 8.0]))
    a = p.payload["assigned"]
    assert set(a) == {s.id for s in STUDENTS} and all(v["run"] and not v["error"] for v in a.values())
    got = {s.name: RunConfig.from_dict(a[s.id]["config"]) for s in STUDENTS}
    assert [got[n].train.beta for n in NAMES] == [0.5, 4.0, 8.0, 0.5]          # in turn, joining order
    assert len({c.train.seed for c in got.values()}) == 4                     # an own seed each
    for s in STUDENTS:                                       # the runs are the students' own, as given
        e = engine.entry(a[s.id]["run"])
        assert e.owner == s.id and e.config.train.seed == got[s.name].train.seed and e.base_beta == got[s.name].train.beta
    assert "β spread over them: 0.5, 4, 8" in pushes.summary(p)
    first = {o: v["run"] for o, v in a.items()}

    p2 = pushes.push_config(engine, room, k, T, tiny(beta=2.0, epochs=100_000), group="half B")
    assert set(p2.payload["assigned"]) == {"b-cy", "b-di"}                    # a group push reaches its group
    names = [RunConfig.from_dict(push.payload["assigned"]["b-cy"]["config"]).name for push in (p, p2)]
    assert names[0] != names[1] and f"push #{p.version}" in names[0] and f"push #{p2.version}" in names[1]
    for rid in (first["b-cy"], first["b-di"]):           # a started run stops at its next step
        try:
            engine.wait(rid, timeout=60)
        except EngineError:                                # a queued one was dropped at once
            pass
    for s in STUDENTS:
        live = [r for r in room.pushed_runs(k.code, s.id) if engine.entry(r) and engine.entry(r).status.live]
        assert len(live) == 1                                                 # replaced, never stacked
        old = engine.entry(first[s.id])
        if s.id in ("b-cy", "b-di"):
            assert old is None or (not old.status.live and old.reason == pushes.REPLACED)
            assert (old is None) == (first[s.id] not in room.pushed_runs(k.code, s.id))   # a dropped one is not counted
        else:
            assert live == [first[s.id]]
    same = pushes.push_config(engine, room, k, T, tiny(epochs=1), group="half A", own_seeds=False, start=False)
    assert {RunConfig.from_dict(v["config"]).train.seed for v in same.payload["assigned"].values()} == {0}
    assert all(v["run"] is None for v in same.payload["assigned"].values())
    for s in STUDENTS:
        for r in room.pushed_runs(k.code, s.id):
            if engine.entry(r) is not None and engine.entry(r).status.live:
                engine.stop(r, s)


def test_a_locked_class_starts_each_students_own_rung(klass):
    room, k = klass
    k = room.update_settings(k.code, classes.ClassSettings(locked=True))
    base = tiny(beta=1.0)
    room.push(k.code, "config", {"config": base.to_dict(), "start": True,
                                 "assigned": {"b-ann": {"config": base.replace(train={"beta": 8.0, "seed": 5}).to_dict(),
                                                        "run": None, "error": None}}})
    assert rules.start_refusal(room, k, "b-ann", base.replace(train={"beta": 8.0, "seed": 9})) is None
    assert rules.start_refusal(room, k, "b-ann", base) is None                    # the class's own
    assert "locked" in rules.start_refusal(room, k, "b-bob", base.replace(train={"beta": 8.0}))
    assert "locked" in rules.start_refusal(room, k, "b-ann", base.replace(train={"beta": 3.0}))


def test_predict_then_see_vote_lock_reveal_revote_and_the_record(klass):
    room, k = klass
    with pytest.raises(classes.ClassroomError, match="2 to 8 different options"):
        votes.ask(room, k.code, "What happens?", "choice", ["only one"])
    q = votes.ask(room, k.code, "What happens to the samples at β = 8?", "choice",
                  ["sharper", "blurrier", "all alike (collapse)"])
    assert room.latest_push(k.code).kind == "question" and not q.revealed
    for s, a in zip(STUDENTS, ["sharper", "blurrier", "blurrier", "sharper"]):
        votes.answer(room, k, q.qid, s.id, a)
    votes.answer(room, k, q.qid, "b-ann", "blurrier")                     # changed before the lock
    with pytest.raises(classes.ClassroomError, match="pick one of the options"):
        votes.answer(room, k, q.qid, "b-bob", "no idea")
    with pytest.raises(classes.ClassroomError, match="only the class's students"):
        votes.answer(room, k, q.qid, "b-stranger", "sharper")
    assert votes.tally(room, q)["counts"] == {"sharper": 1, "blurrier": 3, "all alike (collapse)": 0}
    votes.lock(room, k.code, q.qid)
    with pytest.raises(classes.ClassroomError, match="locked"):
        votes.answer(room, k, q.qid, "b-di", "blurrier")
    q = votes.reveal(room, k.code, q.qid)
    assert q.revealed and votes.current(room, k.code).revealed
    votes.note_outcome(room, k.code, q.qid, "every sample looked alike: KL 0.2 nats")
    q = votes.revote(room, k.code, q.qid)
    assert q.round == 2 and q.is_open and not q.revealed
    for s, a in zip(STUDENTS, ["all alike (collapse)", "all alike (collapse)", "blurrier", "sharper"]):
        votes.answer(room, k, q.qid, s.id, a)
    c = votes.changes(room, votes.current(room, k.code))
    assert c["both"] == 4 and c["changed"] == 2 and c["moves"][("blurrier", "all alike (collapse)")] == 2
    with pytest.raises(classes.ClassroomError, match="second vote"):
        votes.revote(room, k.code, q.qid)
    rows = list(csv.DictReader(io.StringIO(votes.record_csv(room, k))))
    ann = next(r for r in rows if r["student"] == "Ann")
    assert (ann["answer (first vote)"], ann["answer (second vote)"], ann["changed"]) == \
        ("blurrier", "all alike (collapse)", "yes")
    assert ann["outcome"].startswith("every sample looked alike") and len(rows) == 4
    q = votes.current(room, k.code)
    t = {1: votes.tally(room, q, 1), 2: votes.tally(room, q, 2)}
    frame = vote_figures.vote_frame(q, t)
    assert len(frame) == 6 and frame[frame["round"] == "second vote"]["count"].sum() == 4
    assert "second vote (4 answers): sharper 1, blurrier 1, all alike (collapse) 2" in vote_figures.vote_summary(q, t)
    (stored,) = room._read("SELECT body FROM questions WHERE code = ?", (k.code,))
    assert json.loads(stored[0])["round"] == 2                           # plain JSON text, never a pickle


def test_number_questions_and_ready_questions_for_every_preset(klass):
    from explorer.presets import PRESETS
    room, k = klass
    assert all(len(votes.READY[p]) >= 3 for p in PRESETS)
    q = votes.ask(room, k.code, "How many digit classes stay apart?", "number")
    for s, a in zip(STUDENTS, ["3", "7", "10", "4"]):
        votes.answer(room, k, q.qid, s.id, a)
    with pytest.raises(classes.ClassroomError, match="takes a number"):
        votes.answer(room, k, q.qid, "b-ann", "seven")
    t = votes.tally(room, q)
    assert t["values"] == [3, 4, 7, 10] and t["median"] == 5.5


def student(name, beta, kl, recon, z=2):
    return board.StudentRun(owner=name, name=name, run_id=name, beta=beta, kl=kl, recon=recon, latent_dim=z,
                            trail=[(kl, recon)])


def test_the_ladder_line_its_reading_and_labels_that_never_overprint():
    class_ = [student("Ann", 0.0, 30.0, 60.0), student("Bob", 1.0, 12.0, 80.0), student("Cy", 8.0, 0.1, 140.0),
              student("Di", 8.0, 0.12, 140.1), student("Ed", 8.0, 0.11, 139.9), student("Flo", 1.0, 12.5, 81.0)]
    rd = classroom_figures.rd_frame(class_, "beta")
    ladder = rd[rd.kind == "ladder"].sort_values("order")
    assert list(ladder.beta) == [0.0, 1.0, 8.0] and ladder.kl.is_monotonic_decreasing
    assert ladder.recon.iloc[1] == pytest.approx(80.5)
    tags = rd[rd.kind == "now"].set_index("student").tag
    printed = [t for t in tags if t]
    assert sorted(printed) == sorted(["Ann", "Bob, Flo", "Ed +2"])   # three coinciding points: one label
    reading = board.notice_rd(class_, "beta")
    assert "β ladder (0 → 8, 3 values, 6 models)" in reading and "from 30.0 to 0.1 nats" in reading
    assert "trade-off" in reading and "collapse" in reading
    assert "latent dimensions ladder" in board.notice_rd(
        [student("A", 1.0, 5.0, 90.0, 2), student("B", 1.0, 9.0, 70.0, 8)], "latent_dim")
    spec = classroom_figures.class_spec("curves")
    assert spec["spec"]["encoding"]["y"]["axis"]["format"] == ",~f"          # ticks 10 apart read "10", not "1e+1"
    present = classroom_figures.class_spec("rd", True)
    assert present["height"] >= 600 and classroom_figures.class_spec("latent", True)["spec"]["width"] >= 300
    # room around the R–D chart so no title's text box is cut by its SVG's edge, on screen and projector;
    # the whole chart fits a 1000×800 window (tests/test_browser_class.py measures it)
    pad = present["padding"]                  # an object (Streamlit sets padding.bottom; a number breaks it)
    assert pad == classroom_figures.class_spec("rd")["padding"] and min(pad.values()) >= 8 and pad["bottom"] >= 20


def test_queued_runs_outlive_their_owners_last_tab(page_engine):
    """A sweep's queued runs stay queued when its owner's last browser session ends: the
    engine owns them, not the session (they used to be dropped, and the sweep shrank)."""
    from explorer.ui import identity
    me = Actor("b-sweeper")
    ids = [page_engine.submit(tiny(epochs=100_000, beta=b), me) for b in (0.5, 1.0, 2.0)]
    queued = [r for r in ids if page_engine.queue_position(r) is not None]
    assert len(queued) >= 2                                     # one trains at a time here
    identity._release(me.id)                                    # the last tab closed
    assert identity.sessions_of(me.id) == 0
    assert all(page_engine.entry(r) is not None and page_engine.entry(r).status.live for r in ids)
    assert [r for r in queued if page_engine.queue_position(r) is not None] == queued
    for r in ids:
        page_engine.stop(r, me)


def test_a_teacher_stores_a_standard_dataset_once_for_every_run(tmp_path):
    """Before the lesson: MNIST missing; its standard .npz stored through the store lands in
    the data folder and is read offline (no restart); a wrong file is refused, nothing kept."""
    import numpy as np

    from explorer import data, store
    from explorer.config import DataConfig
    folder = tmp_path / "data"
    assert not data.available_offline(DataConfig(name="mnist"), cache_dir=folder)
    rng = np.random.default_rng(0)
    x = (rng.random((300, 28, 28)) > 0.8).astype(np.uint8) * 255
    y = rng.integers(0, 10, 300).astype(np.uint8)
    good, bad = io.BytesIO(), io.BytesIO()
    np.savez(good, x_train=x[:250], y_train=y[:250], x_test=x[250:], y_test=y[250:])
    np.savez(bad, images=x)

    def check(p):
        return data.load(DataConfig(name="mnist", path=str(p)), max_bytes=store.DATASET_MAX_BYTES)
    with pytest.raises(data.DataError, match="lacks the array"):
        store.save_dataset(folder, "mnist", bad.getvalue(), check=check)
    assert not list((folder / "mnist").iterdir())                      # nothing kept
    path = store.save_dataset(folder, "mnist", good.getvalue(), check=check)
    assert path == folder / "mnist" / "mnist.npz"
    assert data.available_offline(DataConfig(name="mnist"), cache_dir=folder)
    assert len(data.load(DataConfig(name="mnist"), cache_dir=folder).x_train) > 0
    with pytest.raises(store.UploadError, match="not 'shapes'"):
        store.save_dataset(folder, "shapes", good.getvalue(), check=check)


def test_through_the_apps_gate_a_locked_class_takes_each_rung_and_a_push_replaces(klass, engine):
    """With the class rules in front of the engine (the app's gate), a ladder push in a locked
    class starts every student's own rung, each recorded as pushed, and the next replaces it."""
    room, k = klass
    room.update_settings(k.code, classes.ClassSettings(locked=True))
    k = room.get(k.code)
    engine.gate = rules.Gate(engine.runs_dir)
    p = pushes.push_config(engine, room, k, T, tiny(epochs=100_000), ladder=("beta", [1.0, 8.0]))
    a = p.payload["assigned"]
    assert not p.payload.get("starting") and not room.latest_push(k.code).payload.get("starting")
    assert all(v["run"] and not v["error"] for v in a.values()), [v["error"] for v in a.values()]
    assert all(room.pushed_runs(k.code, s.id) == [a[s.id]["run"]] for s in STUDENTS)
    p2 = pushes.push_config(engine, room, k, T, tiny(epochs=100_000), group="chosen", chosen=["b-ann"])
    assert list(p2.payload["assigned"]) == ["b-ann"] and p2.payload["assigned"]["b-ann"]["run"]
    try:                                        # a started run stops at its next step,
        ended = engine.wait(a["b-ann"]["run"], timeout=60)
    except EngineError:                         # a queued one is dropped at once
        ended = None
    assert ended in (None, Status.STOPPED)
    for s in STUDENTS:
        for r in room.pushed_runs(k.code, s.id):
            if engine.entry(r) is not None and engine.entry(r).status.live:
                engine.stop(r, s)


def test_a_push_marks_its_runs_in_one_transaction_when_complete(klass, engine):
    """Through the app's gate each run is recorded as the class's when admitted; the push,
    still "starting" meanwhile (followers wait for it), marks all its runs as its own in one
    transaction at the end, with its final payload."""
    room, k = klass
    seen = []

    class Watching(rules.Gate):          # the app's gate, looking on as the push starts the last run
        def admitted(self, ticket, owner, run_ids):
            super().admitted(ticket, owner, run_ids)
            if owner == STUDENTS[-1].id:
                seen.append((room.latest_push(k.code), room.pushed_runs_by_owner(k.code),
                             [r for _, r in room.runs_of(k.code)]))

    engine.gate = Watching(engine.runs_dir)
    done = pushes.push_config(engine, room, k, T, tiny(epochs=100_000))
    (during, marked, recorded), = seen
    runs = {o: v["run"] for o, v in done.payload["assigned"].items()}
    assert during.payload.get("starting") and during.version == done.version and marked == {}
    assert sorted(recorded) == sorted(runs.values())               # each recorded as the class's already
    assert room.pushed_runs_by_owner(k.code) == {o: [r] for o, r in runs.items()}
    after = room.latest_push(k.code)
    assert not after.payload.get("starting") and after.payload["assigned"] == done.payload["assigned"]
    for s in STUDENTS:
        engine.stop(runs[s.id], s)
