"""The navigation menu in a real Chromium, from a fresh server's very first request:
``streamlit run app.py`` serves ``app.py`` itself through ``st.App``, and every visit runs its
menu (``st.navigation`` over ``home.py`` and ``pages/``) and its frame around the page. The
first visitor opens /Train directly, before anyone has seen home: that page must have its
frame, and the same menu, URLs and default page as every later visit."""
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from conftest import assert_no_error, screenshot, wait_for_app, wait_settled

pytestmark = pytest.mark.browser

MENU = ["home", "Train", "Explore", "Beta lab", "Theory", "Runs", "Class", "Disentangle"]
PATHS = ["/", "/Train", "/Explore", "/Beta_lab", "/Theory", "/Runs", "/Class", "/Disentangle"]


def test_first_visitor_to_a_page_gets_its_frame_and_the_menu_navigates(server, browser_context):
    page = browser_context.new_page()
    page.goto(server.url + "/Train")                         # the server's first request
    expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=90_000)
    wait_for_app(page, 90_000)
    assert_no_error(page)
    # app.py's frame ran around the page: its tab title, its pause switch in the sidebar
    expect(page).to_have_title("Train · Latent Explorer")
    expect(page.get_by_role("switch", name="Pause live updates and animations")).to_have_count(1)
    links = page.locator('[data-testid="stSidebarNav"] a')
    expect(links).to_have_count(len(MENU), timeout=30_000)
    assert [t.strip() for t in links.all_inner_texts()] == MENU
    assert [urlparse(links.nth(i).get_attribute("href")).path for i in range(len(MENU))] == PATHS
    screenshot(page, "nav_train_first_request")
    links.nth(MENU.index("home")).click()                    # home: the default page, at /
    page.get_by_text("decoder mean at z").first.wait_for(timeout=90_000)
    wait_for_app(page, 90_000)
    assert urlparse(page.url).path == "/"
    assert_no_error(page)
    expect(page).to_have_title("Home · Latent Explorer")
    # a newcomer meets the shipped MNIST model, and a positive number in nats, labelled
    expect(page.get_by_text("On validation images this model spends")).to_contain_text("nats per image")
    assert page.get_by_text("either sign").count() == 0
    assert [t.strip() for t in links.all_inner_texts()] == MENU
    wait_settled(page, 90_000)                               # its plane and decoded image drawn
    screenshot(page, "nav_first_request")
    links.nth(MENU.index("Explore")).click()
    expect(page.get_by_role("heading", name="Explore the latent space")).to_be_visible(timeout=90_000)
    wait_for_app(page, 90_000)
    assert page.url.rstrip("/").split("?")[0].endswith("/Explore")
    assert_no_error(page)
    expect(page).to_have_title("Explore · Latent Explorer")
    wait_settled(page, 90_000)                               # the plane, the latent plane component
    # Explore shows its charts: the plane (plotly, with its points) and the browser's decoder
    assert page.locator('[data-testid="stPlotlyChart"] .main-svg .scatterlayer .trace').count() > 10
    assert page.locator("canvas.lp-image").first.get_attribute("data-decoded") == "browser"
    screenshot(page, "nav_explore")
