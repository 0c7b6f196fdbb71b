"""Screenshots of every page at the two sizes a class uses (a laptop, 1400×1000, and a small
projector, 1000×800), to look at before a release.

    python benchmarks/screenshots.py [--out artifacts/screens] [--pages "Train;Explore"]

A server is started on a fresh runs folder. Each page is shot twice per width: the first
screen exactly as the viewport shows it, and the whole page (Streamlit's main area scrolls
inside its own container, so the "whole page" shot uses a viewport as tall as the content).
Each shot is checked for an exception box and for text cut off by its own box (an element
whose text is wider than the element, outside scrolling containers); the last line prints
``shots=… errors=… clipped=…`` and the clipped texts are listed above it.

``--readme`` instead retakes the README's picture, ``docs/screenshot.png``: the Train page at
1400×1500 during a run with the default settings, some 25 epochs in.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PAGES = ["", "Train", "Explore", "Explore?tab=Manifold+grid", "Explore?tab=Traversals",
         "Explore?tab=Interpolation", "Beta_lab", "Disentangle", "Theory", "Runs",
         "Runs?runs=digits-vae-z2-b1,digits-ae-z2"]
SIZES = ((1400, 1000), (1000, 800))

# Headings, captions and labels whose text overflows their own box (clipped by an ancestor).
SELECT = ("h1,h2,h3,h4,[data-testid=stCaptionContainer],label,[data-testid=stMetricLabel],"
          "[data-testid=stMetricValue]")
CLIPPED = ("() => [...document.querySelectorAll('" + SELECT + "')]"
           ".filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 2"
           " && getComputedStyle(e).overflowX !== 'auto')"
           ".map(e => e.innerText.slice(0, 60))")


def shoot(url: str, out: Path, pages: list[str]) -> tuple[int, int, list[str]]:
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, wait_for_app
    shots = errors = 0
    clipped: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for w, h in SIZES:
            page = browser.new_page(viewport={"width": w, "height": h})
            for path in pages:
                name = (path or "home").replace("?", "_").replace("=", "-").replace(",", "_")
                name = name.replace("+", "_")
                page.set_viewport_size({"width": w, "height": h})
                page.goto(f"{url}/{path}")
                wait_for_app(page, 120_000)
                page.wait_for_timeout(2500)                  # charts and images settle
                page.screenshot(path=str(out / f"{name}-{w}x{h}.png"))
                errors += page.locator('[data-testid="stException"]').count()
                clipped += [f"{name} {w}: {t}" for t in page.evaluate(CLIPPED)]
                tall = page.evaluate("() => (document.querySelector('[data-testid=stMain]') "
                                     "|| document.body).scrollHeight")
                page.set_viewport_size({"width": w, "height": min(int(tall) + 50, 12000)})
                page.wait_for_timeout(1500)
                page.screenshot(path=str(out / f"{name}-{w}-full.png"))
                shots += 2
        browser.close()
    return shots, errors, clipped


def readme_shot(url: str, path: Path) -> None:
    """The Train page, its default run some 25 epochs in (the latent has started to sort), in a
    viewport tall enough to show the latent scatter under the curves."""
    from playwright.sync_api import sync_playwright

    from conftest import CHROMIUM, CHROMIUM_ARGS, wait_for_app
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1500})
        page.goto(f"{url}/Train")
        wait_for_app(page, 120_000)
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_function("() => /epoch (2[5-9]|[3-9][0-9])/.test(document.body.innerText)",
                               timeout=300_000)
        page.get_by_role("button", name="Pause", exact=True).click()
        page.wait_for_timeout(4000)                          # the slow fragment redraws the latent
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "screens"))
    ap.add_argument("--pages", default=";".join(PAGES), help="page paths, separated by ;")
    ap.add_argument("--url", default=None, help="reuse a running server")
    ap.add_argument("--readme", action="store_true", help="retake docs/screenshot.png only")
    a = ap.parse_args()
    if a.readme:
        from conftest import start_server, stop_server
        server = start_server(Path(tempfile.mkdtemp(prefix="screens-")), {}, timeout=120)
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
        try:
            readme_shot(server.url, ROOT / "docs" / "screenshot.png")
        finally:
            stop_server(server)
        print(f"readme=docs/screenshot.png")
        return
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    pages = [p.strip() for p in a.pages.split(";")]
    if a.url:
        shots, errors, clipped = shoot(a.url, out, pages)
    else:
        from conftest import start_server, stop_server
        server = start_server(Path(tempfile.mkdtemp(prefix="screens-")), {}, timeout=120)
        server.wait_for_log("Latent Explorer warmed up")   # its first worker is ready too
        try:
            shots, errors, clipped = shoot(server.url, out, pages)
        finally:
            stop_server(server)
    for c in clipped:
        print("clipped:", c)
    print(f"shots={shots} errors={errors} clipped={len(clipped)} out={out}")


if __name__ == "__main__":
    main()
