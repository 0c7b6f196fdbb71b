"""The Runs page in a real Chromium: export a shipped run as a zip (a real download),
upload that zip through the import control, and see the imported run in the table.
On the test process's shared server: the imported run is found by its id."""
import re
import zipfile

import pytest
from playwright.sync_api import expect

from conftest import POLL_MS, assert_no_error, screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _open(page, url):
    page.goto(url)
    page.get_by_text("Export, rename, delete").wait_for(timeout=90_000)
    wait_for_app(page, 90_000)


def test_export_then_import_a_run(shared_server, browser_context, tmp_path):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 2600})      # the whole page in one screenshot
    _open(page, f"{shared_server.url}/Runs?run=digits-vae-z2-b1&runs=digits-vae-z2-b1,digits-ae-z2")
    assert_no_error(page)
    expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(1, timeout=60_000)  # curves
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(2, timeout=60_000)    # scatters
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=60_000)
    screenshot(page, "runs_compare")

    # export: a real download of the zip the button builds
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name=re.compile("Export run")).click()
    zip_path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(zip_path)
    assert zip_path.name == "digits-vae-z2-b1.zip"
    with zipfile.ZipFile(zip_path) as zf:
        assert {"config.json", "weights.safetensors", "metrics.csv", "summary.json"} <= set(zf.namelist())

    # import it back through the file uploader
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(zip_path))
    msg = page.get_by_text(re.compile(r"Imported digits-vae-z2-b1\.zip as run"))
    msg.wait_for(timeout=60_000)
    wait_for_app(page, 90_000)
    run_id = re.search(r"as run (\S+?)\.", msg.inner_text()).group(1)
    assert run_id.startswith("digits-vae-z2-b1-imported-")
    assert_no_error(page)
    # the new run is in the table, at the bottom (the grid draws on a canvas; its accessible
    # copy holds the text of the rows in view), and on disk
    grid = page.locator('[data-testid="stDataFrame"]')
    grid.scroll_into_view_if_needed()
    grid.hover()
    page.mouse.wheel(0, 5000)
    page.wait_for_function(
        "id => document.querySelector('[data-testid=\"stDataFrame\"]').innerHTML.includes(id)",
        arg=run_id, timeout=60_000, polling=POLL_MS)
    assert (shared_server.runs / run_id / "weights.safetensors").is_file()      # the server's runs folder
    assert f"run={run_id}" in page.url                                   # the managed run is in the URL
    screenshot(page, "runs_imported")
