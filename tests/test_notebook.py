"""The quick-start notebook (examples/quickstart.ipynb): run headless with nbclient, and
opened in a real JupyterLab in Chromium, where the widget decodes under the pointer and a
click changes ``w.z`` in the kernel (issue 26)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, POLL_MS, ROOT, _need_chromium

NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _kernel_env(runs: Path) -> dict:
    """The kernel's environment: this checkout importable, runs into the test's folder."""
    return {**os.environ, "LATENT_EXPLORER_RUNS": str(runs),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def test_quickstart_runs_headless(tmp_path, _isolated_runs, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    monkeypatch.setenv("PYTHONPATH", _kernel_env(_isolated_runs)["PYTHONPATH"])
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    widgets = [o for o in outputs if WIDGET_MIME in o.get("data", {})]
    assert len(widgets) >= 3                       # fit's live view, run.explore(), mine.explore()
    tracked = [p for p in _isolated_runs.iterdir() if p.name.startswith("my-loop-")]
    assert len(tracked) == 1 and (tracked[0] / "model.decoder.onnx").is_file()
    text = "".join(o.get("text", "") for o in outputs)
    assert "Explore?run=" + tracked[0].name in text


# ------------------------------------------------------------ JupyterLab in Chromium

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab on loopback with no token, over a temporary folder holding the
    quick-start notebook; started once for this module, stopped at its end."""
    _need_chromium()
    root = tmp_path_factory.mktemp("lab")
    runs = root / "runs"
    runs.mkdir()
    shutil.copy(NOTEBOOK, root / "quickstart.ipynb")
    port = _free_port()
    env = {**_kernel_env(runs), "JUPYTER_RUNTIME_DIR": str(root / ".runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces")}
    log = open(root / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.expose_app_in_browser=True"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/api/status", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("JupyterLab did not start: " + (root / "lab.log").read_text()[-2000:])
                time.sleep(0.5)
        yield {"url": url, "root": root, "runs": runs}
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _image(page, widget) -> str:
    return widget.locator("canvas.lp-image").evaluate("c => c.toDataURL()")


@pytest.mark.browser
@pytest.mark.slow
def test_the_widget_decodes_under_the_pointer_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                   headless=True, args=CHROMIUM_ARGS,
                                                   viewport={"width": 1300, "height": 2400})
        try:
            page = ctx.new_page()
            page.goto(jupyterlab["url"] + "/lab/tree/quickstart.ipynb")
            page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook')",
                                   timeout=90_000, polling=POLL_MS)
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                timeout=90_000, polling=POLL_MS)
            # the cells above `w.z` (fit, explore): the tracked loop and the exports are the headless test's
            cell = page.locator(".jp-CodeCell", has_text="the z you pinned last")
            cell.locator(".jp-InputPrompt").click()     # the `w.z` cell is the active one
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-above')")
            # the widget of `w = run.explore()`: the first plane without training curves
            widget = page.locator(".lp-widget:not(:has(.lp-curves))").first
            widget.locator("canvas.lp-image[data-key]").wait_for(timeout=240_000)
            plane = widget.locator("canvas.lp-plane")
            plane.scroll_into_view_if_needed()
            box = plane.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            page.wait_for_function("() => (globalThis.__latentPlaneStats || {frames: []}).frames.length > 0",
                                   timeout=10_000, polling=POLL_MS)      # the z under the pointer decoded once
            first = _image(page, widget)
            page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.7, steps=8)
            page.wait_for_function("([el, before]) => el.toDataURL() !== before",
                                   arg=[widget.locator("canvas.lp-image").element_handle(), first], timeout=10_000, polling=POLL_MS)
            page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.7)
            # run the `w.z` cell: the kernel has the pinned z
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            out = cell.locator(".jp-OutputArea-output")
            page.wait_for_function(
                "el => /\\[-?\\d/.test(el.innerText) && !/^\\[0\\.0, 0\\.0\\]$/.test(el.innerText.trim())",
                arg=out.last.element_handle(), timeout=30_000, polling=POLL_MS)
            z = [float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", out.last.inner_text())]
            assert len(z) == 2 and z != [0.0, 0.0]
            ARTIFACTS.mkdir(exist_ok=True)
            widget.screenshot(path=str(ARTIFACTS / "jupyterlab_widget.png"))
        finally:
            ctx.close()
