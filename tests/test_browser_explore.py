"""The Explore page in a real Chromium: a click on an empty area of the plane decodes a z
within one grid step of the clicked coordinates, and moves the sliders there."""
import re

import numpy as np
import pytest

from conftest import POLL_MS, assert_no_error, painted, screenshot, wait_for_app

pytestmark = pytest.mark.browser

# The plane's axes, plot-area box, data points and click-grid spacing, read from the page.
READ_PLANE = """() => {
  const d = [...document.querySelectorAll('.js-plotly-plot')]
      .find(p => p._fullData && p._fullData.some(t => t.name === 'click grid'));
  if (!d) return null;
  const fl = d._fullLayout, r = d.querySelector('.nsewdrag').getBoundingClientRect();
  const pts = [];
  let gx = [];
  for (const t of d._fullData) {
    if (t.name === 'click grid') { gx = Array.from(new Set(Array.from(t.x))); continue; }
    if (t.mode === 'markers' && t.x) for (let i = 0; i < t.x.length; i++) pts.push([t.x[i], t.y[i]]);
  }
  return {x: fl.xaxis.range, y: fl.yaxis.range, box: [r.left, r.top, r.width, r.height], pts, gx};
}"""

CAPTION = re.compile(r"decoder mean at z = \(([-\d.]+), ([-\d.]+)\)")


def _decoded_z(page):
    text = page.get_by_text(CAPTION).first.inner_text()
    return np.array([float(v) for v in CAPTION.search(text).groups()]), text


def _emptiest_point(info):
    """The point of the plot (away from its edges) farthest from every data point."""
    pts = np.asarray(info["pts"], float)
    (x0, x1), (y0, y1) = info["x"], info["y"]
    best, best_d = None, -1.0
    for fx in np.linspace(0.1, 0.9, 33):
        for fy in np.linspace(0.1, 0.9, 33):
            q = np.array([x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)])
            d = np.min(np.linalg.norm(pts - q, axis=1))
            if d > best_d:
                best, best_d = q, d
    return best, best_d


def _click_empty_space(page, name: str):
    """Click the emptiest spot of the plane; return (decoded z, clicked z, grid step)."""
    drawn = f"() => {{ const i = ({READ_PLANE})(); return i && i.pts.length > 300 && i.gx.length > 20; }}"
    page.wait_for_function(drawn, timeout=60_000, polling=POLL_MS)        # the plane, drawn with its points and grid
    info = page.evaluate(READ_PLANE)
    assert len(info["pts"]) > 300 and len(info["gx"]) > 20
    step = (info["x"][1] - info["x"][0]) / (len(info["gx"]) - 1)
    target, clearance = _emptiest_point(info)
    assert clearance > 2 * step                     # truly empty: no data point to land on

    (x0, x1), (y0, y1) = info["x"], info["y"]
    left, top, width, height = info["box"]
    px = left + (target[0] - x0) / (x1 - x0) * width
    py = top + (y1 - target[1]) / (y1 - y0) * height
    before = _decoded_z(page)[1]
    page.mouse.move(px, py)
    painted(page)                                        # the hover is drawn before the click
    page.mouse.click(px, py)
    from playwright.sync_api import expect               # the caption may sit in a shadow DOM
    expect(page.get_by_text(re.compile(r"^decoder mean at z = \(")).first).not_to_have_text(before, timeout=60_000)
    wait_for_app(page, timeout=60_000)
    z, _ = _decoded_z(page)
    screenshot(page, name)
    return z, target, step


def test_a_click_on_empty_space_decodes_that_z(shared_server, browser_context):
    page = browser_context.new_page()
    page.goto(f"{shared_server.url}/Explore?model=shipped:digits-vae-z2-b1", timeout=90_000)
    page.get_by_text(CAPTION).first.wait_for(timeout=90_000)
    wait_for_app(page, timeout=90_000)

    # 359 probe points: an SVG plane
    z, target, step = _click_empty_space(page, "explore_click_svg")
    assert np.all(np.abs(z - target) <= step), (z, target, step)
    # the sliders moved to the decoded z, and the link carries it
    values = [float(page.locator(f'input[type="range"][aria-label^="z{d} ·"]').input_value())
              for d in (1, 2)]
    assert np.allclose(values, z)
    assert f"z={z[0]:.2f}%2C{z[1]:.2f}" in page.url
    assert_no_error(page)

    # the training split, 1438 points: a WebGL plane
    page.get_by_text("training split").click()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(d => d._fullData"
                           " && d._fullData.some(t => t.type === 'scattergl' && t.name === 'click grid'))",
                           timeout=60_000, polling=POLL_MS)
    wait_for_app(page, timeout=60_000)
    z2, target2, step2 = _click_empty_space(page, "explore_click_webgl")
    assert np.all(np.abs(z2 - target2) <= step2), (z2, target2, step2)
    assert not np.allclose(z2, z)
    assert_no_error(page)
