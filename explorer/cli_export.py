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


def _tensorboard(run_dir: Path, folder, out: dict, say, *, replay=None, data_path=None) -> None:
    from .data import available_offline
    from .export.tensorboard import report_json, write_tensorboard
    from .store import onnx_model_only, open_run
    cfg = open_run(run_dir).config
    if data_path:
        cfg.data.path = data_path
    replay = replay if replay is not None else available_offline(cfg.data) and not onnx_model_only(run_dir)
    report = write_tensorboard(run_dir, Path(folder), replay=replay, data_path=data_path,
                               on_progress=lambda text: print(text, file=sys.stderr))
    out["tensorboard"] = json.loads(report_json(report))
    if say:
        say(f"TensorBoard: {report.folder}  ({report.scalars} scalars, {report.images} images at "
            f"{len(report.image_steps)} steps, {report.embedded} points in the projector, HParams)")
        for note in report.notes:
            say(f"  {note}")
        say(f"  view with: tensorboard --logdir {folder}")


def _script(run_dir: Path, file, out: dict, say, **_) -> None:
    from .export.script import script_for_run
    from .store import atomic_write_text
    path = Path(file)
    text = script_for_run(run_dir, file_name=path.name, keep_path=True)
    atomic_write_text(path, text)
    out["script"] = {"path": str(path), "lines": len(text.splitlines())}
    if say:
        say(f"script: {path} ({len(text.splitlines())} lines)  run it with: python {path} --help")


def _onnx(run_dir: Path, folder, out: dict, say, **_) -> None:
    from .export.downloads import onnx_files
    from .store import atomic_write_bytes
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out["onnx"] = {}
    for name, data in onnx_files(run_dir).items():
        atomic_write_bytes(folder / name, data)
        out["onnx"][name] = str(folder / name)
    if say:
        say("ONNX: " + ", ".join(out["onnx"].values()))


def _zip(run_dir: Path, file, out: dict, say, **_) -> None:
    from .exchange import export_run
    from .store import atomic_write_bytes
    atomic_write_bytes(Path(file), export_run(run_dir))
    out["zip"] = str(file)
    if say:
        say(f"run zip: {file}  (opens on the Runs page's import, or in Explore)")


_WRITERS = (("tensorboard", _tensorboard), ("script", _script), ("onnx", _onnx), ("zip", _zip))


def write_exports(run_dir: Path, *, tensorboard=None, script=None, onnx=None, zip=None, replay=None,
                  data_path: str | None = None, say=None) -> dict:
    """Write the asked exports of ``run_dir`` (a TensorBoard folder, a script file, an ONNX
    folder, a zip file); returns what was written. ``say(line)`` hears a line per export."""
    asked = {"tensorboard": tensorboard, "script": script, "onnx": onnx, "zip": zip}
    if not any(asked.values()):
        raise ExportError("say what to export: --tensorboard DIR, --script FILE, --onnx DIR or --zip FILE")
    out: dict = {"run": str(run_dir)}
    for name, fn in _WRITERS:
        if asked[name]:
            fn(Path(run_dir), asked[name], out, say, replay=replay, data_path=data_path)
    return out


def cmd_export(ns: argparse.Namespace) -> int:
    import torch

    from .store import find_run
    torch.set_num_threads(ns.threads)
    out = write_exports(find_run(ns.run), tensorboard=ns.tensorboard, script=ns.script, onnx=ns.onnx,
                        zip=ns.zip, replay=ns.replay, data_path=ns.data_path,
                        say=None if ns.json else print)
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
    x.add_argument("--script", metavar="FILE", help="write one runnable PyTorch file that reproduces the run "
                                                    "(it reads the run's data path; --data PATH changes it)")
    x.add_argument("--onnx", metavar="DIR", help="write encoder.onnx and decoder.onnx into DIR")
    x.add_argument("--zip", metavar="FILE", help="write the run zip (as the Runs page exports it)")
    x.add_argument("--data-path", default=None, help="where the run's dataset is, if not where the run says")
    x.add_argument("--threads", type=int, default=2)
    x.add_argument("--json", action="store_true", help="print one JSON object of what was written")
    x.set_defaults(fn=cmd_export)
    return x

