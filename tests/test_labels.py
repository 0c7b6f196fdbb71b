"""Labels a learner can trust (issue 12, item 5): the capacity and free-bits schedules plot
the penalty they use, on training and validation alike; an autoencoder shows no ELBO; a
Gaussian's negative numbers are explained beside the per-pixel squared error; a Bernoulli
on grey pixels is said to be no bound; β is the same number in charts and tables."""
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import app_factory

from explorer import paths, store
from explorer.config import RunConfig, TrainConfig
from explorer.engine import Status
from explorer.figures import runs as runs_figures
from explorer.figures import training as training_figures
from explorer.runs import RunEntry, RunView
from explorer.ui.live import number_notes


def _val_rows():
    return [{"step": s, "val_recon": 30.0, "val_kl": kl, "beta": 2.0,
             "val_kl_per_dim": [kl / 2, kl / 2]} for s, kl in ((100, 4.0), (200, 10.0), (400, 30.0))]


def _val(df, term):
    return df[(df["term"] == term) & (df["split"] == "validation")]["value"].tolist()


def test_capacity_runs_plot_beta_times_the_distance_from_c_on_validation_too():
    train = TrainConfig(beta_schedule="capacity", capacity_max=20.0, capacity_steps=400)
    df = training_figures.curve_frame([], _val_rows(), train=train)
    # C = 20·min(1, step/400): 5, 10, 20; penalty 2·|KL − C|
    assert _val(df, "beta_kl") == pytest.approx([2 * 1.0, 0.0, 2 * 10.0])
    assert _val(df, "total") == pytest.approx([32.0, 30.0, 50.0])
    assert training_figures.term_title("beta_kl", "capacity") == "β·|KL − C| (the capacity penalty)"
    spec = training_figures.live_spec("loss", term="total", legend=False, schedule="capacity")
    assert spec["title"] == "Total loss = recon + β·|KL − C|"


def test_free_bits_runs_plot_the_floored_sum_and_leave_out_what_they_cannot_compute():
    train = TrainConfig(beta_schedule="free_bits", free_bits=3.0)
    rows = _val_rows()
    df = training_figures.curve_frame([], rows, train=train)
    # per dimension KL/2 = 2, 5, 15, floored at 3: 2·(3+3), 2·(5+5), 2·(15+15)
    assert _val(df, "beta_kl") == pytest.approx([12.0, 20.0, 60.0])
    del rows[0]["val_kl_per_dim"]
    got = _val(training_figures.curve_frame([], rows, train=train), "beta_kl")
    assert np.isnan(got[0]) and got[1:] == pytest.approx([20.0, 60.0])     # not drawn, not guessed
    assert "max(KL_d, λ)" in training_figures.term_title("beta_kl", "free_bits")
    with_penalty = [dict(r, val_penalty=7.0) for r in rows]           # a row that carries its penalty
    assert _val(training_figures.curve_frame([], with_penalty, train=train), "beta_kl") == [7.0, 7.0, 7.0]
    plain = training_figures.curve_frame([], _val_rows(), train=TrainConfig(beta_schedule="constant"))
    assert _val(plain, "beta_kl") == pytest.approx([8.0, 20.0, 60.0])      # β·KL
    assert training_figures.term_title("beta_kl") == training_figures.TERM_TITLES["beta_kl"]


def _entry(kind="vae", beta_now=None, likelihood="bernoulli", binarize="none"):
    cfg = RunConfig.from_dict({"data": {"name": "digits", "binarize": binarize},
                               "model": {"kind": kind, "likelihood": likelihood},
                               "train": {"beta": 4.0}})
    summary = {"train": {"recon": 10.0, "kl": 2.0, "elbo": -12.0},
               "val": {"recon": 12.0, "kl": 2.0, "elbo": -14.0, "active_units": 2}, "epochs": 3}
    return RunEntry(run_id="r1", run_dir=store.runs_root() / "r1", status=Status.FINISHED,
                    summary=summary, beta=beta_now, config_json=cfg.to_json())


def test_an_autoencoder_has_no_elbo_in_the_runs_table_or_its_curves():
    row = runs_figures.table_row(_entry(kind="ae"))
    assert np.isnan(row["Train ELBO"]) and np.isnan(row["Val ELBO"]) and row["Val recon"] == 12.0
    assert runs_figures.table_row(_entry())["Val ELBO"] == -14.0
    assert not runs_figures.metric_applies("ae", "val_elbo") and not runs_figures.metric_applies("ae",
                                                                                                 "train_elbo")
    assert runs_figures.metric_applies("ae", "val_recon") and runs_figures.metric_applies("vae", "val_elbo")
    assert "blank for an autoencoder" in runs_figures.TABLE_HELP["Val ELBO"]


def test_beta_in_the_table_is_the_live_beta_even_when_it_is_zero():
    assert runs_figures.table_row(_entry(beta_now=0.0))["base β"] == 0.0     # set live to 0, not the config's 4
    assert runs_figures.table_row(_entry())["base β"] == 4.0


