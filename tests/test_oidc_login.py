"""A lesson in real browsers, with a real OpenID Connect login: ``oidc-provider-mock`` runs
as the school's provider on loopback, the app is configured for it through its own secrets
file (``[auth]``, passed with Streamlit's ``secrets.files`` option, never the repository's
.streamlit/), and two Chromium profiles go through the full redirect flow: a teacher (named
by ``LATENT_EXPLORER_TEACHERS``) creates a class, needing no key; a student, who has no
teacher role, joins it through the link. The teacher pushes "β = 4, start"; the student's
page opens the started run by itself; the dashboard shows the student's point; presentation
mode hides the sidebar. (One server for both, to keep the suite short; the key path without
a login is tested under AppTest in test_classroom_page.py.)

A person is their account, (issuer, sub): an account whose e-mail is the teacher's but not
verified, and an account with no e-mail whose sub is the teacher's address, are other
people, with no teacher role and no power over the teacher's class (issue 25)."""
from __future__ import annotations

import re

import pytest

from conftest import assert_no_error, free_port, open_app, screenshot, start_server, stop_server, wait_for_app

pytestmark = pytest.mark.browser
TEACHER, STUDENT = "teacher@school.example", "student@school.example"
TEACHER_SUB, IMPOSTOR_SUB = "t-0001", "imp-0003"


@pytest.fixture(scope="module")
def provider():
    from oidc_provider_mock import User, run_server_in_thread
    users = [User(sub=TEACHER_SUB, claims={"email": TEACHER, "email_verified": True, "name": "Ms Teacher"}),
             User(sub=STUDENT, claims={"email": STUDENT, "email_verified": True}),
             User(sub=IMPOSTOR_SUB, claims={"email": TEACHER, "email_verified": False, "name": "Impostor"}),
             User(sub=TEACHER, claims={})]           # no e-mail at all; its sub is the teacher's address
    with run_server_in_thread(port=free_port(), user_claims=users) as srv:
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


def login(ctx, server, sub: str, then: str, shown: str):
    """Log in through the provider's form as the account ``sub``, then open ``then``; the
    page names the person ``shown``."""
    page = open_app(ctx, server.url + "/Class")
    page.get_by_role("button", name="Log in with your school account").click()
    page.wait_for_selector("input[name=sub]", timeout=30_000)        # the provider's own page
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/"), timeout=30_000)
    page.goto(server.url + then)
    wait_for_app(page)
    page.get_by_role("button", name=f"Log out ({shown})").wait_for(timeout=30_000)
    assert_no_error(page)
    return page


def test_a_logged_in_lesson_create_join_follow_dashboard_presentation(server, two_profiles):
    t_ctx, s_ctx = two_profiles
    t = login(t_ctx, server, TEACHER_SUB, "/Class", "Ms Teacher")
    t.get_by_role("textbox", name="Class name").fill("Tuesday")
    t.get_by_role("button", name="Create the class").click()
    t.get_by_role("button", name="I have noted it: close").click()      # the key's dialog
    t.get_by_text("Join code").wait_for(timeout=30_000)
    code = re.search(r"class=([A-Z0-9]+)", t.url).group(1)

    s = login(s_ctx, server, STUDENT, f"/Class?class={code}", STUDENT)
    assert s.get_by_text("has no teacher role").count() == 1          # no create form for a student
    assert s.get_by_role("textbox", name="Class name").count() == 0
    assert s.get_by_role("textbox", name="Class code", exact=True).input_value() == f"{code[:4]}-{code[4:]}"
    s.get_by_role("textbox", name="Your name, as your teacher will see it").fill("Sam")
    s.get_by_role("button", name="Join").click()
    s.get_by_text("You are in this class as").wait_for(timeout=30_000)
    s.goto(server.url + "/Train")
    wait_for_app(s)
    s.get_by_text("following your teacher").wait_for(timeout=30_000)

    t.close()                              # (its dashboard's polling is not needed)
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
    t.locator("[data-testid='stSidebar']").wait_for(state="hidden", timeout=30_000)   # the rerun hid it
    screenshot(t, "class_presentation")


def test_an_unverified_email_or_a_sub_like_an_email_is_not_the_teacher(server, provider, two_profiles):
    """The teacher's class exists (made for the teacher's account); two other accounts that
    used to be read as the teacher log in: neither may create a class, and the class's link
    gives each the join form, not the teacher's dashboard."""
    from explorer.classroom.classes import Classroom
    from explorer.runs import Actor
    from explorer.ui.identity import owner_id_of_user
    teacher = Actor(id=owner_id_of_user(provider, TEACHER_SUB), name="Ms Teacher")
    klass, _ = Classroom(server.runs).create("Wednesday", teacher)
    for ctx, sub, shown in ((two_profiles[0], IMPOSTOR_SUB, "Impostor"),
                            (two_profiles[1], TEACHER, f"account {TEACHER[:12]}")):
        page = login(ctx, server, sub, f"/Class?class={klass.code}", shown)
        assert page.get_by_text("has no teacher role").count() == 1, sub        # no create form
        assert page.get_by_role("textbox", name="Class name").count() == 0
        assert page.get_by_role("button", name="Join").count() == 1             # a visitor's screen ...
        assert page.get_by_text("Join code").count() == 0                       # ... not the dashboard
        assert page.get_by_role("tab", name="Dashboard").count() == 0
        screenshot(page, f"oidc_not_teacher_{sub.split('@')[0]}")
