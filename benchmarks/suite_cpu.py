"""Where the test suite's CPU goes: each test's CPU time, its own process and everything it
started (servers, training workers, Chromium, kernels), by test and by module.

On a 2-core machine the suite is CPU-bound: a test's wall time says as much about what ran
beside it as about the test. Its CPU does not. Run the suite with this plugin:

    python benchmarks/suite_cpu.py [pytest args...]        # e.g. tests/test_jobs.py

which runs ``python -m pytest -p suite_cpu`` (the README's command, with this plugin) and
then prints the modules and the 25 tests that used the most CPU, and the suite's total.
A test's figure is the CPU of the pytest worker and of every process below it from the
test's set-up to its teardown: its own process, the children that ended (``RUSAGE_CHILDREN``
counts them once they are reaped) and those still alive, at its end less at its start. A
process that ends moves its CPU into its parent's children figures, so the sums over all
descendants at both ends count it once. A module-scoped server's CPU goes to the tests that
ran while it lived (not again to the test in whose teardown it stops). Ray's processes belong to the cluster, not to a worker:
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
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ENV = "LATENT_EXPLORER_SUITE_CPU"          # the plugin appends one JSON line per test here


def _tree_cpu() -> tuple[float, dict[int, float]]:
    """(CPU of this process and its reaped descendants, {pid: CPU} of its live descendants)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    live = {}
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            live[p.pid] = t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return own, live


_start: dict[str, tuple[float, dict[int, float], float]] = {}
_measure = False      # in the process that runs the tests (an xdist worker, or pytest with -n 0)


def pytest_configure(config):
    global _measure
    distributed = (getattr(config.option, "numprocesses", None) or 0) and not hasattr(config, "workerinput")
    _measure = bool(os.environ.get(ENV)) and not distributed


def pytest_runtest_logstart(nodeid, location):
    if _measure:
        own, live = _tree_cpu()
        _start[nodeid] = (own, live, time.time())


def pytest_runtest_logfinish(nodeid, location):
    path = os.environ.get(ENV)
    if not _measure or nodeid not in _start:
        return
    own0, live0, t0 = _start.pop(nodeid)
    own1, live1 = _tree_cpu()
    # every descendant's CPU (its own and its reaped children's) at the end less at the start,
    # over all of them: one that ended during the test moved its CPU into its parent's children
    # figures (or this process's RUSAGE_CHILDREN), where it must not count a second time
    live = sum(live1.values()) - sum(live0.values())
    cpu = (own1 - own0) + live
    with open(path, "a") as f:
        f.write(json.dumps({"test": nodeid, "cpu_s": round(cpu, 2), "wall_s": round(time.time() - t0, 2),
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
