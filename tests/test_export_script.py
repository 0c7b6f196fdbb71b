"""The exported PyTorch script (explorer.export.script): it imports only torch, numpy and
what the dataset needs, takes pytorch/examples-style flags, and, run for a few epochs,
gives the validation numbers of the app's own run with the same seed and settings.

Tolerance: TOL = 0.01 nats per image. The script uses plain torch.optim.Adam where the app
uses its fused kernel (the same update, rounded differently); on a CPU the two agreed to
within 4e-7 nats in every case here, so a wrong split, seed, layer order, loss or schedule
(each worth far more than 0.01 nats) fails."""
from __future__ import annotations

import ast
import gzip
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer import cli, data, store
from explorer.config import BETA_SCHEDULES, RunConfig
from explorer.export import script
from explorer.export.own_model import open_own_model
from explorer.training import evaluate, fit

TOL = 0.01
ALLOWED_IMPORTS = {"argparse", "gzip", "hashlib", "urllib.request", "json", "math", "pathlib", "numpy",
                   "torch", "torch.nn.functional", "torch.nn", "sklearn.datasets", "safetensors.torch"}


def _run_script(path, *args, cwd=None):
    """``python train_vae.py ARGS``, a real process of its own: its stdout."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=env,
                         cwd=cwd, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


# A process started once for the module imports what every exported script imports (torch,
# numpy, sklearn's datasets; torch._dynamo, which Adam's first use imports) and forks a fresh
# child per script run, which runs the script as `python train_vae.py ARGS` does: as
# ``__main__``, its folder first on sys.path, its argv, its working folder, its stdout and
# stderr, its exit code; in a process holding nothing of the app's or pytest's state. Each
# run would otherwise spend ~3 of its ~4.5 CPU-s importing them again. (A script's imports
# are checked from its text, :func:`_imports`; test_flags_help_and_save_round_trip runs one
# script as a real `python train_vae.py`, a process of its own.)
FORK_RUNNER = r"""
import json, os, runpy, sys, traceback
import numpy, sklearn.datasets, torch, torch._dynamo
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd, name in ((1, "out"), (2, "err")):
                os.dup2(os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            if job["cwd"]:
                os.chdir(job["cwd"])
            sys.argv, sys.path[0] = [job["script"], *job["args"]], os.path.dirname(job["script"])
            runpy.run_path(job["script"], run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


@pytest.fixture(scope="module")
def run_forked(tmp_path_factory):
    """``run(path, *args, cwd=None)``: the script run in a child of the module's runner
    (:data:`FORK_RUNNER`); returns its stdout, as :func:`_run_script` does."""
    logs = tmp_path_factory.mktemp("script-runs")
    runner = subprocess.Popen([sys.executable, "-c", FORK_RUNNER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    runs = []

    def run(path, *args, cwd=None):
        runs.append(path)
        out, err = logs / f"{len(runs)}.out", logs / f"{len(runs)}.err"
        runner.stdin.write(json.dumps({"script": str(path), "args": [str(a) for a in args],
                                       "cwd": str(cwd) if cwd else "", "out": str(out), "err": str(err)}) + "\n")
        runner.stdin.flush()
        code = runner.stdout.readline().strip()
        assert code == "0", (code, err.read_text()[-3000:] if err.exists() else "the runner died")
        return out.read_text()
    yield run
    runner.stdin.close()
    runner.wait(30)


def _numbers(stdout: str) -> dict[str, float]:
    last = stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", last)}


def _app_and_script(cfg: RunConfig, tmp_path, run, *args):
    """The app's run of ``cfg`` (fit) and the exported script's, same settings (run by
    ``run``, :func:`run_forked`'s): their last validation numbers (the script's from its
    final line) and the script's text."""
    torch.set_num_threads(1)
    ds = data.load(cfg.data)
    trainer, _, _ = fit(cfg, ds, tmp_path / "app-run")
    path = tmp_path / "train_vae.py"
    path.write_text(script.script_for_run(tmp_path / "app-run"))
    return trainer, _numbers(run(path, *args, cwd=tmp_path)), path.read_text()


def _imports(text: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module)
    return found


CASES = {
    "mlp-gaussian-warmup": {"model": {"hidden": [32, 16], "likelihood": "gaussian"},
                            "train": {"epochs": 3, "batch_size": 64, "seed": 3, "beta": 2.0,
                                      "beta_schedule": "warmup", "warmup_steps": 40}},
    "conv-bernoulli-dynamic-cyclical": {
        "data": {"binarize": "dynamic", "subset": 600},
        "model": {"body": "conv", "hidden": [32], "likelihood": "bernoulli", "latent_dim": 3},
        "train": {"epochs": 2, "batch_size": 50, "beta_schedule": "cyclical", "cycle_steps": 10,
                  "mc_samples": 2, "grad_clip": 5.0}},
    "ae-threshold": {"data": {"binarize": "threshold", "threshold": 0.3},
                     "model": {"kind": "ae", "hidden": [32], "likelihood": "bernoulli"},
                     "train": {"epochs": 2, "batch_size": 64}},
    "pinwheel-capacity": {"data": {"name": "pinwheel", "n_points": 1000},
                          "model": {"hidden": [32, 32], "likelihood": "gaussian", "sigma": 0.05},
                          "train": {"epochs": 2, "beta_schedule": "capacity", "capacity_max": 3.0,
                                    "capacity_steps": 30}},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_script_reproduces_the_apps_run(case, tmp_path, run_forked):
    cfg = RunConfig.from_dict(CASES[case])
    trainer, got, text = _app_and_script(cfg, tmp_path, run_forked)
    assert not {m for m in _imports(text) if m not in ALLOWED_IMPORTS}, _imports(text)
    assert "explorer" not in text.replace("Latent Explorer", "").replace("latent-explorer", "")
    want = trainer.last_val
    if cfg.model.kind == "ae":
        assert "val_elbo" not in got                              # an autoencoder has no ELBO
        assert got["val_recon"] == pytest.approx(want["recon"], abs=TOL)
    else:
        assert got["val_elbo"] == pytest.approx(want["elbo"], abs=TOL)
        assert got["val_kl"] == pytest.approx(want["kl"], abs=TOL)
    assert got["active_units"] == want["active_units"]


@pytest.mark.slow
def test_mnist_from_idx_files_and_own_npz(tmp_path, run_forked):
    """The MNIST loader reads the four gzipped IDX files of a folder (here: small fake ones);
    the own-data loader an .npz of images with labels."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist-files"
    folder.mkdir()
    for name, n, images in (("train-images-idx3-ubyte", 300, True), ("train-labels-idx1-ubyte", 300, False),
                            ("t10k-images-idx3-ubyte", 100, True), ("t10k-labels-idx1-ubyte", 100, False)):
        body = rng.integers(0, 256 if images else 10, (n, 28, 28) if images else n, dtype=np.uint8)
        head = (b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2) if images \
            else (b"\x00\x00\x08\x01" + n.to_bytes(4, "big"))
        (folder / f"{name}.gz").write_bytes(gzip.compress(head + body.tobytes()))
    cfg = RunConfig.from_dict({"data": {"name": "mnist", "path": str(folder), "binarize": "none"},
                               "model": {"hidden": [16], "learn_sigma": True, "likelihood": "gaussian"},
                               "train": {"epochs": 1, "beta_schedule": "free_bits", "free_bits": 0.3}})
    trainer, got, text = _app_and_script(cfg, tmp_path / "a", run_forked, "--data", str(folder))
    assert str(folder) not in text                      # no path of this machine in a shared script
    assert got["val_elbo"] == pytest.approx(trainer.last_val["elbo"], abs=TOL)

    own = tmp_path / "own.npz"
    np.savez(own, x=rng.integers(0, 256, (200, 10, 10), dtype=np.uint8), y=rng.integers(3, 6, 200))
    cfg = RunConfig.from_dict({"data": {"name": "file", "path": str(own), "val_fraction": 0.25},
                               "model": {"hidden": [16]}, "train": {"epochs": 2}})
    trainer, got, text = _app_and_script(cfg, tmp_path / "b", run_forked, "--data", str(own))
    assert str(own) not in text and '"path": "own.npz"' in text
    assert got["val_elbo"] == pytest.approx(trainer.last_val["elbo"], abs=TOL)


@pytest.mark.slow
def test_flags_help_and_save_round_trip(tmp_path, run_forked):
    """--help, --epochs and --seed as in pytorch/examples; --save writes safetensors + JSON that
    open as a new run, whose model evaluates to the script's own numbers. The training run is
    a real `python train_vae.py` process (the module's one)."""
    run = store.SHIPPED_ROOT / "digits-vae-z2-b1"
    path = tmp_path / "train_vae.py"
    assert cli.main(["export", str(run), "--script", str(path)]) == 0
    help_text = run_forked(path, "--help")
    for flag in ("--epochs", "--seed", "--batch-size", "--lr", "--beta", "--save"):
        assert flag in help_text
    got = _numbers(_run_script(path, "--epochs", "2", "--seed", "5", "--save", str(tmp_path / "saved")))
    files = {p.name: p.read_bytes() for p in (tmp_path / "saved").iterdir()}
    assert set(files) == {"weights.safetensors", "config.json", "summary.json"}
    runs = tmp_path / "runs"
    run_id = open_own_model(files, runs, max_bytes=50 * 2**20, owner="me")
    opened = store.open_run(runs / run_id)
    assert opened.config.train.epochs == 2 and opened.config.train.seed == 5
    model = opened.load_model("cpu")
    ev = evaluate(model, data.load(opened.config.data), seed=5)
    assert ev["elbo"] == pytest.approx(got["val_elbo"], abs=1e-4)   # the same weights, the same evaluation
    assert opened.summary["owner"] == "me"


def test_every_setting_renders_to_a_script_that_compiles():
    """Each dataset group, body, likelihood, kind, schedule and binarisation gives a script
    (compiled by render) holding only the parts it uses."""
    combos = [({"data": {"name": name}}, name) for name in ("digits", "mnist", "fashion-mnist", "moons",
                                                             "circles", "swissroll", "pinwheel", "gaussians")]
    combos += [({"train": {"beta_schedule": s}}, s) for s in BETA_SCHEDULES]
    combos += [({"model": {"body": "conv"}}, "conv"), ({"model": {"kind": "ae"}}, "ae"),
               ({"data": {"binarize": "dynamic"}}, "dynamic"), ({"model": {"learn_sigma": True}}, "learn")]
    for d, label in combos:
        cfg = RunConfig.from_dict(d)
        shape = store.data_shape_of(cfg)
        text = script.render(cfg, shape)
        assert "{{" not in text and "#[" not in text and "#]" not in text, label
        n = len(text.splitlines())
        assert 120 <= n <= 225, (label, n)     # MNIST: its download (with the offline message) and dynamic binarisation
        if cfg.data.is_toy:
            assert "class ConvEncoder" not in text and "load_digits" not in text
        if cfg.model.kind == "ae":
            assert "beta_at" not in text and "ELBO" in text          # says there is none
    conv = script.render(RunConfig.from_dict({"model": {"body": "conv"}}), (1, 8, 8))
    assert "class ConvEncoder" in conv and "nn.Flatten(), mlp(" not in conv
    warm = script.render(RunConfig.from_dict({"train": {"beta_schedule": "warmup", "warmup_steps": 321}}),
                         (1, 8, 8))
    assert '"warmup_steps": 321' in warm and "capacity" not in warm
    const = script.render(RunConfig.from_dict({"train": {"beta_schedule": "constant"}}), (1, 8, 8))
    assert "warmup_steps" not in const


def test_template_errors_are_reported():
    with pytest.raises(script.ScriptError, match="never opened"):
        script.cut("a\n#]\n", set())
    with pytest.raises(script.ScriptError, match="open"):
        script.cut("#[x\na\n", set())
    assert script.cut("#[a|b\nkept\n#]\n#[!a\ndropped\n#]\n", {"a"}) == "kept\n"
