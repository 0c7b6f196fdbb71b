"""The contract between the engine's server side and a worker: statuses and typed messages.

Both sides import this module and nothing else of each other. A message is a frozen
dataclass; the pipe carries it as is (``multiprocessing`` pickles objects of these
classes only, between two processes of this app: nothing from outside is ever
unpickled). A worker for another backend (a Ray actor) speaks the same messages.

Server → worker::

    StartJob(run_id, config, run_dir, options)   train this run
    Control(run_id, kind, value)                 between two steps: pause, resume, step n,
                                                 stop, beta, lr
    Quit()                                       end the worker process

Worker → server::

    Ready(pid)                                   warmed up, waiting for a job
    Started(run_id, info)                        data loaded, model built: ``RunInfo``
    Rows(run_id, rows, progress)                 new metrics rows and a ``Progress``
    SnapshotMsg(run_id, snapshot)                a ``Snapshot`` of the probe set
    Saving(run_id)                               writing the final checkpoint
    Done(run_id, status, reason, summary, tb)    the run ended (``tb``: a traceback, if it failed)

Each ``Control`` is counted; ``Progress.seq`` echoes how many a worker has applied,
so the server knows when a status it reads is no longer stale.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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


class ControlKind(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STEP = "step"          # value: number of steps, then paused
    STOP = "stop"
    BETA = "beta"          # value: the new base β
    LR = "lr"              # value: the new learning rate


# ------------------------------------------------------------------ payloads

@dataclass
class JobOptions:
    """How a worker runs one job. Every default is written here, once."""
    owner: str = ""
    owner_name: str = ""
    start_paused: bool = False
    initial_steps: int = 0               # single steps asked for while the run was queued
    beta: float | None = None            # a β set while queued (None: the config's)
    lr: float | None = None              # likewise for the learning rate
    iwae_k: int = 0                      # IWAE-k of the final summary (0: none)
    snapshot_seconds: float = 1.0
    max_seconds: float = math.inf
    max_seconds_setting: str = "LATENT_EXPLORER_MAX_RUN_SECONDS"   # what sets it, for the message
    max_bytes: int | None = None         # largest dataset to read (None: data.DEFAULT_MAX_BYTES)
    max_features: int | None = None      # an own file's values per example (None: data's default)
    max_examples: int | None = None      # an own file's examples (None: data's default)
    data_dir: str | None = None          # the server's data folder (MNIST cache; None: the worker's)
    device: str = "cpu"                  # "auto", "cpu", "cuda", "cuda:1", ...
    created: float = 0.0                 # when the run was submitted (recorded in its summary)


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


# ------------------------------------------------------------------ messages

@dataclass(frozen=True)
class Message:
    """Every message about one run names it."""
    run_id: str


@dataclass(frozen=True)
class StartJob(Message):
    config: dict
    run_dir: str
    options: JobOptions


@dataclass(frozen=True)
class Control(Message):
    kind: ControlKind
    value: float | int | None = None


@dataclass(frozen=True)
class Started(Message):
    info: RunInfo


@dataclass(frozen=True)
class Rows(Message):
    rows: list
    progress: Progress


@dataclass(frozen=True)
class SnapshotMsg(Message):
    snapshot: Snapshot


@dataclass(frozen=True)
class Saving(Message):
    pass


@dataclass(frozen=True)
class Done(Message):
    status: Status
    reason: str | None
    summary: dict | None
    traceback: str | None = None


@dataclass(frozen=True)
class Quit:
    """End the worker (a message to the worker, about no run)."""


@dataclass(frozen=True)
class Ready:
    """The worker warmed up and waits for a job."""
    pid: int


TO_WORKER = (StartJob, Control, Quit)
FROM_WORKER = (Ready, Started, Rows, SnapshotMsg, Saving, Done)
