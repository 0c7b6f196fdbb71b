"""Small networks the pages need (the β lab's judge, Explore's plane classifier), trained in
a child process instead of the server's.

The server's sessions share one interpreter: 40 epochs of training on its threads would hold
the GIL and a core while thirty students move sliders. So a page that needs one of these
networks calls :func:`train_judge` or :func:`train_plane_classifier`: they write the
labelled images as ``.npy`` files (read back with ``allow_pickle=False``) and the options as
JSON into a temporary folder, train in a child (:func:`explorer.processes.run_in`: forked from a
fork server that imported torch and this module once, so it starts in milliseconds) at nice
+10 on one torch thread (the same arithmetic as the CLI's, see
:func:`explorer.analysis.beta.judge.one_thread`), and read the network back from
safetensors with its facts from JSON; a failure comes back as one line. No
data is pickled either way (the child is given the job's name and the folder's path). The
calling thread only waits (without the GIL) while the child trains.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .. import processes
from .beta import classifier as beta_classifier
from .beta import judge as beta_judge
from . import plane_reading

NICE = 10                 # batch work, as the engine's workers (pages get the CPU first)
TIMEOUT_S = 900           # far above the minute the largest of these trainings takes here


class OffloadError(RuntimeError):
    """The child process failed; the message says why (its last line of error output)."""


def _run(job: str, arrays: dict[str, np.ndarray], options: dict) -> tuple[dict[str, torch.Tensor], dict]:
    with tempfile.TemporaryDirectory(prefix="le-offload-") as folder:
        d = Path(folder)
        for name, a in arrays.items():
            np.save(d / f"{name}.npy", np.ascontiguousarray(a), allow_pickle=False)
        (d / "options.json").write_text(json.dumps(options))
        try:
            processes.run_in(d, _train, (job,), name="offload-" + job, timeout=TIMEOUT_S)
        except TimeoutError:
            raise OffloadError(f"training the {job} took more than {TIMEOUT_S} s") from None
        except processes.ChildError as e:
            raise OffloadError(f"training the {job} failed: {e}") from None
        return load_file(str(d / "out.safetensors")), json.loads((d / "out.json").read_text())


def train_judge(x, y, *, seed: int = 0, n_classes: int | None = None, epochs: int = beta_judge.EPOCHS,
                min_steps: int = beta_judge.MIN_STEPS) -> tuple[beta_judge.Judge, dict]:
    """:func:`explorer.analysis.beta.judge.train_judge` in a child process: the same judge
    (same seed, one thread) and the same facts about it."""
    opts = {"seed": int(seed), "n_classes": None if n_classes is None else int(n_classes),
            "epochs": int(epochs), "min_steps": int(min_steps)}
    tensors, info = _run("judge", {"x": np.asarray(x, np.float32), "y": np.asarray(y, np.int64)}, opts)
    judge = beta_judge.from_state(tensors)
    return judge, info


def train_plane_classifier(x, y, class_names: list[str] | None, *, seed: int = 0
                           ) -> plane_reading.PlaneClassifier:
    """:func:`explorer.analysis.plane_reading.classifier_for` in a child process."""
    opts = {"seed": int(seed), "class_names": list(class_names) if class_names else None}
    tensors, info = _run("plane", {"x": np.asarray(x, np.float32), "y": np.asarray(y, np.int64)}, opts)
    return plane_reading.PlaneClassifier(model=beta_classifier.from_state(tensors),
                                         temperature=float(info["temperature"]),
                                         class_names=list(info["class_names"]),
                                         accuracy=float(info["accuracy"]), n_train=int(info["n_train"]))


# ------------------------------------------------------------------ the child's side

def _train(folder: Path, job: str) -> None:
    """The child (:func:`explorer.processes.run_in`): train ``job`` on the folder's arrays."""
    try:
        os.nice(NICE)
    except (AttributeError, OSError):      # no nice() here, or not permitted: train anyway
        pass
    torch.set_num_threads(1)
    x = np.load(folder / "x.npy", allow_pickle=False)
    y = np.load(folder / "y.npy", allow_pickle=False)
    opts = json.loads((folder / "options.json").read_text())
    if job == "judge":
        judge, info = beta_judge.train_judge(x, y, seed=opts["seed"], n_classes=opts["n_classes"],
                                             epochs=opts["epochs"], min_steps=opts["min_steps"])
        tensors = beta_judge.state(judge)
    elif job == "plane":
        clf = plane_reading.classifier_for(x, y, opts["class_names"], seed=opts["seed"])
        tensors = beta_classifier.state(clf.model)
        info = {"temperature": clf.temperature, "class_names": clf.class_names,
                "accuracy": clf.accuracy, "n_train": clf.n_train}
    else:
        raise ValueError(f"unknown job {job!r} (judge or plane)")
    save_file(tensors, str(folder / "out.safetensors"))
    (folder / "out.json").write_text(json.dumps(info))
