"""axe-core (bundled by the ``axe-playwright-python`` package) run on a Playwright page, for
the WCAG 2.1 A and AA rules, inside every frame of the page too.

:func:`scan` injects axe into the page and into each of its frames (axe then asks the
frames itself, ``iframes: true``) and returns the violations, one :class:`Violation` per
rule and element. :func:`report` prints them (rule, impact, element, what failed) for a
failing test; :func:`tally` counts them by rule and impact (the accessibility statement's
tables and ``benchmarks/a11y_scan.py``).

:data:`TOUR` is the list of screens the checks visit, each a function that brings a page of
the app (``page``) into that screen: tests/test_browser_a11y.py and benchmarks/a11y_scan.py
walk the same list.
"""
from __future__ import annotations

import collections
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

WCAG21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    target: str          # the element's CSS path (through frames / shadow roots: " >> ")
    html: str            # the element's opening tag, shortened
    summary: str         # axe's "fix any of / all of" text
    help: str = field(default="", compare=False)


@functools.cache
def axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT
    return AXE_SCRIPT


def _target(t) -> str:
    """axe's target: a list of selectors, each a string or (in a shadow root) a list."""
    return " >> ".join(" / ".join(s) if isinstance(s, list) else str(s) for s in t)


def scan(page, tags: list[str] = WCAG21_AA) -> list[Violation]:
    """The violations of the WCAG rules ``tags`` on ``page`` as it is now, frames included."""
    script = axe_script()
    for frame in page.frames:
        if frame is page.main_frame:
            continue
        try:
            frame.evaluate(script)
        except Exception:  # noqa: BLE001 - a frame that went away while we looked: nothing to scan
            pass
    page.evaluate(script)
    options = {"runOnly": {"type": "tag", "values": tags}, "resultTypes": ["violations"],
               "iframes": True, "frameWaitTime": 10_000}
    result = page.evaluate("(o) => axe.run(document, o)", options)
    out = []
    for v in result["violations"]:
        for node in v["nodes"]:
            html = re.sub(r"\s+", " ", node.get("html", ""))[:160]
            out.append(Violation(v["id"], node.get("impact") or v.get("impact") or "unknown",
                                 _target(node["target"]), html,
                                 re.sub(r"\s+", " ", node.get("failureSummary", "")), v.get("help", "")))
    return out


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.impact in BLOCKING]


def report(violations: list[Violation]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v.impact}] {v.rule}: {v.help}\n    element: {v.target}\n    html: {v.html}"
                     f"\n    {v.summary[:400]}")
    return "\n".join(lines)


def tally(violations: list[Violation]) -> collections.Counter:
    """(rule, impact) -> number of elements."""
    return collections.Counter((v.rule, v.impact) for v in violations)


# ------------------------------------------------------------------ the screens

MAIN = '[data-testid="stMain"]'


def wait_settled(page, timeout: float = 60_000) -> None:
    """Streamlit has finished its script run and every chart, image and component has drawn
    (``conftest.wait_settled``)."""
    from conftest import wait_settled as settled
    settled(page, timeout)


def start_live_run(page, url: str, epochs: int = 400) -> None:
    """Open Train and start a run with the default settings (many epochs, so it is still
    running while the pages are scanned); wait until its live charts have drawn."""
    from conftest import POLL_MS
    page.goto(url + "/Train")
    wait_settled(page)
    page.get_by_text("Training", exact=True).click()
    box = page.get_by_role("spinbutton", name="Epochs")
    box.fill(str(epochs))
    box.press("Enter")
    wait_settled(page)
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Probe set in latent space").wait_for(timeout=120_000)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] svg')"
                           ".length >= 7", timeout=60_000, polling=POLL_MS)


def create_class(page, url: str, name: str = "Period 3") -> str:
    """A teacher creates a class on the Class page; returns its join code."""
    page.goto(url + "/Class")
    wait_settled(page)
    page.get_by_label("Class name").fill(name)
    page.get_by_role("button", name="Create the class").click()
    page.get_by_role("dialog").get_by_text("never show it to the class").wait_for(timeout=30_000)
    page.get_by_role("button", name="I have noted it: close").click()
    page.get_by_role("dialog").wait_for(state="detached", timeout=30_000)
    wait_settled(page)
    return re.search(r"[?&]class=([A-Z0-9]+)", page.url).group(1)


def join_class(page, url: str, code: str, name: str = "Ann") -> None:
    page.goto(url + f"/Class?class={code}")
    wait_settled(page)
    page.get_by_label("Your name, as your teacher will see it").fill(name)
    page.get_by_role("button", name="Join", exact=True).click()
    page.get_by_text("You are in this class as").wait_for(timeout=30_000)
    wait_settled(page)


def goto(page, url: str) -> None:
    page.goto(url)
    wait_settled(page)


# (name, role, path): role "any" is anyone's browser, "teacher"/"student" the class's
SCREENS = [
    ("home", "any", ""),
    ("train-live", "any", "Train"),
    ("explore", "any", "Explore"),
    ("explore-traversals", "any", "Explore?tab=Traversals"),
    ("beta-lab", "any", "Beta_lab"),
    ("disentangle", "any", "Disentangle"),
    ("theory", "any", "Theory"),
    ("runs", "any", "Runs"),
    ("class-teacher", "teacher", "Class"),
    ("class-student", "student", "Class"),
    ("class-presentation", "teacher", "Class?present=1"),
]


def artifacts_dir() -> Path:
    from conftest import ARTIFACTS
    out = ARTIFACTS / "a11y"
    out.mkdir(parents=True, exist_ok=True)
    return out
