"""``python -m explorer sweep`` and ``sweep-report``: one run per β through the training engine,
measured as the β lab measures a sweep, and a sweep's report (a folder, a shipped β sweep, or
a shipped factor sweep).

A command imports its modules when it runs (as :mod:`explorer.cli` does), so ``--help``
and ``latent-explorer app`` start without torch.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .analysis.beta.keys import NULL_HELP, ROW_HELP, SWEET_HELP
from .analysis.disentangle.keys import ROW_HELP as FACTOR_ROW_HELP
from .cli_flags import add_config_flags, config_from_args
from .config import RunConfig

def cmd_sweep(ns: argparse.Namespace) -> int:
    """One run per β through the training engine (worker processes, as the β lab's), with
    a progress bar; then the sweep is measured and its report written into ``--out``."""
    return run_sweep(config_from_args(ns), ns.betas, Path(ns.out), jobs=ns.jobs, quiet=ns.quiet,
                     iwae_k=ns.measure_iwae_k, n=ns.measure_n)


def cmd_sweep_report(ns: argparse.Namespace) -> int:
    if ns.list:
        print("\n".join(shipped_names()))
        return 0
    if not ns.sweep:
        raise ValueError("name a sweep: its folder, or a shipped sweep (see --list)")
    _print_report(sweep_report(ns.sweep, data_path=ns.data_path), as_json=ns.json)
    return 0


class SweepProgress:
    """One line on stderr for a whole sweep: overall share of steps, then each run's state."""

    def __init__(self, stream=sys.stderr, every_s: float = 0.5):
        self.stream, self.every_s, self.last, self.t0 = stream, every_s, 0.0, time.perf_counter()

    def __call__(self, views, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        done = sum(v.progress.step for v in views)
        total = sum(max(1, v.progress.total_steps or 0) for v in views)
        frac = min(1.0, done / total) if total else 0.0
        parts = []
        for v in views:
            b = f"β={v.config.train.beta:g}"
            if v.status.ended:
                parts.append(f"{b} {v.status}")
            elif v.progress.total_steps:
                parts.append(f"{b} {v.progress.step / v.progress.total_steps:4.0%}")
            else:
                parts.append(f"{b} {v.status}")
        self.stream.write(f"\r[{'#' * int(frac * 24):<24}] {frac:5.1%} {now - self.t0:5.0f}s  "
                          + "  ".join(parts) + " ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def run_sweep(base: RunConfig, betas_text: str, out: Path, *, jobs: int | None = None,
              quiet: bool = False, iwae_k: int | None = None, n: int | None = None) -> int:
    """Train one run per β with :class:`explorer.engine.Engine` (runs saved in ``out``),
    measure the finished ones and write ``out/measures.json``; prints the report."""
    import os

    from . import data
    from .analysis.beta import report as beta_report
    from .analysis.beta import sweep as beta_sweep
    from .engine import Engine

    betas = beta_sweep.parse_betas(betas_text)
    tag = beta_sweep.make_tag()
    configs = beta_sweep.sweep_configs(base, betas, tag)
    ds = data.load(base.data)                       # bad data: said now, before any training
    if not ds.is_image:
        raise ValueError(f"--dataset {base.data.name}: a sweep's measures (sharpness, samples) need "
                         f"images; train 2-D or tabular data with `train` instead")
    out.mkdir(parents=True, exist_ok=True)
    eng = Engine(out, max_jobs=jobs or max(1, min(len(betas), os.cpu_count() or 1)),
                 torch_threads=base.train.threads, max_run_seconds=10.0 ** 9)
    progress = None if quiet else SweepProgress()
    try:
        ids = [eng.submit(c) for c in configs]
        while True:
            views = [eng.view(i) for i in ids]
            if progress:
                progress(views)
            if all(v.status.ended for v in views):
                break
            time.sleep(0.2)
        if progress:
            progress(views, force=True)
            progress.close()
    finally:
        eng.shutdown()
    failed = [v for v in views if v.status != "finished"]
    for v in failed:
        print(f"β = {v.config.train.beta:g}: {v.status}: {v.reason or ''}", file=sys.stderr)
    runs = {v.config.train.beta: Path(v.run_dir) for v in views if v.status == "finished"}
    if not runs:
        return 1
    kw = {k: v for k, v in (("n", n), ("iwae_k", iwae_k)) if v}
    pool = data.load(beta_report.pool_config(base.data))
    measured = beta_report.measure_folders(runs, ds, name=tag, pool=(pool.x_train, pool.y_train),
                                           about={"config": base.to_dict(), "betas": betas}, **kw)
    beta_report.save(out, measured)
    _print_report(beta_report.report(tag, measured), as_json=False)
    return 1 if failed else 0


def shipped_names() -> list[str]:
    """The shipped sweeps: the β sweeps, then the factor sweeps (the disentanglement lab's)."""
    from .analysis.beta import sweep as beta_sweep
    from .analysis.disentangle import lab as factor_lab
    from .store import SHIPPED_ROOT
    return (list(beta_sweep.shipped_sweeps(SHIPPED_ROOT / "manifest.json"))
            + factor_lab.shipped_names(SHIPPED_ROOT / "manifest.json"))


def factor_sweep_report(name: str) -> dict:
    """The report of the shipped factor sweep ``name`` (MIG and DCI per β, over seeds)."""
    from .analysis.disentangle import lab as factor_lab
    got = factor_lab.load(factor_lab.shipped_folder(name))
    if got is None:
        raise ValueError(f"{name}: its measures are missing from {factor_lab.shipped_folder(name)}; make "
                         f"them with `python -m explorer pretrain --factor-sweep {name} --threads 1`")
    return factor_lab.report(got.name, got.rows)


def sweep_report(sweep: str, *, data_path: str | None = None) -> dict:
    """The report of a sweep: a folder with its measures (from ``sweep``, measured now if it
    holds only runs) or a shipped sweep's name."""
    from . import data, store
    from .analysis.beta import report as beta_report
    from .analysis.beta import sweep as beta_sweep
    from .analysis.disentangle import lab as factor_lab
    from .store.index import RunIndex
    folder = Path(sweep)
    if not folder.is_dir() and sweep in factor_lab.shipped_names(store.SHIPPED_ROOT / "manifest.json"):
        return factor_sweep_report(sweep)
    if not folder.is_dir():
        if sweep not in shipped_names():
            raise ValueError(f"{sweep}: no such folder, and no shipped sweep of that name "
                             f"(shipped: {', '.join(shipped_names()) or 'none'})")
        folder = beta_report.shipped_folder(sweep)
    got = beta_report.load(folder)
    if got is None:                                   # a folder of runs: measure it now
        index = RunIndex(folder, ":memory:")        # the folder's runs, as every run list has them
        try:
            groups = beta_sweep.group_sweep_runs(index.entries(newest_first=False, order="run_id"))
        finally:
            index.close()
        if not groups:
            raise ValueError(f"{folder}: no measured sweep and no sweep runs in it")
        tag, pairs = next(iter(groups.items()))
        runs = {b: e.run_dir for b, e in pairs if e.summary.get("status") == "finished"}
        cfg = pairs[0][1].config
        if data_path:
            cfg.data.path = data_path
        pool = data.load(beta_report.pool_config(cfg.data))
        got = beta_report.measure_folders(runs, data.load(cfg.data), name=tag,
                                          pool=(pool.x_train, pool.y_train),
                                          about={"config": cfg.to_dict()})
        beta_report.save(folder, got)
    return beta_report.report(got.name, got)


def _print_report(rep: dict, *, as_json: bool) -> None:
    if not as_json:
        keys = [k for k in rep["rows"][0] if not isinstance(rep["rows"][0][k], list)] if rep["rows"] else []
        print(f"sweep {rep['sweep']}:")
        print("  ".join(f"{k:>15}" for k in keys))
        for r in rep["rows"]:
            print("  ".join(f"{r[k]:>15.4g}" if isinstance(r[k], float) else f"{r[k]!s:>15}" for k in keys))
        for r in rep["rows"]:
            if r.get("point_posterior"):
                print(f"  β = {r['beta']:g}: q(z|x) shrank to a point; its val_iwae and gap_iwae say how "
                      f"far out in the prior's tails the codes land, not how well images are fitted")
        if rep.get("sweet_spot"):
            print("  sweet spot (sample quality within two standard errors of the best): β = "
                  + ", ".join(f"{b:g}" for b in rep["sweet_spot"]))
        null = {k: v for k, v in (rep.get("null") or {}).items() if v is not None}
        if null:
            print("  null checks: " + ", ".join(f"{k} {v:.3f}" for k, v in null.items()))
    print(json.dumps(rep))


def add_parsers(sub) -> None:
    """The ``sweep`` and ``sweep-report`` subcommands of ``python -m explorer``."""
    w = sub.add_parser("sweep", help="train one run per β (the same engine as the β lab) and measure the sweep",
                       description="Train one run per β, everything else equal, through the training "
                                   "engine (one worker process per run, at most --jobs at once), then "
                                   "measure the sweep and write its measures into --out (measures.json; "
                                   "read them with `sweep-report`).")
    w.add_argument("--betas", required=True, help="comma-separated β values, e.g. 0,0.5,1,2,4,8")
    w.add_argument("--out", required=True, help="folder for the sweep's runs and its measures")
    w.add_argument("--jobs", type=int, default=None,
                   help="runs trained at once (default: the cores, at most one per β)")
    w.add_argument("--measure-n", type=int, default=None,
                   help="images of each split the measures use (default 1000)")
    w.add_argument("--measure-iwae-k", type=int, default=None,
                   help="importance samples of the IWAE gap (default 100)")
    w.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_flags(w)
    w.set_defaults(fn=cmd_sweep)

    import textwrap

    def explain(helps: dict) -> str:
        return "\n".join(textwrap.fill(v, 96, initial_indent=f"  {k:<22} ", subsequent_indent=" " * 25)
                         for k, v in helps.items())
    rp = sub.add_parser("sweep-report", help="print a sweep's measures per β (a folder, or a shipped sweep)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Print a sweep's report; its last line is one JSON object,\n"
                                    '  {"sweep": name, "rows": [{key: value, ...}, ...], "sweet_spot": [β, ...],\n'
                                    '   "null": {key: value, ...}}, rows sorted by β.\n\n'
                                    "The keys of each row of a β sweep:\n" + explain(ROW_HELP) + "\n\n"
                                    + explain({"sweet_spot": SWEET_HELP}) + "\n\n"
                                    "The keys of \"null\" (checks of the sample-quality measure "
                                    "itself):\n" + explain(NULL_HELP) + "\n\n"
                                    "The keys of each row of a factor sweep (the disentanglement "
                                    "lab's, e.g. shapes):\n" + explain(FACTOR_ROW_HELP))
    rp.add_argument("sweep", nargs="?", help="a sweep's folder (from `sweep --out`) or a shipped sweep's name")
    rp.add_argument("--json", action="store_true", help="print only the JSON object")
    rp.add_argument("--list", action="store_true", help="print the shipped sweeps' names, one a line")
    rp.add_argument("--data-path", default=None,
                    help="where the dataset is, to measure a folder of runs not measured yet")
    rp.set_defaults(fn=cmd_sweep_report)
