"""The screenshot tour (``scripts/screenshots.py``) on a few pages, in CI: a demo server on
127.0.0.1, headless Chromium at 1440 and 390 px, axe-core from ``node_modules``.

Fails on a serious or critical axe violation, horizontal overflow at either width
(``document.scrollingElement.scrollWidth > innerWidth``), a console error or warning, a
page error or an HTTP error status. The whole tour is ``scripts/screenshots.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.test_portal_browser import chromium_path
from tests.unit.test_screenshot_routes import load_tour

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
__all__ = ["chromium_path"]
SMALL_SET = {
    "console-overview",
    "console-customer",
    "console-backtest",
    "portal-customer",
    "account",
}


def test_the_tour_finds_no_defect_on_a_small_set(chromium_path: str, tmp_path: Path) -> None:
    tour = load_tour()
    assert chromium_path == tour.CHROMIUM
    out = Path(os.environ.get("TALLYBOOK_SCREENSHOTS", tmp_path))
    findings = tour.run(out, SMALL_SET)
    assert {(f.name, f.width) for f in findings} == {
        (name, width) for name in SMALL_SET for width in tour.WIDTHS
    }
    assert all(f.path.is_file() and f.path.stat().st_size > 10_000 for f in findings)
    problems = {f"{f.name} at {f.width}px": f.problems for f in findings if f.problems}
    assert problems == {}
