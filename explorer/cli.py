"""``python -m explorer ...``: train, evaluate and rebuild the shipped runs without the UI.

    python -m explorer train --dataset digits --epochs 30 --out runs/my-run
    python -m explorer train --config runs/my-run/config.json --beta 4 --print-config
    python -m explorer resume runs/my-run [--epochs 80]      # on from the last checkpoint, exactly
    python -m explorer import my-run.zip                      # a run zip as a new run
    python -m explorer eval runs/my-run --iwae-k 1000 --json   # --full: every validation image
    python -m explorer pretrain [--only ID ...] [--mnist PATH]
    python -m explorer sweep --dataset digits --betas 0,0.5,1,2,4,8 --out runs/my-sweep
    python -m explorer sweep-report runs/my-sweep --json      # or a shipped sweep's name; --list

Every setting of :class:`explorer.config.RunConfig` is a flag of ``train``
(``python -m explorer train --help`` lists them; :mod:`explorer.options` names them, for the
Python API too). Errors in settings or data
are one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .cli_flags import add_config_file_flags, add_config_flags, add_device_flag, config_from_args
from .cli_sweep import add_parsers as add_sweep_parsers
from .config import RunConfig
from .progress import Progress, print_summary

# ------------------------------------------------------------------- train

def _say(text: str) -> None:
    print(text, file=sys.stderr)


def cmd_train(ns: argparse.Namespace) -> int:
    cfg = config_from_args(ns, say=_say)
    if ns.print_config:
        print(cfg.to_json())
        return 0
    import torch

    from . import data, memory, settings
    from .devices import resolve_device
    from .training import Trainer, fit

    device = resolve_device(ns.device)
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
            _, _, summary = fit(cfg, ds, out, on_row=progress, iwae_k=ns.iwae_k, device=device)
    except (MemoryError, RuntimeError) as e:
        if not memory.over_budget(e):
            raise
        raise memory.BudgetExceeded(memory.exceeded_message(cfg, budget)) from None
    if progress:
        progress.close()
    return print_summary(summary, out, ns.iwae_k, kind=cfg.model.kind)


def _default_out(cfg: RunConfig) -> Path:
    from .store import runs_root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return runs_root() / f"{cfg.data.name}-{cfg.model.kind}-z{cfg.model.latent_dim}-b{cfg.train.beta:g}-{stamp}"


# -------------------------------------------------------------------- eval

EVAL_N = 500             # eval's default: the first 500 validation images (IWAE-100 in seconds)

def evaluate_run(run_dir: Path, *, iwae_k: int = 100, max_n: int | None = None, seed: int = 0,
                 data_path: str | None = None) -> dict:
    """Validation ELBO, recon, KL, active units and IWAE-k of a stored run (per image, nats).
    An autoencoder has no ELBO and no IWAE (``None``); its ``loss`` is its recon term."""
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
    vae = model.kind == "vae"
    out = {"kind": model.kind, "likelihood": cfg.model.likelihood, "elbo": ev["elbo"] if vae else None,
           "loss": None if vae else ev["recon"], "recon": ev["recon"], "kl": ev["kl"],
           "active_units": ev["active_units"], "n": ev["n"], "iwae": None, "iwae_k": iwae_k,
           "knn5_acc": None, "n_val": len(ds.x_val)}
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
    from .store import find_run
    res = evaluate_run(find_run(ns.run_dir), iwae_k=ns.iwae_k, max_n=None if ns.full else ns.max_n,
                       data_path=ns.data_path)
    if ns.json:
        print(json.dumps(res))
    elif res["kind"] == "ae":
        print(f"{ns.run_dir}: n={res['n']}  loss (recon) {res['recon']:.2f}  active units "
              f"{res['active_units']}  (per image, nats; an autoencoder has no ELBO and no IWAE: its "
              f"recon is its loss, not a bound on log p(x))")
        if res["likelihood"] == "gaussian":
            print("  The loss is -log of a Gaussian density: (D/2)·log(2πσ²) plus the squared error "
                  "/ (2σ²); below 0 when σ < 0.4, so a negative number is a good fit, not an error.")
    else:
        iw = f"{res['iwae']:.2f}" if res["iwae"] is not None else "not asked for (--iwae-k 0)"
        print(f"{ns.run_dir}: n={res['n']}  ELBO {res['elbo']:.2f}  recon {res['recon']:.2f}  "
              f"KL {res['kl']:.2f}  active units {res['active_units']}  IWAE-{ns.iwae_k} {iw}  "
              f"(per image, nats; log p(x) >= IWAE >= ELBO)")
        if res["n"] < res["n_val"]:
            print(f"  on the first {res['n']:,} of {res['n_val']:,} validation images: --full for all of "
                  f"them, --max-n N for N")
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
                    measure_only=ns.measure_only,
                    seeds_dir=Path(ns.seeds_dir) if ns.seeds_dir else None)


# -------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a model and write a run folder")
    t.add_argument("--out", help="run folder to write (default: runs/<dataset>-<model>-...)")
    t.add_argument("--name", help="a label for the run")
    t.add_argument("--iwae-k", type=int, default=0, help="also estimate log p(x) with IWAE-k at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_file_flags(t)
    add_device_flag(t)
    add_config_flags(t)
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("eval", help="evaluate a run folder on its validation split")
    e.add_argument("run_dir", help="a run folder, or a run id (this server's runs, then the shipped ones)")
    e.add_argument("--iwae-k", type=int, default=100, help="importance samples of the IWAE bound (default 100)")
    e.add_argument("--max-n", type=int, default=EVAL_N,
                   help=f"evaluate on the first N validation images (default {EVAL_N}: seconds, not minutes)")
    e.add_argument("--full", action="store_true", help="evaluate on every validation image (MNIST: "
                                                      "10,000; about a minute with IWAE-100 on two cores)")
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
    add_sweep_parsers(sub)
    from .cli_export import add_parser as add_export_parser   # export: TensorBoard, script, ONNX, zip
    add_export_parser(sub)
    from .cli_runs import add_parsers as add_run_parsers      # resume, import
    add_run_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return ns.fn(ns)
    except (ValueError, FileNotFoundError, MemoryError) as e:   # ConfigError, DataError, StoreError too
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:
        if not isinstance(e, _command_errors()):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _command_errors() -> tuple[type[Exception], ...]:
    """The errors besides ValueError that a command reports in one line: imported only when
    one is raised (the command that raised it has imported them already), so that ``--help``
    and a bad setting are answered without importing torch."""
    from .engine import EngineError
    from .store import SaveError
    return (EngineError, SaveError)

