"""The shipped β sweeps (trained/sweeps/, trained/sweep-*) show what they were designed to
show, in their measured numbers: (a) reconstructions lose sharpness as β grows, (b) the
train − validation IWAE gap shrinks as β grows, (c) samples are best at an interior β.
Their measures are re-made from the shipped weights where the data are offline (digits),
or checked against the weights and probe images (MNIST); `sweep-report` prints them, and
`sweep` runs a small sweep through the engine end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from explorer import data, paths, store
from explorer.analysis.beta import reading as beta_reading
from explorer.analysis.beta import report as beta_report
from explorer.analysis.beta import sweep

ROOT = paths.PROJECT_ROOT
SWEEPS = sweep.shipped_sweeps(store.SHIPPED_ROOT / "manifest.json")


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "explorer", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_both_sweeps_ship_with_their_measures():
    assert list(SWEEPS) == ["mnist", "digits"]
    for name, ids in SWEEPS.items():
        got = beta_report.load(beta_report.shipped_folder(name))
        assert got is not None and got.name == name
        assert got.betas == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
        assert [store.read_config(store.SHIPPED_ROOT / i).train.beta for i in ids] == got.betas
        assert set(got.images) == set(got.betas) and set(got.curves) == set(got.betas)
        assert all(len(c["epoch"]) == 300 for c in got.curves.values())   # a validation point an epoch
        # error bars over training seeds: at least three per β, each run measured on the same probe
        seeds = got.about["seeds"]
        assert len(seeds) >= 3 and seeds[0] == 0
        assert all(m["seeds"] == len(seeds) for m in got.measures)
        assert sorted((r["beta"], r["seed"]) for r in got.runs) == sorted(
            (b, s) for b in got.betas for s in seeds)
        assert all(set(got.seed_curves[b]) == set(seeds) for b in got.betas)
        for m in got.measures:
            for k in ("recon_sharpness", "sample_quality", "gap_iwae"):
                se = m[f"{k}_se"]           # 0 only where every seed scored the same (quality 0)
                assert se is not None and (se > 0 or m[k] == 0), (name, m["beta"], k)
        # the judge cannot be fooled by noise, the mean image or blur, and says how calibrated it is
        null = got.null
        assert null["uniform_noise_quality"] <= 0.1 and null["mean_image_quality"] <= 0.1
        assert null["blurred_quality"] <= 0.15 and null["real_images_quality"] > 0.6
        assert 0 <= null["classifier_ece"] < 0.1
        assert got.about["config"]["train"]["beta_schedule"] == "constant"   # what the runs used


@pytest.mark.parametrize("name", list(SWEEPS))
def test_sweep_is_one_design_that_differs_only_in_beta(name):
    cfgs = [store.read_config(store.SHIPPED_ROOT / i) for i in SWEEPS[name]]

    def without_beta(cfg):
        d = cfg.to_dict()
        d["train"].pop("beta")
        d.pop("name")
        return d
    assert all(without_beta(c) == without_beta(cfgs[0]) for c in cfgs)
    c = cfgs[0]
    assert (c.data.binarize, c.model.likelihood, c.train.beta_schedule) == ("threshold", "bernoulli", "constant")
    assert 10 <= c.model.latent_dim <= 16 and c.train.free_bits == 0.0


@pytest.mark.parametrize("name", list(SWEEPS))
def test_sweep_shows_blur_overfitting_and_a_sweet_spot(name):
    ms = beta_report.load(beta_report.shipped_folder(name)).measures
    rs = np.array([m["recon_sharpness"] for m in ms])
    rs_se = np.array([m["recon_sharpness_se"] for m in ms])
    assert np.all(np.diff(rs) < 0), rs                                   # (a)
    assert rs[0] - rs[-1] > 10 * np.hypot(rs_se[0], rs_se[-1])
    assert beta_reading.pointlike(ms[0]) and not any(beta_reading.pointlike(m) for m in ms[1:])  # β = 0: q(z|x) is a point
    gap = np.array([m["gap_iwae"] for m in ms[1:]])
    se = np.array([m["gap_iwae_se"] for m in ms[1:]])
    assert np.all(np.diff(gap) < 0.5), gap                                # (b), within noise
    assert gap[0] - gap[-1] > 10 * np.hypot(se[0], se[-1])
    sweet = beta_report.sweet_spot(ms)                                              # (c): interior, beyond error
    assert sweet and 0.0 not in sweet and 8.0 not in sweet, sweet
    q = {m["beta"]: m for m in ms}
    best = q[beta_report.best_beta(ms)]
    for end in (q[0.0], q[8.0]):
        assert best["sample_quality"] - end["sample_quality"] > 2 * np.hypot(
            best["sample_quality_se"], end["sample_quality_se"]) + 0.1
    assert ms[0]["code_radius"] > 5 * np.sqrt(ms[0]["latent_dim"])      # holes: codes far outside the prior
    assert ms[-1]["sample_sharpness"] < 0.5 * best["sample_sharpness"]   # blur


def _seed0(got, beta):
    return next(r for r in got.runs if r["beta"] == beta and r["seed"] == 0)


def test_the_digits_sweeps_seed_0_measures_are_remade_from_its_weights():
    """The shipped (seed-0) runs measured again here, with the same judge and probe: the
    numbers stored for seed 0 come back. (The other seeds' weights are not shipped.)"""
    ids = SWEEPS["digits"]
    cfg = store.read_config(store.SHIPPED_ROOT / ids[0])
    ds, pool = data.load(cfg.data), data.load(beta_report.pool_config(cfg.data))
    runs = {store.read_config(store.SHIPPED_ROOT / i).train.beta: store.SHIPPED_ROOT / i for i in ids}
    got = beta_report.load(beta_report.shipped_folder("digits"))
    new = beta_report.measure_folders(runs, ds, pool=(pool.x_train, pool.y_train))
    assert np.allclose(new.inputs, got.inputs, atol=1e-3)
    for k, v in got.null.items():
        if not k.startswith("judge_"):
            assert new.null[k] == pytest.approx(v, abs=1e-6), k
    for m in new.runs:
        old = _seed0(got, m["beta"])
        for k in ("recon_sharpness", "sample_sharpness", "val_iwae", "gap_iwae", "code_radius", "gap_elbo"):
            assert m[k] == pytest.approx(old[k], rel=1e-3, abs=1e-3), (m["beta"], k)
        assert m["sample_quality"] == pytest.approx(old["sample_quality"], abs=1e-6)
        assert m["active_units"] == old["active_units"]
        assert np.allclose(new.images[m["beta"]]["recon"], got.images[m["beta"]]["recon"], atol=2e-3)
    assert new.curves[1.0]["elbo"] == pytest.approx(got.curves[1.0]["elbo"])


def test_the_mnist_sweeps_pictures_come_from_its_weights():
    """No MNIST file here: the pictures are checked against the shipped weights and the
    probe images each run carries."""
    got = beta_report.load(beta_report.shipped_folder("mnist"))
    x, _, _ = store.load_probe(store.SHIPPED_ROOT / SWEEPS["mnist"][0])
    for rid in SWEEPS["mnist"]:
        run = store.open_run(store.SHIPPED_ROOT / rid)
        model = run.load_model("cpu")
        b = run.config.train.beta
        recon = model.reconstruct(torch.as_tensor(got.inputs)).numpy()
        assert np.allclose(recon, got.images[b]["recon"], atol=2e-3)
        samples = model.decode_mean(beta_report.prior_z(model.latent_dim, beta_report.N_SAMPLES))[:len(got.inputs)].numpy()
        assert np.allclose(samples, got.images[b]["samples"], atol=2e-3)
        # sharpness on the run's 500 probe images (the first 500 of the ordered test file) is
        # near that on the random 1,000 seed 0 was measured on (not equal: they differ)
        from explorer.analysis.beta.measures import relative_sharpness
        assert relative_sharpness(model.reconstruct(x).numpy(), x.numpy()) == pytest.approx(
            _seed0(got, b)["recon_sharpness"], abs=0.06)
    assert np.isin(got.inputs, [0.0, 1.0]).all()                         # binarised inputs


def _main(capsys, *args):
    """``python -m explorer *args`` in this process (the command's code, its exit code and
    output, without a second torch import): for the checks that are not about the process."""
    from explorer import cli
    capsys.readouterr()
    rc = cli.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, rc, out, err)


