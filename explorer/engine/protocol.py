"""The contract between the engine's server side and a worker: the typed messages.

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
so the server knows when a status it reads is no longer stale. What the messages carry
about a run (``Status``, ``RunInfo``, ``Progress``, ``Snapshot``) is the run's vocabulary,
:mod:`explorer.runs`, which the layers below the engine use too.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from ..runs import Progress, RunInfo, Snapshot, Status  # noqa: F401 - what the messages carry


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
    memory_bytes: int | None = None      # the run's memory budget, held in its process (None: none)
    memory_setting: str = "LATENT_EXPLORER_RUN_MEMORY_MB"            # what sets it, for the message
    data_dir: str | None = None          # the server's data folder (MNIST cache; None: the worker's)
    device: str = "cpu"                  # "auto", "cpu", "cuda", "cuda:1", ...
    created: float = 0.0                 # when the run was submitted (recorded in its summary)


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


@dataclass(frozen=True)
class Retiring:
    """The worker ends after this run (it grew past its memory budget: a fresh process gives
    its heap back to the machine); sent before the run's ``Done``, so no run is given to it."""
    pid: int


TO_WORKER = (StartJob, Control, Quit)
FROM_WORKER = (Ready, Retiring, Started, Rows, SnapshotMsg, Saving, Done)
