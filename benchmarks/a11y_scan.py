"""axe-core scan of every screen (WCAG 2.1 A and AA rules), counted by rule and impact.

    python benchmarks/a11y_scan.py [--out artifacts/a11y/scan.json] [--screens home,theory]

Starts a server on a fresh runs folder, starts a live run on the Train page (the Train and
Explore screens are scanned during it), creates a class in one browser profile (the teacher)
and joins it from another (a student), then scans each screen of ``tests/axe.py``'s
``SCREENS`` and prints every violation (rule, impact, element) and a table of counts by
rule and impact; the last line is ``screens=… serious=… critical=… moderate=… minor=…``.
The whole result is written as JSON to ``--out`` (docs/ACCESSIBILITY.md quotes it).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    import axe
    from conftest import launch_profile, start_server, stop_server
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(axe.artifacts_dir() / "scan.json"))
    ap.add_argument("--screens", default="", help="comma-separated names (default: all)")
    args = ap.parse_args()
    wanted = [s for s in axe.SCREENS if not args.screens or s[0] in args.screens.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="le-a11y-"))
    server = start_server(tmp, {"LATENT_EXPLORER_MAX_JOBS": "2"})
    results: dict[str, list] = {}
    try:
        with sync_playwright() as p:
            anyone = launch_profile(p, tmp / "profile-a", 1400, 1000)
            student = launch_profile(p, tmp / "profile-b", 1400, 1000)
            train = anyone.new_page()
            axe.start_live_run(train, server.url)
            code = None
            if any(role != "any" for _, role, _ in wanted):
                code = axe.create_class(anyone.new_page(), server.url)
                axe.join_class(student.new_page(), server.url, code)
            for name, role, path in wanted:
                if name == "train-live":
                    page = train
                    axe.wait_settled(page)
                else:
                    page = (student if role == "student" else anyone).new_page()
                    if role != "any":
                        path = path.replace("Class", f"Class?class={code}").replace("?present", "&present")
                    axe.goto(page, f"{server.url}/{path}")
                page.screenshot(path=str(axe.artifacts_dir() / f"{name}.png"), full_page=True)
                found = axe.scan(page)
                results[name] = [v.__dict__ for v in found]
                print(f"== {name}: {len(found)} violating elements", flush=True)
                if found:
                    print(axe.report(found), flush=True)
                if page is not train:
                    page.close()
            anyone.close()
            student.close()
    finally:
        stop_server(server)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    counts = collections.Counter()
    by_rule = collections.Counter()
    for name, found in results.items():
        for v in found:
            counts[v["impact"]] += 1
            by_rule[(v["rule"], v["impact"], name)] += 1
    print("\nrule | impact | screen | elements")
    for (rule, impact, name), n in sorted(by_rule.items()):
        print(f"{rule} | {impact} | {name} | {n}")
    print(f"screens={len(results)} " + " ".join(f"{k}={counts.get(k, 0)}"
                                                for k in ("critical", "serious", "moderate", "minor")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
