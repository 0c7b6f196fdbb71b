"""The teacher's dashboard as plain data: one :class:`StudentRun` per student, read from the
engine's views (no Streamlit). The Class page draws it with :mod:`explorer.figures.classroom`.

Cheap by construction: one :meth:`~explorer.engine.Engine.view` per student's newest class
run (the engine copies what it holds; no file is read for a live run), rows thinned to a
trail and a curve of at most ``CURVE_POINTS`` points, the latent scatter subsampled to
``LATENT_POINTS`` codes: a 30-student refresh is a few thousand table rows. An ended run
does not change: its entry is kept (``ENDED_KEPT`` of them), since the engine re-reads an
older ended run's rows from its folder (a 30-student board read 30 CSV files every 2 s).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..rowlog import column
from .classes import Classroom, Klass

CURVE_POINTS = 40
LATENT_POINTS = 150
TRAIL_POINTS = 12
ENDED_KEPT = 512

_ENDED: "OrderedDict[str, tuple[Path, StudentRun]]" = OrderedDict()   # run id -> (folder, entry)
_ENDED_LOCK = threading.Lock()


@dataclass
class StudentRun:
    owner: str
    name: str
    run_id: str | None = None
    status: str = "no run yet"
    beta: float | None = None
    kl: float | None = None               # smoothed, of the last training rows
    recon: float | None = None
    epoch: float = 0.0
    kind: str = ""
    latent_dim: int = 0
    trail: list = field(default_factory=list)     # [(kl, recon)], oldest first
    curve: list = field(default_factory=list)     # [(step, recon, kl)]
    mu: np.ndarray | None = None                  # [n, 2] latent means (first two dims)
    labels: np.ndarray | None = None
    queue_position: int | None = None


def _smooth_tail(rows: list[dict], n: int) -> list[tuple[float, float]]:
    """The last rows' (KL, recon), an exponential moving average sampled at ``n`` points."""
    kl, recon = column(rows, "kl"), column(rows, "recon")
    good = ~(np.isnan(kl) | np.isnan(recon))
    if not good.any():
        return []
    a = np.stack([kl[good], recon[good]], axis=1)[-max(n * 20, 200):]
    alpha = 2.0 / (min(50.0, max(3.0, len(a) / 10)) + 1)
    out = np.empty_like(a)
    acc = a[0]
    for i, p in enumerate(a):
        acc = alpha * p + (1 - alpha) * acc
        out[i] = acc
    idx = np.unique(np.linspace(0, len(out) - 1, min(n, len(out))).round().astype(int))
    return [(float(k), float(r)) for k, r in out[idx]]


def _curve(rows: list[dict], n: int) -> list[tuple[float, float, float]]:
    step, recon, kl = (column(rows, k) for k in ("step", "recon", "kl"))
    good = np.flatnonzero(~(np.isnan(recon) | np.isnan(kl)))
    if not len(good):
        return []
    idx = good[np.unique(np.linspace(0, len(good) - 1, min(n, len(good))).round().astype(int))]
    return [(float(step[i]), float(recon[i]), float(kl[i])) for i in idx]


def student_run(engine, owner: str, name: str, run_id: str | None) -> StudentRun:
    """One student's newest class run as the dashboard draws it."""
    s = StudentRun(owner=owner, name=name, run_id=run_id)
    with _ENDED_LOCK:
        hit = _ENDED.get(run_id) if run_id else None
    if hit is not None and hit[0].is_dir():             # (a deleted run is gone from the board)
        return replace(hit[1], owner=owner, name=name)
    v = engine.view(run_id) if run_id else None
    if v is None:
        return s
    s.status, s.beta, s.epoch = v.status.value, v.beta, float(v.progress.epoch or 0)
    s.kind, s.latent_dim, s.queue_position = v.config.model.kind, v.config.model.latent_dim, v.queue_position
    s.trail = _smooth_tail(v.rows, TRAIL_POINTS)
    if s.trail:
        s.kl, s.recon = s.trail[-1]
    s.curve = _curve(v.rows, CURVE_POINTS)
    snap = v.snapshot
    if snap is not None and snap.mu is not None and snap.mu.ndim == 2 and snap.mu.shape[1] >= 2:
        k = min(LATENT_POINTS, len(snap.mu))
        idx = np.linspace(0, len(snap.mu) - 1, k).round().astype(int)
        s.mu = np.asarray(snap.mu[idx, :2], dtype=np.float32)
        lab = v.info.probe_labels if v.info is not None else None
        s.labels = None if lab is None else np.asarray(lab)[idx]
    if v.status.ended and not v.saving:
        with _ENDED_LOCK:
            _ENDED[run_id] = (Path(v.run_dir), s)
            while len(_ENDED) > ENDED_KEPT:
                _ENDED.popitem(last=False)
    return s


def board(engine, room: Classroom, klass: Klass) -> list[StudentRun]:
    """Every student of the class, in joining order, with their newest class run."""
    latest = room.latest_runs(klass.code)
    return [student_run(engine, m.owner, m.name, latest.get(m.owner)) for m in room.members(klass.code)]


