"""``python -m explorer ...``: train, evaluate and rebuild the shipped runs without the UI.

    python -m explorer train --dataset digits --epochs 30 --out runs/my-run
    python -m explorer eval runs/my-run --iwae-k 1000 --json
    python -m explorer pretrain [--only ID ...] [--mnist PATH]
    python -m explorer sweep --dataset digits --betas 0,0.5,1,2,4,8 --out runs/my-sweep
    python -m explorer sweep-report runs/my-sweep --json      # or a shipped sweep's name; --list

Every setting of :class:`explorer.config.RunConfig` is a flag of ``train``
(``python -m explorer train --help`` lists them). Errors in settings or data
are one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from .config import (BETA_SCHEDULES, BINARIZE, BODIES, DATASETS, LIKELIHOODS, MODEL_KINDS, ConfigError,
                     DataConfig, ModelConfig, RunConfig, TrainConfig, default_binarize)

# flag name for each config field, where the plain field name would be unclear or collide
_FLAG_NAMES = {("data", "name"): "dataset", ("data", "path"): "data-path",
               ("model", "kind"): "model", ("data", "noise"): "toy-noise",
               ("data", "n_points"): "toy-points"}
_SECTIONS = (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
_CHOICES = {"data.name": DATASETS, "data.binarize": BINARIZE, "model.kind": MODEL_KINDS,
            "model.body": BODIES, "model.likelihood": LIKELIHOODS, "train.beta_schedule": BETA_SCHEDULES}


def _flag(section: str, name: str) -> str:
    return _FLAG_NAMES.get((section, name), name.replace("_", "-"))


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    for section, cls in _SECTIONS:
        g = p.add_argument_group(f"{section} settings")
        default = cls()
        for f in dataclasses.fields(cls):
            flag = "--" + _flag(section, f.name)
            dv = getattr(default, f.name)
            dest = f"{section}.{f.name}"
            if isinstance(dv, bool):
                g.add_argument(flag, dest=dest, action=argparse.BooleanOptionalAction, default=None,
                               help=f"(default {dv})")
            elif isinstance(dv, list):
                g.add_argument(flag, dest=dest, default=None, metavar="W,W",
                               help=f"comma-separated widths (default {','.join(map(str, dv))})")
            else:
                typ = float if isinstance(dv, float) else int if isinstance(dv, int) else str
                if f.name in ("subset",):
                    typ = int
                options = _CHOICES.get(dest)
                helptext = f"one of {', '.join(options)} " if options else ""
                if dest == "data.binarize":
                    dv = "dynamic for mnist and fashion-mnist, else none"
                g.add_argument(flag, dest=dest, type=typ, default=None, help=f"{helptext}(default {dv})")


def config_from_args(ns: argparse.Namespace) -> RunConfig:
    d: dict = {"data": {}, "model": {}, "train": {}}
    for key, value in vars(ns).items():
        if "." not in key or value is None:
            continue
        section, name = key.split(".", 1)
        if name == "hidden":
            try:
                value = [int(w) for w in str(value).split(",") if w.strip()]
            except ValueError:
                raise ConfigError(f"--hidden: expected comma-separated whole numbers, got {value!r}")
        d[section][name] = value
    if getattr(ns, "name", None):
        d["name"] = ns.name
    d["data"].setdefault("binarize", default_binarize(d["data"].get("name", DataConfig().name)))
    return RunConfig.from_dict(d)


# ------------------------------------------------------------------- train

class Progress:
    """A one-line progress bar on stderr: epoch, step, images/s, ETA, live recon and KL."""

    def __init__(self, total: int, stream=sys.stderr, every_s: float = 0.2):
        self.total, self.stream, self.every_s = total, stream, every_s
        self.t0 = time.perf_counter()
        self.last = 0.0

    def __call__(self, row: dict, trainer) -> None:
        now = time.perf_counter()
        if now - self.last < self.every_s and trainer.step_count < self.total:
            return
        self.last = now
        frac = trainer.step_count / self.total
        elapsed = now - self.t0
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * int(frac * 24)
        self.stream.write(
            f"\r[{bar:<24}] {frac:5.1%} ep {row['epoch']:.1f} step {trainer.step_count}/{self.total} "
            f"recon {row['recon']:.2f} KL {row['kl']:.2f} {row['img_s']:,.0f} img/s ETA {eta:4.0f}s ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def cmd_train(ns: argparse.Namespace) -> int:
    import torch

    from . import data, memory, settings
    from .training import Trainer, fit

    cfg = config_from_args(ns)
    budget = memory.cli_budget(settings.get().run_memory_mb)
    memory.check(cfg, budget, iwae_k=ns.iwae_k)    # over it: the message, not the kernel's killer
    torch.set_num_threads(cfg.train.threads)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])   # its first use imports ~1 s of torch:
                                                             # not part of the training time
    out = Path(ns.out) if ns.out else _default_out(cfg)
    try:
        with memory.held_to(budget):
            ds = data.load(cfg.data)
            steps = Trainer(cfg, ds).total_steps if not ns.quiet else 0
            progress = None if ns.quiet else Progress(steps)
            _, _, summary = fit(cfg, ds, out, on_row=progress, iwae_k=ns.iwae_k)
    except (MemoryError, RuntimeError) as e:
        if not memory.over_budget(e):
            raise
        raise memory.BudgetExceeded(memory.exceeded_message(cfg, budget)) from None
    if progress:
        progress.close()
    v = summary["val"]
    print(f"{summary['status']}: {out}  val ELBO {v['elbo']:.2f}  recon {v['recon']:.2f}  "
          f"KL {v['kl']:.2f}  active units {v['active_units']}/{cfg.model.latent_dim}"
          + (f"  IWAE-{ns.iwae_k} {v['iwae']:.2f}" if "iwae" in v else ""))
    if summary["status"] == "diverged":
        print(summary["reason"], file=sys.stderr)
        return 1
    return 0


def _default_out(cfg: RunConfig) -> Path:
    from .store import runs_root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return runs_root() / f"{cfg.data.name}-{cfg.model.kind}-z{cfg.model.latent_dim}-b{cfg.train.beta:g}-{stamp}"


# -------------------------------------------------------------------- eval

def evaluate_run(run_dir: Path, *, iwae_k: int = 100, max_n: int | None = None, seed: int = 0,
                 data_path: str | None = None) -> dict:
    """Validation ELBO, recon, KL, active units and IWAE-k of a stored run (per image, nats)."""
    import torch

    from . import data, objective, store
    from .training import evaluate

    run = store.open_run(Path(run_dir))
    cfg = run.config
    if data_path:
        cfg.data.path = data_path
    ds = data.load(cfg.data)
    model = run.load_model()
    ev = evaluate(model, ds, split="val", max_n=max_n, seed=seed)
    out = {"elbo": ev["elbo"], "recon": ev["recon"], "kl": ev["kl"],
           "active_units": ev["active_units"], "n": ev["n"], "iwae": None, "iwae_k": iwae_k,
           "knn5_acc": None}
    if ds.y_val is not None:                 # labelled data: how well z separates the classes
        from .analysis.latent import knn_accuracy
        x = ds.x_val if max_n is None else ds.x_val[:max_n]
        mu, _ = model.encode_mean(x)
        out["knn5_acc"] = knn_accuracy(mu.cpu().numpy(), ds.y_val[:len(x)].numpy(), k=5)
    if model.kind == "vae" and iwae_k > 0:
        x = ds.x_val if max_n is None else ds.x_val[:max_n]
        gen = torch.Generator(device=model.device).manual_seed(seed)
        vals = [objective.iwae_bound(model, x[i:i + 100].to(model.device), iwae_k, generator=gen)
                for i in range(0, len(x), 100)]
        out["iwae"] = float(torch.cat(vals).double().mean())
    return out


def cmd_eval(ns: argparse.Namespace) -> int:
    import torch
    torch.set_num_threads(ns.threads)
    res = evaluate_run(Path(ns.run_dir), iwae_k=ns.iwae_k, max_n=ns.max_n, data_path=ns.data_path)
    if ns.json:
        print(json.dumps(res))
    else:
        iw = f"{res['iwae']:.2f}" if res["iwae"] is not None else "n/a (autoencoder)"
        print(f"{ns.run_dir}: n={res['n']}  ELBO {res['elbo']:.2f}  recon {res['recon']:.2f}  "
              f"KL {res['kl']:.2f}  active units {res['active_units']}  IWAE-{ns.iwae_k} {iw}  "
              f"(per image, nats; log p(x) >= IWAE >= ELBO)")
    return 0


def cmd_pretrain(ns: argparse.Namespace) -> int:
    from .pretrain import pretrain, pretrain_factor_sweep, train_sweep_seeds
    if ns.factor_sweep:
        return pretrain_factor_sweep(ns.factor_sweep, threads=ns.threads, measure_only=ns.measure_only)
    if ns.sweep_seeds:
        if not ns.sweep or not ns.seeds_dir:
            raise ValueError("--sweep-seeds needs --sweep NAME and --seeds-dir FOLDER")
        import torch
        torch.set_num_threads(ns.threads)
        return train_sweep_seeds(ns.sweep, ns.sweep_seeds, Path(ns.seeds_dir), mnist=ns.mnist)
    return pretrain(only=ns.only, mnist=ns.mnist, threads=ns.threads, iwae_k=ns.iwae_k,
                    measure_only=ns.measure_only)


# ------------------------------------------------------------------- sweeps

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
    measured = beta_report.measure_folders(runs, ds, **kw)
    beta_report.save(out, tag, *measured, about={"config": base.to_dict(), "betas": betas})
    _print_report(beta_report.report(tag, measured[0]), as_json=False)
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
        measured = beta_report.measure_folders(runs, data.load(cfg.data))
        beta_report.save(folder, tag, *measured, about={"config": cfg.to_dict()})
        got = beta_report.load(folder)
    return beta_report.report(got.name, got.measures)


def _print_report(rep: dict, *, as_json: bool) -> None:
    if not as_json:
        keys = [k for k in rep["rows"][0] if not isinstance(rep["rows"][0][k], list)] if rep["rows"] else []
        print(f"sweep {rep['sweep']}:")
        print("  ".join(f"{k:>15}" for k in keys))
        for r in rep["rows"]:
            print("  ".join(f"{r[k]:>15.4g}" if isinstance(r[k], float) else f"{r[k]!s:>15}" for k in keys))
    print(json.dumps(rep))


# -------------------------------------------------------------------- main

def _add_sweep_parsers(sub) -> None:
    from .analysis.beta.report import ROW_HELP
    from .analysis.disentangle.lab import ROW_HELP as FACTOR_ROW_HELP
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
    _add_config_flags(w)
    w.set_defaults(fn=cmd_sweep)

    import textwrap
    keys = "\n".join(textwrap.fill(v, 96, initial_indent=f"  {k:<16} ", subsequent_indent=" " * 19)
                     for k, v in ROW_HELP.items())
    factor_keys = "\n".join(textwrap.fill(v, 96, initial_indent=f"  {k:<18} ", subsequent_indent=" " * 21)
                            for k, v in FACTOR_ROW_HELP.items())
    rp = sub.add_parser("sweep-report", help="print a sweep's measures per β (a folder, or a shipped sweep)",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Print a sweep's report; its last line is one JSON object,\n"
                                    '  {"sweep": name, "rows": [{key: value, ...}, ...]}, rows sorted by β.\n\n'
                                    "The keys of each row of a β sweep:\n" + keys
                                    + "\n\nThe keys of each row of a factor sweep (the disentanglement "
                                      "lab's, e.g. shapes):\n" + factor_keys)
    rp.add_argument("sweep", nargs="?", help="a sweep's folder (from `sweep --out`) or a shipped sweep's name")
    rp.add_argument("--json", action="store_true", help="print only the JSON object")
    rp.add_argument("--list", action="store_true", help="print the shipped sweeps' names, one a line")
    rp.add_argument("--data-path", default=None,
                    help="where the dataset is, to measure a folder of runs not measured yet")
    rp.set_defaults(fn=cmd_sweep_report)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--out", help="run folder to write (default: runs/<dataset>-<model>-...)")
    t.add_argument("--name", help="a label for the run")
    t.add_argument("--iwae-k", type=int, default=0, help="also estimate log p(x) with IWAE-k at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(t)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run folder on its validation split")
    e.add_argument("run_dir")
    e.add_argument("--iwae-k", type=int, default=100)
    e.add_argument("--max-n", type=int, default=None, help="evaluate on the first N validation images")
    e.add_argument("--data-path", default=None, help="where the dataset's files are, if not where the run says")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(fn=cmd_eval)

    r = sub.add_parser("pretrain", help="rebuild the shipped runs in trained/ from trained/manifest.json")
    r.add_argument("--only", nargs="*", default=None, help="run ids to rebuild (default: all)")
    r.add_argument("--mnist", default=None, help="path of mnist.npz (default: ../shared/data/mnist.npz)")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--iwae-k", type=int, default=1000)
    r.add_argument("--measure-only", action="store_true",
                   help="do not train: only measure the shipped sweeps among the chosen runs again")
    r.add_argument("--sweep-seeds", type=int, nargs="*", default=None,
                   help="train the runs of shipped sweep --sweep again with these training seeds, "
                        "into --seeds-dir (not into trained/; the shipped runs stay as they are)")
    r.add_argument("--sweep", default=None, help="a shipped sweep's name, for --sweep-seeds")
    r.add_argument("--seeds-dir", default=None,
                   help="folder of the shipped sweeps' extra-seed runs (written by --sweep-seeds, "
                        "read when a sweep is measured)")
    r.add_argument("--factor-sweep", default=None, metavar="NAME",
                   help="train and measure the factor sweep NAME of the manifest (the disentanglement "
                        "lab's, e.g. shapes) instead of the shipped runs")
    r.set_defaults(fn=cmd_pretrain)
    _add_sweep_parsers(sub)
    from .cli_export import add_parser as add_export_parser   # export: TensorBoard, script, ONNX, zip
    add_export_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    from .data import DataError
    from .engine import EngineError
    from .store import SaveError, StoreError
    try:
        return ns.fn(ns)
    except (ConfigError, DataError, StoreError, SaveError, ValueError, FileNotFoundError, EngineError,
            MemoryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130

