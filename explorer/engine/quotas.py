"""What one person may hold on a shared server, and the order in which queued runs start.

Both backends use this module: the local dispatcher (:mod:`.local`) and the Ray cluster's
scheduler (:mod:`.ray_actors`), so the caps say the same thing and the queue moves the same
way whichever trains the runs.

* :class:`Quotas`: the per-owner caps (settings ``LATENT_EXPLORER_MAX_RUNNING_PER_OWNER``,
  ``..._MAX_QUEUED_PER_OWNER``, ``..._MAX_RUNS_PER_OWNER``, ``..._DISK_MB_PER_OWNER``), each
  with the message that names its setting.
* :func:`fair_order` / :func:`next_queued`: the queue's order, the one policy that decides
  which queued run starts when a slot frees: round-robin over owners. A person's first run
  goes ahead of anyone's second (runs an owner trains now count as their earlier ones), so
  extra identities buy little and one person's 12 queued runs never push a newcomer back
  12 places. A backend calls it through this module (``quotas.next_queued``); the positions
  pages show come from the same order (:meth:`Engine.queue_position`).
* :func:`queue_full`: the cap on the queue as a whole (``LATENT_EXPLORER_MAX_QUEUED``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..settings import Settings
from ..text import count


@dataclass
class Quotas:
    """Per-owner caps. An owner is a browser (its cookie) or a logged-in user; the empty
    owner (the command line, tests) has no caps."""
    max_running_per_owner: int
    max_queued_per_owner: int
    max_runs_per_owner: int
    disk_bytes_per_owner: int

    @classmethod
    def from_settings(cls, s: Settings, *, max_running_per_owner: int | None = None,
                      max_queued_per_owner: int | None = None, max_runs_per_owner: int | None = None,
                      disk_bytes_per_owner: int | None = None) -> "Quotas":
        """The server's settings, each replaced by the value given (tests, a class's caps)."""
        return cls(max_running_per_owner=max_running_per_owner or s.max_running_per_owner,
                   max_queued_per_owner=max_queued_per_owner or s.max_queued_per_owner,
                   max_runs_per_owner=max_runs_per_owner or s.max_runs_per_owner,
                   disk_bytes_per_owner=disk_bytes_per_owner or s.disk_bytes_per_owner)

    def queued_refusal(self, queued: int) -> str | None:
        """Why an owner with ``queued`` runs waiting may not queue one more, or None."""
        return queued_refusal(queued, self.max_queued_per_owner)

    def runs_refusal(self, held: int) -> str | None:
        """Why an owner holding ``held`` runs on this server may not hold one more (a new run,
        an upload, an import), or None."""
        if held < self.max_runs_per_owner:
            return None
        return (f"you already have {count(held, 'run')} on this server; the limit "
                f"(LATENT_EXPLORER_MAX_RUNS_PER_OWNER) is {self.max_runs_per_owner}. "
                f"Delete runs you no longer need on the Runs page")

    def disk_refusal(self, used: int) -> str | None:
        """Why an owner whose runs and uploads use ``used`` bytes may not start a run, or None."""
        if used < self.disk_bytes_per_owner:
            return None
        return (f"your runs and uploads use {used / 2**20:.1f} MiB of disk; the limit "
                f"(LATENT_EXPLORER_DISK_MB_PER_OWNER) is {self.disk_bytes_per_owner / 2**20:.0f} MiB. "
                f"Delete runs on the Runs page")

    def upload_refusal(self, filename: str, used: int, size: int) -> str | None:
        """Why an owner using ``used`` bytes may not store a file of ``size`` bytes, or None."""
        if used + size <= self.disk_bytes_per_owner:
            return None
        return (f"{filename}: your runs and uploads would use more than "
                f"{self.disk_bytes_per_owner / 2**20:.0f} MiB of disk, the limit "
                f"(LATENT_EXPLORER_DISK_MB_PER_OWNER). Delete runs on the Runs page")


def queued_refusal(queued: int, cap: int) -> str | None:
    """Why an owner with ``queued`` runs waiting may not queue one more (``cap``: the most
    one owner may have waiting), or None. The Ray scheduler holds its caps as plain numbers."""
    if queued < cap:
        return None
    return (f"you already have {count(queued, 'run')} waiting in the queue; the limit "
            f"(LATENT_EXPLORER_MAX_QUEUED_PER_OWNER) is {cap}. Wait for one to start, or stop one")


def running_by_owner(owners: Iterable[str]) -> dict[str, int]:
    """How many runs each owner trains now, from the owners of the active runs."""
    out: dict[str, int] = {}
    for o in owners:
        out[o] = out.get(o, 0) + 1
    return out


def queue_full(queued: int, cap: int) -> str | None:
    """Why one more run may not join a queue of ``queued`` runs (``cap``: the most the whole
    queue may hold), or None."""
    if queued < cap:
        return None
    return (f"the queue is full: {count(queued, 'run')} wait to train on this server; the limit "
            f"(LATENT_EXPLORER_MAX_QUEUED) is {cap}. Try again when some have started")


def fair_order(queue: Sequence[str], owner_of: Callable[[str], str], running: Mapping[str, int],
               max_running_per_owner: int = 0) -> list[str]:
    """The queued runs in the order they will start: round-robin over owners.

    ``queue``: run ids in the order they were queued; ``owner_of(run_id)``: its owner;
    ``running``: runs each owner trains now (:func:`running_by_owner`). An owner's k-th queued
    run (from 0) is in round ``running[owner] + k``; rounds go in order, and within a round
    the run queued first goes first. So a person's first run is ahead of anyone's second,
    however many runs (or identities) someone else queued. The empty owner (the command
    line, tests) is one owner like the others. ``max_running_per_owner`` is not used for the
    order (a run whose owner is at the cap keeps its place: :func:`next_queued` skips it)."""
    seen: dict[str, int] = {}
    keyed = []
    for pos, run_id in enumerate(queue):
        owner = owner_of(run_id)
        k = seen.get(owner, 0)
        seen[owner] = k + 1
        keyed.append((running.get(owner, 0) + k, pos, run_id))
    return [run_id for _, _, run_id in sorted(keyed)]


def next_queued(queue: Sequence[str], owner_of: Callable[[str], str], running: Mapping[str, int],
                max_running_per_owner: int) -> str | None:
    """The queued run to start next, or None when every queued run must wait: the first in
    :func:`fair_order` whose owner trains fewer than ``max_running_per_owner`` runs (the empty
    owner has no cap), so one person's many runs never hold the others' back."""
    for run_id in fair_order(queue, owner_of, running):
        owner = owner_of(run_id)
        if not owner or running.get(owner, 0) < max_running_per_owner:
            return run_id
    return None
