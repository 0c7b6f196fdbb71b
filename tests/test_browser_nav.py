"""The navigation menu in a real Chromium, from a fresh server's very first request:
``streamlit run app.py`` serves ``home.py`` and Streamlit's automatic ``pages/`` menu
through ``st.App``, so the first visitor must see the same menu as every later one."""
import pytest
from playwright.sync_api import expect

from conftest import assert_no_error, screenshot, wait_for_app, wait_settled

pytestmark = pytest.mark.browser

MENU = ["home", "Train", "Explore", "Beta lab", "Theory", "Runs", "Class", "Disentangle"]


def test_first_visitor_sees_the_pages_menu_and_it_navigates(server, browser_context):
    page = browser_context.new_page()
    page.goto(server.url)                                    # the server's first request
    page.get_by_text("decoder mean at z").first.wait_for(timeout=90_000)
    wait_for_app(page, 90_000)
    assert_no_error(page)
    # a newcomer meets the shipped MNIST model, and a positive number in nats, labelled
    expect(page.get_by_text("On validation images this model spends")).to_contain_text("nats per image")
    assert page.get_by_text("either sign").count() == 0
    links = page.locator('[data-testid="stSidebarNav"] a')
    expect(links).to_have_count(len(MENU), timeout=30_000)
    assert [t.strip() for t in links.all_inner_texts()] == MENU
    wait_settled(page, 90_000)                               # its plane and decoded image drawn
    screenshot(page, "nav_first_request")
    links.nth(MENU.index("Explore")).click()
    expect(page.get_by_role("heading", name="Explore the latent space")).to_be_visible(timeout=90_000)
    wait_for_app(page, 90_000)
    assert page.url.rstrip("/").split("?")[0].endswith("/Explore")
    assert_no_error(page)
    wait_settled(page, 90_000)                               # the plane, the latent plane component
    # Explore shows its charts: the plane (plotly, with its points) and the browser's decoder
    assert page.locator('[data-testid="stPlotlyChart"] .main-svg .scatterlayer .trace').count() > 10
    assert page.locator("canvas.lp-image").first.get_attribute("data-decoded") == "browser"
    screenshot(page, "nav_explore")
