"""Pushes that build a picture: the teacher's "everyone, train this" made on the server.

A configuration push with *start* starts one run per targeted student right away, owned by
that student (so it stays queued or trains whether or not their tab is open), through the
class's caps (:mod:`.rules`) and the engine's:

* **Own seeds.** Each student's run has its own seed (``own_seeds``, the default), drawn at
  random and recorded in the run's configuration: 30 students' runs are 30 models, not one.
* **A ladder.** ``ladder=("beta", [0, 0.25, 0.5, 1, 2, 4, 8])`` gives the targeted students
  the values in turn (joining order), so the class's runs spread over the setting and the
  dashboard's rate–distortion plane draws the trade-off curve (:mod:`.board`).
* **A group.** ``group``: everyone, half A / half B of the class (joining order), chosen
  students, or those who answered a question one way (:mod:`.votes`).
* **Replace, not stack.** A student's previous pushed run is stopped first: a queued one is
  dropped (it never ran, and no longer counts against "runs per student"), a training one
  stops and is saved (kept, with the reason).

The push records, per targeted student, the configuration they got and their run's id or
why it could not start (``payload["assigned"]``): the follow bar takes the student's own
entry, and a student outside the group ignores the push.
"""
from __future__ import annotations

import secrets
from dataclasses import replace

from ..config import BETA, LIMITS, ConfigError, RunConfig
from ..engine import EngineError
from ..runs import Actor
from .classes import Classroom, Klass, Member, Push
from .model import ClassroomError
from .rules import start_run, teacher_actor
from .votes import who_answered

#: the settings a ladder can spread: key -> (config section, field, type, label, range)
LADDER = {"beta": ("train", "beta", float, "β", (BETA.lo, BETA.hi)),
          "latent_dim": ("model", "latent_dim", int, "latent dimensions",
                         (LIMITS["model.latent_dim"].lo, LIMITS["model.latent_dim"].hi))}
GROUPS = {"all": "everyone", "half A": "half A (first half to join)", "half B": "half B (second half)",
          "chosen": "chosen students", "answered": "those who answered …"}
MAX_RUNGS = 16
REPLACED = "replaced by your teacher's next push"


