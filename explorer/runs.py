"""A run as every page sees it, the one list of runs, and the one rule of who may change one.

* :class:`RunEntry`: one run, shipped or a user's, live or saved, in one shape. The
  engine's :meth:`~explorer.engine.Engine.view` returns its larger sibling
  :class:`RunView` (rows, snapshots, replay frames).
* :func:`list_runs`: the shipped runs, then the engine's (live ones and the runs folder's
  index), newest first, a page at a time.
* :func:`refusal`: whether an :class:`Actor` may control, rename or delete a run. The
  engine, the Train page, the Runs page, Explore and imports all ask it.

Owner ids never hold a secret: a browser's owner id is a hash of the token its cookie
keeps (:mod:`explorer.ui.identity`), so ids can be stored in summaries and compared.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RunConfig
from .engine.protocol import ENDED, Progress, RunInfo, Snapshot, Status, status_of


# ------------------------------------------------------------------ the actor

@dataclass(frozen=True)
class Actor:
    """Who asks: an owner id, a name to show, and what more they may do."""
    id: str
    name: str = ""
    teacher_of: frozenset = frozenset()      # owner ids this actor teaches (classroom mode)
    admin: bool = False

    @classmethod
    def of(cls, who: "Actor | str") -> "Actor":
        return who if isinstance(who, Actor) else cls(id=str(who or ""))


class Action(enum.StrEnum):
    CONTROL = "control"      # pause, resume, step, stop, β, learning rate
    RENAME = "rename"
    DELETE = "delete"


def refusal(action: Action | str, *, run_owner: str | None, shipped: bool, status: Status | str,
            actor: Actor | str, delete_any: bool = False, owner_name: str = "") -> str | None:
    """Why ``actor`` may not do ``action`` to this run, or None when they may.

    Shipped runs are read-only. A run's owner may do anything the run's state allows; a
    teacher may act for the students of their class; ``delete_any`` (the setting
    ``LATENT_EXPLORER_DELETE_ANY=1``) lets anyone rename and delete, never control."""
    action, actor, status = Action(action), Actor.of(actor), Status(status)
    if shipped:
        return "shipped runs are read-only; start a run with these settings to make your own"
    if action == Action.CONTROL and status.ended:
        return f"this run is {status}; it cannot be controlled"
    if action != Action.CONTROL and status.live:
        return "this run is still training; stop it first"
    mine = bool(run_owner) and run_owner == actor.id
    if mine or actor.admin or (run_owner and run_owner in actor.teacher_of):
        return None
    if action != Action.CONTROL and delete_any:
        return None
    whose = f"{owner_name}'s" if owner_name else "another visitor's" if run_owner else "nobody's"
    if action == Action.CONTROL:
        return (f"this is {whose} run: you can watch it, and “Start a run with these settings” "
                f"makes your own copy")
    return (f"this is {whose} run; only its owner may {action.value} it "
            f"(the server setting LATENT_EXPLORER_DELETE_ANY=1 allows anyone)")


# ------------------------------------------------------------------ the run

@dataclass
class RunEntry:
    """One run, in the shape every page uses. ``config`` is parsed on first use (an index
    of thousands of runs hands out entries cheaply)."""
    run_id: str
    run_dir: Path
    status: Status
    name: str = ""
    owner: str = ""
    owner_name: str = ""
    shipped: bool = False
    created: float = 0.0
    reason: str | None = None
    summary: dict = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    beta: float | None = None            # the base β now (live runs: the last one set)
    lr: float | None = None
    queue_position: int | None = None
    saved: bool = False                  # its folder holds weights
    config_json: str = ""
    _config: RunConfig | None = None

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            self._config = RunConfig.from_json(self.config_json)
        return self._config

    @config.setter
    def config(self, value: RunConfig) -> None:
        self._config = value

    @property
    def key(self) -> str:
        """A key for run pickers: ``shipped:<id>`` or ``run:<id>``."""
        return f"{'shipped' if self.shipped else 'run'}:{self.run_id}"

    @property
    def imported(self) -> bool:
        return bool(self.summary.get("imported"))

    @property
    def label(self) -> str:
        if self.shipped:
            return f"📦 {self.name or self.run_id}"
        return f"{STATUS_ICONS.get(self.status, '')} {self.name or self.run_id} ({self.status})"

    def source(self, me: str) -> str:
        """Where the run comes from, as the Runs page's table says it."""
        if self.shipped:
            return "📦 shipped"
        src = "yours" if self.owner and self.owner == me else "another visitor"
        return src + (" (imported)" if self.imported else "")

    def refusal(self, action: Action | str, actor: Actor | str, delete_any: bool = False) -> str | None:
        return refusal(action, run_owner=self.owner, shipped=self.shipped, status=self.status,
                       actor=actor, delete_any=delete_any, owner_name=self.owner_name)

    @property
    def val(self) -> dict:
        return self.summary.get("val") or {}


