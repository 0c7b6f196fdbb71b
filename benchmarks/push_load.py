"""A teacher's push of 30 runs through the app's class gate, timed while other threads keep
the interpreter busy (as 30 students' page runs do on a class's server).

    python benchmarks/push_load.py [--students 30] [--busy 0,4,8] [--repeats 3] [--switch-ms 1]

The push (``explorer.classroom.pushes.push_config``: a β ladder, own seeds, each student's
previous pushed run replaced) runs in-process over a real engine, class file and runs folder;
the engine's backend keeps the runs queued and never trains them (the push's bookkeeping is
what is timed, not training). Under load every blocking call (an SQLite statement, a file
read) waits its turn for the interpreter, so the push's wall time follows the number of its
blocking calls more than their cost, and on the interpreter's thread switch interval
(``--switch-ms``; the server's is ``warmup.SWITCH_INTERVAL_S``, 1 ms; CPython's default 5 ms).
Last line: ``students=… busy=… push_s_min=… push_s_max=…``
per number of busy threads, and the SQLite statements one push makes.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.classroom import classes, pushes, rules  # noqa: E402
from explorer.config import RunConfig  # noqa: E402
from explorer.engine import Engine  # noqa: E402
from explorer.engine.local import LocalBackend  # noqa: E402
from explorer.runs import Actor  # noqa: E402
from explorer.ui import warmup  # noqa: E402


class QueueOnly(LocalBackend):
    """Keeps runs queued: no worker is started, nothing trains."""

    def start(self, engine) -> None:
        self.engine = engine

    def wake(self) -> None:
        pass

    def shutdown(self, timeout: float = 10.0) -> None:
        pass


def statements(push) -> int:
    """SQLite statements one push makes."""
    prof = cProfile.Profile()
    prof.enable()
    push()
    prof.disable()
    st = pstats.Stats(prof).stats
    return sum(v[1] for k, v in st.items() if "execute' of 'sqlite3" in k[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--busy", default="0,4,8", help="numbers of busy threads, comma-separated")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--switch-ms", type=float, default=warmup.SWITCH_INTERVAL_S * 1000,
                    help="the interpreter's thread switch interval, in ms (the server's by default)")
    a = ap.parse_args()
    if not 1 <= a.students <= 200 or not 1 <= a.repeats <= 20:
        raise SystemExit("bounded: 1-200 students, 1-20 repeats")
    busy_counts = [int(b) for b in a.busy.split(",")]
    if any(not 0 <= b <= 32 for b in busy_counts):
        raise SystemExit("bounded: 0-32 busy threads")
    if not 0.1 <= a.switch_ms <= 100:
        raise SystemExit("bounded: a switch interval of 0.1-100 ms")
    sys.setswitchinterval(a.switch_ms / 1000)
    tmp = Path(tempfile.mkdtemp(prefix="push-load-"))
    eng = Engine(tmp / "runs", max_jobs=2, backend=QueueOnly(prestart=0), max_queued=100_000)
    eng.gate = rules.Gate(eng.runs_dir)
    room = classes.classroom(eng.runs_dir)
    teacher = Actor("b-teacher", "T")
    k, _ = room.create("Load", teacher)
    for i in range(a.students):
        room.join(k.code, Actor(f"b-s{i}", f"S{i}"), f"S{i}")
    base = RunConfig().replace(data={"name": "digits"}, train={"epochs": 60, "beta": 4.0})

    def push():
        pushes.push_config(eng, room, k, teacher, base, ladder=("beta", [0, 0.25, 0.5, 1, 2, 4, 8]))

    push()                                         # warm: imports, caches, a previous run each
    n_sql = statements(push)
    stop = threading.Event()

    def spin():
        x = 0
        while not stop.is_set():
            for i in range(1000):
                x += i * i

    out = []
    for n in busy_counts:
        threads = [threading.Thread(target=spin, daemon=True) for _ in range(n)]
        for t in threads:
            t.start()
        walls = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            push()
            walls.append(time.perf_counter() - t0)
        stop.set()
        for t in threads:
            t.join()
        stop.clear()
        print(f"  busy threads {n}: push {min(walls):.2f}-{max(walls):.2f} s")
        out.append(f"busy={n} push_s_min={min(walls):.2f} push_s_max={max(walls):.2f}")
    eng.shutdown()
    print(f"students={a.students} switch_ms={a.switch_ms:g} sqlite_statements={n_sql} " + " ".join(out))


if __name__ == "__main__":
    main()
