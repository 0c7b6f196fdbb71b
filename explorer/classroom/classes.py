"""Classes: a teacher, students who joined with a short code, settings, pushes ("follow me").

Pure library (no Streamlit): the Class page, the follow-mode fragment and the tests use it.

* A teacher creates a class (:meth:`Classroom.create`) and gets a join code (eight letters
  and digits with no look-alikes, 40 bits, shown as ``ABCD-EFGH``: ``?class=ABCDEFGH``) and a
  **teacher key**, a secret shown once and kept in the teacher's browser; only its hash is
  stored. A wrong code costs its client (an address) a growing wait after a few tries
  (:meth:`Classroom.find`). With a login, the class's teacher is also the logged-in user who
  created it (``u-…`` owner id; teacher roles: :mod:`explorer.settings`).
* Students join under a display name; an owner is a student of at most one open class at a
  time. A removed student cannot join again until readmitted. Runs are always kept.
* A class's :class:`ClassSettings` (the rules that apply them: :mod:`.rules`).
* A push is the teacher's "follow me": a configuration (its runs started by the server for
  each student targeted, :mod:`.pushes`), a view or a question (:mod:`.votes`), versioned
  per class; students' pages poll the latest.

Everything lives in ``<runs>/.classroom.sqlite`` (standard ``sqlite3``, WAL mode, every write
in a transaction, values as JSON text), so classes survive a server restart.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import math
import secrets
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path

from .. import settings
from ..runs import Actor
from .model import (SETTING_LABELS, SETTING_LIMITS, ClassroomError, ClassSettings, Klass,  # noqa: F401
                    Member, Push, format_code, normalise_code)

DB_NAME = ".classroom.sqlite"
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no I, O, 0, 1
CODE_LEN = 8                  # 32 symbols: 40 bits
PUSH_KINDS = ("config", "view", "question")
PUSH_CACHE_S = 0.25          # follow polls of one process share a read of the newest push this long
FREE_MISSES = 20             # wrong codes a client may try before it must wait ...
MAX_WAIT_S = 600.0           # ... 1 s, then twice as long after each further miss, at most this
MISS_MEMORY_S = 3600.0       # a client's misses are forgotten an hour after its last one


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS classes (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL, teacher TEXT NOT NULL,
    teacher_name TEXT NOT NULL DEFAULT '', created REAL NOT NULL, closed INTEGER NOT NULL DEFAULT 0,
    settings TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS members (
    code TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, joined REAL NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (code, owner));
CREATE INDEX IF NOT EXISTS members_owner ON members (owner, active);
CREATE TABLE IF NOT EXISTS class_runs (
    code TEXT NOT NULL, owner TEXT NOT NULL, run_id TEXT NOT NULL, created REAL NOT NULL,
    push INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (code, run_id));
CREATE INDEX IF NOT EXISTS class_runs_owner ON class_runs (code, owner, created);
CREATE TABLE IF NOT EXISTS misses (
    client TEXT PRIMARY KEY, n INTEGER NOT NULL, last REAL NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
    code TEXT NOT NULL, qid INTEGER NOT NULL, body TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (code, qid));
CREATE TABLE IF NOT EXISTS answers (
    code TEXT NOT NULL, qid INTEGER NOT NULL, round INTEGER NOT NULL, owner TEXT NOT NULL,
    answer TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (code, qid, round, owner));
CREATE TABLE IF NOT EXISTS pushes (
    code TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL,
    created REAL NOT NULL, PRIMARY KEY (code, version));
"""


