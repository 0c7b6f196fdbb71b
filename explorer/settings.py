"""The app's settings, in one place: environment variables with documented defaults.

| variable                               | default            | meaning                                          |
|----------------------------------------|--------------------|--------------------------------------------------|
| ``LATENT_EXPLORER_RUNS``               | ``runs/``          | folder of users' runs (shipped runs: ``trained/``)|
| ``LATENT_EXPLORER_MAX_JOBS``           | number of cores    | training jobs running at once; others queue (FIFO)|
| ``LATENT_EXPLORER_MAX_RUN_SECONDS``    | 1800               | a run is stopped (and saved) after this long      |
| ``LATENT_EXPLORER_TORCH_THREADS``      | 1                  | torch threads per worker process                  |
| ``LATENT_EXPLORER_SNAPSHOT_SECONDS``   | 1.0                | a live snapshot (latent, reconstructions) this often |
| ``LATENT_EXPLORER_UPLOAD_MB``          | 50                 | largest upload accepted (data, images, run zips)  |
| ``LATENT_EXPLORER_MAX_RUNS_PER_SESSION`` | 20               | runs one browser session may start                |
| ``LATENT_EXPLORER_DELETE_ANY``         | 0                  | 1: a session may delete runs it did not start     |
| ``LATENT_EXPLORER_DATA``               | ``~/.cache/latent-explorer`` | where MNIST / Fashion-MNIST are cached  |

Read once per call (cheap), so tests can change them with ``monkeypatch.setenv``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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


@dataclass(frozen=True)
class Settings:
    runs_dir: Path
    max_jobs: int
    max_run_seconds: float
    torch_threads: int
    snapshot_seconds: float
    upload_mb: int
    max_runs_per_session: int
    delete_any: bool

    @property
    def upload_bytes(self) -> int:
        return self.upload_mb * 2**20


def get() -> Settings:
    from .store import runs_root
    return Settings(
        runs_dir=runs_root(),
        max_jobs=_int("LATENT_EXPLORER_MAX_JOBS", os.cpu_count() or 1, 1, 256),
        max_run_seconds=_float("LATENT_EXPLORER_MAX_RUN_SECONDS", 1800.0, 1.0, 7 * 24 * 3600.0),
        torch_threads=_int("LATENT_EXPLORER_TORCH_THREADS", 1, 1, 256),
        snapshot_seconds=_float("LATENT_EXPLORER_SNAPSHOT_SECONDS", 1.0, 0.05, 60.0),
        upload_mb=_int("LATENT_EXPLORER_UPLOAD_MB", 50, 1, 4096),
        max_runs_per_session=_int("LATENT_EXPLORER_MAX_RUNS_PER_SESSION", 20, 1, 10_000),
        delete_any=os.environ.get("LATENT_EXPLORER_DELETE_ANY", "0") == "1",
    )
