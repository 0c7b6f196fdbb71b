"""Records that tell the truth (issue 25): a run whose files are damaged stays listed, marked
"damaged: <file> unreadable (reason)", and opens as far as its files allow; a run that failed
before it saved anything is listed as failed, with its reason, from its folder alone."""
from __future__ import annotations

import shutil

import pytest

from conftest import app_factory, assert_page_ok
from explorer import catalog, data, paths, store, training
from explorer.config import RunConfig
from explorer.engine import Engine
from explorer.figures import runs as runs_figures
from explorer.runs import Status

PAGE = str(paths.PROJECT_ROOT / "pages" / "5_Runs.py")


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    cfg = RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                              train={"epochs": 2, "batch_size": 64}, name="good")
    folder = tmp_path_factory.mktemp("good") / "good-run"
    training.fit(cfg, data.load(cfg.data), folder)
    return folder


@pytest.fixture
def runs(tmp_path, good_run):
    """A runs folder with a good run's copies: one whose config.json is damaged, one whose
    summary.json is, and one that failed before it saved weights (only its record)."""
    root = tmp_path / "runs"
    for name in ("bad-config", "bad-summary"):
        shutil.copytree(good_run, root / name)
    (root / "bad-config" / store.CONFIG).write_text('{"data": {"name": "moons", ')      # cut short
    (root / "bad-summary" / store.SUMMARY).write_bytes(b"\x00\x01 not json")
    store.save_failure(root / "failed-early", store.read_config(good_run),
                       "the worker process died (signal 9: killed, or out of memory)",
                       {"owner": "b-someone", "created": 1.0})
    return root


def test_damaged_and_failed_runs_stay_listed_and_say_why(runs):
    eng = Engine(runs, max_jobs=1)
    try:
        listed = {e.run_id: e for e in eng.list()}
        assert set(listed) == {"bad-config", "bad-summary", "failed-early"}
        bad_cfg, bad_sum, failed = listed["bad-config"], listed["bad-summary"], listed["failed-early"]
        assert bad_cfg.damaged.startswith("damaged: config.json unreadable (") and not bad_cfg.config_known
        assert bad_sum.damaged.startswith("damaged: summary.json unreadable (")
        assert bad_sum.status == Status.INTERRUPTED and bad_sum.reason == bad_sum.damaged   # not an empty reason
        assert failed.status == Status.FAILED and "signal 9" in failed.reason and not failed.saved
        assert "damaged" in bad_cfg.label and "damaged" in bad_sum.label

        # opens as far as its files allow: a readable config with weights opens, a damaged
        # config does not (nothing to build the model from), and neither breaks a list
        openable = {e.run_id for e in catalog.list_runs(eng, shipped=False, openable=True)}
        assert openable == {"bad-summary"}
        view = eng.view("bad-summary")
        assert view.rows and view.reason.startswith("damaged: summary.json")
        assert store.load_model(view.run_dir).latent_dim == 2
        table = runs_figures.runs_table(list(listed.values())).set_index("Run id")
        assert table.loc["bad-config", "Data"] == "?" and "damaged: config.json" in table.loc["bad-config", "Status"]
        assert table.loc["failed-early", "Status"] == "failed"
    finally:
        eng.shutdown()


def test_the_runs_page_lists_damaged_runs_without_failing(runs, monkeypatch, page_engine):
    at = app_factory(PAGE)()
    at.run()
    assert_page_ok(at)
    table = next(d.value for d in at.dataframe if "Run id" in d.value.columns)
    assert {"bad-config", "bad-summary", "failed-early"} <= set(table["Run id"])
    statuses = dict(zip(table["Run id"], table["Status"]))
    assert "damaged: config.json unreadable" in statuses["bad-config"]
