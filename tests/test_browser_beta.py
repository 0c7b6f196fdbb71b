"""The β lab in a real Chromium: a shipped sweep draws its pictures and charts with no
error box (artifacts/beta_lab.png), "show me" steps through it (artifacts/beta_lab_tour.png);
then a sweep of one's own on an uploaded .npz is polled until its runs finish and are
measured (artifacts/beta_lab_live.png)."""
import numpy as np
import pytest

from conftest import POLL_MS, assert_no_error, choose, painted, screenshot, wait_for_app

pytestmark = pytest.mark.browser
N_VEGA = 4          # sharpness, overfitting gap, sample quality, validation curves


def _charts_drawn(page, n=N_VEGA, timeout=90_000):
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stVegaLiteChart]')]"
        f".filter(c => c.querySelector('svg .mark-line')).length >= {n}", timeout=timeout, polling=POLL_MS)


def _pictures_loaded(page, n, timeout=90_000):
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stImage] img')]"
        f".filter(i => i.complete && i.naturalWidth > 0).length >= {n}", timeout=timeout, polling=POLL_MS)


def _own_npz(tmp_path):
    """Binarised 8×8 digits with labels, as a visitor's own file."""
    from sklearn.datasets import load_digits
    d = load_digits()
    path = tmp_path / "my-digits.npz"
    np.savez(path, x=((d.images[:600] / 16) > 0.5).astype(np.uint8) * 255, y=d.target[:600])
    return path


def test_beta_lab_shows_a_shipped_sweep_a_tour_and_a_live_one(shared_server, browser_context, tmp_path):
    page = browser_context.new_page()
    page.goto(f"{shared_server.url}/Beta_lab", wait_until="domcontentloaded")
    wait_for_app(page, timeout=90_000)
    page.get_by_text("What each β makes of the same images").wait_for(timeout=90_000)
    _charts_drawn(page)
    _pictures_loaded(page, 7)
    painted(page)
    assert_no_error(page)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    for i in range(N_VEGA):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, (i, box)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "Sharpness: reconstructions keep" in body and "⭐" in body and "score best at β =" in body
    page.set_viewport_size({"width": 1400, "height": 3600})   # the first screens in one picture
    wait_for_app(page)
    _charts_drawn(page)
    _pictures_loaded(page, 7)
    painted(page, 10)                                         # laid out again at the new size
    assert_no_error(page)
    screenshot(page, "beta_lab")

    page.set_viewport_size({"width": 1400, "height": 500})     # a card taller than the view
    page.get_by_role("button", name="🎓 Show me").click()
    page.get_by_text("1 · Look at the reconstructions").wait_for(timeout=30_000)
    for title in ("2 · Look at the samples", "3 · Measure the blur", "4 · Measure the overfitting"):
        wait_for_app(page)
        page.get_by_role("button", name="Next ▶").click()     # at the card's foot, below the view's middle
        page.get_by_text(title).wait_for(timeout=30_000)
        # Next scrolls the new card's top into view (its title is not left above the screen)
        page.wait_for_function(
            "() => { const c = document.querySelector('.st-key-bl_tour_card');"
            " if (!c) return false; const t = c.getBoundingClientRect().top;"
            " return t >= -2 && t < window.innerHeight / 3; }", timeout=15_000, polling=POLL_MS)
    wait_for_app(page)
    painted(page)
    assert_no_error(page)
    screenshot(page, "beta_lab_tour")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.get_by_role("button", name="End the tour").click()
    page.get_by_text("4 · Measure the overfitting").wait_for(state="detached", timeout=30_000)

    # a sweep of one's own, on an uploaded file: one job per β, polled until both are measured
    wait_for_app(page)
    page.get_by_text("Run a sweep of your own").first.click()
    pick = page.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first
    pick.wait_for(timeout=30_000)                             # the form, opened
    wait_for_app(page)                                        # its rerun done: the list stays open
    choose(page, pick, "your own data (.npz, .npy, .csv)")
    page.get_by_text("Your data (.npz, .npy or .csv)").wait_for(timeout=30_000)
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(_own_npz(tmp_path)))
    page.get_by_text("my-digits.npz").first.wait_for(timeout=30_000)
    page.get_by_role("spinbutton", name="Training subset (images; 0 = all)").fill("200")
    page.get_by_role("spinbutton", name="Latent dimension").fill("2")
    page.get_by_role("spinbutton", name="Epochs").fill("5")
    page.get_by_role("textbox", name="β values").fill("0, 8")
    page.keyboard.press("Tab")
    wait_for_app(page)
    page.get_by_role("button", name="Start the sweep").click(no_wait_after=True)
    page.get_by_text("file, 200 training images (binarised pixels)").wait_for(timeout=240_000)
    assert "sweep=live" in page.url
    page.get_by_text("of 2 runs finished").wait_for(state="detached", timeout=240_000)
    _charts_drawn(page)
    _pictures_loaded(page, 2)
    painted(page)
    assert_no_error(page)
    main = page.locator('[data-testid="stMain"]')          # the reading follows the measures
    for words in ("fine detail at β = 0 and", "score best at β ="):
        main.get_by_text(words).first.wait_for(timeout=120_000)
    screenshot(page, "beta_lab_live")