@pytest.mark.slow
def test_sweep_report_lists_and_prints_the_shipped_sweeps(capsys):
    """One real ``python -m explorer sweep-report`` process (MNIST's report, and --help);
    the listing, digits' report and the refusal run the same command in this process."""
    r = _main(capsys, "sweep-report", "--list")
    assert r.returncode == 0 and r.stdout.split() == ["mnist", "digits", "shapes"]   # β sweeps, then factor sweeps
    for name in ("mnist", "digits"):
        r = _cli("sweep-report", name, "--json") if name == "mnist" else _main(capsys, "sweep-report", name, "--json")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout.strip().splitlines()[-1])
        assert rep["sweep"] == name
        assert [list(row) for row in rep["rows"]] == [list(beta_report.ROW_KEYS)] * 7
        assert [row["beta"] for row in rep["rows"]] == sorted(row["beta"] for row in rep["rows"])
        want = beta_report.report(name, beta_report.load(beta_report.shipped_folder(name)))
        assert rep == json.loads(json.dumps(want))
        assert rep["sweet_spot"] and set(rep["null"]) == set(beta_report.NULL_HELP)
        assert rep["null"]["uniform_noise_quality"] <= 0.1
        assert all(row["seeds"] >= 3 and row["sample_quality_se"] is not None for row in rep["rows"])
    r = _cli("sweep-report", "--help")
    for k in (*beta_report.ROW_KEYS, *beta_report.NULL_HELP, "sweet_spot"):
        assert f"  {k} " in r.stdout, k
    r = _main(capsys, "sweep-report", "nope")
    assert r.returncode == 2 and "no shipped sweep of that name" in r.stderr


