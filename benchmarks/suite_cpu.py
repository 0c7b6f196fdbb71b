"""Where the test suite's CPU goes: each test's CPU time, its own process and everything it
started (servers, training workers, Chromium, kernels), by test and by module.

On a 2-core machine the suite is CPU-bound: a test's wall time says as much about what ran
beside it as about the test. Its CPU does not. Run the suite with this plugin:

    python benchmarks/suite_cpu.py [pytest args...]        # e.g. tests/test_jobs.py

which runs ``python -m pytest -p suite_cpu`` (the README's command, with this plugin) and
then prints the modules and the 25 tests that used the most CPU, and the suite's total.
A test's figure is the CPU of the pytest worker and of every process below it from the
test's set-up to its teardown, each process's own CPU as a thread samples it every quarter
second (:class:`Ledger`; a process that ends loses at most its last quarter second), also by
kind of process (Chromium's renderer, GPU and browser processes, the server, training
workers, kernels). A module-scoped server's CPU goes to the tests that ran while it lived. Ray's processes belong to the cluster, not to a worker:
the Ray tests' figures leave out the actors' CPU.
"""
from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ENV = "LATENT_EXPLORER_SUITE_CPU"          # the plugin appends one JSON line per test here


def kind(cmdline: list[str]) -> str:
    """What a process is, for the report: a Chromium part, a server, a training worker..."""
    c = " ".join(cmdline)
    if "chromium" in c or "chrome" in c or "/proc/self/exe --type=" in c:      # (a zygote's child)
        return "chromium " + next((a[7:] for a in cmdline if a.startswith("--type=")), "browser")
    for needle, name in (("streamlit", "streamlit server"), ("spawn_main", "worker (spawned)"),
                         ("multiprocessing.forkserver", "workers (fork server)"),
                         ("ipykernel", "notebook kernel"), ("jupyter", "jupyter server"),
                         ("playwright", "playwright driver"), ("ray", "ray"), ("oidc", "oidc provider")):
        if needle in c:
            return name
    return "other: " + " ".join(cmdline[:3])[:50]


class Ledger:
    """The CPU (user + system, its own) each descendant of this process was last seen with,
    sampled every :data:`EVERY` seconds by a thread and at each test's start and end. Own CPU
    only: a process's children figures (and RUSAGE_CHILDREN) hold only the descendants that
    were reaped, which Chromium's renderers and a stopped server's workers often are not (they
    are re-parented), and would count again what was seen while they lived. A process loses
    at most its last :data:`EVERY` seconds."""
    EVERY = 0.25

    def __init__(self):
        self.seen: dict[tuple[int, float], tuple[str, float]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            self.sample()
            time.sleep(self.EVERY)

    def sample(self) -> None:
        for p in psutil.Process().children(recursive=True):
            try:
                with p.oneshot():
                    key, t = (p.pid, p.create_time()), p.cpu_times()
                    name = self.seen[key][0] if key in self.seen else kind(p.cmdline())
            except (psutil.Error, KeyError):
                continue
            with self.lock:
                self.seen[key] = (name, t.user + t.system)

    def totals(self) -> collections.Counter:
        """CPU by kind so far: this process (``pytest``) and every descendant seen."""
        self.sample()
        me = resource.getrusage(resource.RUSAGE_SELF)
        out = collections.Counter({"pytest": me.ru_utime + me.ru_stime})
        with self.lock:
            for name, cpu in self.seen.values():
                out[name] += cpu
        return out


_ledger: Ledger | None = None
_start: dict[str, tuple[collections.Counter, float]] = {}


def pytest_configure(config):
    global _ledger
    distributed = (getattr(config.option, "numprocesses", None) or 0) and not hasattr(config, "workerinput")
    if os.environ.get(ENV) and not distributed:     # in the process that runs the tests
        _ledger = Ledger()


def pytest_runtest_logstart(nodeid, location):
    if _ledger is not None:
        _start[nodeid] = (_ledger.totals(), time.time())


def pytest_runtest_logfinish(nodeid, location):
    path = os.environ.get(ENV)
    if _ledger is None or nodeid not in _start:
        return
    before, t0 = _start.pop(nodeid)
    after = _ledger.totals()
    kinds = {k: round(after[k] - before[k], 2) for k in after if after[k] - before[k] >= 0.01}
    with open(path, "a") as f:
        f.write(json.dumps({"test": nodeid, "cpu_s": round(sum(kinds.values()), 2),
                            "wall_s": round(time.time() - t0, 2), "kinds": kinds,
                            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}) + "\n")


def report(path: Path, top: int = 25) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_module = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for r in rows:
        m = by_module[r["test"].split("::")[0]]
        m[0] += r["cpu_s"]
        m[1] += r["wall_s"]
        m[2] += 1
    total = sum(r["cpu_s"] for r in rows)
    print(f"\n{len(rows)} tests, CPU {total:.0f} s in all (wall summed over workers "
          f"{sum(r['wall_s'] for r in rows):.0f} s)")
    print("\nmodules by CPU:   cpu_s  wall_s  tests")
    for mod, (cpu, wall, n) in sorted(by_module.items(), key=lambda kv: -kv[1][0])[:30]:
        print(f"  {cpu:7.1f} {wall:7.1f} {n:5d}  {mod}")
    kinds = collections.Counter()
    for r in rows:
        kinds.update(r.get("kinds", {}))
    print("\nCPU by process kind (s):")
    for k, v in kinds.most_common(12):
        print(f"  {v:7.1f}  {k}")
    print(f"\n{top} tests by CPU:")
    for r in sorted(rows, key=lambda r: -r["cpu_s"])[:top]:
        print(f"  {r['cpu_s']:7.1f} {r['wall_s']:7.1f}  {r['test']}")


def main() -> None:
    out = Path(tempfile.mkstemp(prefix="suite-cpu-", suffix=".jsonl")[1])
    env = {**os.environ, ENV: str(out),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH")]))}
    t0 = time.time()
    rc = subprocess.call([sys.executable, "-m", "pytest", "-p", "suite_cpu", *sys.argv[1:]], cwd=ROOT, env=env)
    print(f"\nsuite wall time {time.time() - t0:.0f} s (pytest exit code {rc}); per-test lines in {out}")
    report(out)
    sys.exit(rc)


if __name__ == "__main__":
    main()
