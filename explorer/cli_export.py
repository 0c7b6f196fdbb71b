"""``python -m explorer export RUN ...``: a run in the formats practitioners use.

    python -m explorer export runs/my-run --tensorboard tb/        # then: tensorboard --logdir tb/
    python -m explorer export digits-vae-z2-b1 --script train_vae.py
    python -m explorer export runs/my-run --onnx onnx/ --zip my-run.zip

RUN is a run folder, or the id of one of this server's runs or of a shipped run. Any
number of outputs may be asked at once. Every error raised here is a ``ValueError``, which
``explorer.cli.main`` prints as one line on stderr with exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class ExportError(ValueError):
    """An export cannot be made; the message says why."""


def find_run(text: str) -> Path:
    """A run folder from a path, or from a run id under the runs folder or trained/."""
    from . import store
    p = Path(text).expanduser()
    if (p / store.CONFIG).is_file():
        return p
    for root in (store.runs_root(), store.SHIPPED_ROOT):
        try:
            candidate = Path(root) / store.check_run_id(text)
        except store.StoreError:
            break
        if (candidate / store.CONFIG).is_file():
            return candidate
    raise ExportError(f"{text}: no such run folder, and no run of this id in {store.runs_root()} "
                      f"or {store.SHIPPED_ROOT}")


def _tensorboard(run_dir: Path, ns, out: dict) -> None:
    from .export.tensorboard import report_json, write_tensorboard
    from .data import available_offline
    from .store import open_run
    cfg = open_run(run_dir).config
    if ns.data_path:
        cfg.data.path = ns.data_path
    replay = ns.replay if ns.replay is not None else available_offline(cfg.data)
    report = write_tensorboard(run_dir, Path(ns.tensorboard), replay=replay, data_path=ns.data_path,
                               on_progress=lambda text: print(text, file=sys.stderr))
    out["tensorboard"] = json.loads(report_json(report))
    if not ns.json:
        print(f"TensorBoard: {report.folder}  ({report.scalars} scalars, {report.images} images at "
              f"{len(report.image_steps)} steps, {report.embedded} points in the projector)")
        for note in report.notes:
            print(f"  {note}")
        print(f"  view with: tensorboard --logdir {ns.tensorboard}")


def _script(run_dir: Path, ns, out: dict) -> None:
    from .export.script import script_for_run
    from .store import atomic_write_text
    path = Path(ns.script)
    text = script_for_run(run_dir, file_name=path.name)
    atomic_write_text(path, text)
    out["script"] = {"path": str(path), "lines": len(text.splitlines())}
    if not ns.json:
        print(f"script: {path} ({len(text.splitlines())} lines)  run it with: python {path} --help")


def _onnx(run_dir: Path, ns, out: dict) -> None:
    from .export.downloads import onnx_files
    from .store import atomic_write_bytes
    folder = Path(ns.onnx)
    folder.mkdir(parents=True, exist_ok=True)
    out["onnx"] = {}
    for name, data in onnx_files(run_dir).items():
        atomic_write_bytes(folder / name, data)
        out["onnx"][name] = str(folder / name)
    if not ns.json:
        print("ONNX: " + ", ".join(out["onnx"].values()))


def _zip(run_dir: Path, ns, out: dict) -> None:
    from .exchange import export_run
    from .store import atomic_write_bytes
    atomic_write_bytes(Path(ns.zip), export_run(run_dir))
    out["zip"] = str(ns.zip)
    if not ns.json:
        print(f"run zip: {ns.zip}  (opens on the Runs page's import, or in Explore)")


def cmd_export(ns: argparse.Namespace) -> int:
    wanted = [(opt, fn) for opt, fn in (("tensorboard", _tensorboard), ("script", _script),
                                        ("onnx", _onnx), ("zip", _zip)) if getattr(ns, opt)]
    if not wanted:
        raise ExportError("say what to export: --tensorboard DIR, --script FILE, --onnx DIR or --zip FILE")
    import torch
    torch.set_num_threads(ns.threads)
    run_dir = find_run(ns.run)
    out: dict = {"run": str(run_dir)}
    for _, fn in wanted:
        fn(run_dir, ns, out)
    if ns.json:
        print(json.dumps(out))
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """The ``export`` subcommand, added to ``python -m explorer``'s parser."""
    x = subparsers.add_parser("export", help="write a run as TensorBoard logs, a PyTorch script, ONNX or a zip",
                              description="Write a run as TensorBoard event files, one runnable PyTorch "
                                          "script, ONNX files or a run zip.")
    x.add_argument("run", help="a run folder, or a run id (this server's runs, then the shipped ones)")
    x.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files under DIR/<run id>/")
    x.add_argument("--replay", action=argparse.BooleanOptionalAction, default=None,
                   help="re-train the run from its seed to draw images at every epoch (default: when "
                        "its data are on this machine; --no-replay: the final model's images only)")
    x.add_argument("--script", metavar="FILE", help="write one runnable PyTorch file that reproduces the run")
    x.add_argument("--onnx", metavar="DIR", help="write encoder.onnx and decoder.onnx into DIR")
    x.add_argument("--zip", metavar="FILE", help="write the run zip (as the Runs page exports it)")
    x.add_argument("--data-path", default=None, help="where the run's dataset is, if not where the run says")
    x.add_argument("--threads", type=int, default=2)
    x.add_argument("--json", action="store_true", help="print one JSON object of what was written")
    x.set_defaults(fn=cmd_export)
    return x