def queue(engine, room: Classroom, klass: Klass) -> list[dict]:
    """The class's runs that wait or train now: one row each, the next to start first."""
    names = {m.owner: m.name for m in room.members(klass.code)}
    out = []
    for owner, rid in room.runs_of(klass.code):
        e = engine.entry(rid)
        if e is not None and e.status.live:
            out.append({"student": names.get(owner, "(left)"), "run": e.name or rid, "status": e.status.value,
                        "place in queue": e.queue_position, "epoch": round(float(e.progress.epoch or 0), 1),
                        "base β": e.base_beta})
    return sorted(out, key=lambda r: (r["place in queue"] is not None, r["place in queue"] or 0))


LADDER_LABELS = {"beta": "β", "latent_dim": "latent dimensions"}


def setting_of(s: StudentRun, setting: str) -> float | None:
    """A student's value of a ladder's setting (base β, or latent dimensions)."""
    v = s.beta if setting == "beta" else (s.latent_dim or None)
    return None if v is None else float(v)


def ladder_points(students: list[StudentRun], setting: str) -> list[tuple[float, float, float, int]]:
    """The class's ladder: per value of ``setting``, the mean (KL, reconstruction) of the
    students' models at it, as (value, kl, recon, models), in the setting's order."""
    by: dict[float, list[StudentRun]] = {}
    for s in students:
        v = setting_of(s, setting)
        if v is not None and s.kl is not None and s.recon is not None:
            by.setdefault(v, []).append(s)
    return [(v, float(np.mean([s.kl for s in g])), float(np.mean([s.recon for s in g])), len(g))
            for v, g in sorted(by.items())]


def notice_ladder(students: list[StudentRun], setting: str) -> str | None:
    """The class's reading of its ladder, from the numbers (None with fewer than 2 rungs)."""
    pts = ladder_points(students, setting)
    if len(pts) < 2:
        return None
    label = LADDER_LABELS.get(setting, setting)
    (v0, k0, r0, _), (v1, k1, r1, _) = pts[0], pts[-1]
    falls = sum(1 for a, b in zip(pts, pts[1:]) if b[1] < a[1])
    steps = len(pts) - 1
    n = sum(p[3] for p in pts)
    kl_way = "falls" if k1 < k0 else "rises"
    rec_way = "rises" if r1 > r0 else "falls"
    out = (f"What to notice: along the class's {label} ladder ({v0:g} → {v1:g}, {len(pts)} values, "
           f"{n} models) the rate (KL) {kl_way} from {k0:.1f} to {k1:.1f} nats and the distortion "
           f"(reconstruction) {rec_way} from {r0:.1f} to {r1:.1f} nats")
    if setting == "beta":
        out += (f"; KL fell at {falls} of the {steps} steps up in β. " +
                ("A larger β buys a smaller rate with more distortion: the line is the class's "
                 "rate–distortion trade-off." if k1 < k0 and r1 > r0 else
                 "This is not yet the usual trade-off (larger β: less KL, more distortion): the runs "
                 "may still be early, or a seed may differ: wait, or compare the seeds."))
        collapsed = [p[0] for p in pts if p[1] < 0.5]
        if collapsed:
            out += f" At β ≥ {min(collapsed):g} KL is under 0.5 nats: the code carries almost nothing (collapse)."
    else:
        out += (". More latent dimensions let the model spend more nats on the code." if k1 > k0 else
                ". The extra dimensions are not being used: KL did not grow with them.")
    return out


def notice_rd(students: list[StudentRun], ladder: str | None = None) -> str:
    """The "what to notice" line under the class's rate–distortion plane, from its numbers
    (``ladder``: the setting the teacher's latest ladder push spread, when there is one)."""
    if ladder and (said := notice_ladder(students, ladder)):
        return said
    pts = [s for s in students if s.kl is not None and s.beta is not None]
    if len(pts) < 2:
        return ("What to notice: once two or more students train, each point is one student's model; "
                "β sets where on the rate–distortion curve it settles.")
    hi = [s for s in pts if s.beta > 1.5]
    lo = [s for s in pts if s.beta <= 1.5]
    if hi and lo:
        kl_hi, kl_lo = np.mean([s.kl for s in hi]), np.mean([s.kl for s in lo])
        rec_hi, rec_lo = np.mean([s.recon for s in hi]), np.mean([s.recon for s in lo])
        return (f"What to notice: the {len(hi)} models with β > 1.5 sit at KL {kl_hi:.1f} nats against "
                f"{kl_lo:.1f} for the other {len(lo)}, and reconstruct {'worse' if rec_hi > rec_lo else 'better'} "
                f"({rec_hi:.1f} vs {rec_lo:.1f} nats): a larger β buys a smaller rate with more distortion, "
                f"and pushed far enough the latent collapses (KL → 0).")
    return (f"What to notice: all {len(pts)} models share a β range, so they lie close together; "
            f"push β up for half the class and watch their points slide left (less KL) and up "
            f"(more distortion).")
