"""A lesson in real browsers: a teacher's Chromium profile creates a class, a student's
profile joins it through the link, the teacher pushes "β = 4, latent 2, start" and the
student's page opens the started run by itself; the dashboard shows the student's point,
presentation mode hides the sidebar, and the teacher key survives a reload (its cookie)."""
from __future__ import annotations

import re

import pytest

from conftest import assert_no_error, open_app, screenshot, start_server, stop_server, wait_for_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module, one job slot (a lesson's queue)."""
    s = start_server(tmp_path_factory.mktemp("class_server"), {"LATENT_EXPLORER_MAX_JOBS": "1"})
    yield s
    stop_server(s)


def test_a_lesson_create_join_follow_dashboard_presentation(server, two_profiles):
    t_ctx, s_ctx = two_profiles
    t = open_app(t_ctx, server.url + "/Class")
    t.get_by_label("Class name").fill("Tuesday")
    t.get_by_role("button", name="Create the class").click()
    t.get_by_text("Your teacher key, shown once").wait_for(timeout=30_000)
    code = re.search(r"class=([A-Z0-9]{4})", t.url).group(1)

    s = open_app(s_ctx, f"{server.url}/Class?class={code}")
    assert s.get_by_label("Class code").input_value() == code
    s.get_by_label("Your name, as your teacher will see it").fill("Ann")
    s.get_by_role("button", name="Join").click()
    s.get_by_text("You are in this class as").wait_for(timeout=30_000)
    assert s.get_by_text("Your teacher key").count() == 0
    s.goto(server.url + "/Train")
    wait_for_app(s)
    s.get_by_text("following your teacher").wait_for(timeout=30_000)

    t.reload()                                               # the key is kept in the browser
    wait_for_app(t)
    t.get_by_role("tab", name="Follow me").click()
    t.get_by_label("β").fill("4")
    t.get_by_label("Epochs").fill("3")
    t.get_by_role("button", name="Push to the class").click()
    t.get_by_text("Pushed (#1)").wait_for(timeout=30_000)

    s.wait_for_url(re.compile(r"/Train\?run="), timeout=15_000)   # the student's page follows
    wait_for_app(s)
    assert_no_error(s)
    s.get_by_text("Reconstruction −log p(x|z)").first.wait_for(timeout=120_000)
    screenshot(s, "class_student_follows")

    t.get_by_role("tab", name="Dashboard").click()
    t.get_by_text("The class on one rate–distortion plane").first.wait_for(timeout=60_000)
    t.locator("[data-testid='stVegaLiteChart'] svg text", has_text="Ann").first.wait_for(timeout=60_000)
    assert_no_error(t)
    screenshot(t, "class_dashboard")

    t.get_by_text("Presentation mode").click()
    wait_for_app(t)
    t.get_by_text("The class on one rate–distortion plane").first.wait_for(timeout=30_000)
    assert not t.locator("[data-testid='stSidebar']").is_visible()
    screenshot(t, "class_presentation")
