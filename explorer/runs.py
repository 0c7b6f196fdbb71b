"""A run's vocabulary, low enough for every layer: its status, what it reports, its one
shape as pages see it, and the one rule of who may change it.

* :class:`Status` (and the sets :data:`ACTIVE`, :data:`LIVE`, :data:`ENDED`): a run's life.
* :class:`RunInfo`, :class:`Progress`, :class:`Snapshot`: what a started run knows about its
  data, where it is, and its probe set seen through the model. The engine's messages
  (:mod:`explorer.engine.protocol`) carry them; the store and the pages read them.
* :class:`RunEntry`: one run, shipped or a user's, live or saved, in one shape. The
  engine's :meth:`~explorer.engine.Engine.view` returns its larger sibling
  :class:`RunView` (rows, snapshots, replay frames). Listing and finding runs:
  :mod:`explorer.catalog`.
* :func:`refusal`: whether an :class:`Actor` may control, rename or delete a run. The
  engine, the Train page, the Runs page, Explore and imports all ask it.

Owner ids never hold a secret: a browser's owner id is a hash of the token its cookie
keeps (:mod:`explorer.ui.identity`), so ids can be stored in summaries and compared.
"""
from __future__ import annotations

import enum
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import RunConfig
from .schedules import beta_at


# ------------------------------------------------------------------ status

class Status(enum.StrEnum):
    """A run's life: queued → starting → running ⇄ paused → one of the ended states."""
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def active(self) -> bool:
        """Holding a worker: starting, running or paused."""
        return self in ACTIVE

    @property
    def live(self) -> bool:
        """Not ended yet: queued or active (a page polls while its run is live)."""
        return self in LIVE

    @property
    def ended(self) -> bool:
        return self in ENDED


ACTIVE = frozenset({Status.STARTING, Status.RUNNING, Status.PAUSED})
LIVE = ACTIVE | {Status.QUEUED}
ENDED = frozenset(set(Status) - LIVE)


def status_of(text: Any) -> Status:
    """A status read from a file; anything unknown counts as interrupted."""
    try:
        return Status(text)
    except ValueError:
        return Status.INTERRUPTED



# ------------------------------------------------------------------ what a run reports

@dataclass
class RunInfo:
    """What a started run knows about its data and schedule."""
    total_steps: int
    steps_per_epoch: int
    batch_size: int
    n_train: int
    n_val: int
    data_shape: list[int]
    is_image: bool
    class_names: list[str] | None
    probe_labels: np.ndarray | None       # labels of the probe set (validation items)
    probe_x: np.ndarray | None            # the probe points themselves (2-D data only)
    originals: np.ndarray | None          # images whose reconstructions are published
    checksum: str
    device: str = "cpu"


@dataclass
class Progress:
    """Where a run is. The worker fills it; the server adds nothing but its β and lr
    (the values a page set, which the worker confirms)."""
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    epochs: int = 0
    samples: int = 0
    img_s: float = 0.0                    # wall-clock images/s (pauses excluded)
    step_img_s: float = 0.0               # images/s inside training steps
    eta_s: float | None = None
    elapsed_s: float | None = None
    events: list[dict] = field(default_factory=list)   # β / lr changes: {step, param, value}
    paused: bool = False
    seq: int = 0                          # controls the worker has applied


@dataclass
class Snapshot:
    """The probe set seen through the model at one step (see :func:`explorer.probe.snapshot`)."""
    step: int
    epoch: float
    time: float
    mu: np.ndarray                        # [N, D] posterior means of the probe set
    logvar: np.ndarray
    recon: np.ndarray | None              # reconstructions of RunInfo.originals (or probe_x)
    kl_per_dim: np.ndarray                # [D] mean KL per latent dimension (eq. 14)
    active_units: int
    mu_var: np.ndarray                    # [D] variance of the means (Burda's criterion)
    beta: float = 1.0
    lr: float = 0.0
    decoder: dict | None = None           # the decoder's tensors at this step (numpy), when small
                                          # enough to send (the Train page decodes with them)



# ------------------------------------------------------------------ the actor

@dataclass(frozen=True)
class Actor:
    """Who asks: an owner id, a name to show, and what more they may do."""
    id: str
    name: str = ""
    class_runs: frozenset = frozenset()      # run ids it may control as their class's teacher
    admin: bool = False

    @classmethod
    def of(cls, who: "Actor | str") -> "Actor":
        return who if isinstance(who, Actor) else cls(id=str(who or ""))


