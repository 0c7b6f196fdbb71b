"""The app's settings, in one place: environment variables with documented defaults.

| variable                                  | default            | meaning |
|-------------------------------------------|--------------------|---------|
| ``LATENT_EXPLORER_RUNS``                  | ``runs/``          | folder of users' runs (shipped runs: ``trained/``) |
| ``LATENT_EXPLORER_MAX_JOBS``              | number of cores    | training jobs running at once; others queue (round-robin over people) |
| ``LATENT_EXPLORER_MAX_RUN_SECONDS``       | 1800               | a run is stopped (and saved) after this long |
| ``LATENT_EXPLORER_TORCH_THREADS``         | 1                  | torch threads per worker process |
| ``LATENT_EXPLORER_DEVICE``                | ``auto``           | where workers train: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` |
| ``LATENT_EXPLORER_SNAPSHOT_SECONDS``      | 1.0                | a live snapshot (latent, reconstructions) this often |
| ``LATENT_EXPLORER_UPLOAD_MB``             | 50                 | largest file a visitor may upload (data, images, run zips) |
| ``LATENT_EXPLORER_DATASET_MB``            | 1024               | largest dataset a run may read, unpacked (full MNIST: 52 MiB) |
| ``LATENT_EXPLORER_RUN_MEMORY_MB``         | (see meaning)      | memory one run may use (its whole worker process); refused before it starts when its estimate is over, failed with "memory budget exceeded" if it grows past. Default: (¾ of the machine's memory − 1 GiB for the server) / runs at once; the CLI: 90% of the memory available |
| ``LATENT_EXPLORER_NEW_OWNERS_PER_MINUTE`` | 30                 | new anonymous owners (fresh cookies, private windows) one client address may make a minute, in bursts of twice that (60 browsers behind one school router join at once) |
| ``LATENT_EXPLORER_MAX_FEATURES``          | 16384              | values per example an own data file may hold (an image's H×W×C, a table's columns; 64×64×4) |
| ``LATENT_EXPLORER_MAX_EXAMPLES``          | 1000000            | examples (images, table rows) an own data file may hold |
| ``LATENT_EXPLORER_MAX_RUNNING_PER_OWNER`` | 2                  | runs one person may train at once (others wait in the queue) |
| ``LATENT_EXPLORER_MAX_QUEUED_PER_OWNER``  | 12                 | runs one person may have waiting in the queue |
| ``LATENT_EXPLORER_MAX_QUEUED``            | 240                | runs waiting in the queue in all (a class of 60 with four each); the next is refused with a message |
| ``LATENT_EXPLORER_MAX_RUNS_PER_OWNER``    | 200                | runs one person may keep on this server (live and saved) |
| ``LATENT_EXPLORER_DISK_MB_PER_OWNER``     | 2048               | disk one person's runs and uploads may use |
| ``LATENT_EXPLORER_DELETE_ANY``            | 0                  | 1: anyone may rename and delete any user's run |
| ``LATENT_EXPLORER_DATA``                  | ``~/.cache/latent-explorer`` | where MNIST / Fashion-MNIST are cached; paths typed in the app may point inside it |
| ``LATENT_EXPLORER_DATA_DIRS``             | (none)             | more folders, separated by ``:``, that paths typed in the app may point into |
| ``LATENT_EXPLORER_TEACHERS``              | (none)             | with a login: e-mail addresses, separated by ``,``, of users who may create classes |
| ``LATENT_EXPLORER_TEACHER_CLAIM``         | (none)             | with a login: ``claim=value`` (e.g. ``role=teacher``): users whose ID token has it may create classes |
| ``LATENT_EXPLORER_ENGINE``                | ``local``          | where runs train: ``local`` (worker processes of this server) or ``ray`` (a Ray cluster: the README's "Scaling out") |
| ``RAY_ADDRESS``                           | (none)             | with ``ray``: the cluster (``host:6379``); none: the one ``ray start`` made on this machine, else a new local one |
| ``LATENT_EXPLORER_RAY_NAMESPACE``         | ``latent-explorer``| with ``ray``: the Ray namespace of the scheduler and run actors (app servers that share runs share it) |
| ``LATENT_EXPLORER_RAY_CPUS_PER_RUN``      | 1                  | with ``ray``: CPUs each run's actor reserves; the scheduler runs (cluster CPUs / this) at once |

Teacher roles: with neither teacher setting, anyone may create a class (and becomes its
teacher by holding its key, :mod:`explorer.classroom.classes`); with either, only the users they name.

"One person" is an owner: a browser (a cookie that survives reloads and new tabs) or,
with a login, the user. Read once per call (cheap), so tests can change them with
``monkeypatch.setenv``. This is the only module that reads the environment; it imports
nothing of ``explorer`` but the leaf :mod:`explorer.paths`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .paths import INSTALLED, PROJECT_ROOT

MB = 2**20


def _number(name: str, default, lo, hi, cast=int):
    """The environment variable ``name`` as a number in [lo, hi] (``default`` when unset)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        v = cast(raw)
    except ValueError:
        kind = "a whole number" if cast is int else "a number"
        raise ValueError(f"{name}={raw!r}: expected {kind}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v}: must lie in [{lo}, {hi}]")
    return v