@dataclass
class RunView(RunEntry):
    """A run in full, for the page that shows it: rows, snapshot and replay frames."""
    started: float | None = None
    ended: float | None = None
    rows: list = field(default_factory=list)
    val_rows: list = field(default_factory=list)
    events: list = field(default_factory=list)
    snapshot: Snapshot | None = None
    history: list = field(default_factory=list)     # {"step", "epoch", "mu" (float16)}
    info: RunInfo | None = None
    from_disk: bool = False
    saving: bool = False
    traceback: str | None = None


STATUS_ICONS = {Status.RUNNING: "▶️", Status.PAUSED: "⏸️", Status.STARTING: "⏳", Status.QUEUED: "⏳",
                Status.FINISHED: "✅", Status.STOPPED: "⏹️", Status.DIVERGED: "⚠️",
                Status.FAILED: "❌", Status.INTERRUPTED: "⚠️"}


def entry_from_folder(run_dir: Path, config_json: str, summary: dict, *, shipped: bool,
                      created: float, saved: bool) -> RunEntry:
    """A saved run's entry from its files. A run saved as live was interrupted (its server
    stopped): the status says so, and the reason names the checkpoint kept."""
    status = status_of(summary.get("status"))
    reason = summary.get("reason")
    if status.live:
        status = Status.INTERRUPTED
        reason = (f"the server stopped during this run; the checkpoint of epoch "
                  f"{int(summary.get('epochs') or 0)} is kept")
    try:
        name = json.loads(config_json).get("name", "")
    except (ValueError, AttributeError):
        name = ""
    return RunEntry(
        run_id=run_dir.name, run_dir=run_dir, status=status, name=name or "",
        owner=str(summary.get("owner") or ""), owner_name=str(summary.get("owner_name") or ""),
        shipped=shipped, created=float(summary.get("created") or created), reason=reason,
        summary=summary, beta=summary.get("beta"), lr=summary.get("lr"), saved=saved,
        config_json=config_json,
        progress=Progress(step=int(summary.get("steps") or 0), total_steps=int(summary.get("steps") or 0),
                          epoch=float(summary.get("epochs") or 0), samples=int(summary.get("samples") or 0),
                          elapsed_s=summary.get("elapsed_s"), events=list(summary.get("events") or [])))


# ------------------------------------------------------------------ the list

def shipped_runs() -> list[RunEntry]:
    """The read-only runs in ``trained/``, by id."""
    from .store.index import shipped_index
    return shipped_index().entries(newest_first=False, order="run_id")


def list_runs(engine=None, *, owner: str | None = None, shipped: bool = True, limit: int | None = None,
              offset: int = 0, openable: bool = False) -> list[RunEntry]:
    """Shipped runs first (unless ``shipped=False``), then the engine's runs, newest first.
    ``owner`` keeps one owner's runs; ``openable`` keeps runs with weights to open (not
    queued, not ended before saving). ``limit``/``offset`` page the engine's part."""
    out = shipped_runs() if shipped and owner is None else []
    if engine is not None:
        out += [e for e in engine.list(owner=owner, limit=limit, offset=offset)
                if not openable or (e.status != Status.QUEUED and (e.saved or e.status not in ENDED))]
    return out


def find(engine, key_or_id: str) -> RunEntry | None:
    """A run by picker key (``shipped:<id>``, ``run:<id>``) or id: shipped runs, then the engine's."""
    kind, _, rid = key_or_id.partition(":") if ":" in key_or_id else ("", "", key_or_id)
    if kind in ("", "shipped"):
        from .store.index import shipped_index
        e = shipped_index().get(rid)
        if e is not None or kind == "shipped":
            return e
    return engine.entry(rid) if engine is not None else None


def jsonable(v: Any) -> Any:
    return v.value if isinstance(v, enum.Enum) else v
