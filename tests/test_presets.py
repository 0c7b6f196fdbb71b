"""Presets for a lesson: each sets every widget of the Train page, says what to watch for,
and starts (the AE-vs-VAE preset starts its VAE twin too)."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.presets import PRESETS
from explorer.ui.train_form import widget_state
from conftest import app_test, shared_page_engine

PAGE = "pages/1_Train.py"


@pytest.fixture(scope="module")
def page_engine(tmp_path_factory):
    """One engine for the module (its worker started once), as the pages see it."""
    yield from shared_page_engine(tmp_path_factory.mktemp("presets") / "runs", max_jobs=1,
                                  snapshot_seconds=0.5, prestart=1, load_existing=False)


@pytest.fixture
def mnist_in_data_folder(tmp_path):
    """A small stand-in for MNIST where the README says to put it: <data folder>/mnist/mnist.npz."""
    rng = np.random.default_rng(0)
    x = (rng.random((22_500, 28, 28)) > 0.8).astype(np.uint8) * 255
    y = rng.integers(0, 10, 22_500).astype(np.uint8)
    folder = tmp_path / "data-cache" / "mnist"
    folder.mkdir(parents=True)
    np.savez(folder / "mnist.npz", x_train=x[:20_500], y_train=y[:20_500], x_test=x[20_500:], y_test=y[20_500:])


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_preset_sets_every_widget_and_its_run_starts(name, page_engine, mnist_in_data_folder):
    preset = PRESETS[name]
    at = app_test(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="preset").set_value(name).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    want = widget_state(preset.config)
    for key, value in want.items():
        if key in at.session_state and key != "run_name":
            assert at.session_state[key] == value, key
    assert any(preset.watch in c.value for c in at.sidebar.caption)      # what to watch for
    assert not [w.value for w in at.warning if name in w.value]          # no preset warns against itself
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rid = at.session_state["train_run"]
    v = page_engine.view(rid)
    assert v.config.replace(name="") == preset.config.replace(name="")   # the preset's run, exactly
    runs = [e for e in page_engine.list() if e.run_id != rid and e.status.live]
    if preset.twin is not None:
        assert [e.config.model.kind for e in runs] == [preset.twin.model.kind]
        assert any("compare both" in i.value for i in at.info)
    else:
        assert runs == []
    page_engine.wait(rid, 120, statuses=("running", "paused", "finished"))
    for e in page_engine.list():
        if e.status.live:
            page_engine.stop(e.run_id, e.owner)
    assert page_engine.wait(rid, 60) in ("stopped", "finished")


def test_full_mnist_without_a_subset_warns_how_long_it_takes(page_engine, mnist_in_data_folder):
    at = app_test(PAGE, default_timeout=120).run()
    at.sidebar.selectbox(key="dataset").set_value("mnist").run()
    notes = [w.value for w in at.sidebar.warning]
    assert any("million images" in w and "2-minute MNIST" in w for w in notes), notes
