"""The disentanglement lab: a factor sweep measured (tiny runs trained here), its rows per β
over seeds, the reading generated from them (it words a difference only beyond two
standard errors, and says when seeds disagree), the shipped `shapes` sweep, its page
and `sweep-report shapes --json`."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, app_factory, assert_page_ok
from explorer import data
from explorer.analysis import stats
from explorer.analysis.disentangle import lab, reading
from explorer.data import shapes
from explorer.training import fit

PAGE = str(ROOT / "pages" / "7_Disentangle.py")
TINY = {"config": {"data": {"name": "shapes", "n_points": 300},
                   "model": {"latent_dim": 3, "hidden": [32]},
                   "train": {"epochs": 2, "batch_size": 64, "free_bits": 0.0}},
        "betas": [1.0, 4.0], "seeds": [0, 1]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A factor sweep of four tiny runs (2 β × 2 seeds), trained and measured here."""
    out = tmp_path_factory.mktemp("tiny_sweep")
    runs = {}
    for rid, beta, seed, cfg in lab.runs_of("tiny", TINY):
        fit(cfg, data.load(cfg.data), out / "runs" / rid)
        runs[(beta, seed)] = out / "runs" / rid
    measured = lab.measure_folders(runs, n=400)
    rep = lab.save(out, "tiny", measured, about={"config": TINY["config"]})
    return out, runs, measured, rep


def test_a_sweeps_runs_differ_only_in_beta_and_seed():
    runs = lab.runs_of("tiny", TINY)
    assert [(r[0], r[1], r[2]) for r in runs] == [("tiny-b1-s0", 1.0, 0), ("tiny-b1-s1", 1.0, 1),
                                                  ("tiny-b4-s0", 4.0, 0), ("tiny-b4-s1", 4.0, 1)]
    for _, beta, seed, cfg in runs:
        d = cfg.to_dict()
        assert (d["train"].pop("beta"), d["train"].pop("seed")) == (beta, seed)
        assert cfg.train.beta_schedule == "constant"
        d0 = runs[0][3].to_dict()
        d0["train"].pop("beta"), d0["train"].pop("seed"), d0.pop("name"), d.pop("name")
        assert d == d0


def test_rows_per_beta_are_the_seeds_mean_and_standard_error(tiny):
    _, _, (measures, grids), rep = tiny
    assert [r["beta"] for r in rep["rows"]] == [1.0, 4.0]
    for row in rep["rows"]:
        group = [m for m in measures if m["beta"] == row["beta"]]
        mean, se, n = stats.mean_se(m["mig"] for m in group)
        assert (row["mig"], row["mig_se"], row["n_seeds"]) == pytest.approx((mean, se, n))
        assert row["mig_se"] == pytest.approx(np.std([m["mig"] for m in group], ddof=1) / np.sqrt(2))
        assert row["mig_seeds"] == [m["mig"] for m in sorted(group, key=lambda m: m["seed"])]
        assert set(lab.ROW_KEYS) <= set(row) and 0 <= row["dci"] <= 1
    for m in measures:
        assert len(m["factor_of_dim"]) == 3 and len(m["mi"]) == 3 and len(m["mi"][0]) == 5
        assert all(f is None or f in shapes.FACTORS for f in m["factor_of_dim"])
        assert all(a or f is None for a, f in zip(m["active"], m["factor_of_dim"]))   # unused: no factor
        assert grids[(m["beta"], m["seed"])].shape == (3, lab.STEPS, 32, 32)


def test_a_traversal_row_moves_one_dimension_only(tiny):
    _, runs, (_, grids), _ = tiny
    from explorer import store
    model = store.load_model(runs[(4.0, 1)], device="cpu")
    mu, _ = model.encode_mean(torch.as_tensor(lab.reference_image())[None])
    for j in range(3):
        z = mu.repeat(lab.STEPS, 1)
        z[:, j] = torch.linspace(*lab.TRAVERSE, lab.STEPS)
        want = np.round(model.decode_mean(z)[:, 0].numpy() * 255)
        assert np.abs(grids[(4.0, 1)][j].astype(float) - want).max() <= 1


def test_a_measured_sweep_is_read_back_as_saved(tiny):
    out, _, (measures, grids), rep = tiny
    got = lab.load(out)
    assert got.name == "tiny" and got.betas == [1.0, 4.0] and got.seeds(1.0) == [0, 1]
    assert got.rows == json.loads(json.dumps(got.rows)) and len(got.runs) == 4
    assert lab.report(got.name, got.rows) == json.loads(json.dumps(rep))
    for key, grid in grids.items():
        assert np.array_equal(got.grids[key], grid)
    assert lab.load(out / "nothing") is None


# ------------------------------------------------------------------ the reading

def _row(beta, migs, dcis=None, recon=40.0, au=4.0):
    mean, se, n = stats.mean_se(migs)
    dcis = dcis or migs
    dmean, dse, _ = stats.mean_se(dcis)
    return {"beta": beta, "n_seeds": n, "mig": mean, "mig_se": se, "mig_seeds": list(migs),
            "dci": dmean, "dci_se": dse, "seeds": list(range(n)), "val_recon": recon, "val_recon_se": 0.5,
            "active_units": au, "active_units_se": 0.2,
            "mig_per_factor": [0.01, 0.4, 0.02, 0.8, 0.7], "mig_per_factor_se": [0.01] * 5}


