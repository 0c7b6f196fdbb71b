"""``python -m explorer resume RUN`` and ``python -m explorer import ZIP``.

    python -m explorer resume runs/my-run                 # on from the last checkpoint, exactly
    python -m explorer resume runs/my-run --epochs 80     # a finished run, trained further
    python -m explorer import my-run.zip                  # a run zip (the Runs page's export) as a new run

RUN is a run folder or a run id. Errors are ``ValueError``s (or the store's), which
:func:`explorer.cli.main` prints as one line with exit code 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_resume(ns: argparse.Namespace) -> int:
    import torch

    from .progress import Progress, print_summary
    from .store import find_run
    from .devices import resolve_device
    from .resume import resume

    run_dir = find_run(ns.run)
    bar: list = []

    def on_start(trainer) -> None:
        torch.set_num_threads(trainer.config.train.threads)
        print(f"resuming {run_dir} at step {trainer.step_count:,} of {trainer.total_steps:,} "
              f"(epoch {trainer.epoch_float:g} of {trainer.config.train.epochs})", file=sys.stderr)
        if not ns.quiet:
            bar.append(Progress(trainer.total_steps, start_step=trainer.step_count))

    def on_row(row, trainer) -> None:
        if bar:
            bar[0](row, trainer)

    trainer, _, summary = resume(run_dir, epochs=ns.epochs, data_path=ns.data_path, device=resolve_device(ns.device),
                           on_row=on_row, on_start=on_start, iwae_k=ns.iwae_k)
    if bar:
        bar[0].close()
    return print_summary(summary, run_dir, ns.iwae_k, kind=trainer.config.model.kind)


def cmd_import(ns: argparse.Namespace) -> int:
    from . import settings, store
    from .exchange import import_run
    path = Path(ns.zip).expanduser()
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror or e})") from None
    limit = max(settings.get().dataset_bytes, settings.get().upload_bytes)
    run_id = import_run(data, store.runs_root(), max_bytes=limit, file_name=path.name)
    print(f"imported: {store.runs_root() / run_id}  (run id {run_id}; the app lists it, Explore opens it)")
    return 0


def add_parsers(sub) -> None:
    """The ``resume`` and ``import`` subcommands, added to ``python -m explorer``'s parser."""
    from .cli_flags import add_device_flag
    r = sub.add_parser("resume", help="train a run on from its last checkpoint, exactly",
                       description="Train a run on from its last checkpoint (each epoch's end) in its "
                                   "folder: the same batches, noise and updates as a run that never "
                                   "stopped. A finished run goes on when given more --epochs.")
    r.add_argument("run", help="a run folder, or a run id (this server's runs)")
    r.add_argument("--epochs", type=int, default=None, help="train to this many epochs (default: the run's)")
    r.add_argument("--data-path", default=None, help="where the run's dataset is, if not where the run says")
    r.add_argument("--iwae-k", type=int, default=0, help="also estimate log p(x) with IWAE-k at the end")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_flag(r)
    r.set_defaults(fn=cmd_resume)

    i = sub.add_parser("import", help="import a run zip (as the Runs page exports it) as a new run",
                       description="Check a run zip completely (nothing is unpickled), then write it as a "
                                   "new run in the runs folder (setting LATENT_EXPLORER_RUNS).")
    i.add_argument("zip", help="the run zip")
    i.set_defaults(fn=cmd_import)
