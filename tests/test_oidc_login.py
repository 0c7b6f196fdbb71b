"""A real OpenID Connect login: ``oidc-provider-mock`` runs as the school's provider on
loopback, the app is configured for it through its own secrets file (``[auth]``, passed with
Streamlit's ``secrets.files`` option, never the repository's .streamlit/), and Chromium goes
through the full redirect flow twice: a teacher (named by ``LATENT_EXPLORER_TEACHERS``)
creates a class with no key needed, and a student, who has no teacher role, joins it."""
from __future__ import annotations

import re

import pytest

from conftest import assert_no_error, free_port, screenshot, start_server, stop_server, wait_for_app

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
    s = start_server(tmp, {"STREAMLIT_SECRETS_FILES": str(secrets), "LATENT_EXPLORER_TEACHERS": TEACHER})
    yield s
    stop_server(s)


def login(ctx, server, email: str):
    page = ctx.new_page()
    page.goto(server.url + "/Class")
    wait_for_app(page)
    page.get_by_role("button", name="Log in with your school account").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)        # the provider's form
    page.fill("input[name=sub]", email)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/"), timeout=30_000)
    page.goto(server.url + "/Class")
    wait_for_app(page)
    page.get_by_role("button", name=f"Log out ({email})").wait_for(timeout=30_000)
    assert_no_error(page)
    return page


def test_teacher_and_student_log_in_through_the_provider(server, two_profiles):
    t_ctx, s_ctx = two_profiles
    t = login(t_ctx, server, TEACHER)
    t.get_by_label("Class name").fill("Logged-in lesson")
    t.get_by_role("button", name="Create the class").click()
    t.get_by_text("Join code").wait_for(timeout=30_000)
    code = re.search(r"class=([A-Z0-9]{4})", t.url).group(1)

    s = login(s_ctx, server, STUDENT)
    assert s.get_by_text("has no teacher role").count() == 1          # no create form for a student
    assert s.get_by_label("Class name").count() == 0
    s.get_by_label("Class code").fill(code)
    s.get_by_label("Your name, as your teacher will see it").fill("Sam")
    s.get_by_role("button", name="Join").click()
    s.get_by_text("You are in this class as").wait_for(timeout=30_000)

    t2 = t_ctx.new_page()                          # the teacher again, by login alone
    t2.goto(f"{server.url}/Class")
    wait_for_app(t2)
    t2.get_by_role("tab", name="Students").click()
    t2.get_by_text("Sam").first.wait_for(timeout=30_000)
    assert_no_error(t2)
    screenshot(t2, "class_oidc_teacher")
