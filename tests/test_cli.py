"""python -m explorer train / eval: flags, run folders, JSON output, clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.config import RunConfig

from explorer.cli import build_parser, config_from_args, main

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_field_is_a_flag():
    ns = build_parser().parse_args(["train", "--dataset", "moons", "--model", "ae", "--latent-dim", "3",
                                    "--beta", "2", "--epochs", "1", "--batch-size", "16", "--lr", "0.01",
                                    "--seed", "5", "--hidden", "32,16", "--beta-schedule", "warmup",
                                    "--warmup-steps", "10", "--likelihood", "gaussian", "--learn-sigma",
                                    "--toy-points", "200", "--subset", "100", "--mc-samples", "2"])
    cfg = config_from_args(ns)
    assert cfg.data.name == "moons" and cfg.model.kind == "ae" and cfg.model.latent_dim == 3
    assert cfg.train.beta == 2.0 and cfg.train.batch_size == 16 and cfg.model.hidden == [32, 16]
    assert cfg.model.learn_sigma is True and cfg.data.n_points == 200 and cfg.data.subset == 100
    assert cfg.train.mc_samples == 2 and cfg.train.beta_schedule == "warmup"


def test_train_then_eval_json(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "digits", "--epochs", "2", "--hidden", "32", "--out", str(out), "--quiet"])
    assert rc == 0
    assert (out / "weights.safetensors").is_file() and (out / "metrics.csv").is_file()
    capsys.readouterr()
    assert main(["eval", str(out), "--iwae-k", "20", "--json", "--threads", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"elbo", "recon", "kl", "active_units", "iwae"} <= set(res)
    assert res["elbo"] == pytest.approx(-(res["recon"] + res["kl"]))
    assert res["iwae"] > res["elbo"] - 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["val"]["elbo"] == pytest.approx(res["elbo"], rel=1e-6)
    from explorer import data, store
    from explorer.analysis.latent import knn_accuracy
    run = store.open_run(out)
    ds = data.load(run.config.data)
    mu, _ = run.load_model("cpu").encode_mean(ds.x_val)
    assert res["knn5_acc"] == pytest.approx(knn_accuracy(mu.numpy(), ds.y_val.numpy(), 5))
    assert 0.1 < res["knn5_acc"] <= 1.0


def test_the_cli_starts_from_the_train_pages_defaults():
    from explorer.cli import build_parser, config_from_args
    from explorer.ui.train_form import widget_state
    for dataset in ("digits", "mnist", "fashion-mnist", "moons"):
        cfg = config_from_args(build_parser().parse_args(["train", "--dataset", dataset]))
        page = widget_state(RunConfig())                 # the widgets' first values
        assert cfg.data.binarize == (page["binarize"] if dataset in ("mnist", "fashion-mnist") else "none")
        assert cfg == RunConfig.from_dict({"data": {"name": dataset}})      # one default: the config's
    helptext = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert all(name in helptext for name in ("digits", "mnist", "fashion-mnist", "moons", "file"))


@pytest.mark.parametrize("args,msg", [
    (["train", "--beta", "-1"], "train.beta"),
    (["train", "--latent-dim", "0"], "latent_dim"),
    (["train", "--lr", "1000"], "train.lr"),
    (["train", "--dataset", "file", "--data-path", "/nonexistent.npz"], "nonexistent"),
    (["train", "--hidden", "a,b"], "hidden"),
    (["eval", "/nonexistent/run"], "no such run folder"),
])
def test_bad_input_is_one_line_not_a_traceback(args, msg, tmp_path):
    r = subprocess.run([sys.executable, "-m", "explorer"] + args + (["--out", str(tmp_path / "o")] if args[0] == "train" else []),
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert msg in r.stderr


def test_offline_mnist_says_where_to_put_files(tmp_path, monkeypatch, capsys):
    """The command in this process (its one-line errors as a process: the test above; an
    exception escaping ``main`` would fail this test as a traceback would)."""
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "cache"))
    capsys.readouterr()
    assert main(["train", "--dataset", "mnist", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: ")
    assert str(tmp_path / "cache") in err
