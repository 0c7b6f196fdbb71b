"""How busy the server is (explorer/ui/load.py): pages count their sessions, and live views
poll slower only when many are active, so a class of 30 leaves the server time for clicks."""
import time

import pytest

from conftest import ROOT, app_test, assert_page_ok
from explorer.ui import load


@pytest.mark.parametrize("sessions, factor", [(0, 1.0), (1, 1.0), (6, 1.0), (9, 1.5), (12, 2.0),
                                              (30, 4.0), (200, 4.0)])
def test_live_views_slow_down_in_proportion_beyond_a_few_sessions(sessions, factor):
    assert load.slowdown(sessions) == pytest.approx(factor)


def test_every_page_run_counts_its_session_and_idle_ones_expire(page_engine, monkeypatch):
    monkeypatch.setattr(load, "_seen", {})
    at = app_test("home.py", default_timeout=120).run()
    assert_page_ok(at)
    assert load.active_sessions() == 1
    at.slider[0].set_value(1.0).run()                          # a rerun: the same session
    assert_page_ok(at)
    assert load.active_sessions() == 1
    assert load.every(0.75) == pytest.approx(0.75)            # a quiet server: the usual pace
    now = time.monotonic()
    load._seen.update({f"s{i}": now for i in range(23)})      # 24 active sessions
    assert load.every(0.75) == pytest.approx(0.75 * 4.0)
    load._seen.update({f"s{i}": now - load.WINDOW_S - 1 for i in range(23)})   # gone quiet
    assert load.active_sessions() == 1