class Classroom:
    """The classes of one runs folder, in its SQLite file. Safe to share between threads."""

    def __init__(self, runs_dir: Path):
        self.path = Path(runs_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()
        self._push_cache: dict[str, tuple[float, Push | None]] = {}
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {r[1] for r in db.execute("PRAGMA table_info(members)")}
            if "removed" not in columns:       # a file from before removals stuck
                db.execute("ALTER TABLE members ADD COLUMN removed INTEGER NOT NULL DEFAULT 0")
            if "push" not in {r[1] for r in db.execute("PRAGMA table_info(class_runs)")}:
                db.execute("ALTER TABLE class_runs ADD COLUMN push INTEGER NOT NULL DEFAULT 0")

    # ------------------------------------------------------------ plumbing
    class _Tx:
        def __init__(self, room: "Classroom"):
            self.room = room

        def __enter__(self):
            self.room._lock.acquire()
            self.room._db.execute("BEGIN IMMEDIATE")
            return self.room._db

        def __exit__(self, exc_type, *_):
            try:
                self.room._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.room._lock.release()

    def _tx(self) -> "_Tx":
        return Classroom._Tx(self)

    def _read(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ classes
    def create(self, name: str, teacher: Actor, settings: ClassSettings | None = None) -> tuple[Klass, str]:
        """A new class; returns it and its teacher key (shown once: only its hash is kept)."""
        name = (name or "").strip()[:80]
        if not name:
            raise ClassroomError("give the class a name")
        settings = (settings or ClassSettings()).checked()
        key = secrets.token_urlsafe(18)
        with self._tx() as db:
            for _ in range(50):
                code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))
                if db.execute("SELECT 1 FROM classes WHERE code = ?", (code,)).fetchone() is None:
                    break
            else:
                raise ClassroomError("no free class code: close old classes first")
            db.execute("INSERT INTO classes VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                       (code, name, _hash(key), teacher.id, teacher.name or "", time.time(),
                        json.dumps(asdict(settings))))
        return self.get(code), key

    def get(self, code: str) -> Klass | None:
        rows = self._read("SELECT code, name, teacher, teacher_name, created, closed, settings "
                          "FROM classes WHERE code = ?", (normalise_code(code),))
        if not rows:
            return None
        c, n, t, tn, cr, cl, s = rows[0]
        return Klass(c, n, t, tn, cr, bool(cl), ClassSettings.from_dict(json.loads(s)))

    def open_class(self, code: str) -> Klass:
        """The open class of this code, or :class:`ClassroomError` saying why not."""
        k = self.get(code)
        if k is None:
            raise ClassroomError(f"there is no class with the code {format_code(normalise_code(code))!r}: "
                                 f"check it with your teacher")
        if k.closed:
            raise ClassroomError(f"the class “{k.name}” ({k.code}) has been closed by its teacher")
        return k

    def is_teacher(self, code: str, actor: Actor | str, key: str | None = None) -> bool:
        """Whether ``actor`` (holding ``key``, if any) is this class's teacher: the key
        matches, or the actor is the logged-in user who created it."""
        actor = Actor.of(actor)
        rows = self._read("SELECT key_hash, teacher FROM classes WHERE code = ?", (normalise_code(code),))
        if not rows:
            return False
        key_hash, teacher = rows[0]
        if key and hmac.compare_digest(_hash(key), key_hash):
            return True
        return teacher.startswith("u-") and actor.id == teacher

    def taught_by(self, actor: Actor | str) -> list[Klass]:
        """The open classes a logged-in teacher created (no key needed), newest first."""
        rows = self._read("SELECT code FROM classes WHERE teacher = ? AND closed = 0 ORDER BY created DESC",
                          (Actor.of(actor).id,))
        return [self.get(c) for (c,) in rows if Actor.of(actor).id.startswith("u-")]

    def update_settings(self, code: str, settings: ClassSettings) -> Klass:
        settings = settings.checked()
        with self._tx() as db:
            db.execute("UPDATE classes SET settings = ? WHERE code = ?", (json.dumps(asdict(settings)), code))
        return self.get(code)

    def close_class(self, code: str) -> None:
        """Close a class: no one may join; its students are back on their own (runs kept)."""
        with self._tx() as db:
            db.execute("UPDATE classes SET closed = 1 WHERE code = ?", (code,))
            db.execute("UPDATE members SET active = 0 WHERE code = ?", (code,))

    # ------------------------------------------------------------ members
    def join(self, code: str, who: Actor, name: str) -> Member:
        """``who`` joins as a student under ``name`` (leaving any other class)."""
        k = self.open_class(code)
        name = " ".join((name or "").split())[:40]
        if not name:
            raise ClassroomError("type the name your teacher will see")
        if k.teacher == who.id:
            raise ClassroomError("you are this class's teacher; students join from their own browsers")
        with self._tx() as db:
            row = db.execute("SELECT removed FROM members WHERE code = ? AND owner = ?", (k.code, who.id)).fetchone()
            if row is not None and row[0]:
                raise ClassroomError(f"your teacher removed you from the class “{k.name}”; only they can let "
                                     f"you back in (Students tab, “Let back in”)")
            db.execute("UPDATE members SET active = 0 WHERE owner = ? AND code != ?", (who.id, k.code))
            db.execute("INSERT INTO members (code, owner, name, joined, active) VALUES (?, ?, ?, ?, 1) "
                       "ON CONFLICT (code, owner) DO UPDATE "
                       "SET name = excluded.name, active = 1", (k.code, who.id, name, time.time()))
        return Member(k.code, who.id, name, time.time())

    def leave(self, code: str, owner: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE members SET active = 0 WHERE code = ? AND owner = ?", (code, owner))

    def remove(self, code: str, owner: str) -> None:
        """The teacher removes a student: out of the class until :meth:`readmit` (their runs
        are kept; the teacher's power over them ends)."""
        with self._tx() as db:
            db.execute("UPDATE members SET active = 0, removed = 1 WHERE code = ? AND owner = ?", (code, owner))

    def readmit(self, code: str, owner: str) -> None:
        """Let a removed student join again (they join themselves, with the code)."""
        with self._tx() as db:
            db.execute("UPDATE members SET removed = 0 WHERE code = ? AND owner = ?", (code, owner))

    def removed(self, code: str) -> list[Member]:
        rows = self._read("SELECT code, owner, name, joined FROM members WHERE code = ? AND removed = 1 "
                          "ORDER BY joined", (code,))
        return [Member(*r) for r in rows]

    # ------------------------------------------------------------ codes tried
    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must wait before its next code is looked up (0: now)."""
        rows = self._read("SELECT n, last FROM misses WHERE client = ?", (client,))
        if not rows:
            return 0.0
        n, last = rows[0]
        now = time.time()
        if n < FREE_MISSES or now - last > MISS_MEMORY_S:
            return 0.0
        return max(0.0, last + min(MAX_WAIT_S, 2.0 ** (n - FREE_MISSES)) - now)

    def _missed(self, client: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO misses VALUES (?, 1, ?) ON CONFLICT (client) DO UPDATE SET "
                       "n = CASE WHEN ? - last > ? THEN 1 ELSE n + 1 END, last = ?",
                       (client, now, now, MISS_MEMORY_S, now))

    def find(self, code: str, client: str) -> Klass:
        """The open class of ``code``, looked up for ``client`` (an address): after
        ``FREE_MISSES`` wrong codes, each further lookup waits 1, 2, 4 … s (at most
        ``MAX_WAIT_S``) after the last miss, and is refused unchecked until then, so a
        40-bit code cannot be guessed by trying. Raises :class:`ClassroomError`."""
        wait = self.wait_s(client)
        if wait > 0:
            raise ClassroomError(f"too many wrong class codes were tried from your connection: try again "
                                 f"in {math.ceil(wait)} s, and check the code with your teacher")
        if self.get(code) is None:
            self._missed(client)
        return self.open_class(code)

    def members(self, code: str) -> list[Member]:
        rows = self._read("SELECT code, owner, name, joined FROM members WHERE code = ? AND active = 1 "
                          "ORDER BY joined", (code,))
        return [Member(*r) for r in rows]

    def membership(self, owner: str) -> tuple[Klass, Member] | None:
        """The open class ``owner`` is a student of, with their membership, or None."""
        rows = self._read("SELECT m.code, m.owner, m.name, m.joined FROM members m JOIN classes c "
                          "ON c.code = m.code WHERE m.owner = ? AND m.active = 1 AND c.closed = 0",
                          (owner,))
        if not rows:
            return None
        m = Member(*rows[0])
        return self.get(m.code), m

    # ------------------------------------------------------------ runs
    def record_run(self, code: str, owner: str, run_id: str, push: int = 0) -> None:
        """A class run (``push``: the version of the teacher's push that started it, 0: the student)."""
        with self._tx() as db:
            db.execute("INSERT INTO class_runs VALUES (?, ?, ?, ?, ?) ON CONFLICT (code, run_id) "
                       "DO UPDATE SET push = MAX(push, excluded.push)", (code, owner, run_id, time.time(), int(push)))

    def forget_run(self, code: str, run_id: str) -> None:
        """A class run that never ran (a queued one dropped) is no longer counted."""
        with self._tx() as db:
            db.execute("DELETE FROM class_runs WHERE code = ? AND run_id = ?", (code, run_id))

    def pushed_runs(self, code: str, owner: str) -> list[str]:
        """The runs the teacher's pushes started for ``owner``, newest first."""
        return [r for (r,) in self._read("SELECT run_id FROM class_runs WHERE code = ? AND owner = ? AND "
                                         "push > 0 ORDER BY created DESC", (code, owner))]

    def pushed_runs_by_owner(self, code: str) -> dict[str, list[str]]:
        """:meth:`pushed_runs` of every student of the class, in one read: owner -> run ids."""
        out: dict[str, list[str]] = {}
        for o, r in self._read("SELECT owner, run_id FROM class_runs WHERE code = ? AND push > 0 "
                               "ORDER BY created DESC", (code,)):
            out.setdefault(o, []).append(r)
        return out

    def runs_of(self, code: str, owner: str | None = None, since: float = 0.0) -> list[tuple[str, str]]:
        """(owner, run id) of the class's runs, oldest first (one owner's with ``owner``;
        those started after ``since``)."""
        sql = "SELECT owner, run_id FROM class_runs WHERE code = ? AND created >= ?"
        args = (code, since)
        if owner:
            sql, args = sql + " AND owner = ?", args + (owner,)
        return self._read(sql + " ORDER BY created", args)

    def latest_runs(self, code: str) -> dict[str, str]:
        """Each student's newest run in the class: owner -> run id."""
        return {o: r for o, r in self.runs_of(code)}

    # ------------------------------------------------------------ pushes
    def push(self, code: str, kind: str, payload: dict) -> Push:
        if kind not in PUSH_KINDS:
            raise ClassroomError(f"a push is one of {PUSH_KINDS}, not {kind!r}")
        with self._tx() as db:
            (v,) = db.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM pushes WHERE code = ?", (code,)).fetchone()
            db.execute("INSERT INTO pushes VALUES (?, ?, ?, ?, ?)", (code, v, kind, json.dumps(payload), time.time()))
        with self._push_lock:
            self._push_cache.pop(code, None)
        return Push(code, v, kind, payload, time.time())

    def complete_push(self, code: str, version: int, payload: dict, runs: dict[str, str]) -> None:
        """Complete a push written as "starting", in one transaction: mark the runs it started
        (owner -> run id) as its own and write its final payload. One statement marks them all:
        under a class's load each statement waits its turn for the interpreter (a push of 30
        runs made ~500 of them, and took 2 s where it took 0.1 s on an idle server)."""
        now, rows = time.time(), list(runs.items())
        with self._tx() as db:
            for i in range(0, len(rows), 200):
                part = rows[i:i + 200]
                db.execute("INSERT INTO class_runs VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(part)) +
                           " ON CONFLICT (code, run_id) DO UPDATE SET push = MAX(push, excluded.push)",
                           [v for o, r in part for v in (code, o, r, now, int(version))])
            db.execute("UPDATE pushes SET payload = ? WHERE code = ? AND version = ?",
                       (json.dumps(payload), code, version))
        with self._push_lock:
            self._push_cache.pop(code, None)

    def next_push_version(self, code: str) -> int:
        """The version the class's next push will have."""
        return self._read("SELECT COALESCE(MAX(version), 0) + 1 FROM pushes WHERE code = ?", (code,))[0][0]

    def latest_push(self, code: str, kind: str | None = None) -> Push | None:
        """The newest push of the class (of one ``kind``), or None."""
        rows = self._read("SELECT code, version, kind, payload, created FROM pushes WHERE code = ? "
                          "AND kind LIKE ? ORDER BY version DESC LIMIT 1", (code, kind or "%"))
        if not rows:
            return None
        c, v, k, p, t = rows[0]
        return Push(c, v, k, json.loads(p), t)

    def latest_config_push(self, code: str) -> Push | None:
        return self.latest_push(code, "config")

    def latest_push_shared(self, code: str, max_age: float = PUSH_CACHE_S) -> Push | None:
        """:meth:`latest_push`, read at most every ``max_age`` seconds for all the sessions
        of this process (30 students' follow polls, once a second each, make one read); a
        push through this process is seen at once, one through another server within
        ``max_age``."""
        now = time.monotonic()
        with self._push_lock:
            hit = self._push_cache.get(code)
            if hit is not None and now - hit[0] < max_age:
                return hit[1]
        p = self.latest_push(code)
        with self._push_lock:
            self._push_cache[code] = (now, p)
        return p


_ROOMS: dict[str, Classroom] = {}
_CHECKED: dict[str, float] = {}     # when each file's existence was last checked (once a second)
_ROOMS_LOCK = threading.Lock()


def exists(runs_dir: Path | None = None) -> bool:
    """Whether this runs folder has any class yet (pages of a server with no class open no file)."""
    return (Path(runs_dir or settings.get().runs_dir) / DB_NAME).exists()


def classroom(runs_dir: Path | None = None) -> Classroom:
    """The :class:`Classroom` of ``runs_dir`` (default: the settings' runs folder), one per process."""
    path = _resolved(str(runs_dir or settings.get().runs_dir))
    now = time.monotonic()
    with _ROOMS_LOCK:            # every follow poll comes here: the file is looked at once a second
        room = _ROOMS.get(path)
        stale = now - _CHECKED.get(path, 0.0) > 1.0
        if room is None or (stale and not Path(room.path).exists()):
            room = _ROOMS[path] = Classroom(Path(path))
        if stale:
            _CHECKED[path] = now
        return room


@functools.lru_cache(maxsize=64)
def _resolved(path: str) -> str:
    return str(Path(path).resolve())
