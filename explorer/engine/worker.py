"""The worker side of the engine: one job at a time, trained by :func:`explorer.training.run_loop`.

A worker process warms up (imports torch, the data loaders), says :class:`Ready`,
then waits for a :class:`StartJob`. :class:`JobRunner` is the loop's hooks for one
job: between two steps it applies the controls that arrived (pause, resume, step n,
stop, β, lr); it publishes rows with a :class:`Progress` about ten times a second
and at every epoch end, a :class:`Snapshot` at every epoch end and at least every
``snapshot_seconds`` (spaced out when snapshots are slow, so that they cost at most
``SNAPSHOT_BUDGET`` of the time), and writes the run folder at every epoch end and at the end.

The runner talks through a :class:`Channel` (send a message; receive one, with a
timeout). :class:`PipeChannel` is the local backend's, a pair of pipes to the server;
a closed pipe means the server died, and the run is then saved as "interrupted".

Workers run at nice +10 (``WORKER_NICE``): training is batch work, and on a small
shared machine the pages must get the CPU the moment someone moves a slider.
"""
from __future__ import annotations

import os
import time
import traceback
from pathlib import Path

import torch

from .. import data, memory
from ..config import ConfigError, RunConfig
from ..data import DataError
from ..probe import PROBE_N, RECON_N, snapshot
from ..rowlog import RowLog
from ..runs import Progress, RunInfo, Status
from ..training import MAX_DISK_ROWS, LoopHooks, Trainer, checkpoint, run_loop
from . import protocol

SNAPSHOT_BUDGET = 0.05           # snapshots may take at most this share of a worker's time
WORKER_NICE = 10                 # workers yield the CPU to the server
FLUSH_SECONDS = 0.1              # rows reach the server at most this late


class ChannelClosed(Exception):
    """The other side is gone."""


class PipeChannel:
    """A worker's two pipe ends: messages in (``inbox``) and out (``outbox``)."""

    def __init__(self, inbox, outbox):
        self.inbox, self.outbox = inbox, outbox

    def send(self, msg) -> None:
        try:
            self.outbox.send(msg)
        except (BrokenPipeError, OSError) as e:
            raise ChannelClosed(str(e)) from None

    def recv(self, timeout: float | None):
        """The next message, or None when nothing arrives within ``timeout`` seconds."""
        try:
            if timeout is not None and not self.inbox.poll(timeout):
                return None
            return self.inbox.recv()
        except (EOFError, OSError) as e:
            raise ChannelClosed(str(e)) from None


