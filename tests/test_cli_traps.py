"""The CLI's former traps, one test each (issue 26): a data path given alone, configs from a
file, resuming exactly, importing a zip, the device, the validation subset and cadence,
``eval``'s quick default, and ``latent-explorer app --help``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import options, store
from explorer.cli import main
from explorer.config import VAL_SUBSET_DEFAULT, RunConfig

from test_data import write_idx_folder

ROOT = Path(__file__).resolve().parent.parent


def _run(args, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    got = capsys.readouterr()
    return rc, got.out, got.err


def _own_npz(path: Path, n_train: int = 120, n_test: int = 0, side: int = 6, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arrays = {"x": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8), "y": rng.integers(0, 3, n_train)}
    if n_test:
        arrays = {"x_train": arrays["x"], "y_train": arrays["y"],
                  "x_test": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
                  "y_test": rng.integers(0, 3, n_test)}
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------ --data-path alone

def test_a_data_path_alone_that_does_not_exist_is_refused(tmp_path, capsys):
    rc, _, err = _run(["train", "--data-path", tmp_path / "nowhere.npz", "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "nowhere.npz: no such file or folder" in err
    assert not (tmp_path / "o").exists()


def test_a_data_path_with_a_dataset_that_reads_no_file_is_refused(tmp_path, capsys):
    f = _own_npz(tmp_path / "mine.npz")
    rc, _, err = _run(["train", "--dataset", "digits", "--data-path", f, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "--data-path" in err and "'digits' reads no file" in err
    assert not (tmp_path / "o").exists()


def test_an_own_file_alone_trains_as_your_own_data(tmp_path, capsys):
    f = _own_npz(tmp_path / "mine.npz")
    rc, _, err = _run(["train", "--data-path", f, "--epochs", "1", "--hidden", "8", "--quiet",
                       "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    assert "read as dataset 'file'" in err
    cfg = store.read_config(tmp_path / "o")
    assert cfg.data.name == "file" and cfg.data.path == str(f) and cfg.data.binarize == "none"
    assert store.read_summary(tmp_path / "o")["data_shape"] == [1, 6, 6]


def test_idx_files_are_told_by_their_folder_or_refused(tmp_path, capsys):
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 20),
              "x_test": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), "y_test": rng.integers(0, 10, 8)}
    fashion = write_idx_folder(tmp_path / "Fashion_MNIST" / "raw", arrays, (True, True, False, False))
    rc, out, err = _run(["train", "--data-path", fashion, "--print-config"], capsys)
    assert rc == 0, err
    cfg = RunConfig.from_json(out)
    assert cfg.data.name == "fashion-mnist" and cfg.data.binarize == "dynamic"
    assert "read as dataset 'fashion-mnist' (told by the folder's name)" in err
    plain = write_idx_folder(tmp_path / "data" / "raw", arrays, (True, True, True, True))
    rc, _, err = _run(["train", "--data-path", plain, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "--dataset mnist or --dataset fashion-mnist" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("pixel,told", [(34, "mnist"), (73, "fashion-mnist"), (128, None)])
def test_the_official_layout_is_told_by_its_pixels(tmp_path, pixel, told):
    from explorer.data import DataError
    from explorer.data.infer import infer_dataset
    f = tmp_path / "splits.npz"
    np.savez(f, x_train=np.full((60_000, 28, 28), pixel, np.uint8), y_train=np.zeros(60_000, np.uint8),
             x_test=np.full((10_000, 28, 28), pixel, np.uint8), y_test=np.zeros(10_000, np.uint8))
    if told is None:
        with pytest.raises(DataError, match="neither MNIST nor Fashion-MNIST"):
            infer_dataset(f)
    else:
        assert infer_dataset(f) == (told, f"the mean pixel of its test images ({pixel / 255:.2f})")


# ------------------------------------------------------------ configs

def test_config_file_and_print_config(tmp_path, capsys):
    rc, out, _ = _run(["train", "--dataset", "moons", "--latent-dim", "3", "--print-config"], capsys)
    assert rc == 0
    (tmp_path / "run.json").write_text(out)
    rc, out2, _ = _run(["train", "--config", tmp_path / "run.json", "--beta", "4", "--print-config"], capsys)
    assert rc == 0
    a, b = RunConfig.from_json(out), RunConfig.from_json(out2)
    assert b.train.beta == 4.0 and a.replace(train={"beta": 4.0}) == b
    (tmp_path / "bad.json").write_text('{"train": {"epochs": -1}}')
    rc, _, err = _run(["train", "--config", tmp_path / "bad.json"], capsys)
    assert rc == 2 and "bad.json" in err and "train.epochs" in err


def test_api_cli_and_app_start_from_the_same_defaults():
    from explorer.cli import build_parser, config_from_args
    from explorer.ui.train_form import widget_state
    page = widget_state(RunConfig())                          # the Train page's first values
    for dataset in ("digits", "mnist", "fashion-mnist", "moons"):
        cli = config_from_args(build_parser().parse_args(["train", "--dataset", dataset]))
        api = options.config_from({"dataset": dataset})
        assert cli == api == RunConfig.from_dict({"data": {"name": dataset}})
        mnist_like = dataset in ("mnist", "fashion-mnist")
        assert cli.data.binarize == (page["binarize"] if mnist_like else "none")
        rest = cli.replace(data={"name": "digits", "binarize": "none"})
        assert rest == RunConfig()                             # every other setting: the page's defaults


# ------------------------------------------------------------ resume, import

def test_resume_continues_exactly(tmp_path, capsys):
    common = ["--dataset", "digits", "--hidden", "32", "--binarize", "dynamic", "--batch-size", "64",
              "--quiet"]
    assert _run(["train", *common, "--epochs", "3", "--out", tmp_path / "a"], capsys)[0] == 0
    assert _run(["train", *common, "--epochs", "2", "--out", tmp_path / "b"], capsys)[0] == 0
    rc, out, err = _run(["resume", tmp_path / "b", "--epochs", "3", "--quiet"], capsys)
    assert rc == 0, err
    assert "resuming" in err and "at step" in err
    a, b = store.read_metrics(tmp_path / "a"), store.read_metrics(tmp_path / "b")
    assert [r["loss"] for r in a] == [r["loss"] for r in b] and len(a) == len(b)
    assert [r.get("val_elbo") for r in a] == [r.get("val_elbo") for r in b]
    assert store.read_summary(tmp_path / "a")["val"] == store.read_summary(tmp_path / "b")["val"]
    assert store.read_config(tmp_path / "b").train.epochs == 3
    rc, _, err = _run(["resume", tmp_path / "b"], capsys)
    assert rc == 2 and "--epochs" in err


def test_resume_refuses_a_run_without_its_trainer_state(tmp_path, capsys):
    assert _run(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--out", tmp_path / "a"], capsys)[0] == 0
    (tmp_path / "a" / "trainer_state.safetensors").unlink()
    rc, _, err = _run(["resume", tmp_path / "a", "--epochs", "2"], capsys)
    assert rc == 2 and "cannot resume exactly" in err


def test_import_a_run_zip(tmp_path, capsys, _isolated_runs):
    assert _run(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--out", tmp_path / "a"], capsys)[0] == 0
    assert _run(["export", tmp_path / "a", "--zip", tmp_path / "a.zip"], capsys)[0] == 0
    rc, out, _ = _run(["import", tmp_path / "a.zip"], capsys)
    assert rc == 0
    run_id = out.split("run id ")[1].split(";")[0]
    imported = store.open_run(_isolated_runs / run_id)
    assert imported.config.model == store.read_config(tmp_path / "a").model
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    rc, _, err = _run(["import", tmp_path / "junk.zip"], capsys)
    assert rc == 2 and "zip" in err


# ------------------------------------------------------------ device

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_flag_and_setting(tmp_path, capsys, monkeypatch):
    rc, _, err = _run(["train", "--device", "cuda", "--epochs", "1", "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "device 'cuda': no such CUDA device" in err
    monkeypatch.setenv("LATENT_EXPLORER_DEVICE", "cuda:0")
    rc, _, err = _run(["train", "--epochs", "1", "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "LATENT_EXPLORER_DEVICE" in err
    rc, _, err = _run(["train", "--device", "cpu", "--hidden", "8", "--epochs", "1", "--quiet",
                       "--out", tmp_path / "o"], capsys)
    assert rc == 0, err


# ------------------------------------------------------------ validation cadence, eval

def test_val_subset_and_eval_every(tmp_path, capsys):
    from explorer import data
    from explorer.training import evaluate, validation_rows
    f = _own_npz(tmp_path / "mine.npz", n_train=64, n_test=300)
    rc, _, err = _run(["train", "--data-path", f, "--hidden", "8", "--epochs", "4", "--batch-size", "32",
                       "--val-subset", "100", "--eval-every", "2", "--quiet", "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    rows = store.read_metrics(tmp_path / "o")
    assert [r["epoch"] for r in rows if "val_elbo" in r] == [2.0, 4.0]
    run = store.open_run(tmp_path / "o")
    keep = validation_rows(300, 100, run.config.data.split_seed)
    assert len(keep) == 100 and len(set(keep.tolist())) == 100
    ev = evaluate(run.load_model("cpu"), data.load(run.config.data), rows=keep, seed=run.config.train.seed)
    assert rows[-1]["val_elbo"] == pytest.approx(ev["elbo"], rel=1e-6)
    assert validation_rows(VAL_SUBSET_DEFAULT + 500, None, 0).numel() == VAL_SUBSET_DEFAULT   # large: capped
    assert validation_rows(VAL_SUBSET_DEFAULT + 500, 0, 0) is None                            # 0: all
    assert validation_rows(300, None, 0) is None                                              # small: all


def test_eval_is_quick_by_default_and_full_on_request(tmp_path, capsys):
    f = _own_npz(tmp_path / "mine.npz", n_train=64, n_test=700)
    assert _run(["train", "--data-path", f, "--hidden", "8", "--epochs", "1", "--quiet",
                 "--out", tmp_path / "o"], capsys)[0] == 0
    rc, out, _ = _run(["eval", tmp_path / "o", "--iwae-k", "2", "--threads", "1"], capsys)
    assert rc == 0 and "n=500" in out and "on the first 500 of 700 validation images: --full" in out
    rc, out, _ = _run(["eval", tmp_path / "o", "--iwae-k", "2", "--threads", "1", "--full", "--json"], capsys)
    res = json.loads(out)
    assert res["n"] == res["n_val"] == 700


def test_app_help_is_this_projects_help():
    r = subprocess.run([sys.executable, "-m", "explorer.launcher", "app", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.startswith("usage: latent-explorer app") and "LATENT_EXPLORER_RUNS" in r.stdout
    assert "streamlit run --help" in r.stdout and len(r.stdout.splitlines()) < 40


# ------------------------------------------------------------ exports

def test_exported_script_keeps_the_data_path_and_says_what_to_give(tmp_path, capsys):
    f = _own_npz(tmp_path / "mine.npz", n_train=64, n_test=20)
    assert _run(["train", "--data-path", f, "--hidden", "8", "--epochs", "1", "--quiet",
                 "--out", tmp_path / "o"], capsys)[0] == 0
    assert _run(["export", tmp_path / "o", "--script", tmp_path / "s.py"], capsys)[0] == 0
    text = (tmp_path / "s.py").read_text()
    assert f'"path": "{f.resolve()}"' in text                    # the run's own data, where it is
    r = subprocess.run([sys.executable, str(tmp_path / "s.py"), "--epochs", "1", "--data", str(tmp_path / "gone.npz")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "gone.npz: no such file; give the run's data with --data PATH" in r.stderr


def test_exported_mnist_script_offline_says_where_to_put_the_files(tmp_path):
    from explorer.export.script import render
    text = render(RunConfig.from_dict({"data": {"name": "mnist"}}), (1, 28, 28))
    url = text.split('URL, SHA256 = "')[1].split('"')[0]
    closed = socket_port()
    (tmp_path / "s.py").write_text(text.replace(url, f"http://127.0.0.1:{closed}/"))   # no server there
    r = subprocess.run([sys.executable, str(tmp_path / "s.py"), "--epochs", "1", "--data", str(tmp_path / "mnist")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "cannot download" in r.stderr and "offline?" in r.stderr and str(tmp_path / "mnist") in r.stderr


def socket_port() -> int:
    """A loopback port with nothing listening on it."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_without_replay_has_the_final_images_and_hparams(tmp_path, capsys):
    assert _run(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--out", tmp_path / "o"], capsys)[0] == 0
    rc, out, _ = _run(["export", tmp_path / "o", "--tensorboard", tmp_path / "tb", "--no-replay", "--json"], capsys)
    report = json.loads(out)["tensorboard"]
    assert rc == 0 and report["images"] == 2 and report["images_from"] == "final" and report["embedded"] > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path / "tb" / "o" / "hparams"))
    acc.Reload()
    assert "_hparams_/experiment" in acc.summary_metadata and "hparams/val_elbo" in acc.Tags()["scalars"]