def parse_ladder(setting: str, text: str) -> list:
    """The values of a ladder typed as ``0, 0.25, 0.5, 1`` (each in the setting's range), or
    :class:`ClassroomError` naming the setting."""
    if setting not in LADDER:
        raise ClassroomError(f"a ladder spreads one of {', '.join(LADDER)}, not {setting!r}")
    _, _, kind, label, (lo, hi) = LADDER[setting]
    out = []
    for part in str(text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        try:
            v = float(part)
        except ValueError:
            raise ClassroomError(f"the ladder of {label} reads numbers separated by commas "
                                 f"(e.g. 0, 0.5, 1, 2, 4); {part.strip()!r} is not one") from None
        if kind is int and v != int(v):
            raise ClassroomError(f"the ladder of {label} takes whole numbers, not {v:g}")
        if not lo <= v <= hi:
            raise ClassroomError(f"each {label} on the ladder must lie in [{lo:g}, {hi:g}], not {v:g}")
        if kind(v) not in out:
            out.append(kind(v))
    if not 2 <= len(out) <= MAX_RUNGS:
        raise ClassroomError(f"a ladder of {label} needs 2 to {MAX_RUNGS} different values, "
                             f"got {len(out)}")
    return out


def targets(room: Classroom, klass: Klass, group: str = "all", chosen=(), answered=None) -> list[Member]:
    """The students a push reaches, in joining order. ``chosen``: owner ids (group "chosen");
    ``answered``: (question id, answer) for group "answered" (:func:`.votes.who_answered`)."""
    members = room.members(klass.code)
    half = (len(members) + 1) // 2
    if group == "all":
        return members
    if group == "half A":
        return members[:half]
    if group == "half B":
        return members[half:]
    if group == "chosen":
        want = set(chosen)
        return [m for m in members if m.owner in want]
    if group == "answered":
        qid, answer = answered or (None, None)
        said = set(who_answered(room, klass.code, qid, answer)) if qid is not None else set()
        return [m for m in members if m.owner in said]
    raise ClassroomError(f"a push goes to one of {', '.join(GROUPS)}, not {group!r}")


def plan(base: RunConfig, members: list[Member], *, ladder=None, own_seeds: bool = True) -> dict[str, RunConfig]:
    """Each targeted student's configuration: the ladder's values in turn, an own seed each."""
    out = {}
    for i, m in enumerate(members):
        change: dict = {"train": {}}
        if ladder:
            setting, values = ladder
            section, name, _, label, _ = LADDER[setting]
            v = values[i % len(values)]
            change.setdefault(section, {})[name] = v
            change["name"] = f"{base.name or 'push'} · {label} {v:g}".replace("β β", "β")
        if own_seeds:
            change["train"]["seed"] = secrets.randbelow(2**31 - 1)
        out[m.owner] = base.replace(**change) if ladder or own_seeds else base
    return out


def replace_previous(engine, room: Classroom, klass: Klass, boss: Actor, owner: str, previous=None) -> None:
    """Stop ``owner``'s previous pushed runs that are still live, as ``boss`` (the teacher's
    actor, :func:`.rules.teacher_actor`): a queued one is dropped (and no longer counted), a
    training one stops, saved and kept. ``previous``: their pushed runs, newest first, when
    already read (:meth:`Classroom.pushed_runs_by_owner`)."""
    for rid in (room.pushed_runs(klass.code, owner) if previous is None else previous)[:3]:
        e = engine.entry(rid)
        if e is None or not e.status.live:
            continue
        queued = e.status.value == "queued"
        try:
            engine.stop(rid, boss, reason=REPLACED)
        except EngineError:
            continue
        if queued and engine.entry(rid) is None:
            room.forget_run(klass.code, rid)


def push_config(engine, room: Classroom, klass: Klass, teacher: Actor, base: RunConfig, *, start: bool = True,
                group: str = "all", chosen=(), answered=None, ladder=None, own_seeds: bool = True) -> Push:
    """Push ``base`` to the targeted students (a ladder spreads a setting over them), and with
    ``start`` start each one's run now, replacing their previous pushed run. Returns the push;
    ``payload["assigned"][owner]`` = {"config", "run" (id or None), "error" (why not)}."""
    try:
        base = RunConfig.from_dict(base.to_dict())
    except ConfigError as e:
        raise ClassroomError(str(e)) from None
    members = targets(room, klass, group, chosen, answered)
    if not members:
        raise ClassroomError("nobody is in that group yet: pick another group or wait for students to join")
    # the push's number in its runs' name: a student's runs from two pushes never read the same
    number = f"push #{room.next_push_version(klass.code)}"
    base = base.replace(name=f"{base.name} · {number}" if base.name else number)
    configs = plan(base, members, ladder=ladder, own_seeds=own_seeds)
    assigned = {m.owner: {"config": configs[m.owner].to_dict(), "run": None, "error": None} for m in members}
    payload = {"config": base.to_dict(), "start": bool(start), "group": group, "assigned": assigned,
               "ladder": None if not ladder else {"setting": ladder[0], "values": list(ladder[1])},
               "own_seeds": bool(own_seeds)}
    if not start:
        return room.push(klass.code, "config", payload)
    # written first, "starting" (followers wait for it): the class's gate reads each student's
    # rung from it; then completed with the runs, marked as the push's, in one transaction
    push = room.push(klass.code, "config", payload | {"starting": True})
    boss = teacher_actor(room, klass, teacher)       # once: it reads every class run
    previous = room.pushed_runs_by_owner(klass.code)
    for m in members:
        replace_previous(engine, room, klass, boss, m.owner, previous.get(m.owner, []))
        try:
            assigned[m.owner]["run"] = start_run(engine, room, klass, Actor(id=m.owner, name=m.name),
                                                 configs[m.owner], pushed=push.version,
                                                 pushed_configs=[configs[m.owner]])
        except (ClassroomError, EngineError) as e:
            assigned[m.owner]["error"] = str(e)
    room.complete_push(klass.code, push.version, payload,
                       {o: a["run"] for o, a in assigned.items() if a["run"]})
    return replace(push, payload=payload)


def summary(push: Push) -> str:
    """What a config push did, in one line for the teacher."""
    a = push.payload.get("assigned") or {}
    started = sum(1 for v in a.values() if v.get("run"))
    failed = [v["error"] for v in a.values() if v.get("error")]
    lad = push.payload.get("ladder")
    spread = ""
    if lad:
        label = LADDER[lad["setting"]][3]
        spread = f"; {label} spread over them: " + ", ".join(f"{v:g}" for v in lad["values"])
    out = f"Pushed (#{push.version}) to {len(a)} student{'s' if len(a) != 1 else ''}{spread}"
    if push.payload.get("start"):
        out += f"; {started} run{'s' if started != 1 else ''} started, each with its own seed" \
            if push.payload.get("own_seeds") else f"; {started} started"
    if failed:
        out += f". {len(failed)} could not start: {failed[0]}"
    return out + "."