def test_every_page_names_the_same_two_betas():
    """A run's base β (what a person set last) and its effective β now (after the schedule):
    the Runs table, Explore's caption and the Train page read the same two properties."""
    e = _entry()                                            # β = 4, warm-up over 500 steps
    e.progress.step = 125
    assert (e.base_beta, e.beta_now) == (4.0, 1.0)
    assert e.beta_text() == "base β = 4, effective β now = 1"
    row = runs_figures.table_row(e)
    assert (row["base β"], row["β now"]) == (4.0, 1.0)
    e.progress.step = 5000                                  # the warm-up is over: one number
    assert e.beta_now == 4.0 and e.beta_text() == "base β = 4"
    live = _entry(beta_now=2.5)                             # changed live: the base β is the new one
    live.progress.step = 250
    assert live.beta_text() == "base β = 2.5, effective β now = 1.25"
    ae = runs_figures.table_row(_entry(kind="ae"))
    assert np.isnan(ae["base β"]) and np.isnan(ae["β now"]) and _entry(kind="ae").beta_text().startswith("no β")
    view = _view("bernoulli")
    view.rows = [{"step": 1.0, "beta": 0.008}]              # a view knows the β its last step used
    assert view.beta_now == 0.008


def _view(likelihood, binarize="none", originals=None, recon=None):
    e = _entry(likelihood=likelihood, binarize=binarize)
    return RunView(**{k: getattr(e, k) for k in ("run_id", "run_dir", "status", "summary", "config_json")},
                   info=SimpleNamespace(data_shape=[1, 8, 8], originals=originals),
                   snapshot=SimpleNamespace(recon=recon))


def test_final_numbers_explain_a_gaussian_and_a_grey_bernoulli():
    x = np.zeros((4, 1, 8, 8))
    notes = number_notes(_view("gaussian", originals=x, recon=x + 0.1))
    assert "−log of a density" in notes[0] and "D = 64 pixels" in notes[0] and "either sign" in notes[0]
    assert "0.0100 per pixel (RMS 0.100" in notes[1]
    assert "not a bound on log p(x)" in number_notes(_view("bernoulli"))[0]
    assert number_notes(_view("bernoulli", binarize="threshold")) == []


def test_home_explains_its_shipped_gaussian_numbers():
    at = app_factory(str(paths.PROJECT_ROOT / "home.py"))()
    at.run()
    at.selectbox[0].set_value("digits-vae-z2-b1").run()          # the Gaussian digits model
    first = next(m.value for m in at.markdown if m.value.startswith("On validation images"))
    assert "root mean squared error" in first and "nats" not in first     # what anyone can read, first
    cap = next(c.value for c in at.caption if c.value.startswith("Validation: ELBO"))
    assert "either sign" in cap


def test_home_opens_on_mnist_with_a_positive_number_in_nats():
    """A newcomer's first model is the shipped MNIST one, and its first number is a positive
    count of nats, labelled as what it is (a Bernoulli on binarised images: a true bound)."""
    at = app_factory(str(paths.PROJECT_ROOT / "home.py"))()
    at.run()
    assert not at.exception
    assert at.selectbox[0].value == "mnist-vae-z2"
    val = store.read_summary(paths.PROJECT_ROOT / "trained" / "mnist-vae-z2")["val"]
    first = next(m.value for m in at.markdown if m.value.startswith("On validation images"))
    assert f"**{val['recon']:.1f} nats per image** on reconstruction" in first and val["recon"] > 0
    assert "summed over 784 pixels" in first and "upper bound on −log p(x)" in first
    bits = (val["recon"] + val["kl"]) / 784 / np.log(2)
    assert f"{bits:.2f} bits per pixel" in first
    assert not any("either sign" in c.value or "Gaussian" in c.value for c in at.caption)


def test_first_numbers_of_an_autoencoder_name_no_elbo():
    from explorer.analysis.first_numbers import first_numbers
    cfg = RunConfig.from_dict({"model": {"kind": "ae", "likelihood": "bernoulli"},
                               "data": {"name": "mnist", "binarize": "dynamic"}})
    (line,) = first_numbers(cfg, {"recon": 80.0, "kl": 0.0, "elbo": -80.0}, 784)
    assert "reconstruction loss is **80.00** nats" in line and "no ELBO" in line and "bound" not in line
    gauss = RunConfig.from_dict({"model": {"likelihood": "gaussian", "sigma": 0.1}})
    lines = first_numbers(gauss, {"recon": -3.9, "kl": 6.8}, 64, mse=0.01)
    assert "off by **0.100** per pixel" in lines[0] and "ELBO -2.90" in lines[1] and "either sign" in lines[2]


# ------------------------------------------------- issue 27's labels

