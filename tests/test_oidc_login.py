"""A lesson in real browsers, with a real OpenID Connect login: ``oidc-provider-mock`` runs
as the school's provider on loopback, the app is configured for it through its own secrets
file (``[auth]``, passed with Streamlit's ``secrets.files`` option, never the repository's
.streamlit/), and two Chromium profiles go through the full redirect flow: a teacher (named
by ``LATENT_EXPLORER_TEACHERS``) creates a class, needing no key; a student, who has no
teacher role, joins it through the link. The teacher pushes "β = 4, start"; the student's
page opens the started run by itself; the dashboard shows the student's point; presentation
mode hides the sidebar. (One server for both, to keep the suite short; the key path without
a login is tested under AppTest in test_classroom_page.py.)"""
from __future__ import annotations

import re

import pytest

from conftest import assert_no_error, free_port, open_app, screenshot, start_server, stop_server, wait_for_app

pytestmark = pytest.mark.browser
TEACHER, STUDENT = "teacher@school.example", "student@school.example"


@pytest.fixture(scope="module")
def provider():
    from oidc_provider_mock import run_server_in_thread
    with run_server_in_thread(port=free_port()) as srv:
        yield f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, provider):
    tmp = tmp_path_factory.mktemp("oidc_server")
    secrets = tmp / "secrets.toml"
    secrets.write_text(f"""[auth]
redirect_uri = "http://127.0.0.1:{{port}}/oauth2callback"
cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"
client_id = "latent-explorer"
client_secret = "test-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
""")
    s = start_server(tmp, {"STREAMLIT_SECRETS_FILES": str(secrets), "LATENT_EXPLORER_TEACHERS": TEACHER,
                           "LATENT_EXPLORER_MAX_JOBS": "1"})
    yield s
    stop_server(s)


def login(ctx, server, email: str, then: str):
    """Log in through the provider's form as ``email``, then open ``then``."""
    page = open_app(ctx, server.url + "/Class")
    page.get_by_role("button", name="Log in with your school account").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)        # the provider's own page
    page.fill("input[name=sub]", email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/"), timeout=30_000)
    page.goto(server.url + then)
    wait_for_app(page)
    page.get_by_role("button", name=f"Log out ({email})").wait_for(timeout=30_000)
    assert_no_error(page)
    return page


def test_a_logged_in_lesson_create_join_follow_dashboard_presentation(server, two_profiles):
    t_ctx, s_ctx = two_profiles
    t = login(t_ctx, server, TEACHER, "/Class")
    t.get_by_role("textbox", name="Class name").fill("Tuesday")
    t.get_by_role("button", name="Create the class").click()
    t.get_by_text("Join code").wait_for(timeout=30_000)
    code = re.search(r"class=([A-Z0-9]{4})", t.url).group(1)

    s = login(s_ctx, server, STUDENT, f"/Class?class={code}")
    assert s.get_by_text("has no teacher role").count() == 1          # no create form for a student
    assert s.get_by_role("textbox", name="Class name").count() == 0
    assert s.get_by_role("textbox", name="Class code", exact=True).input_value() == code
    s.get_by_role("textbox", name="Your name, as your teacher will see it").fill("Sam")
    s.get_by_role("button", name="Join").click()
    s.get_by_text("You are in this class as").wait_for(timeout=30_000)
    s.goto(server.url + "/Train")
    wait_for_app(s)
    s.get_by_text("following your teacher").wait_for(timeout=30_000)

    t = t_ctx.new_page()                   # the teacher again, in a new tab: by login, no key
    t.goto(f"{server.url}/Class")
    wait_for_app(t)
    t.get_by_role("tab", name="Students").click()
    t.get_by_text("Sam").first.wait_for(state="attached", timeout=30_000)   # a dataframe cell
    t.get_by_role("tab", name="Follow me").click()
    t.get_by_role("spinbutton", name="β").fill("4")   # not the R–D legend titled β
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
    t.locator("[data-testid='stVegaLiteChart'] svg text", has_text="Sam").first.wait_for(timeout=60_000)
    assert_no_error(t)
    screenshot(t, "class_dashboard")

    t.get_by_text("Presentation mode").click()
    wait_for_app(t)
    t.get_by_text("The class on one rate–distortion plane").first.wait_for(timeout=30_000)
    assert not t.locator("[data-testid='stSidebar']").is_visible()
    screenshot(t, "class_presentation")
