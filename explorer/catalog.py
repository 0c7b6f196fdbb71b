"""The one list of runs, and finding one: the shipped runs (``trained/``, their index in
memory), then the engine's (live ones and the runs folder's index), newest first, a page at
a time. Above the store (it reads the shipped runs' index) and below the pages; ``engine``
is any object with the engine's ``list`` and ``entry`` (:class:`explorer.engine.Engine`).
"""
from __future__ import annotations

from .runs import ENDED, RunEntry, Status
from .store.index import shipped_index


def shipped_runs() -> list[RunEntry]:
    """The read-only runs in ``trained/``, by id."""
    return shipped_index().entries(newest_first=False, order="run_id")


def list_runs(engine=None, *, owner: str | None = None, shipped: bool = True, limit: int | None = None,
              offset: int = 0, openable: bool = False) -> list[RunEntry]:
    """Shipped runs first (unless ``shipped=False``), then the engine's runs, newest first.
    ``owner`` keeps one owner's runs; ``openable`` keeps runs with weights to open (not
    queued, not ended before saving, a readable config). ``limit``/``offset`` page the engine's part."""
    out = shipped_runs() if shipped and owner is None else []
    if engine is not None:
        out += [e for e in engine.list(owner=owner, limit=limit, offset=offset)
                if not openable or (e.status != Status.QUEUED and e.config_known
                                    and (e.saved or e.status not in ENDED))]
    return out


def find(engine, key_or_id: str) -> RunEntry | None:
    """A run by picker key (``shipped:<id>``, ``run:<id>``) or id: shipped runs, then the engine's."""
    kind, _, rid = key_or_id.partition(":") if ":" in key_or_id else ("", "", key_or_id)
    if kind in ("", "shipped"):
        e = shipped_index().get(rid)
        if e is not None or kind == "shipped":
            return e
    return engine.entry(rid) if engine is not None else None