@pytest.mark.slow
def test_sweep_command_trains_through_the_engine_and_reports(tmp_path, capsys):
    """A real ``python -m explorer sweep`` process trains through the engine; reading its
    folder back and a bad β list run the command in this process."""
    out = tmp_path / "sweep"
    r = _cli("sweep", "--dataset", "digits", "--subset", "120", "--epochs", "3", "--latent-dim", "2",
             "--hidden", "32", "--betas", "0,4", "--out", str(out), "--measure-n", "60",
             "--measure-iwae-k", "5", "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "β=0 finished" in r.stderr and "100.0%" in r.stderr           # the progress bar
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert [row["beta"] for row in rep["rows"]] == [0.0, 4.0]
    runs = store.list_runs(out)
    assert len(runs) == 2 and {sweep.parse_run_name(x.config.name)[0] for x in runs} == {rep["sweep"]}
    assert all(x.config.data.subset == 120 and x.config.model.latent_dim == 2 for x in runs)
    r2 = _main(capsys, "sweep-report", str(out), "--json")
    assert r2.returncode == 0 and json.loads(r2.stdout.strip().splitlines()[-1]) == rep
    bad = _main(capsys, "sweep", "--dataset", "digits", "--betas", "0,x", "--out", str(tmp_path / "b"))
    assert bad.returncode == 2 and "'x' is not a number" in bad.stderr


def test_measuring_a_shipped_sweep_without_its_seeds_is_refused(capsys):
    """`pretrain` would otherwise replace the five-seed measures with seed 0's alone."""
    from explorer import cli
    assert cli.main(["pretrain", "--measure-only", "--only", SWEEPS["digits"][0]]) == 2
    err = capsys.readouterr().err
    assert "average 5 training seeds" in err and "--seeds-dir" in err
    got = beta_report.load(beta_report.shipped_folder("digits"))
    assert got.about["seeds"] == [0, 1, 2, 3, 4]                        # untouched
