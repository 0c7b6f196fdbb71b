"""The class's rules: what its teacher may do to its students' runs, and what a student
may start in it (each refusal names the class setting).

* :func:`teacher_actor`: the teacher as an :class:`~explorer.runs.Actor` whose
  ``class_runs`` are the runs the class's current students made in the class: the teacher
  controls those (pause, stop, β), never renames or deletes them, never touches a
  student's private runs.
* :func:`start_refusal` / :func:`start_run`: a run started in a class (class caps first,
  then the engine's); :func:`overdue_runs`: the class's runs past a lowered run-time cap.
"""
from __future__ import annotations

import time
from dataclasses import replace

from ..engine import EngineError
from ..runs import Actor
from ..text import count
from .classes import SETTING_LABELS, Classroom, ClassroomError, Klass


def class_run_ids(room: Classroom, klass: Klass) -> frozenset:
    """The runs the class's current students made in the class (those its teacher controls)."""
    members = {m.owner for m in room.members(klass.code)}
    return frozenset(r for o, r in room.runs_of(klass.code) if o in members)


def teacher_actor(room: Classroom, klass: Klass, me: Actor) -> Actor:
    """``me`` as this class's teacher: may control the runs its current students made in the
    class (never their private runs, never rename or delete)."""
    return replace(me, class_runs=class_run_ids(room, klass))


def start_refusal(room: Classroom, klass: Klass, owner: str, config) -> str | None:
    """Why a student may not start this run in the class, naming the class setting; or None."""
    s = klass.settings
    if klass.closed:
        return f"the class “{klass.name}” is closed"
    if s.locked:
        p = room.latest_config_push(klass.code)
        if p is None:
            return ("your teacher has locked the hyperparameters (the class setting “lock "
                    "hyperparameters”) and has not pushed a configuration yet: wait for it")
        if config.replace(name="").to_dict() != type(config).from_dict(p.payload["config"]).replace(name="").to_dict():
            return ("your teacher has locked the hyperparameters (the class setting “lock "
                    "hyperparameters”): the sidebar shows the class's configuration; start that one")
    if s.dataset and config.data.name != s.dataset:
        return (f"this class trains on “{s.dataset}” (the class setting “dataset”, chosen by your "
                f"teacher); pick it under Data")
    n = len(room.runs_of(klass.code, owner))
    if n >= s.max_runs:
        return (f"you have started {count(n, 'run')} in this class; the class setting “runs per student” is "
                f"{s.max_runs}. Ask your teacher to raise it")
    return None


def start_run(engine, room: Classroom, klass: Klass, who: Actor, config, **kw) -> str:
    """Start ``config`` for a student of ``klass`` (class caps first, then the engine's);
    returns the run id. Raises :class:`ClassroomError` with the class setting's name."""
    why = start_refusal(room, klass, who.id, config)
    if why:
        raise ClassroomError(why)
    rid = engine.submit(config, who, max_seconds=klass.settings.max_run_seconds,
                        max_seconds_setting=f"the class's “{SETTING_LABELS['max_run_seconds']}” setting", **kw)
    room.record_run(klass.code, who.id, rid)
    return rid


def overdue_runs(engine, room: Classroom, klass: Klass) -> list[str]:
    """Stop the class's live runs that trained longer than the class setting
    ``max_run_seconds`` (stopped runs are saved); returns their ids. A run stops itself at
    the limit it was started with (:func:`start_run`); this catches the runs started before
    the teacher lowered it."""
    stopped = []
    boss = Actor(id=klass.teacher, class_runs=frozenset(r for _, r in room.runs_of(klass.code)))
    recent = time.time() - 6 * 3600        # runs queued or started in the last hours
    for owner, rid in room.runs_of(klass.code, since=recent):
        e = engine.entry(rid)
        if e is not None and e.status.live and (e.progress.elapsed_s or 0) > klass.settings.max_run_seconds:
            try:
                engine.stop(rid, boss, reason=f"stopped at the class's run-time limit "
                                              f"({klass.settings.max_run_seconds:g} s, the class setting "
                                              f"“{SETTING_LABELS['max_run_seconds']}”)")
                stopped.append(rid)
            except EngineError:
                pass
    return stopped
