"""The Ray backend's app-server side: :class:`RayBackend` (``LATENT_EXPLORER_ENGINE=ray``).

The engine (:class:`~explorer.engine.server.Engine`: the registry of :class:`Job`
records, ownership through :func:`explorer.runs.refusal`, caps on runs and disk per
owner, views, the runs folder's index) is the same; its runs train on a cluster: the
cluster's :class:`~explorer.engine.ray_actors.Scheduler` owns the queue and starts one detached
:class:`~explorer.engine.ray_actors.RunActor` per run (see :mod:`.ray_actors`). This
backend's dispatcher thread reads the scheduler's state and each live run's message log
every ``POLL_SECONDS`` and hands the messages to the engine (:meth:`Engine.apply`), as
the local backend does with its pipes.

Several app servers (one ``RayEngine`` each) share one cluster and one runs folder:
every server sees every live run (from the scheduler), shows it (from its actor's log)
and controls it where ownership allows. A run lives on its actor, not in the server
that started it: shutting a server down (or killing it) stops nothing, and a server
that starts again finds its runs live on the cluster.

A cluster that cannot be reached when the engine starts leaves it *unavailable*:
saved runs still list and open, and every submit says why nothing can train
(:attr:`RayBackend.unavailable`, which the engine reports as ``Engine.unavailable``). It never falls back to local workers.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from .. import settings as settings_mod
from ..config import RunConfig
from ..runs import Status
from ..store import METRICS
from . import protocol
from .backend import Backend
from .errors import EngineError
from .record import Job, apply_to_options

POLL_SECONDS = 0.1            # how often live runs' logs are read
STATE_SECONDS = 0.5           # how often the scheduler's queue and live runs are read (a submit
                              # or a control here asks it at once; each read costs it a copy of
                              # every live run's spec)
CALL_TIMEOUT = 10.0           # seconds a call to the scheduler or a run actor may take
START_TIMEOUT = 120.0         # ... the first call to a new scheduler (its process starts first)
PROBE_TIMEOUT = 3.0           # seconds to reach the cluster's address at start-up
ROOT = str(Path(__file__).resolve().parents[2])
OBJECT_STORE_BYTES = 100_000_000     # a local cluster started here: a small object store


def _cluster_file_address() -> str | None:
    """The address of the cluster ``ray start`` made on this machine, if any."""
    try:
        return Path("/tmp/ray/ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def _reachable(address: str) -> str | None:
    """Why ``host:port`` cannot be reached (None when it can): ``ray.init`` would wait
    minutes on an address where no cluster listens."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT):
            return None
    except (OSError, ValueError) as e:
        return str(e) or type(e).__name__


def connect(address: str, namespace: str) -> None:
    """Connect this process to the cluster at ``address`` (``""``: the one ``ray start``
    made here, else a new local one, with a small object store). Raises EngineError."""
    try:
        import ray                          # heavy and optional: only with this backend
    except ImportError:
        raise EngineError("LATENT_EXPLORER_ENGINE=ray needs Ray: pip install -r requirements-ray.txt") from None
    if ray.is_initialized():
        return
    target = address
    if not target and (here := _cluster_file_address()) and not _reachable(here):
        target = here                 # the cluster `ray start` made on this machine
    if target and not target.startswith("ray://"):
        why = _reachable(target)
        if why:
            raise EngineError(
                f"cannot reach the Ray cluster at {target} ({why}). Start it (`ray start --head`), "
                f"fix RAY_ADDRESS, or set LATENT_EXPLORER_ENGINE=local; then restart the app")
    from ray.job_config import JobConfig   # (ray: imported above, only with this backend)
    common = dict(namespace=namespace, log_to_driver=False, configure_logging=False,
                  job_config=JobConfig(code_search_path=[ROOT]))
    try:
        if target:
            ray.init(address=target, **common)
        else:                      # no cluster: a local one, sized for this workload
            ray.init(object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False, **common)
    except Exception as e:  # noqa: BLE001 - any failure to connect is the same message
        raise EngineError(f"cannot connect to the Ray cluster at {target or 'a new local cluster'}: "
                          f"{type(e).__name__}: {e}. Check RAY_ADDRESS, or set "
                          f"LATENT_EXPLORER_ENGINE=local") from None


class _RunHandle:
    """A live run's actor as the engine's bookkeeping sees a worker: ``job`` and ``send``."""

    def __init__(self, actor, job: Job):
        self.actor, self.job = actor, job
        self.ready, self.dead = True, False

    def send(self, msg) -> bool:
        """Send a control without waiting (an actor still starting takes it once it is up;
        one that died is found by the next poll). The run's ``Progress.seq`` counts the
        controls of every server: ours is the next after those it has applied."""
        try:
            self.actor.control.remote(msg)
        except Exception:  # noqa: BLE001 - no cluster: the caller says the worker is gone
            return False
        self.job.ctl_sent = max(self.job.ctl_sent, self.job.progress.seq)   # the engine adds 1
        return True