def _int(name: str, default: int, lo: int, hi: int) -> int:
    return _number(name, default, lo, hi, int)


def _float(name: str, default: float, lo: float, hi: float) -> float:
    return _number(name, default, lo, hi, float)


def _device(name: str, given: str | None = None) -> str:
    raw = (given if given is not None else os.environ.get(name) or "auto").strip().lower()
    if raw in ("auto", "cpu", "cuda") or (raw.startswith("cuda:") and raw[5:].isdigit()):
        return raw
    where = f"{name}={raw!r}" if given is None else f"device {raw!r}"
    raise ValueError(f"{where}: expected auto, cpu, cuda or cuda:N")


def device(given: str | None = None) -> str:
    """A device named by a person (``--device``, ``device=``), else ``LATENT_EXPLORER_DEVICE``,
    checked: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    return _device("LATENT_EXPLORER_DEVICE", given)


def _choice(name: str, choices: tuple[str, ...]) -> str:
    raw = (os.environ.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ValueError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


@dataclass(frozen=True)
class Settings:
    runs_dir: Path
    max_jobs: int
    max_run_seconds: float
    torch_threads: int
    device: str
    snapshot_seconds: float
    upload_mb: int
    dataset_mb: int
    max_running_per_owner: int
    max_queued_per_owner: int
    max_runs_per_owner: int
    disk_mb_per_owner: int
    delete_any: bool
    data_dir: Path
    data_dirs: tuple[Path, ...]
    teachers: tuple[str, ...] = ()
    teacher_claim: tuple[str, str] | None = None
    max_jobs_set: bool = False       # LATENT_EXPLORER_MAX_JOBS was given (the Ray backend's bound)
    engine: str = "local"
    ray_address: str = ""
    ray_namespace: str = "latent-explorer"
    ray_cpus_per_run: float = 1.0
    max_features: int = 16_384
    run_memory_mb: int | None = None
    new_owners_per_minute: int = 30
    max_examples: int = 1_000_000
    max_queued: int = 240

    @property
    def upload_bytes(self) -> int:
        return self.upload_mb * MB

    @property
    def dataset_bytes(self) -> int:
        return self.dataset_mb * MB

    @property
    def disk_bytes_per_owner(self) -> int:
        return self.disk_mb_per_owner * MB

    @property
    def allowed_data_roots(self) -> tuple[Path, ...]:
        """Folders that a path typed in the app may point into."""
        return (self.data_dir,) + self.data_dirs


def runs_dir() -> Path:
    """Where users' runs live: ``$LATENT_EXPLORER_RUNS`` or ``./runs`` beside the project
    (an installed package: in the current folder)."""
    default = Path.cwd() / "runs" if INSTALLED else PROJECT_ROOT / "runs"
    return Path(os.environ.get("LATENT_EXPLORER_RUNS", default))


def data_dir() -> Path:
    """Folder for downloaded datasets: ``$LATENT_EXPLORER_DATA`` or ``~/.cache/latent-explorer``."""
    env = os.environ.get("LATENT_EXPLORER_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "latent-explorer"


def get() -> Settings:
    extra = tuple(Path(p).expanduser() for p in os.environ.get("LATENT_EXPLORER_DATA_DIRS", "").split(":")
                  if p.strip())
    return Settings(
        runs_dir=runs_dir(),
        max_jobs=_int("LATENT_EXPLORER_MAX_JOBS", os.cpu_count() or 1, 1, 256),
        max_run_seconds=_float("LATENT_EXPLORER_MAX_RUN_SECONDS", 1800.0, 1.0, 7 * 24 * 3600.0),
        torch_threads=_int("LATENT_EXPLORER_TORCH_THREADS", 1, 1, 256),
        device=_device("LATENT_EXPLORER_DEVICE"),
        snapshot_seconds=_float("LATENT_EXPLORER_SNAPSHOT_SECONDS", 1.0, 0.05, 60.0),
        upload_mb=_int("LATENT_EXPLORER_UPLOAD_MB", 50, 1, 4096),
        dataset_mb=_int("LATENT_EXPLORER_DATASET_MB", 1024, 1, 65_536),
        max_running_per_owner=_int("LATENT_EXPLORER_MAX_RUNNING_PER_OWNER", 2, 1, 256),
        max_queued_per_owner=_int("LATENT_EXPLORER_MAX_QUEUED_PER_OWNER", 12, 1, 10_000),
        max_runs_per_owner=_int("LATENT_EXPLORER_MAX_RUNS_PER_OWNER", 200, 1, 1_000_000),
        disk_mb_per_owner=_int("LATENT_EXPLORER_DISK_MB_PER_OWNER", 2048, 1, 10_000_000),
        max_jobs_set=bool(os.environ.get("LATENT_EXPLORER_MAX_JOBS", "").strip()),
        delete_any=os.environ.get("LATENT_EXPLORER_DELETE_ANY", "0") == "1",
        data_dir=data_dir(),
        data_dirs=extra,
        teachers=tuple(e.strip().lower() for e in os.environ.get("LATENT_EXPLORER_TEACHERS", "").split(",")
                       if e.strip()),
        teacher_claim=_claim("LATENT_EXPLORER_TEACHER_CLAIM"),
        engine=_choice("LATENT_EXPLORER_ENGINE", ("local", "ray")),
        ray_address=os.environ.get("RAY_ADDRESS", "").strip(),
        ray_namespace=os.environ.get("LATENT_EXPLORER_RAY_NAMESPACE", "").strip() or "latent-explorer",
        ray_cpus_per_run=_float("LATENT_EXPLORER_RAY_CPUS_PER_RUN", 1.0, 0.01, 256.0),
        max_features=_int("LATENT_EXPLORER_MAX_FEATURES", 16_384, 2, 1_000_000),
        max_examples=_int("LATENT_EXPLORER_MAX_EXAMPLES", 1_000_000, 4, 100_000_000),
        run_memory_mb=_int("LATENT_EXPLORER_RUN_MEMORY_MB", None, 64, 16 * 2**20),
        new_owners_per_minute=_int("LATENT_EXPLORER_NEW_OWNERS_PER_MINUTE", 30, 1, 100_000),
        max_queued=_int("LATENT_EXPLORER_MAX_QUEUED", 240, 1, 1_000_000),
    )


def _claim(name: str) -> tuple[str, str] | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    claim, sep, value = raw.partition("=")
    if not sep or not claim.strip() or not value.strip():
        raise ValueError(f"{name}={raw!r}: expected claim=value, e.g. role=teacher")
    return claim.strip(), value.strip()


def environment() -> dict[str, str]:
    """This process's environment as it is now, for a worker process to take at its start
    (:func:`adopt_environment`): a worker forked from a fork server would otherwise have the
    fork server's, as it was when that started."""
    return dict(os.environ)


def adopt_environment(environ: dict[str, str]) -> None:
    """Make ``environ`` (:func:`environment` of the server) this process's environment."""
    os.environ.clear()
    os.environ.update(environ)
