"""One index of a runs folder, in SQLite, so run lists stay fast as runs pile up.

A class fills the runs folder over a term; reading every folder's config and summary
at each page view costs ~0.45 ms a run. The index keeps, per run folder: its
modification time (``st_mtime_ns``: every write in a run folder is a rename into it,
which changes it), its config and summary as JSON (the summary holds its status), owner, name, creation
time, size on disk and whether weights are there. :meth:`RunIndex.refresh` stats
each folder (one ``scandir`` and one ``stat`` a run), re-reads only the folders that
changed, and drops the ones that are gone; a missing or unreadable index file is
simply rebuilt. Run lists then read one page of rows (``LIMIT``/``OFFSET``).

The index of the runs folder lives in it (``.index.sqlite``, WAL mode, writes in
transactions), so several app servers over one shared folder can share it; the
shipped runs' index is kept in memory (``trained/`` is read-only).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..paths import SHIPPED_ROOT
from ..runs import RunEntry, entry_from_folder
from . import (CONFIG, SUMMARY, StoreError, check_run_id, folder_bytes, has_model, read_config,
               read_summary_checked)

INDEX_FILE = ".index.sqlite"
SCHEMA_VERSION = "4"            # 4: no status column (the summary holds the status); 3: listed
                                # without weights, and a damaged file's note
REFRESH_SECONDS = 0.5           # a folder scan at most this often (refresh(force=True) always scans)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    valid INTEGER NOT NULL,
    created REAL, name TEXT, owner TEXT,
    config TEXT, summary TEXT, size INTEGER, saved INTEGER, damaged TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""


class RunIndex:
    """The index of one folder of runs (``db=":memory:"`` keeps it in memory)."""

    def __init__(self, root: Path, db: str | Path | None = None, *, shipped: bool = False):
        self.root = Path(root)
        self.shipped = shipped
        self.db_path = str(db) if db is not None else str(self.root / INDEX_FILE)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._last_scan = 0.0

    # ------------------------------------------------------------ the file
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if self.db_path != ":memory:":
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._open()
        except sqlite3.DatabaseError:                 # a damaged file: rebuild it from the folders
            for suffix in ("", "-wal", "-shm"):
                Path(self.db_path + suffix).unlink(missing_ok=True)
            conn = self._open()
        self._conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=10, check_same_thread=False, isolation_level=None)
        if self.db_path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        version = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        if version is None or version[0] != SCHEMA_VERSION:     # another layout: rebuilt from the folders
            conn.execute("DROP TABLE IF EXISTS runs")
            conn.executescript(_SCHEMA)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (SCHEMA_VERSION,))
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------ refresh
    def refresh(self, force: bool = False) -> int:
        """Bring the index up to date with the folders; returns how many runs are new."""
        with self._lock:
            if not force and time.monotonic() - self._last_scan < REFRESH_SECONDS:
                return 0
            self._last_scan = time.monotonic()
            try:
                conn = self._connect()
                return self._scan(conn)
            except sqlite3.OperationalError:          # locked too long by another server: next time
                return 0

    def _scan(self, conn: sqlite3.Connection) -> int:
        known = dict(conn.execute("SELECT run_id, mtime_ns FROM runs"))
        seen, changed = set(), []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            entries = []
        for d in entries:
            if d.name.startswith(".") or d.name == "uploads":
                continue
            try:
                if not d.is_dir(follow_symlinks=False):
                    continue
                check_run_id(d.name)
                m = d.stat().st_mtime_ns
            except (OSError, ValueError):
                continue
            seen.add(d.name)
            if known.get(d.name) != m:
                changed.append((d.name, m))
        new = sum(1 for rid, _ in changed if rid not in known)
        gone = [rid for rid in known if rid not in seen]
        rows = [self._read(rid, m) for rid, m in changed]
        if rows or gone:
            with conn:
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
                conn.executemany("DELETE FROM runs WHERE run_id=?", [(g,) for g in gone])
        return new

    def _read(self, run_id: str, mtime_ns: int) -> tuple:
        """One folder's row. ``valid``: the folder is a run to list, one with weights or a
        summary (a run that failed before saving anything has a summary: the engine wrote
        it); a folder with a config alone is a run being written. A file that cannot be read
        stays listed, with ``damaged`` saying which and why."""
        path = self.root / run_id
        saved, has_summary = has_model(path), (path / SUMMARY).is_file()
        problems = []
        try:
            cfg = read_config(path)
            config_json, name = cfg.to_json(), cfg.name
        except StoreError as e:
            if not (path / CONFIG).exists() or not (saved or has_summary):
                return (run_id, mtime_ns, 0, None, None, None, None, None, None, 0, None)
            problems.append(f"{CONFIG} unreadable ({str(e).split(': ', 1)[-1]})")
            config_json, name = "", ""
        summary, why = read_summary_checked(path)
        if why:
            problems.append(f"{SUMMARY} unreadable ({why})")
        if not (saved or has_summary):
            return (run_id, mtime_ns, 0, None, None, None, None, None, None, 0, None)
        try:
            created = float(summary.get("created") or (path / (CONFIG if config_json else SUMMARY)).stat().st_mtime)
        except (OSError, TypeError, ValueError):
            created = 0.0
        damaged = ("damaged: " + "; ".join(problems)) if problems else None
        return (run_id, mtime_ns, 1, created, name, str(summary.get("owner") or ""),
                config_json, json.dumps(summary, default=str), folder_bytes(path), 1 if saved else 0, damaged)

    # ------------------------------------------------------------ queries
    def _entry(self, row) -> RunEntry:
        run_id, created, config, summary, saved, damaged = row
        return entry_from_folder(self.root / run_id, config or "", json.loads(summary or "{}"),
                                 shipped=self.shipped, created=created or 0.0, saved=bool(saved),
                                 damaged=damaged or "")

    def entries(self, *, owner: str | None = None, exclude: set | frozenset = frozenset(),
                limit: int | None = None, offset: int = 0, newest_first: bool = True,
                order: str = "created", name_prefix: str | None = None) -> list[RunEntry]:
        """The runs to list (with weights, or a summary), a page at a time; ``name_prefix`` keeps the runs
        whose display name starts with it (the β lab's sweeps)."""
        self.refresh()
        col = "run_id" if order == "run_id" else "created"
        sql = "SELECT run_id, created, config, summary, saved, damaged FROM runs WHERE valid=1"
        args: list = []
        if owner is not None:
            sql += " AND owner=?"
            args.append(owner)
        if name_prefix is not None:
            sql += " AND substr(name, 1, ?) = ?"
            args += [len(name_prefix), name_prefix]
        sql += f" ORDER BY {col} {'DESC' if newest_first else 'ASC'}, run_id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit) + len(exclude), int(offset)]
        with self._lock:
            rows = self._connect().execute(sql, args).fetchall()
        out = [self._entry(r) for r in rows if r[0] not in exclude]
        return out[:limit] if limit is not None else out

    def get(self, run_id: str) -> RunEntry | None:
        self.refresh()
        with self._lock:
            row = self._connect().execute(
                "SELECT run_id, created, config, summary, saved, damaged FROM runs WHERE run_id=? AND valid=1",
                (run_id,)).fetchone()
        if row is None and (self.root / run_id).is_dir():     # written a moment ago
            self.refresh(force=True)
            with self._lock:
                row = self._connect().execute(
                    "SELECT run_id, created, config, summary, saved, damaged FROM runs WHERE run_id=? AND valid=1",
                    (run_id,)).fetchone()
        return None if row is None else self._entry(row)

    def count(self, owner: str | None = None) -> int:
        self.refresh()
        sql, args = "SELECT COUNT(*) FROM runs WHERE valid=1", []
        if owner is not None:
            sql, args = sql + " AND owner=?", [owner]
        with self._lock:
            return int(self._connect().execute(sql, args).fetchone()[0])

    def ids(self, owner: str | None = None) -> set[str]:
        """The ids of the complete runs (of one owner)."""
        self.refresh()
        sql, args = "SELECT run_id FROM runs WHERE valid=1", []
        if owner is not None:
            sql, args = sql + " AND owner=?", [owner]
        with self._lock:
            return {r[0] for r in self._connect().execute(sql, args)}

    def owner_bytes(self, owner: str) -> int:
        """Disk used by one owner's run folders."""
        self.refresh()
        with self._lock:
            v = self._connect().execute("SELECT SUM(size) FROM runs WHERE owner=?", (owner,)).fetchone()[0]
        return int(v or 0)


_SHIPPED: RunIndex | None = None
_SHIPPED_LOCK = threading.Lock()


def shipped_index() -> RunIndex:
    """The shipped runs' index (in memory: ``trained/`` is read-only)."""
    global _SHIPPED
    with _SHIPPED_LOCK:
        if _SHIPPED is None:
            _SHIPPED = RunIndex(SHIPPED_ROOT, ":memory:", shipped=True)
        return _SHIPPED
