"""The server's record of one run (:class:`Job`): its status, rows, snapshots and replay
frames, mutated only under the engine's lock, and turned into the
:class:`~explorer.runs.RunEntry` / :class:`~explorer.runs.RunView` pages read.

A run's status moves only through :meth:`Job.transition`, which knows the legal moves
(:data:`MOVES`): queued → starting → running ⇄ paused, and from any of these to an ended
state, which is final."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..rowlog import RowColumns, Rows
from ..runs import ENDED, Progress, RunEntry, RunInfo, Snapshot, Status
from ..store import WEIGHTS
from . import protocol

MAX_ROWS = 4000                  # rows kept per job in memory (thinned evenly beyond this)
MAX_HISTORY = 150                # latent frames kept per job for the replay scrubber ...
HISTORY_BYTES = 16 * 2**20       # ... and at most this many bytes of them

MOVES: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.STARTING}) | ENDED,       # ended here: it could not start
    Status.STARTING: frozenset({Status.RUNNING, Status.PAUSED}) | ENDED,
    Status.RUNNING: frozenset({Status.PAUSED}) | ENDED,
    Status.PAUSED: frozenset({Status.RUNNING}) | ENDED,
}
"""A run's legal status moves (staying put is always legal; an ended status is final)."""


class StatusError(RuntimeError):
    """A status move that :data:`MOVES` does not allow: a bug in the engine, never a user's."""


@dataclass
class Job:
    """The server's record of one run. Mutated only under the engine's lock."""
    run_id: str
    owner: str
    config: RunConfig
    run_dir: Path
    owner_name: str = ""
    options: protocol.JobOptions = field(default_factory=protocol.JobOptions)
    status: Status = Status.QUEUED
    reason: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    log: RowColumns = field(default_factory=lambda: RowColumns(MAX_ROWS))   # as columns: ~90 bytes a row
    val_log: RowColumns = field(default_factory=lambda: RowColumns(2**62))   # the epoch ends' rows, all kept
    snapshot: Snapshot | None = None
    history: list = field(default_factory=list)
    history_stride: int = 1
    info: RunInfo | None = None
    progress: Progress = field(default_factory=Progress)
    beta: float | None = None                     # the base β now: the one holder on this side
    lr: float | None = None
    summary: dict | None = None
    worker: object | None = None                  # the backend's worker that trains it
    from_disk: bool = False
    rows_on_disk: bool = False                    # rows are in metrics.csv, not here: read them
    ctl_sent: int = 0                             # controls sent to the worker so far
    saving: bool = False
    traceback: str | None = None
    damaged: str = ""                             # a saved run's unreadable file, as its entry says
    config_known: bool = True
    _snap_count: int = 0

    def __post_init__(self):
        self.beta = self.config.train.beta if self.beta is None else self.beta
        self.lr = self.config.train.lr if self.lr is None else self.lr
        self.progress.epochs = self.progress.epochs or self.config.train.epochs

    def transition(self, new: Status | str, reason: str | None = None) -> None:
        """Move the run to status ``new`` (with the ``reason`` an ended run keeps); raises
        :class:`StatusError` for a move :data:`MOVES` does not allow."""
        new = Status(new)
        if new != self.status and new not in MOVES.get(self.status, frozenset()):
            raise StatusError(f"run {self.run_id}: {self.status} -> {new} is not a legal move")
        self.status = new
        if reason is not None or new.ended:
            self.reason = reason

    @property
    def rows(self) -> Rows:
        """The rows held now (a sequence of dicts, with ``column(key)``)."""
        return self.log.rows

    @property
    def val_rows(self) -> Rows:
        """The validation rows held now (one per evaluated epoch end)."""
        return self.val_log.rows

    def add_rows(self, rows: list[dict]) -> None:
        for r in rows:
            if "val_elbo" in r:
                self.val_log.add(r)
            self.log.add(r)

    def clear_rows(self) -> None:
        """Forget the rows held (they are read back from the run's folder when viewed)."""
        self.log, self.val_log = RowColumns(self.log.max_rows), RowColumns(self.val_log.max_rows)

    def add_snapshot(self, snap: Snapshot) -> None:
        """Keep the latest snapshot, and every ``history_stride``-th one's latent means."""
        self.snapshot = snap
        if self._snap_count % self.history_stride == 0:
            self.history.append({"step": snap.step, "epoch": snap.epoch, "mu": snap.mu.astype(np.float16)})
        self._snap_count += 1
        frame_bytes = max(1, snap.mu.size * 2)
        cap = max(2, min(MAX_HISTORY, HISTORY_BYTES // frame_bytes))
        while len(self.history) > cap:                # keep the first, then every other one
            self.history = self.history[:1] + self.history[2::2]
            self.history_stride *= 2

    def entry(self, queue_position: int | None, cls=RunEntry, **more) -> RunEntry:
        return cls(run_id=self.run_id, run_dir=self.run_dir, status=self.status, name=self.config.name,
                   owner=self.owner, owner_name=self.owner_name, created=self.created,
                   reason=self.reason, summary=dict(self.summary or {}),
                   progress=Progress(**vars(self.progress)), beta=self.beta, lr=self.lr,
                   queue_position=queue_position, saved=(Path(self.run_dir) / WEIGHTS).is_file(),
                   damaged=self.damaged, config_known=self.config_known, _config=self.config, **more)


def from_entry(e: RunEntry) -> Job:
    """A record for a saved run read from the index (rows stay on disk until viewed)."""
    return Job(run_id=e.run_id, owner=e.owner, owner_name=e.owner_name, config=e.config,
               run_dir=e.run_dir, status=e.status, reason=e.reason, created=e.created, ended=e.created,
               summary=e.summary, from_disk=True, rows_on_disk=True, beta=e.beta, lr=e.lr,
               progress=Progress(**vars(e.progress)), damaged=e.damaged, config_known=e.config_known)


def apply_to_options(o: protocol.JobOptions, kind: protocol.ControlKind, value=None) -> None:
    """A control that arrives while its run is queued: kept in the options the run starts
    with (the local engine's queue and the Ray scheduler's both use this)."""
    if kind in (protocol.ControlKind.PAUSE, protocol.ControlKind.STEP):
        o.start_paused = True
        o.initial_steps += int(value or 0)
    elif kind == protocol.ControlKind.RESUME:
        o.start_paused, o.initial_steps = False, 0
    elif kind == protocol.ControlKind.BETA:
        o.beta = value
    elif kind == protocol.ControlKind.LR:
        o.lr = value