def test_reading_words_a_rise_only_beyond_two_standard_errors():
    clear = [_row(1, [0.03, 0.04, 0.05], recon=30), _row(4, [0.15, 0.17, 0.19]),
             _row(16, [0.40, 0.42, 0.44], recon=70, au=3)]
    text = " ".join(reading.reading(clear, list(shapes.FACTORS)))
    assert "MIG rises from 0.04 ± 0.01 at β = 1 to 0.42 ± 0.01 at β = 16" in text
    assert "The seeds agree" in text
    assert "x (0.80 ± 0.01) and y (0.70 ± 0.01) each have a latent dimension of their own" in text
    assert "No single dimension holds shape (0.01 ± 0.01) and rotation (0.02 ± 0.01)" in text
    assert "from 30.0 nats per image at β = 1 to 70.0 at β = 16" in text and "fewer" in text
    noisy = [_row(1, [0.02, 0.30, 0.10]), _row(4, [0.05, 0.35, 0.20]), _row(16, [0.10, 0.15, 0.30])]
    text = " ".join(reading.reading(noisy, list(shapes.FACTORS)))
    assert "rises" not in text and "within two standard errors" in text
    assert "The seeds disagree more than the β's do: at β = 4 the 3 seeds gave MIG 0.05, 0.20, 0.35" in text
    assert "the best seed at β = 1 (0.30) beats the worst at β = 4 (0.05)" in text            # by 0.25


def test_reading_quotes_each_number_at_the_beta_it_names():
    rows = [_row(1, [0.03, 0.04, 0.05]), _row(2, [0.30, 0.31, 0.32]), _row(8, [0.10, 0.11, 0.12])]
    text = " ".join(reading.reading(rows, list(shapes.FACTORS)))
    assert "to 0.31 ± 0.01 at β = 2" in text
    assert "Past β = 2 it falls again (0.11 ± 0.01 at β = 8)" in text
    one_seed = [_row(1, [0.1]), _row(4, [0.5])]
    text = " ".join(reading.reading(one_seed, list(shapes.FACTORS)))
    assert "one seed only" in text and "rises" not in text


# ------------------------------------------------------------------ the shipped sweep

SHIPPED = lab.load(lab.shipped_folder("shapes"))


def test_the_shapes_sweep_ships_with_seeds_and_pictures():
    assert SHIPPED is not None, "trained/sweeps/shapes/ is missing: python -m explorer pretrain --factor-sweep shapes"
    assert SHIPPED.betas[0] == 1.0 and SHIPPED.betas[-1] >= 16.0 and len(SHIPPED.betas) >= 4
    assert all(r["n_seeds"] >= 3 and r["mig_se"] is not None and r["dci_se"] is not None for r in SHIPPED.rows)
    cfg = SHIPPED.about["config"]
    assert cfg["data"]["name"] == "shapes" and 8 <= cfg["model"]["latent_dim"] <= 12
    for m in SHIPPED.runs:
        assert SHIPPED.grids[(m["beta"], m["seed"])].shape == (m["latent_dim"], lab.STEPS, 32, 32)
    size = sum(p.stat().st_size for p in lab.shipped_folder("shapes").glob("*.*"))
    assert size < 3 * 2**20                                              # measures and pictures, no weights


def test_sweep_report_prints_the_shapes_rows():
    r = subprocess.run([sys.executable, "-m", "explorer", "sweep-report", "shapes", "--json"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    assert rep["sweep"] == "shapes" and rep["factors"] == list(shapes.FACTORS)
    for row, want in zip(rep["rows"], SHIPPED.rows):
        assert {"beta", "mig", "mig_se", "dci", "dci_se"} <= set(row)
        assert (row["beta"], row["mig"], row["mig_se"]) == (want["beta"], want["mig"], want["mig_se"])
    r = subprocess.run([sys.executable, "-m", "explorer", "sweep-report", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert all(f"  {k} " in r.stdout for k in lab.ROW_KEYS)                # --help says what each key is


def test_page_shows_pictures_then_mig_with_error_bars_then_the_reading():
    at = app_factory(PAGE)()
    at.run()
    assert_page_ok(at)
    heads = [h.value for h in at.subheader]
    assert heads[:3] == ["What each dimension does, per β", "MIG against β, with error bars over seeds",
                         "What the numbers say"]
    charts = at.get("plotly_chart")
    assert len(charts) == len(SHIPPED.betas) + 1                        # a traversal grid per β, then MIG
    fig = json.loads(charts[-1].proto.spec)
    means = [t for t in fig["data"] if t.get("name") == "mean ± 1 standard error"]
    assert means[0]["y"] == pytest.approx([r["mig"] for r in SHIPPED.rows])
    assert means[0]["error_y"]["array"] == pytest.approx([r["mig_se"] for r in SHIPPED.rows])
    text = next(m.value for m in at.markdown if m.value.startswith("- "))
    assert text.splitlines() == [f"- {line}" for line in reading.reading(SHIPPED.rows, SHIPPED.factors)]
    labels = json.loads(charts[0].proto.spec)["layout"]["yaxis"]["ticktext"]
    assert labels and all(re.match(r"z\d+ · (shape|scale|rotation|x|y|no single factor)$", t) for t in labels)
    at.radio(key="dl_seed").set_value(SHIPPED.seeds(SHIPPED.betas[0])[1]).run()
    assert_page_ok(at)
