"""The Ray backend's cluster side: each run in a detached actor, and one scheduler actor.

:class:`RunActor` trains one run at a time: the same :class:`~explorer.engine.worker.JobRunner`
(the same run loop) as a local worker process, in a thread of its own, talking through
a :class:`QueueChannel`: controls arrive in a queue the loop reads between two steps,
and every message the runner sends (the protocol's ``Started``, ``Rows``,
``SnapshotMsg``, ``Saving``, ``Done``) is kept in that run's log. Each app server
reads that log from its own cursor (:meth:`RunActor.poll`), so any number of app
servers can show one live run, and one that attaches late (or after a restart) replays
it from the start. Controls and reads run in two concurrency groups, apart from the
training thread, so a pause or a β lands between two steps while the run trains.

:class:`Scheduler` (one per namespace, named, detached) owns the fair queue, the
per-owner caps on queued and running runs, and how many runs train at once on the
cluster: each node's CPUs divided by ``LATENT_EXPLORER_RAY_CPUS_PER_RUN`` (runs on GPUs:
one GPU each, placed by Ray). It places each CPU run on the least loaded node and keeps
one warmed-up actor waiting on every node with a free slot (torch imported: a process
start-up is ~4 s of CPU on a small machine), so a run starts in the time its data takes
to load; since the scheduler counts each node's runs itself, those actors reserve no Ray
CPU. An actor whose run ended takes the next run on its node, as a local worker process
takes its next job (``benchmarks/ray_scale.py``: a new process per run took its start-up
from the runs training beside it, and 2 nodes were no faster than 1 local worker). It
watches every run's actor, and when one dies (killed, out of memory, its node lost) ends
its run as **failed** with the reason, and writes that into the run folder's summary (the
last epoch checkpoint stays). Runs are not resumed. An actor that is not reused (its node
has a warm one already; runs on GPUs) is ended ``KEEP_DONE_SECONDS`` after its run.

Nothing here imports Streamlit or the app server's side (:mod:`.server`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import threading
import time
import traceback
from pathlib import Path

import ray

from .. import store
from ..config import RunConfig
from ..runs import Status
from . import protocol, quotas
from .record import apply_to_options
from .worker import run_job, warm_up

SCHEDULER_NAME = "latent-explorer-scheduler"
KEEP_DONE_SECONDS = 3.0        # an ended run's actor lives this long, so the app servers read its
                               # last messages (a later one asks the scheduler)
KEEP_ENDED_SECONDS = 120.0     # the scheduler remembers an ended run's outcome this long
WATCH_SECONDS = 0.2            # the scheduler looks at its runs this often
OUTCOME_WAIT = 30.0            # a run actor answers "has it ended?" once it has, or after this
NODES_SECONDS = 2.0            # the cluster's nodes and resources are asked for this often
DIED = ("its Ray actor died (the process was killed, ran out of memory, or its node was lost); "
        "the run is not resumed: the last epoch checkpoint, if any, is kept")


class QueueChannel:
    """A :class:`JobRunner`'s channel inside a run actor: controls in through a queue,
    messages out into the actor's log (the last snapshot keeps its images and decoder;
    older ones keep their latent means only, which replay frames need)."""

    def __init__(self):
        self.inbox: queue.Queue = queue.Queue()
        self.log: list = []
        self.lock = threading.Lock()
        self._last_snap: int | None = None
        self.done_at: float | None = None        # when the run's Done was sent
        self.ended = threading.Event()

    def send(self, msg) -> None:
        with self.lock:
            if isinstance(msg, protocol.SnapshotMsg):
                if self._last_snap is not None:
                    old = self.log[self._last_snap]
                    self.log[self._last_snap] = dataclasses.replace(
                        old, snapshot=dataclasses.replace(old.snapshot, recon=None, decoder=None))
                self._last_snap = len(self.log)
            elif isinstance(msg, protocol.Done):
                self.done_at = time.time()
            self.log.append(msg)
        if isinstance(msg, protocol.Done):
            self.ended.set()

    def recv(self, timeout: float | None):
        try:
            if timeout is None:
                return self.inbox.get()
            return self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            return None

    def since(self, cursor: int) -> tuple[list, int, float | None]:
        with self.lock:
            return self.log[cursor:], len(self.log), self.done_at


@ray.remote(concurrency_groups={"control": 1, "read": 2, "watch": 1})
class RunActor:
    """Runs, trained one at a time in a thread of this actor by the engine's one run loop.

    The scheduler gives an actor its next run once the last one ended, as a local worker
    process takes its next job: a new process would import torch again (~4 s of CPU,
    taken from the runs training beside it). Each run has its own message log; an ended
    run's log is kept ``KEEP_DONE_SECONDS`` (the app servers read its last messages; a
    later one asks the scheduler)."""

    def __init__(self, threads: int):
        warm_up(threads)                 # a warm actor waits here for its run (see Scheduler)
        self.channels: dict[str, QueueChannel] = {}
        self.dropped: set[str] = set()   # ended runs whose log was let go
        self.received: dict[str, int] = {}
        self.thread: threading.Thread | None = None

    @ray.method(concurrency_group="control")
    def start(self, start: protocol.StartJob) -> bool:
        """Train this run. A last run here has sent its ``Done`` (the scheduler reuses an
        actor only then): its thread is returning, waited for here."""
        if self.thread is not None:
            self.thread.join(timeout=60)
            if self.thread.is_alive():
                return False
        now = time.time()
        for rid, ch in list(self.channels.items()):
            if ch.done_at is not None and now - ch.done_at > KEEP_DONE_SECONDS:
                del self.channels[rid]
                self.received.pop(rid, None)
                self.dropped.add(rid)
        channel = self.channels.setdefault(start.run_id, QueueChannel())
        self.thread = threading.Thread(target=self._train, args=(start, channel), daemon=True,
                                       name="latent-explorer-train")
        self.thread.start()
        return True

    @staticmethod
    def _train(start: protocol.StartJob, channel: QueueChannel) -> None:
        run_job(start, channel)

    @ray.method(concurrency_group="control")
    def control(self, msg: protocol.Control) -> int:
        """Queue a control for its run's loop; returns how many that run has received (the
        runner's ``Progress.seq`` reaches it once this one is applied); 0: not this actor's run."""
        channel = self.channels.get(msg.run_id)
        if channel is None or channel.done_at is not None:
            return 0
        self.received[msg.run_id] = self.received.get(msg.run_id, 0) + 1
        channel.inbox.put(msg)
        return self.received[msg.run_id]

    @ray.method(concurrency_group="read")
    def poll(self, run_id: str, cursor: int) -> tuple[list, int, float | None] | None:
        """The run's messages from ``cursor`` on, the next cursor, and when the run ended
        (or None); None when this actor let that ended run's log go (nothing yet: its start
        is on its way)."""
        channel = self.channels.get(run_id)
        if channel is None:
            return None if run_id in self.dropped else ([], cursor, None)
        return channel.since(cursor)

    @ray.method(concurrency_group="watch")
    def outcome(self, run_id: str, wait: float = 0.0) -> protocol.Done | None:
        """The run's ``Done`` once it ended, waiting up to ``wait`` seconds for it (the
        scheduler keeps one such call open per run instead of asking again and again)."""
        channel = self.channels.get(run_id)
        if channel is None:          # its start is on its way (the next call finds it)
            time.sleep(min(wait, 0.2))
            return None
        channel.ended.wait(wait)
        log = channel.since(0)[0]
        return log[-1] if log and isinstance(log[-1], protocol.Done) else None

    @ray.method(concurrency_group="read")
    def pid(self) -> int:
        return os.getpid()


def _record_failure(spec: dict, reason: str) -> None:
    """Record a dead run as failed in its folder (its config and summary, whatever it saved
    before), so that the folder and the index say so, after a restart too."""
    start = spec["start"]
    try:
        store.save_failure(Path(start.run_dir), RunConfig.from_dict(start.config), reason, {
            "owner": spec["owner"], "owner_name": spec.get("owner_name", ""), "run_id": start.run_id,
            "created": spec.get("created")})
    except Exception:  # noqa: BLE001 - an unwritable folder: the scheduler still ends the run
        traceback.print_exc()


@ray.remote(num_cpus=0)
class Scheduler:
    """The cluster's one queue: round-robin over people (``quotas.next_queued``), per-owner
    caps, at most (cluster CPUs / CPUs per run) at once."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.queue: list[str] = []
        self.specs: dict[str, dict] = {}        # live runs: their StartJob and what lists show
        self.active: dict[str, object] = {}     # run id -> its actor
        self.checks: dict[str, asyncio.Future] = {}
        self.ended: dict[str, dict] = {}        # run id -> {status, reason, summary, at}
        self.to_kill: dict[str, tuple[float, object]] = {}   # ended runs' actors, killed later
        self.caps = {"queued": 12, "running": 2}
        self.warm: dict[str, object] = {}        # node id -> a warmed-up actor waiting for a run
        self.node_of: dict[str, str | None] = {}
        self._task = None
        self._nodes_at, self._nodes, self._resources = 0.0, [], {}

    def _cluster(self) -> tuple[list, dict]:
        """``ray.nodes()`` and ``ray.cluster_resources()``, asked at most every
        ``NODES_SECONDS`` (each is a call to the cluster's control store)."""
        if time.time() - self._nodes_at >= NODES_SECONDS:
            self._nodes, self._resources = ray.nodes(), ray.cluster_resources()
            self._nodes_at = time.time()
        return self._nodes, self._resources

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch_loop())

    # ------------------------------------------------------------ requests
    async def submit(self, spec: dict, caps: dict) -> str | None:
        """Queue a run; returns why not (a cap), or None."""
        self._ensure_loop()
        self.caps.update(caps)
        owner = spec["owner"]
        queued = sum(1 for r in self.queue if self.specs[r]["owner"] == owner)
        why = quotas.queued_refusal(queued, self.caps["queued"]) if owner else None
        if why:
            return why
        self.specs[spec["start"].run_id] = dict(spec, started=None)
        self.queue.append(spec["start"].run_id)
        self._schedule()
        return None

    async def control_queued(self, run_id: str, kind: str, value) -> str:
        """Apply a control to a queued run's options: "queued", else "active" or "gone"."""
        if run_id in self.queue:
            apply_to_options(self.specs[run_id]["start"].options, protocol.ControlKind(kind), value)
            return "queued"
        return "active" if run_id in self.active else "gone"

    async def drop(self, run_id: str) -> str:
        """Drop a queued run: "dropped", else "active" or "gone"."""
        if run_id in self.queue:
            self.queue.remove(run_id)
            self.specs.pop(run_id, None)
            return "dropped"
        return "active" if run_id in self.active else "gone"

    async def drop_owner(self, owner: str) -> list[str]:
        ids = [r for r in self.queue if self.specs[r]["owner"] == owner]
        for r in ids:
            await self.drop(r)
        return ids

    async def state(self) -> dict:
        """The queue in order, every live run (queued or active) and the recent outcomes."""
        self._ensure_loop()
        live = {r: {k: v for k, v in self.specs[r].items()} | {"active": r in self.active}
                for r in self.specs}
        return {"queue": list(self.queue), "live": live, "ended": dict(self.ended),
                "max_jobs": self._capacity()}

    # ------------------------------------------------------------ scheduling
    def _capacity(self) -> int:
        res = self._cluster()[1]
        n = sum(self._node_slots().values())
        if self.caps.get("max_jobs"):                # LATENT_EXPLORER_MAX_JOBS, when set: a bound
            n = min(n, int(self.caps["max_jobs"]))
        if self.caps.get("gpus") and res.get("GPU", 0) >= 1:
            n = min(n, int(res["GPU"]))
        return max(1, n)

    def _schedule(self) -> None:
        cap = self._capacity()
        while self.queue and len(self.active) < cap:
            running = quotas.running_by_owner(self.specs[r]["owner"] for r in self.active)
            nxt = quotas.next_queued(self.queue, lambda r: self.specs[r]["owner"], running, self.caps["running"])
            if nxt is None:
                return
            self.queue.remove(nxt)
            self._start(nxt)

    def _node_slots(self) -> dict[str, int]:
        """Runs each alive node may train at once: its CPUs / CPUs per run."""
        per_run = float(self.caps.get("cpus_per_run", 1.0))
        return {n["NodeID"]: int(n["Resources"].get("CPU", 0) // per_run)
                for n in self._cluster()[0] if n.get("Alive")}

    def _uses_gpus(self) -> bool:
        return bool(self.caps.get("gpus")) and self._cluster()[1].get("GPU", 0) >= 1

    def _new_actor(self, node: str | None):
        """A run actor, warming up. CPU runs: placed on ``node`` by this scheduler (which
        counts each node's runs, so the actor reserves no CPU and can be started before its
        run arrives); GPU runs: one GPU each, placed by Ray."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        threads = int(self.caps.get("threads", 1))
        opts = dict(namespace=self.namespace, lifetime="detached", max_restarts=0)
        if node is None:
            return RunActor.options(num_cpus=float(self.caps.get("cpus_per_run", 1.0)), num_gpus=1,
                                    **opts).remote(threads)
        return RunActor.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
            node, soft=False), **opts).remote(threads)

    def _start(self, run_id: str) -> None:
        spec = self.specs[run_id]
        spec["started"] = time.time()
        node = None
        try:
            if not self._uses_gpus():
                slots = self._node_slots()
                load = {n: sum(1 for r in self.active if self.node_of.get(r) == n) for n in slots}
                free = [n for n, c in slots.items() if c > load[n]]
                node = min(free, key=lambda n: (load[n] / slots[n], n not in self.warm)) if free else \
                    max(slots, key=lambda n: slots[n])
            actor = self.warm.pop(node, None) if node is not None else None
            actor = actor or self._new_actor(node)
            actor.start.remote(spec["start"])      # a reused actor's last run ended: it takes it
        except Exception as e:  # noqa: BLE001 - no node, or Ray refused: the run cannot start
            self._ended(run_id, Status.FAILED, f"could not start its Ray actor: {e}", None)
            return
        self.active[run_id] = actor
        self.node_of[run_id] = node
        spec["actor"] = actor

    def _refill(self) -> None:
        """One warm actor waiting on every node with a free slot (CPU runs): a run then
        starts in the time its data takes to load, not a process start-up. A node whose
        slots all train gets none: the actor of its next run to end is the warm one (a new
        process would take its start-up from the runs)."""
        if not self.caps.get("threads") or self._uses_gpus():
            return
        slots = self._node_slots()
        for node in list(self.warm):
            if node not in slots:
                ray.kill(self.warm.pop(node))
        for node, c in slots.items():
            load = sum(1 for r in self.active if self.node_of.get(r) == node)
            if c > load and node not in self.warm:
                self.warm[node] = self._new_actor(node)

    def _reuse(self, actor, node: str | None) -> bool:
        """Keep an actor whose run ended as its node's warm actor (True), if the node has none."""
        if node is None or node in self.warm or node not in self._node_slots() or self._uses_gpus():
            return False
        self.warm[node] = actor
        return True

    async def configure(self, caps: dict) -> None:
        """An app server's settings (the last one to connect wins); starts the warm actors."""
        self._ensure_loop()
        self.caps.update(caps)

    async def warm_ready(self, timeout: float) -> bool:
        """Wait until a warm actor is up on every node (an app server's start-up)."""
        self._ensure_loop()
        t_end = time.time() + timeout
        while time.time() < t_end:
            self._refill()
            try:
                await asyncio.wait_for(asyncio.gather(*[a.pid.remote() for a in self.warm.values()]),
                                       max(0.1, t_end - time.time()))
                return True
            except asyncio.TimeoutError:
                return False
            except ray.exceptions.RayActorError:
                self.warm = {n: a for n, a in self.warm.items() if a is not None}
                await asyncio.sleep(0.2)
        return False

    async def close(self) -> int:
        """End the warm actors and every live run's actor (an operator's clean-up)."""
        actors = list(self.warm.values()) + list(self.active.values())
        for a in actors:
            ray.kill(a)
        self.warm.clear()
        self.queue.clear()
        return len(actors)

    def _ended(self, run_id: str, status, reason, summary) -> None:
        started = (self.specs.get(run_id) or {}).get("started")
        self.ended[run_id] = {"status": str(status), "reason": reason, "summary": summary,
                              "started": started, "at": time.time()}
        self.active.pop(run_id, None)
        self.node_of.pop(run_id, None)
        self.checks.pop(run_id, None)
        self.specs.pop(run_id, None)

    async def _watch_loop(self) -> None:
        while True:
            try:
                self._watch()
                self._schedule()
                self._refill()
            except Exception:  # noqa: BLE001 - the scheduler must outlive any bug
                traceback.print_exc()
            await asyncio.sleep(WATCH_SECONDS)

    def _watch(self) -> None:
        now = time.time()
        for rid, actor in list(self.active.items()):
            fut = self.checks.get(rid)
            if fut is None:
                self.checks[rid] = asyncio.wrap_future(actor.outcome.remote(rid, OUTCOME_WAIT).future())
                continue
            if not fut.done():
                continue
            self.checks.pop(rid)
            try:
                done = fut.result()
            except ray.exceptions.RayActorError as e:
                why = _death_reason(e)
                _record_failure(self.specs[rid], f"{DIED}{why}")
                self._ended(rid, Status.FAILED, f"{DIED}{why}", None)
                continue
            except Exception as e:  # noqa: BLE001 - any other error reading it: treat as failed
                _record_failure(self.specs[rid], f"{DIED} ({type(e).__name__}: {e})")
                self._ended(rid, Status.FAILED, f"{DIED} ({type(e).__name__}: {e})", None)
                continue
            if done is not None:
                node = self.node_of.get(rid)
                self._ended(rid, done.status, done.reason, done.summary)
                if not self._reuse(actor, node):
                    self.to_kill[rid] = (now + KEEP_DONE_SECONDS, actor)
        for rid, (when, actor) in list(self.to_kill.items()):
            if when <= now:
                del self.to_kill[rid]
                ray.kill(actor)
        for rid, e in list(self.ended.items()):
            if now - e["at"] > KEEP_ENDED_SECONDS:
                del self.ended[rid]


def _death_reason(e: BaseException) -> str:
    text = str(e)
    for hint in ("SIGKILL", "killed", "OOM", "out of memory", "node", "exit"):
        if hint.lower() in text.lower():
            first = next((ln.strip() for ln in text.splitlines() if hint.lower() in ln.lower()), "")
            return f" ({first[:200]})" if first else ""
    return ""
