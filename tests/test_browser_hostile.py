"""A shared server tried as careless and hostile visitors would (issue 25), in real browsers:
a teacher's powers stop at the class, the β lab's own sweep passes the class's rules, removal
sticks, a student's page says when the teacher stopped their run. On the test process's shared server
(``shared_server``): each test makes its own class and people, finds its runs by id or by its class,
and leaves nothing live (Ann's run is stopped by her teacher, the β lab's sweep is refused)."""
from __future__ import annotations

import re
import secrets

import pytest

from conftest import assert_no_error, open_tab, screenshot, wait_for_app

pytestmark = pytest.mark.browser
MAIN = '[data-testid="stMain"]'


@pytest.fixture(scope="module")
def server(shared_server):
    return shared_server


def _as(ctx, url: str, token: str | None = None):
    """A tab of ``ctx``; with ``token``, the browser's owner cookie is that token first."""
    if token:
        ctx.add_cookies([{"name": "le_owner", "value": token, "url": url}])
    page = ctx.new_page()
    return page


def _go(page, url: str):
    page.goto(url)
    wait_for_app(page)
    return page


def _create_class(page, url: str, name: str) -> str:
    _go(page, url + "/Class")
    page.get_by_label("Class name").fill(name)
    page.get_by_role("button", name="Create the class").click()
    page.get_by_role("button", name="I have noted it: close").click()
    page.get_by_text("Join code").wait_for(timeout=30_000)
    wait_for_app(page)
    return re.search(r"[?&]class=([A-Z0-9]+)", page.url).group(1)


def _join(page, url: str, code: str, name: str) -> None:
    _go(page, f"{url}/Class?class={code}")
    page.get_by_label("Your name, as your teacher will see it").fill(name)
    page.get_by_role("button", name="Join", exact=True).click()
    page.get_by_text("You are in this class as").wait_for(timeout=30_000)
    wait_for_app(page)


def _private_run(runs, owner: str, name: str) -> str:
    """A finished run of ``owner`` made outside any class (trained here, a second or two)."""
    from explorer import data, store, training
    from explorer.config import RunConfig
    cfg = RunConfig().replace(data={"name": "moons", "n_points": 256}, model={"hidden": [16]},
                              train={"epochs": 1, "batch_size": 64}, name=name)
    run_id = f"private-{secrets.token_hex(3)}"
    training.fit(cfg, data.load(cfg.data), runs / run_id)
    summary = store.read_summary(runs / run_id)
    store.save_summary(runs / run_id, dict(summary, owner=owner, owner_name="Ann"))
    return run_id


def test_a_teachers_power_stops_at_the_class_and_removal_sticks(server, two_profiles):
    from explorer.ui.identity import owner_id_of_token
    t_ctx, s_ctx = two_profiles
    token = secrets.token_urlsafe(24)
    t = _as(t_ctx, server.url)
    s = _as(s_ctx, server.url, token)
    code = _create_class(t, server.url, "Side doors")
    private = _private_run(server.runs, owner_id_of_token(token), "Ann's own")   # before joining
    _join(s, server.url, code, "Ann")

    # Ann trains in the class: a live run, started by a Step (one batch, then paused: it stays
    # live until stopped, with nothing training meanwhile)
    _go(s, server.url + "/Train")
    s.get_by_role("button", name="Step", exact=True).click()
    s.wait_for_url(re.compile(r"/Train\?run="), timeout=60_000)
    s.get_by_text("paused ·").wait_for(timeout=120_000)
    run_id = re.search(r"run=([^&]+)", s.url).group(1)
    s.get_by_text("Reconstruction −log p(x|z)").first.wait_for(timeout=120_000)

    # the teacher takes control and stops Ann's class run (in-app links keep the session's control)
    _go(t, f"{server.url}/Class?class={code}")
    open_tab(t, "Students", "Take control of my students' runs").click()
    t.get_by_role("button", name="Stop their run").wait_for(timeout=30_000)   # the class keeps the switch now
    t.get_by_role("link", name="Open their run").click()
    t.wait_for_url(re.compile(r"/Train\?run="), timeout=30_000)
    wait_for_app(t)
    t.get_by_role("button", name="Stop", exact=True).click()
    s.get_by_text("stopped by your teacher").first.wait_for(timeout=60_000)   # Ann's page says who
    assert_no_error(s)
    screenshot(s, "hostile_stopped_by_teacher")

    # ... but never renames or deletes her class run, nor touches her private run
    t.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Runs").click()
    wait_for_app(t)
    for rid in (run_id, private):
        pick = t.get_by_label("Run", exact=True)
        pick.click()
        pick.fill(rid)
        pick.press("Enter")
        wait_for_app(t)
        t.get_by_text(f"folder id: {rid}").wait_for(timeout=30_000)
        t.get_by_text("Renaming and deleting:").wait_for(timeout=30_000)
        assert t.get_by_role("button", name="🗑️ Delete this run…").count() == 0, rid
        assert t.get_by_role("button", name="Rename", exact=True).is_disabled()
    screenshot(t, "hostile_teacher_private_run")

    # the β lab's own sweep is a side door no more: with one run per student (Ann has had hers),
    # β "0, 50" is refused whole, on the page, naming the class's setting; no run starts
    import dataclasses
    from explorer.classroom.classes import Classroom
    room = Classroom(server.runs)
    room.update_settings(code, dataclasses.replace(room.get(code).settings, max_runs=1))
    before = len(room.runs_of(code, owner_id_of_token(token)))
    _go(s, server.url + "/Beta_lab")
    s.get_by_text("Run a sweep of your own").first.click()
    s.get_by_role("textbox", name="β values").wait_for(timeout=30_000)
    wait_for_app(s)
    s.get_by_role("textbox", name="β values").fill("0, 50")
    s.keyboard.press("Tab")
    wait_for_app(s)
    s.get_by_role("button", name="Start the sweep").click()
    refusal = s.locator('[data-testid="stAlertContentError"]').filter(has_text="refused the sweep")
    refusal.wait_for(timeout=60_000)
    assert "runs per student" in refusal.inner_text()
    assert "sweep=live" not in s.url
    assert len(room.runs_of(code, owner_id_of_token(token))) == before
    screenshot(s, "hostile_beta_lab_side_door")

    # removal sticks: Ann reloads the class's link and cannot join again
    _go(t, f"{server.url}/Class?class={code}")
    t.get_by_role("tab", name="Students").click()
    t.get_by_role("button", name="Remove from class").click()
    wait_for_app(t)
    _go(s, f"{server.url}/Class?class={code}")
    assert s.get_by_text("You are in this class as").count() == 0
    s.get_by_label("Your name, as your teacher will see it").fill("Ann again")
    s.get_by_role("button", name="Join", exact=True).click()
    s.get_by_text("your teacher removed you").wait_for(timeout=30_000)
    screenshot(s, "hostile_removed_student")
    _go(t, f"{server.url}/Class?class={code}")            # the teacher lets her back in
    t.get_by_role("tab", name="Students").click()
    t.get_by_role("button", name="Let back in").click()
    wait_for_app(t)
    _join(s, server.url, code, "Ann")
