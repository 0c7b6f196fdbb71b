"""The β lab in a real Chromium: the shipped digits sweep draws every figure with no
error box (screenshot artifacts/beta_lab.png); then a sweep started from the form is
polled until its runs finish and its results appear (artifacts/beta_lab_live.png)."""
import pytest

from conftest import assert_no_error, screenshot, wait_for_app

pytestmark = pytest.mark.browser
N_CHARTS = 7          # images ×2, blur, train/val, rate–distortion, active units, latents


def _charts_drawn(page, n=N_CHARTS, timeout=60_000):
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= {n}",
        timeout=timeout)


def test_beta_lab_shows_the_shipped_sweep_and_a_live_one(server, browser_context):
    page = browser_context.new_page()
    page.goto(f"{server.url}/Beta_lab?sweep=shipped:digits", wait_until="domcontentloaded")
    wait_for_app(page, timeout=90_000)
    page.get_by_text("What the numbers say").wait_for(timeout=90_000)
    _charts_drawn(page)
    page.wait_for_timeout(1000)
    assert_no_error(page)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() == N_CHARTS
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, (i, box)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "As β goes from 0 to 8" in body and "Active dimensions" in body
    page.set_viewport_size({"width": 1400, "height": 4800})   # the whole page in one picture
    page.wait_for_timeout(2000)
    assert_no_error(page)
    screenshot(page, "beta_lab")

    # a sweep of one's own: one job per β, polled until both are done
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_text("Run a sweep of your own").first.click()
    page.get_by_role("spinbutton", name="Training subset (images; 0 = all)").fill("100")
    page.get_by_role("spinbutton", name="Latent dimension").fill("2")
    page.get_by_role("spinbutton", name="Epochs").fill("5")
    page.get_by_role("textbox", name="β values").fill("0, 8")
    page.get_by_role("button", name="Start the sweep").click(no_wait_after=True)
    # the progress line ("n of 2 runs finished") may come and go within one poll when the
    # workers are warm, so wait for the finished sweep itself
    page.get_by_text("digits, 100 training images, 2-D latent").wait_for(timeout=180_000)
    assert "sweep=live" in page.url
    page.get_by_text("of 2 runs finished").wait_for(state="detached", timeout=180_000)
    _charts_drawn(page)
    page.wait_for_timeout(1000)
    assert_no_error(page)
    assert "As β goes from 0 to 8" in page.locator('[data-testid="stMain"]').inner_text()
    screenshot(page, "beta_lab_live")