class RayBackend(Backend):
    """Runs an engine's queue on a Ray cluster (see the module's doc): ``address`` (default
    ``RAY_ADDRESS``) and ``namespace`` (default ``LATENT_EXPLORER_RAY_NAMESPACE``)."""

    name = "ray"

    def __init__(self, *, address: str | None = None, namespace: str | None = None):
        s = settings_mod.get()
        self.address = s.ray_address if address is None else address
        self.namespace = namespace or s.ray_namespace
        self.cpus_per_run = s.ray_cpus_per_run
        self.unavailable: str | None = None
        self.scheduler = None                       # the cluster's Scheduler actor
        self._pids: dict[str, object] = {}
        self._cursor: dict[str, int] = {}
        self._ended_seen: dict[str, dict] = {}
        self._submitted: dict[str, float] = {}      # run id -> when the scheduler took it
        self._dropped: set[str] = set()             # queued runs dropped here (a stale state may list them)
        self._inflight: dict[str, tuple] = {}       # run id -> (handle, its poll in flight)
        self._state_at, self._state_now = 0.0, True
        self._sync_lock = threading.Lock()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self, engine) -> None:
        """Connect to the cluster (or say why not: :attr:`unavailable`), hand the scheduler
        this server's settings, list the runs live on the cluster, start following them."""
        super().start(engine)
        try:
            connect(self.address, self.namespace)
            self.scheduler = self._scheduler()
            # this server's settings (it warms an actor on every node); a new scheduler's
            # process starts first, hence the longer wait
            self._call(self.scheduler.configure.remote(self._caps()), START_TIMEOUT)
        except EngineError as e:
            self.unavailable, self.scheduler = str(e), None
        if self.scheduler is not None:
            self._sync()                    # runs live on the cluster are listed from the start
        self._thread = threading.Thread(target=self._dispatch_loop, name="latent-explorer-dispatch",
                                        daemon=True)
        self._thread.start()

    def _scheduler(self):
        from .ray_actors import SCHEDULER_NAME, Scheduler   # imports ray: only with this backend
        return Scheduler.options(name=SCHEDULER_NAME, namespace=self.namespace, lifetime="detached",
                                 get_if_exists=True).remote(self.namespace)

    def _call(self, ref, timeout: float = CALL_TIMEOUT):
        import ray                          # heavy and optional: only with this backend
        try:
            return ray.get(ref, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - the cluster went away: say so, plainly
            raise EngineError(f"the Ray cluster did not answer ({type(e).__name__}: {e})") from None

    def _require(self) -> None:
        if self.unavailable:
            raise EngineError(self.unavailable)
        if self.engine.closed:
            raise EngineError("the engine is shut down")

    # ------------------------------------------------------------ submit, controls
    def enqueue(self, job: Job) -> None:
        self._require()
        start = protocol.StartJob(job.run_id, job.config.to_dict(), str(job.run_dir), job.options)
        spec = {"start": start, "owner": job.owner, "owner_name": job.owner_name,
                "created": job.created, "threads": self.engine.torch_threads}
        why = self._call(self.scheduler.submit.remote(spec, self._caps()))
        if why:
            raise EngineError(why)
        self._submitted[job.run_id] = time.time()
        self._state_now = True

    def _caps(self) -> dict:
        """The scheduler's settings, from this server's."""
        eng = self.engine
        return {"queued": eng.quotas.max_queued_per_owner, "running": eng.quotas.max_running_per_owner,
                "cpus_per_run": self.cpus_per_run, "gpus": eng.device != "cpu",
                "max_jobs": eng.max_jobs_bound, "threads": eng.torch_threads}

    def control_queued(self, job: Job, kind: protocol.ControlKind, value) -> bool:
        self._require()
        where = self._call(self.scheduler.control_queued.remote(job.run_id, str(kind), value))
        if where == "queued":
            apply_to_options(job.options, kind, value)
            return True
        self._attach(job)       # it started meanwhile: the actor takes it
        return False

    def drop_queued(self, run_id: str, job: Job | None) -> bool:
        if self.scheduler is not None and job is not None and job.status == Status.QUEUED:
            if self._call(self.scheduler.drop.remote(run_id)) == "active":
                self._attach(job)
                return False
        self._dropped.add(run_id)
        return True

    def drop_owner(self, owner: str) -> list[str]:
        if self.scheduler is None:
            return []
        ids = self._call(self.scheduler.drop_owner.remote(owner))
        self._dropped.update(ids)
        return ids

    def _attach(self, job: Job, actor=None) -> None:
        """Follow a run's actor from now on (its log is read from the start); ``actor``:
        its handle, from the scheduler's state (asked for when not given)."""
        if job.worker is not None:
            return
        if actor is None:
            actor = self._call(self.scheduler.state.remote())["live"].get(job.run_id, {}).get("actor")
            if actor is None:
                return                      # not started yet: the next sync attaches it
        job.worker = _RunHandle(actor, job)
        self._pids[job.run_id] = actor.pid.remote()
        if job.status == Status.QUEUED:
            job.transition(Status.STARTING)
        self._cursor.setdefault(job.run_id, 0)

    # ------------------------------------------------------------ reads
    def workers(self) -> list[dict]:
        """One entry per run this server follows on the cluster: its actor's process id
        (on the node that runs it), and its run."""
        import ray                          # heavy and optional: only with this backend
        with self.engine._lock:
            followed = [r for r, j in self.engine._jobs.items() if j.worker is not None]
            refs = {r: self._pids.get(r) for r in followed}
        out = []
        for r, ref in refs.items():
            try:
                pid = ray.get(ref, timeout=CALL_TIMEOUT) if ref is not None else None
            except Exception:  # noqa: BLE001 - a dead actor has no pid
                pid = None
            out.append({"pid": pid, "alive": pid is not None, "ready": True, "run_id": r})
        return out

    def wait_workers_ready(self, timeout: float = 30.0) -> bool:
        """Block until a warmed-up run actor waits on every node (False on timeout)."""
        if self.scheduler is None:
            return False
        import ray                          # heavy and optional: only with this backend
        try:
            return bool(ray.get(self.scheduler.warm_ready.remote(timeout), timeout=timeout + CALL_TIMEOUT))
        except Exception:  # noqa: BLE001 - no answer in time: not ready
            return False

    @property
    def dispatching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------ the dispatcher
    def _dispatch_loop(self) -> None:
        while not self._stopping:
            if self.scheduler is None:
                return
            try:
                self._sync()
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bug
                traceback.print_exc()
                time.sleep(1.0)
            time.sleep(POLL_SECONDS / 2)

    def _adopt(self, run_id: str, meta: dict) -> Job:
        """A record for a live run this server did not submit (another server's, or one
        from before a restart)."""
        start: protocol.StartJob = meta["start"]
        o = start.options
        job = Job(run_id=run_id, owner=meta["owner"], owner_name=meta["owner_name"],
                  config=RunConfig.from_dict(start.config), run_dir=Path(start.run_dir), options=o,
                  created=meta["created"], beta=o.beta, lr=o.lr)
        self.engine._jobs[run_id] = job
        return job

    def _sync(self) -> None:
        """One pass: the scheduler's queue and live runs (every ``STATE_SECONDS``, or at once
        after a submit or a run's end), then every followed run's new messages."""
        with self._sync_lock:
            if time.time() - self._state_at >= STATE_SECONDS or self._state_now:
                self._read_state()
            self._poll_runs()

    def _read_state(self) -> None:
        """The scheduler's queue, live runs and recent outcomes, into the engine's records."""
        import ray                          # heavy and optional: only with this backend
        eng = self.engine
        asked = time.time()
        self._state_now = False
        state = ray.get(self.scheduler.state.remote(), timeout=CALL_TIMEOUT)
        self._state_at = asked
        with eng._lock:
            eng.max_jobs = state["max_jobs"]
            queue = list(state["queue"])       # runs this server queued since it asked: last
            eng._queue = queue + [r for r in eng._queue if r not in queue and r in eng._jobs
                                  and eng._jobs[r].status == Status.QUEUED
                                  and self._submitted.get(r, 0.0) >= asked]
            for rid, meta in state["live"].items():
                if rid in self._dropped:
                    continue
                job = eng._jobs.get(rid)
                if job is None or job.from_disk:
                    job = self._adopt(rid, meta)
                if meta["active"] and job.worker is None and job.status.live:
                    self._attach(job, meta.get("actor"))
                    job.started = job.started or meta.get("started")
            for rid, job in list(eng._jobs.items()):
                if job.status.live and rid not in state["live"]:
                    done = state["ended"].get(rid)
                    if done is not None and job.worker is None:    # it ran between two reads
                        self._end_unfollowed(job, done)
                    elif done is None and job.status == Status.QUEUED \
                            and self._submitted.get(rid, 0.0) < asked:
                        eng._jobs.pop(rid, None)        # dropped through another server
            self._ended_seen = state["ended"]

    def _poll_runs(self) -> None:
        """Every followed run's new messages (one poll in flight per run), applied by the engine."""
        import ray                          # heavy and optional: only with this backend
        eng = self.engine
        with eng._lock:
            followed = {r: j.worker for r, j in eng._jobs.items()
                        if j.worker is not None and j.status.live}
        for r, w in followed.items():         # one poll in flight per run (an actor still
            if r not in self._inflight:       # starting answers once it is up)
                self._inflight[r] = (w, w.actor.poll.remote(r, self._cursor.get(r, 0)))
        refs = [ref for _, ref in self._inflight.values()]
        ready = set(ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)[0]) if refs else set()
        for rid, (w, ref) in list(self._inflight.items()):
            if ref not in ready:
                continue
            del self._inflight[rid]
            try:
                got = ray.get(ref, timeout=CALL_TIMEOUT)
            except ray.exceptions.RayActorError:
                got = None
            if got is None:                    # its actor died, or holds the run no more
                self._lost(rid, w)
                continue
            msgs, cursor, done_at = got
            with eng._lock:
                self._cursor[rid] = cursor
                job = w.job
                for m in msgs:
                    eng.apply(w, m)
                if job is not None and job.progress.seq >= job.ctl_sent:
                    self._follow_params(job)
                if done_at is not None and job is not None and job.status.ended:
                    job.ended = done_at          # when it ended, not when this server read it
                    self._state_now = True       # the scheduler starts the next run now

    @staticmethod
    def _follow_params(job: Job) -> None:
        """β and lr as the run applies them: another server may have changed them."""
        for ev in job.progress.events:
            if ev.get("param") == "beta":
                job.beta = ev["value"]
            elif ev.get("param") == "lr":
                job.lr = ev["value"]

    def _end_with(self, job: Job, done: dict) -> None:
        self.engine.apply(_RunHandle(None, job) if job.worker is None else job.worker,
                          protocol.Done(job.run_id, Status(done["status"]), done["reason"], done["summary"]))

    def _lost(self, run_id: str, handle: _RunHandle) -> None:
        """A followed actor is gone: its outcome if the scheduler knows it, else failed."""
        from .ray_actors import DIED        # imports ray: only with this backend
        with self.engine._lock:
            job = handle.job
            if job is None or job.status.ended:
                return
            done = self._ended_seen.get(run_id)
            if done is None:
                try:
                    done = self._call(self.scheduler.state.remote())["ended"].get(run_id)
                except EngineError:
                    done = None
            if done is None:
                done = {"status": str(Status.FAILED), "reason": DIED, "summary": None}
            job.worker = None
            self._end_unfollowed(job, done)

    def _end_unfollowed(self, job: Job, done: dict) -> None:
        """End a run whose last messages this server did not read (it started and ended
        between two reads of the scheduler, or its actor is gone): its outcome from the
        scheduler, its rows from its folder."""
        self._end_with(job, done)
        job.started = job.started or done.get("started")
        job.ended = done.get("at", job.ended)          # when the scheduler saw it end
        if done["summary"] and (job.run_dir / METRICS).is_file():
            job.clear_rows()
            job.rows_on_disk = True

    # ------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop following the cluster. Runs go on (they live on their actors)."""
        self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def ray_cli(*args: str) -> str:
    """Run the ``ray`` command (the one next to this Python); returns its output, raises on failure."""
    exe = Path(sys.executable).with_name("ray")
    out = subprocess.run([str(exe) if exe.exists() else "ray", *args], capture_output=True, text=True,
                         timeout=180)
    if out.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out.stdout


def start_local_cluster(temp_dir: Path, *, nodes: int = 2, cpus_per_node: int = 1, port: int | None = None) -> str:
    """A cluster on this machine: ``ray start --head`` and ``nodes - 1`` more raylets, each
    with ``cpus_per_node`` CPUs, a 100 MB object store and no dashboard (the tests and the
    benchmark; ``.ci/run`` starts the same with the same settings). Returns ``host:port``."""
    if port is None:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
    small = ["--num-cpus", str(cpus_per_node), "--object-store-memory", str(OBJECT_STORE_BYTES),
             "--disable-usage-stats"]
    ray_cli("start", "--head", "--port", str(port), "--include-dashboard", "false",
            "--temp-dir", str(temp_dir), *small)
    address = f"{socket.gethostbyname(socket.gethostname())}:{port}"
    for _ in range(nodes - 1):
        ray_cli("start", "--address", address, *small)
    return address


def stop_local_cluster() -> None:
    """``ray stop``: ends the Ray processes of this machine."""
    ray_cli("stop", "--force")