class Action(enum.StrEnum):
    CONTROL = "control"      # pause, resume, step, stop, β, learning rate
    RENAME = "rename"
    DELETE = "delete"


def refusal(action: Action | str, *, run_owner: str | None, shipped: bool, status: Status | str,
            actor: Actor | str, delete_any: bool = False, owner_name: str = "",
            run_id: str = "") -> str | None:
    """Why ``actor`` may not do ``action`` to this run, or None when they may.

    Shipped runs are read-only. A run's owner may do anything the run's state allows; a
    teacher may control (never rename or delete) the runs made in their class by its
    students (``Actor.class_runs``: :func:`explorer.classroom.rules.teacher_actor`), never a
    student's private runs; ``delete_any`` (the setting ``LATENT_EXPLORER_DELETE_ANY=1``)
    lets anyone rename and delete, never control."""
    action, actor, status = Action(action), Actor.of(actor), Status(status)
    if shipped:
        return "shipped runs are read-only; start a run with these settings to make your own"
    if action == Action.CONTROL and status.ended:
        return f"this run is {status}; it cannot be controlled"
    if action != Action.CONTROL and status.live:
        return "this run is still training; stop it first"
    mine = bool(run_owner) and run_owner == actor.id
    if mine or actor.admin or (action == Action.CONTROL and run_id and run_id in actor.class_runs):
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
    damaged: str = ""                    # "damaged: config.json unreadable (…)": listed, opened as far as it can be
    config_known: bool = True            # False: its config.json is unreadable (``config`` is a stand-in)
    _config: RunConfig | None = None

    @property
    def config(self) -> RunConfig:
        if self._config is None:
            self._config = (RunConfig.from_json(self.config_json) if self.config_known
                            else RunConfig(name=self.name or self.run_id))
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
    def imported_what(self) -> str | None:
        """What an import brought: ``"run"`` (a run zip: a copy of a run made elsewhere),
        ``"model"`` (weights + config trained elsewhere: no run here at all), or None."""
        imp = self.summary.get("imported")
        if not imp:
            return None
        what = imp.get("what") if isinstance(imp, dict) else None
        if what in ("run", "model"):
            return what
        return "run" if "steps" in self.summary else "model"     # imported before "what" was kept

    @property
    def shown_name(self) -> str:
        """The run's name as lists show it: an import is marked as a copy (or a model)."""
        mark = {"run": " (imported copy)", "model": " (imported model)"}.get(self.imported_what or "", "")
        return (self.name or self.run_id) + mark

    @property
    def status_text(self) -> str:
        """The status as lists show it: a model trained elsewhere was never a run here, so it
        is "imported", not "stopped"."""
        if self.imported_what == "model" and self.status.ended:
            return "imported"
        return str(self.status) + (f" · {self.damaged}" if self.damaged else "")

    @property
    def epochs(self) -> float | None:
        """Epochs trained, or None when nobody recorded them (a model trained elsewhere)."""
        if self.imported_what == "model" and self.summary.get("epochs") is None:
            return None
        return float(self.progress.epoch or 0)

    @property
    def beta_known(self) -> bool:
        """False for a model trained elsewhere whose config did not say its β (the config's
        β is then only the schema's default)."""
        imp = self.summary.get("imported")
        return not (isinstance(imp, dict) and imp.get("beta_given") is False and self.summary.get("beta") is None)

    def imported_from(self) -> str:
        """Where an import came from ("" for other runs)."""
        imp = self.summary.get("imported")
        if not isinstance(imp, dict):
            return ""
        orig = f", a copy of run {imp['original_run_id']}" if imp.get("original_run_id") else ""
        return f"imported from {imp.get('file') or 'a file'} on {imp.get('at') or '?'}{orig}"

    @property
    def label(self) -> str:
        if self.shipped:
            return f"📦 {self.name or self.run_id}"
        if self.imported_what == "model" and self.status.ended:
            return f"📥 {self.shown_name}"
        damaged = ", damaged" if self.damaged else ""
        return f"{STATUS_ICONS.get(self.status, '')} {self.shown_name} ({self.status}{damaged})"

    def source(self, me: str) -> str:
        """Where the run comes from, as the Runs page's table says it."""
        if self.shipped:
            return "📦 shipped"
        src = "yours" if self.owner and self.owner == me else "another visitor"
        return src + (" (imported)" if self.imported else "")

    def refusal(self, action: Action | str, actor: Actor | str, delete_any: bool = False) -> str | None:
        return refusal(action, run_owner=self.owner, shipped=self.shipped, status=self.status,
                       actor=actor, delete_any=delete_any, owner_name=self.owner_name, run_id=self.run_id)

    @property
    def val(self) -> dict:
        return self.summary.get("val") or {}

    # β, named: a run has one base β (what a person set last: the config's, or a live change)
    # and, through its schedule, the β its loss uses now. Every page shows these two.
    @property
    def base_beta(self) -> float:
        """The run's base β: what a person set last (the config's, unless changed live)."""
        return float(self.beta if self.beta is not None else self.config.train.beta)

    @property
    def beta_now(self) -> float:
        """The effective β now: the base β through the run's schedule at its current step."""
        return beta_at(self.config.train, int(self.progress.step or 0), self.base_beta).beta

    def beta_text(self) -> str:
        """The run's β as every page says it: its base β, and the effective β now when its
        schedule makes that differ (a warm-up, a cycle). An autoencoder has no β; a model
        trained elsewhere whose config did not give one gets no β text ("")."""
        if self.config.model.kind == "ae":
            return "no β (an autoencoder)"
        if not self.beta_known:
            return ""                    # a model trained elsewhere, its β not given: nothing made up
        base, now = self.base_beta, self.beta_now
        return f"base β = {base:g}" + ("" if math.isclose(now, base) else f", effective β now = {now:.3g}")


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

    @property
    def beta_now(self) -> float:
        """The effective β now: the β the last logged step's loss used (the rows record it)."""
        if self.rows and self.rows[-1].get("beta") is not None:
            return float(self.rows[-1]["beta"])
        return super().beta_now