def resolve_device(setting: str) -> str:
    """``auto`` → ``cuda`` when a GPU is present, else ``cpu``; other values as given."""
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def failure_reason(e: BaseException) -> str:
    """A one-line reason: the message alone for input errors (they say what to do),
    the exception type too for anything else."""
    if isinstance(e, (DataError, ConfigError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


def warm_up(threads: int) -> None:
    """Lower the priority, set torch's threads, warm what every job needs (the first Adam;
    sklearn's datasets, imported here, once, because they are heavy and optional)."""
    try:
        os.nice(WORKER_NICE)
    except (AttributeError, OSError):   # no nice() on this platform, or not permitted
        pass
    torch.set_num_threads(threads)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the first Adam imports dynamo (~1 s)
    try:
        import sklearn.datasets  # noqa: F401 - the digits and toy sets need it (~1 s)
    except ImportError:
        pass


def worker_main(inbox, outbox, threads: int) -> None:
    """Entry point of a local worker process: warm up, then run jobs until told to quit."""
    warm_up(threads)
    channel = PipeChannel(inbox, outbox)
    try:
        channel.send(protocol.Ready(os.getpid()))
        while True:
            msg = channel.recv(None)
            if isinstance(msg, protocol.Quit):
                return
            if isinstance(msg, protocol.StartJob) and not run_job(msg, channel):
                return                           # past its memory budget: a fresh worker takes over
    except ChannelClosed:
        return


def run_job(job: protocol.StartJob, channel) -> bool:
    """Run one job to its end; any failure is reported as the job's ``Done``. The job is held
    to its memory budget (``memory.held_to``: an allocation past it fails here, not the
    machine's out-of-memory killer elsewhere). Returns False after a run stopped at its
    budget: a local worker then ends, so that its spent heap goes back to the machine."""
    budget = job.options.memory_bytes
    try:
        with memory.held_to(budget):
            JobRunner(job, channel).run()
    except ChannelClosed:
        raise
    except Exception as e:  # noqa: BLE001 - report any failure as the job's reason
        if budget and memory.over_budget(e):
            reason = memory.exceeded_message(RunConfig.from_dict(job.config), budget, job.options.memory_setting)
            channel.send(protocol.Retiring(os.getpid()))
            channel.send(protocol.Done(job.run_id, Status.FAILED, reason, None, None))
            return False
        channel.send(protocol.Done(job.run_id, Status.FAILED, failure_reason(e), None,
                                   traceback.format_exc(limit=5)))
    return True


class _Rate:
    """Images per second of wall time, smoothed (pauses excluded)."""

    def __init__(self):
        self.value = 0.0
        self._t = time.perf_counter()
        self._n = 0

    def update(self, samples: int, paused: bool) -> float:
        now = time.perf_counter()
        dt = now - self._t
        if paused:
            self._t, self._n = now, samples
        elif dt >= 0.5:
            rate = (samples - self._n) / dt
            self.value = rate if self.value == 0 else 0.7 * self.value + 0.3 * rate
            self._t, self._n = now, samples
        return self.value


class JobRunner(LoopHooks):
    """One job inside a worker: the hooks of :func:`explorer.training.run_loop`."""

    def __init__(self, job: protocol.StartJob, channel):
        self.run_id, self.run_dir, self.opts = job.run_id, Path(job.run_dir), job.options
        self.channel = channel
        self.cfg = RunConfig.from_dict(job.config)
        ds = data.load(self.cfg.data, max_bytes=self.opts.max_bytes or data.DEFAULT_MAX_BYTES,
                       max_features=self.opts.max_features or data.DEFAULT_MAX_FEATURES,
                       max_examples=self.opts.max_examples or data.DEFAULT_MAX_EXAMPLES,
                       cache_dir=self.opts.data_dir)
        self.device = resolve_device(self.opts.device)
        self.trainer = Trainer(self.cfg, ds, device=self.device)
        if self.opts.beta is not None:
            self.trainer.set_beta(self.opts.beta)
        if self.opts.lr is not None:
            self.trainer.set_lr(self.opts.lr)
        n = min(PROBE_N, len(ds.x_val))
        self.probe_x = ds.x_val[:n]
        self.recon_x = ds.x_val[:RECON_N] if ds.is_image else self.probe_x
        self.extra = {"owner": self.opts.owner, "owner_name": self.opts.owner_name,
                      "run_id": self.run_id, "name": self.cfg.name, "created": self.opts.created,
                      "device": str(self.device)}
        self.paused = self.opts.start_paused or self.opts.initial_steps > 0
        self.pending_steps = self.opts.initial_steps
        self.stop = False
        self.stop_why = "stopped by the user"
        self.orphaned = False             # the server is gone
        self.seq = 0                      # controls applied (echoed to the server)
        self.disk = RowLog(MAX_DISK_ROWS, self.cfg.train.log_every)    # rows for metrics.csv
        self.unsent: list[dict] = []
        self.rate = _Rate()
        self.last_flush = self.next_snap = self.next_epoch_snap = 0.0
        self.single = False               # the step being taken was asked for with Step
        self.send(protocol.Started(self.run_id, RunInfo(
            total_steps=self.trainer.total_steps, steps_per_epoch=self.trainer.steps_per_epoch,
            batch_size=self.trainer.batch_size, n_train=len(ds.x_train), n_val=len(ds.x_val),
            data_shape=list(ds.data_shape), is_image=ds.is_image, class_names=ds.class_names,
            probe_labels=None if ds.y_val is None else ds.y_val[:n].numpy(),
            probe_x=None if ds.is_image else self.probe_x.numpy(),
            originals=ds.val_display(len(self.recon_x)).numpy() if ds.is_image else None,
            checksum=ds.checksum, device=str(self.device))))
        self.t0 = time.time()                # training time starts here, as in training.fit

    # ------------------------------------------------------------ messages
    def send(self, msg) -> None:
        if self.orphaned:
            return
        try:
            self.channel.send(msg)
        except ChannelClosed:                # the server died: keep training's files right
            self.stop = self.orphaned = True

    @property
    def idle(self) -> bool:
        return self.paused and self.pending_steps == 0

    def apply(self, c: protocol.Control) -> None:
        """One control message, applied between two steps."""
        self.seq += 1
        self.last_flush = 0.0               # publish the control's effect at once (a pause, too)
        if c.kind == protocol.ControlKind.PAUSE:
            self.paused = True
        elif c.kind == protocol.ControlKind.RESUME:
            self.paused, self.pending_steps = False, 0
        elif c.kind == protocol.ControlKind.STEP:              # n steps, then paused
            self.paused = True
            self.pending_steps += int(c.value)
        elif c.kind == protocol.ControlKind.STOP:
            self.stop = True
            self.stop_why = str(c.value) if c.value else self.stop_why
        elif c.kind == protocol.ControlKind.BETA:
            self.trainer.set_beta(float(c.value))
        elif c.kind == protocol.ControlKind.LR:
            self.trainer.set_lr(float(c.value))

    def progress(self) -> Progress:
        tr = self.trainer
        wall = self.rate.update(tr.samples_seen, self.idle)
        left = (tr.total_steps - tr.step_count) * tr.batch_size
        eta = left / wall if wall > 0 else None
        if self.cfg.train.time_budget_s:            # a time budget ends it first: its ETA is known
            spare = max(0.0, self.cfg.train.time_budget_s - tr.active_s)
            eta = spare if eta is None else min(eta, spare)
        return Progress(step=tr.step_count, total_steps=tr.total_steps, epoch=tr.epoch_float,
                        epochs=self.cfg.train.epochs, samples=tr.samples_seen, img_s=wall,
                        step_img_s=tr._img_s, eta_s=eta,
                        elapsed_s=time.time() - self.t0, events=list(tr.events),
                        paused=self.paused, seq=self.seq)

    def flush(self) -> None:
        """Send the rows not sent yet, with the progress."""
        self.send(protocol.Rows(self.run_id, self.unsent, self.progress()))
        self.unsent, self.last_flush = [], time.time()

    def snapshot(self) -> None:
        """Send a snapshot; space the next one out if this one was slow. The next is due
        ``snapshot_seconds`` from now, or at the next epoch's end if that comes first and the
        budget allows: the rows that draw the curves arrive at every epoch end, and a
        snapshot only every second let the latent scatter trail them by many epochs of a
        small data set (~12 epochs a second of the digits)."""
        a = time.perf_counter()
        tr = self.trainer
        snap = snapshot(tr.model, self.probe_x, self.recon_x, step=tr.step_count,
                        epoch=tr.epoch_float, beta=tr.beta, lr=tr.lr, with_decoder=True)
        self.send(protocol.SnapshotMsg(self.run_id, snap))
        cost = time.perf_counter() - a
        self.next_snap = time.time() + max(self.opts.snapshot_seconds, cost / SNAPSHOT_BUDGET)
        self.next_epoch_snap = time.time() + cost / SNAPSHOT_BUDGET

    def checkpoint(self, status: str, *, final: bool = False, reason: str | None = None) -> dict:
        extra = dict(self.extra, reason=reason) if final else self.extra
        return checkpoint(self.trainer, self.run_dir, self.disk.rows, status, time.time() - self.t0,
                          final=final, extra=extra, iwae_k=self.opts.iwae_k if final else 0)

    # ------------------------------------------------------------ loop hooks
    def before_step(self, trainer) -> None:
        """Apply every waiting control; while idle (paused), wait up to 0.2 s for one."""
        timeout = 0.2 if self.idle else 0.0
        while not self.orphaned:
            try:
                msg = self.channel.recv(timeout)
            except ChannelClosed:            # the server died: save what we have and end
                self.stop = self.orphaned = True
                return
            if msg is None:
                return
            if isinstance(msg, protocol.Quit):
                self.stop = True
            elif isinstance(msg, protocol.Control) and msg.run_id == self.run_id:
                self.apply(msg)
            timeout = 0.0

    def end_reason(self, trainer):
        limit = self.opts.max_seconds
        if self.orphaned:
            return Status.INTERRUPTED, (f"the server stopped during this run; saved at step "
                                        f"{trainer.step_count}")
        if self.stop:
            return Status.STOPPED, self.stop_why
        if trainer.done:
            return Status.FINISHED, trainer.finish_note
        if time.time() - self.t0 > limit:
            return Status.STOPPED, (f"stopped at the maximum run duration ({limit:.0f} s; "
                                    f"{self.opts.max_seconds_setting} sets it)")
        return None

    def may_step(self, trainer) -> bool:
        if self.idle:                        # paused: keep the page's progress fresh
            if self.unsent or time.time() - self.last_flush > 1.0:
                self.flush()
            return False
        if self.pending_steps > 0:
            self.pending_steps -= 1
            self.single = True
        else:
            self.single = False
        return True

    def on_row(self, trainer, row) -> None:
        self.disk.add(row)
        self.unsent.append(row)
        now = time.time()
        if now - self.last_flush > FLUSH_SECONDS or self.single or trainer.at_epoch_end:
            self.flush()
        if now >= self.next_snap or self.single or (trainer.at_epoch_end and now >= self.next_epoch_snap):
            self.snapshot()

    def on_epoch_end(self, trainer) -> None:
        self.checkpoint("running")

    # ------------------------------------------------------------ the job
    def run(self) -> None:
        self.snapshot()
        status, reason = run_loop(self.trainer, self)
        self.paused = False
        self.flush()
        self.snapshot()
        self.send(protocol.Saving(self.run_id))
        reason = reason or self.trainer.stop_reason
        summary = self.checkpoint(status, final=True, reason=reason)
        self.send(protocol.Done(self.run_id, Status(status), reason, summary, None))


