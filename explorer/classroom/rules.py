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
from .classes import SETTING_LABELS, Classroom, ClassroomError, Klass, classroom, exists


def class_run_ids(room: Classroom, klass: Klass) -> frozenset:
    """The runs the class's current students made in the class (those its teacher controls)."""
    members = {m.owner for m in room.members(klass.code)}
    return frozenset(r for o, r in room.runs_of(klass.code) if o in members)


def teacher_actor(room: Classroom, klass: Klass, me: Actor) -> Actor:
    """``me`` as this class's teacher: may control the runs its current students made in the
    class (never their private runs, never rename or delete)."""
    return replace(me, class_runs=class_run_ids(room, klass))


LOCKED = "your teacher has locked the hyperparameters (the class setting “lock hyperparameters”)"


def _plain(config) -> dict:
    """A configuration as a locked class compares it: its name and seed are the student's."""
    return config.replace(name="", train={"seed": 0}).to_dict()


def pushed_configs(push, owner: str) -> list[dict]:
    """The configurations a config push gave ``owner``: the class's, and their own rung."""
    mine = (push.payload.get("assigned") or {}).get(owner)
    return [push.payload["config"]] + ([mine["config"]] if mine else [])


def refusal(room: Classroom, klass: Klass, owner: str, *, configs=(), stored: int = 0,
            upload: bool = False, allowed=None) -> str | None:
    """Why a student of ``klass`` may not start ``configs`` (Train, the β lab's sweep, a
    pushed start, a copy), store ``stored`` runs (an import, an own model) or upload a data
    file: the class's settings, each refusal naming its setting; or None. The one check of
    every path (:class:`Gate` puts it in front of the engine). ``allowed``: the
    configurations a teacher's push gave this student (a locked class starts those)."""
    s = klass.settings
    if klass.closed:
        return f"the class “{klass.name}” is closed"
    if upload and (s.locked or s.dataset):
        return (f"{LOCKED}: the class trains the configuration your teacher pushes, not your own files"
                if s.locked else f"this class trains on “{s.dataset}” (the class setting “dataset”, chosen by "
                                 f"your teacher), not on your own files")
    if s.locked and (configs or stored):
        p = room.latest_config_push(klass.code)
        if p is None and allowed is None:
            return f"{LOCKED} and has not pushed a configuration yet: wait for it"
        ok = [_plain(c) for c in allowed] if allowed is not None else [
            _plain(type(configs[0]).from_dict(d)) for d in pushed_configs(p, owner)] if configs else []
        if stored or any(_plain(c) not in ok for c in configs):
            return (f"{LOCKED}: runs in this class train the configuration your teacher pushed, shown in "
                    f"the Train page's sidebar; start that one")
    if s.dataset and any(c.data.name != s.dataset for c in configs):
        return (f"this class trains on “{s.dataset}” (the class setting “dataset”, chosen by your "
                f"teacher); pick it under Data")
    n, more = len(room.runs_of(klass.code, owner)), len(configs) + stored
    if more and n + more > s.max_runs:
        asked = f"; this asks for {more} more" if more > 1 else ""
        return (f"you have {count(n, 'run')} in this class{asked}; the class setting “runs per student” is "
                f"{s.max_runs}. Ask your teacher to raise it")
    return None


def start_refusal(room: Classroom, klass: Klass, owner: str, config, allowed=None) -> str | None:
    """Why a student may not start this run in the class, naming the class setting; or None."""
    return refusal(room, klass, owner, configs=[config], allowed=allowed)


def start_run(engine, room: Classroom, klass: Klass, who: Actor, config, *, pushed: int = 0,
              pushed_configs=None, **kw) -> str:
    """Start ``config`` for a student of ``klass`` (class caps first, then the engine's);
    returns the run id. Raises :class:`ClassroomError` with the class setting's name (or the
    engine's ``NotAllowed`` from its gate, which then checks and records the run itself).
    ``pushed``: the version of the teacher's push starting it (``pushed_configs``: what that
    push gives this student, which a locked class allows; through the gate, the push is
    already written, marked as starting, so the gate reads the student's rung from it, records
    the run, and the push marks it as its own when complete: :meth:`Classroom.complete_push`)."""
    if getattr(engine, "gate", None) is not None:
        return engine.submit(config, who, **kw)
    why = start_refusal(room, klass, who.id, config, allowed=pushed_configs)
    if why:
        raise ClassroomError(why)
    rid = engine.submit(config, who, max_seconds=klass.settings.max_run_seconds,
                        max_seconds_setting=TIME_SETTING, **kw)
    room.record_run(klass.code, who.id, rid, push=pushed)
    return rid


TIME_SETTING = f"the class's “{SETTING_LABELS['max_run_seconds']}” setting"


class Gate:
    """The class rules in front of an engine (``engine.gate``; the app's pages install it):
    every run started or stored by a student of an open class passes :func:`refusal` first,
    trains with the class's run-time limit, and is recorded as a class run, whichever page
    or path started it."""

    def __init__(self, runs_dir):
        self.runs_dir = runs_dir

    def _class_of(self, owner: str):
        if not owner or not exists(self.runs_dir):
            return None, None
        room = classroom(self.runs_dir)
        mine = room.membership(owner)
        return (room, mine[0]) if mine is not None else (room, None)

    def admit(self, owner: str, *, configs=(), stored: int = 0, upload: bool = False) -> dict:
        """The class's say on a request: raises :class:`ClassroomError` naming the setting, or
        returns what the engine applies (``max_seconds`` and its setting, the class to record)."""
        room, klass = self._class_of(owner)
        if klass is None:
            return {}
        why = refusal(room, klass, owner, configs=configs, stored=stored, upload=upload)
        if why:
            raise ClassroomError(why)
        return {"room": room, "code": klass.code, "max_seconds": klass.settings.max_run_seconds,
                "max_seconds_setting": TIME_SETTING}

    def admitted(self, ticket: dict, owner: str, run_ids) -> None:
        """Record the runs a ticket admitted as the class's."""
        if ticket:
            for rid in run_ids:
                ticket["room"].record_run(ticket["code"], owner, rid)


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