STATUS_ICONS = {Status.RUNNING: "▶️", Status.PAUSED: "⏸️", Status.STARTING: "⏳", Status.QUEUED: "⏳",
                Status.FINISHED: "✅", Status.STOPPED: "⏹️", Status.DIVERGED: "⚠️",
                Status.FAILED: "❌", Status.INTERRUPTED: "⚠️"}


TRACK_STALE_S = 120.0     # a tracked run with no heartbeat for this long has stopped (explorer.tracking)


def tracked_live(summary: dict) -> bool:
    """Whether a run written by a loop outside the app (``explorer.track``) is still being
    written: a heartbeat less than :data:`TRACK_STALE_S` old."""
    beat = (summary.get("tracked") or {}).get("heartbeat") if isinstance(summary.get("tracked"), dict) else None
    return isinstance(beat, (int, float)) and time.time() - beat < TRACK_STALE_S


def entry_from_folder(run_dir: Path, config_json: str, summary: dict, *, shipped: bool,
                      created: float, saved: bool, damaged: str = "") -> RunEntry:
    """A saved run's entry from its files. A run saved as live was interrupted (its server
    stopped): the status says so, and the reason names the checkpoint kept. A file that
    cannot be read (``damaged``: "damaged: summary.json unreadable (…)") is the reason."""
    status = status_of(summary.get("status"))
    reason = summary.get("reason")
    if damaged and not summary:
        status, reason = Status.INTERRUPTED, damaged
    elif status.live and tracked_live(summary):
        status = Status.RUNNING              # a loop outside the app writes it (explorer.track)
    elif status.live and summary.get("tracked"):
        status, reason = Status.INTERRUPTED, (f"its training loop stopped writing (no row for "
                                              f"{TRACK_STALE_S:.0f} s): the rows and model saved are kept")
    elif status.live:
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
        config_json=config_json, damaged=damaged, config_known=bool(config_json),
        progress=Progress(step=int(summary.get("steps") or 0), total_steps=int(summary.get("steps") or 0),
                          epoch=float(summary.get("epochs") or 0), samples=int(summary.get("samples") or 0),
                          elapsed_s=summary.get("elapsed_s"), events=list(summary.get("events") or [])))


def jsonable(v: Any) -> Any:
    return v.value if isinstance(v, enum.Enum) else v