def test_tensorboard_writes_the_validation_penalty_of_the_runs_schedule():
    from explorer.export import tensorboard as tb
    rows = [dict(r, loss=1.0, recon=1.0, kl=1.0) for r in _val_rows()]
    cap = TrainConfig(beta_schedule="capacity", capacity_max=20.0, capacity_steps=400)
    got = tb.scalar_series(rows, train=cap)
    assert [v for _, v in got[("validation", "beta_kl")]] == pytest.approx([2.0, 0.0, 20.0])    # β·|KL − C|
    assert [v for _, v in got[("validation", "total")]] == pytest.approx([32.0, 30.0, 50.0])
    fb = TrainConfig(beta_schedule="free_bits", free_bits=3.0)
    assert [v for _, v in tb.scalar_series(rows, train=fb)[("validation", "beta_kl")]] == pytest.approx(
        [12.0, 20.0, 60.0])
    no_dims = [{k: v for k, v in r.items() if k != "val_kl_per_dim"} for r in rows]
    assert ("validation", "beta_kl") not in tb.scalar_series(no_dims, train=fb)     # not guessed as β·KL
    assert [v for _, v in tb.scalar_series(rows)[("validation", "beta_kl")]] == pytest.approx([8.0, 20.0, 60.0])
    assert "capacity schedule: β·|KL − C|" in tb.DESCRIPTIONS["beta_kl"]


def test_the_runs_page_names_every_schedules_loss_and_negative_recon():
    assert "capacity β·|KL − C|" in runs_figures.METRICS["loss"] and "free bits" in runs_figures.METRICS["loss"]
    assert "recon + β·KL per batch" not in runs_figures.METRICS["loss"]
    for col in ("Train recon", "Val recon"):
        assert "negative with a Gaussian likelihood" in runs_figures.TABLE_HELP[col]


def test_an_autoencoders_negative_gaussian_reconstruction_is_explained():
    from explorer.analysis.beta.reading import likelihood_notes
    ae = RunConfig.from_dict({"model": {"kind": "ae", "likelihood": "gaussian", "sigma": 0.1}})
    notes = likelihood_notes(ae, 64, mse=0.004)
    assert "−log of a density" in notes[0] and "-88.6 nats for D = 64" in notes[0]
    assert "autoencoder's loss can have either sign" in notes[0] and "no ELBO" in notes[0]
    assert "0.0040 per pixel" in notes[1]


def test_the_cli_calls_an_autoencoders_number_its_loss(tmp_path, capsys):
    from explorer import cli
    out = tmp_path / "ae"
    assert cli.main(["train", "--dataset", "digits", "--model", "ae", "--likelihood", "gaussian",
                     "--epochs", "1", "--latent-dim", "2", "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "val loss (recon)" in said and "ELBO" not in said.replace("no ELBO", "")
    import explorer                                  # the notebook API names it the same way
    assert "val loss (recon)" in repr(explorer.open(out)) and "ELBO" not in repr(explorer.open(out))
    assert cli.main(["eval", str(out), "--iwae-k", "5"]) == 0
    said = capsys.readouterr().out
    assert "loss (recon)" in said and "no ELBO and no IWAE" in said and "log p(x) >= IWAE >= ELBO" not in said
    assert "a negative number is a good fit" in said
    assert cli.main(["eval", str(out), "--json"]) == 0
    res = __import__("json").loads(capsys.readouterr().out)
    assert res["elbo"] is None and res["loss"] == res["recon"] and res["kind"] == "ae"


def test_pretrain_calls_an_autoencoders_number_its_loss(tmp_path, capsys):
    import json

    from explorer import pretrain
    cfg = RunConfig.from_dict({"data": {"name": "digits", "subset": 100},
                               "model": {"kind": "ae", "latent_dim": 2, "hidden": [16]},
                               "train": {"epochs": 1}})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"runs": [{"id": "tiny-ae", "config": cfg.to_dict(), "probe_n": 50}]}))
    assert pretrain.pretrain(only=["tiny-ae"], manifest_path=manifest, out_root=tmp_path, threads=1) == 0
    said = capsys.readouterr().out
    assert "val loss" in said and "ELBO" not in said


def test_the_notebooks_live_view_calls_an_autoencoders_number_its_loss(tmp_path):
    from explorer import data
    from explorer.notebook.live import LiveView
    ds = data.load(RunConfig.from_dict({"data": {"name": "digits", "subset": 100}}).data)
    said = {}
    for kind in ("ae", "vae"):
        cfg = RunConfig.from_dict({"data": {"name": "digits"}, "model": {"kind": kind}})
        view = LiveView(cfg, ds, tmp_path / kind)
        view.bar = None                               # as in a notebook: the widget says it
        view.close({"status": "finished", "val": {"elbo": -20.0, "recon": 20.0, "kl": 0.0 if kind == "ae" else 3.0}})
        said[kind] = view.widget.status
    assert "validation loss (recon) 20.00" in said["ae"] and "ELBO" not in said["ae"]
    assert "validation ELBO -20.00" in said["vae"]
