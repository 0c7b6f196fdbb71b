"""The exports in a real Chromium: the Runs page's TensorBoard, script and ONNX buttons give
real downloads whose contents are checked; Explore's "Open your own model" refuses a .pt
with the conversion snippet and opens a safetensors + config.json pair as a new run."""
from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from conftest import assert_no_error, module_profile, screenshot, wait_for_app
from explorer import store

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("close_tabs")]
RUN = "digits-vae-z2-b1"


@pytest.fixture(scope="module")
def server(shared_server):
    """The test process's shared server: the exports read a shipped run; the upload adds a run
    of its own (found by its id), which no other test lists."""
    return shared_server


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """One Chromium profile, one person, for both tests (each in its own tab, closed at its end)."""
    yield from module_profile(tmp_path_factory, "export_profile")


def _download(page, label, tmp_path):
    with page.expect_download(timeout=90_000) as dl:
        page.get_by_role("button", name=re.compile(label)).click()
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    return path


def test_runs_page_exports(server, browser_context, tmp_path):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{server.url}/Runs?run={RUN}")
    page.get_by_text("Export, rename, delete").wait_for(timeout=90_000)
    wait_for_app(page, 90_000)
    assert_no_error(page)
    page.get_by_role("button", name=re.compile("TensorBoard logs")).scroll_into_view_if_needed()
    screenshot(page, "runs_export_buttons")

    tb = _download(page, "TensorBoard logs", tmp_path)
    assert tb.name == f"{RUN}-tensorboard.zip"
    with zipfile.ZipFile(tb) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "tb")
    assert any(n.startswith(f"{RUN}/training/events.out.tfevents") for n in names)
    assert f"{RUN}/validation/projector_config.pbtxt" in names
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(tmp_path / "tb" / RUN / "training"), size_guidance={"scalars": 0})
    acc.Reload()
    assert len(acc.Scalars("recon")) == len(store.read_metrics(store.SHIPPED_ROOT / RUN))

    script = _download(page, "PyTorch script", tmp_path)
    text = script.read_text()
    assert script.name == "train_vae.py" and "import explorer" not in text
    compile(text, "train_vae.py", "exec")

    onnx = _download(page, "ONNX encoder", tmp_path)
    with zipfile.ZipFile(onnx) as zf:
        assert sorted(zf.namelist()) == [f"{RUN}/decoder.onnx", f"{RUN}/encoder.onnx"]
    assert_no_error(page)


def test_explore_opens_your_own_model(server, browser_context, tmp_path):
    page = browser_context.new_page()
    page.goto(f"{server.url}/Explore")
    page.get_by_text("Open your own model").wait_for(timeout=90_000)
    wait_for_app(page, 90_000)
    page.get_by_text("Open your own model").click()
    dropzone = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploaderDropzoneInput"]')

    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04\x95\x00")                       # a pickle's first bytes
    dropzone.set_input_files(str(pt))
    page.get_by_text(re.compile("never unpickles")).wait_for(timeout=60_000)
    expect(page.locator('[data-testid="stSidebar"] [data-testid="stCode"]')).to_contain_text("save_file")
    screenshot(page, "explore_own_model_pt")

    folder = store.SHIPPED_ROOT / "digits-vae-z2-b4"
    page.reload()                                            # a fresh uploader (same person: the cookie)
    page.get_by_text("Open your own model").wait_for(timeout=90_000)
    wait_for_app(page, 90_000)
    page.get_by_text("Open your own model").click()
    dropzone.set_input_files([str(folder / store.WEIGHTS), str(folder / store.CONFIG)])
    msg = page.get_by_text(re.compile(r"Opened as your run"))
    msg.wait_for(timeout=60_000)
    wait_for_app(page, 90_000)
    run_id = re.search(r"your run (\S+?):", msg.inner_text()).group(1)
    assert (server.runs / run_id / store.WEIGHTS).is_file()
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text(f"Run folder: {run_id}", timeout=60_000)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible(timeout=60_000)
    assert f"model=run%3A{run_id}" in page.url or f"model=run:{run_id}" in page.url
    assert_no_error(page)
    screenshot(page, "explore_own_model_opened")
