"""The Ray backend's cluster side: one detached actor per run, and one scheduler actor.

:class:`RunActor` trains one run: the same :class:`~explorer.engine.worker.JobRunner`
(the same run loop) as a local worker process, in a thread of its own, talking through
a :class:`QueueChannel`: controls arrive in a queue the loop reads between two steps,
and every message the runner sends (the protocol's ``Started``, ``Rows``,
``SnapshotMsg``, ``Saving``, ``Done``) is kept in the actor's log. Each app server
reads that log from its own cursor (:meth:`RunActor.poll`), so any number of app
servers can show one live run, and one that attaches late (or after a restart) replays
it from the start. Controls and reads run in two concurrency groups, apart from the
training thread, so a pause or a β lands between two steps while the run trains.

:class:`Scheduler` (one per namespace, named, detached) owns the FIFO queue, the
per-owner caps on queued and running runs, and how many runs train at once on the
cluster: each node's CPUs divided by ``LATENT_EXPLORER_RAY_CPUS_PER_RUN`` (runs on GPUs:
one GPU each, placed by Ray). It places each CPU run on the least loaded node and keeps
one warmed-up actor waiting on every node (torch imported: a process start-up is ~4 s on a
small machine), so a run starts in the time its data takes to load; since the scheduler
counts each node's runs itself, those actors reserve no Ray CPU. It watches every run's
actor, and when one dies (killed, out of memory, its node lost) ends its run as
**failed** with the reason, and writes that into the run folder's summary (the last
epoch checkpoint stays). Runs are not resumed. Each actor trains one run and is ended
``KEEP_DONE_SECONDS`` after it.

Nothing here imports Streamlit or the app server's side (:mod:`.server`).
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import threading
import time
from pathlib import Path

import ray

from . import protocol as P
from .record import apply_to_options

SCHEDULER_NAME = "latent-explorer-scheduler"
KEEP_DONE_SECONDS = 3.0        # an ended run's actor lives this long, so the app servers read its
                               # last messages (a later one asks the scheduler)
KEEP_ENDED_SECONDS = 120.0     # the scheduler remembers an ended run's outcome this long
WATCH_SECONDS = 0.2            # the scheduler looks at its runs this often
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

    def send(self, msg) -> None:
        with self.lock:
            if isinstance(msg, P.SnapshotMsg):
                if self._last_snap is not None:
                    old = self.log[self._last_snap]
                    self.log[self._last_snap] = dataclasses.replace(
                        old, snapshot=dataclasses.replace(old.snapshot, recon=None, decoder=None))
                self._last_snap = len(self.log)
            elif isinstance(msg, P.Done):
                self.done_at = time.time()
            self.log.append(msg)

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


@ray.remote(concurrency_groups={"control": 1, "read": 2})
class RunActor:
    """One run, trained in a thread of this actor by the engine's one run loop."""

    def __init__(self, threads: int):
        from .worker import warm_up
        warm_up(threads)                 # a warm actor waits here for its run (see Scheduler)
        self.channel = QueueChannel()
        self.received = 0
        self.thread: threading.Thread | None = None

    @ray.method(concurrency_group="control")
    def start(self, start: P.StartJob) -> None:
        """Train this run (once: an actor trains one run, and is ended after it)."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._train, args=(start,), daemon=True,
                                           name="latent-explorer-train")
            self.thread.start()

    def _train(self, start: P.StartJob) -> None:
        from .worker import run_job
        run_job(start, self.channel)

    @ray.method(concurrency_group="control")
    def control(self, msg: P.Control) -> int:
        """Queue a control for the loop; returns how many this run has received (the
        runner's ``Progress.seq`` reaches it once this one is applied)."""
        self.received += 1
        self.channel.inbox.put(msg)
        return self.received

    @ray.method(concurrency_group="read")
    def poll(self, cursor: int) -> tuple[list, int, float | None]:
        """The messages from ``cursor`` on, the next cursor, and when the run ended (or None)."""
        return self.channel.since(cursor)

    @ray.method(concurrency_group="read")
    def outcome(self) -> P.Done | None:
        """The run's ``Done``, once it ended."""
        log, _, _ = self.channel.since(0)
        return log[-1] if log and isinstance(log[-1], P.Done) else None

    @ray.method(concurrency_group="read")
    def pid(self) -> int:
        return os.getpid()


def _record_failure(run_dir: str, reason: str) -> None:
    """Write a dead run's end into its folder's summary (if it saved an epoch)."""
    from .. import store
    try:
        summary = store.read_summary(Path(run_dir))
    except Exception:  # noqa: BLE001 - no checkpoint yet: nothing on disk to mark
        return
    if summary:
        summary.update(status=str(P.Status.FAILED), reason=reason)
        store.save_summary(Path(run_dir), summary)


@ray.remote(num_cpus=0)
class Scheduler:
    """The cluster's one queue: FIFO, per-owner caps, at most (cluster CPUs / CPUs per run) at once."""

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
        if owner and queued >= self.caps["queued"]:
            return (f"you already have {queued} runs waiting in the queue; the limit "
                    f"(LATENT_EXPLORER_MAX_QUEUED_PER_OWNER) is {self.caps['queued']}. "
                    f"Wait for one to start, or stop one")
        self.specs[spec["start"].run_id] = dict(spec, started=None)
        self.queue.append(spec["start"].run_id)
        self._schedule()
        return None

    async def control_queued(self, run_id: str, kind: str, value) -> str:
        """Apply a control to a queued run's options: "queued", else "active" or "gone"."""
        if run_id in self.queue:
            apply_to_options(self.specs[run_id]["start"].options, P.ControlKind(kind), value)
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
        res = ray.cluster_resources()
        n = sum(self._node_slots().values())
        if self.caps.get("max_jobs"):                # LATENT_EXPLORER_MAX_JOBS, when set: a bound
            n = min(n, int(self.caps["max_jobs"]))
        if self.caps.get("gpus") and res.get("GPU", 0) >= 1:
            n = min(n, int(res["GPU"]))
        return max(1, n)

    def _schedule(self) -> None:
        cap = self._capacity()
        while self.queue and len(self.active) < cap:
            running: dict[str, int] = {}
            for r in self.active:
                running[self.specs[r]["owner"]] = running.get(self.specs[r]["owner"], 0) + 1
            nxt = next((r for r in self.queue if not self.specs[r]["owner"]
                        or running.get(self.specs[r]["owner"], 0) < self.caps["running"]), None)
            if nxt is None:
                return
            self.queue.remove(nxt)
            self._start(nxt)

    def _node_slots(self) -> dict[str, int]:
        """Runs each alive node may train at once: its CPUs / CPUs per run."""
        per_run = float(self.caps.get("cpus_per_run", 1.0))
        return {n["NodeID"]: int(n["Resources"].get("CPU", 0) // per_run)
                for n in ray.nodes() if n.get("Alive")}

    def _uses_gpus(self) -> bool:
        return bool(self.caps.get("gpus")) and ray.cluster_resources().get("GPU", 0) >= 1

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
            actor.start.remote(spec["start"])
        except Exception as e:  # noqa: BLE001 - no node, or Ray refused: the run cannot start
            self._ended(run_id, P.Status.FAILED, f"could not start its Ray actor: {e}", None)
            return
        self.active[run_id] = actor
        self.node_of[run_id] = node
        spec["actor"] = actor

    def _refill(self) -> None:
        """One warm actor waiting on every node (CPU runs, once a first run was submitted):
        a run then starts in the time its data takes to load, not a process start-up."""
        if not self.caps.get("threads") or self._uses_gpus():
            return
        slots = self._node_slots()
        for node in list(self.warm):
            if node not in slots:
                ray.kill(self.warm.pop(node))
        for node, c in slots.items():
            if c > 0 and node not in self.warm:
                self.warm[node] = self._new_actor(node)

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
        self.ended[run_id] = {"status": str(status), "reason": reason, "summary": summary, "at": time.time()}
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
                import traceback
                traceback.print_exc()
            await asyncio.sleep(WATCH_SECONDS)

    def _watch(self) -> None:
        now = time.time()
        for rid, actor in list(self.active.items()):
            fut = self.checks.get(rid)
            if fut is None:
                self.checks[rid] = asyncio.wrap_future(actor.outcome.remote().future())
                continue
            if not fut.done():
                continue
            self.checks.pop(rid)
            try:
                done = fut.result()
            except ray.exceptions.RayActorError as e:
                why = _death_reason(e)
                _record_failure(self.specs[rid]["start"].run_dir, f"{DIED}{why}")
                self._ended(rid, P.Status.FAILED, f"{DIED}{why}", None)
                continue
            except Exception as e:  # noqa: BLE001 - any other error reading it: treat as failed
                self._ended(rid, P.Status.FAILED, f"{DIED} ({type(e).__name__}: {e})", None)
                continue
            if done is not None:
                self._ended(rid, done.status, done.reason, done.summary)
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
