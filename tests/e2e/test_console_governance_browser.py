"""Governed pricing in the console, in headless Chromium (Playwright, Debian's
/usr/bin/chromium) against a real ``tallybook serve`` on 127.0.0.1.

Alice (``pricing_editor``) opens the catalog and the plan, proposes a price change in
the editor (validate-as-you-type shows the located error of a bad value, then the diff;
"Preview" shows the impact on last month's usage), Bob (``pricing_approver``) approves
it after a confirmation, the audit log shows both entries and the chain verifies; Alice
then proposes a rollback from the plan's version history. Every new page is checked at
1440 px and 390 px for console errors and with axe-core for serious or critical
violations; screenshots go to ``TALLYBOOK_SCREENSHOTS`` (default: a pytest tmp dir).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.catalogs import GROWTH as CATALOG
from tests.e2e.conftest import ServerFactory
from tests.e2e.test_console_browser import REPO, Checker, axe_source, ok, shots
from tests.e2e.test_portal_browser import ARGS, chromium_path

__all__ = ["axe_source", "chromium_path", "shots"]  # fixtures, imported for this module

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

HISTORY = 70  # days of usage: two closed calendar months at least


@pytest.fixture
def governed(server: ServerFactory, sqlite_url: str) -> dict[str, Any]:
    handle = server(sqlite_url, env={"TALLYBOOK_NODE_MODULES": str(REPO / "node_modules")})
    with httpx.Client(base_url=handle.base_url, headers=handle.headers, timeout=20) as api:
        ok(api.put("/v1/catalog", json=CATALOG))
        now = datetime.now(UTC)
        start = (now - timedelta(days=HISTORY)).replace(day=1, hour=0, minute=0, second=0)
        start = start.replace(microsecond=0)
        ok(
            api.post(
                "/v1/customers", json={"id": "umbrella", "name": "Umbrella", "currency": "USD"}
            )
        )
        sub = {"customer": "umbrella", "plan": "growth", "start": start.isoformat()}
        ok(api.post("/v1/subscriptions", json=sub))
        days = (now - start).days
        events = [
            {
                "id": f"u-{day}-{n}",
                "customer": "umbrella",
                "type": "api_call",
                "timestamp": (start + timedelta(days=day, hours=12)).isoformat(),
            }
            for day in range(days)
            for n in range(3)
        ]
        assert ok(api.post("/v1/events", json=events))["accepted"] == len(events)
        ok(api.post("/v1/billing-runs", json={"as_of": now.isoformat()}))
        alice = ok(api.post("/v1/keys", json={"name": "alice", "roles": ["pricing_editor"]}))
        bob = ok(api.post("/v1/keys", json={"name": "bob", "roles": ["pricing_approver"]}))
    return {"base_url": handle.base_url, "alice": alice["key"], "bob": bob["key"], "handle": handle}


def log_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/console")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Console log in")).to_be_visible()


def test_propose_approve_audit_and_roll_back(
    chromium_path: str, governed: dict[str, Any], axe_source: str, shots: Path
) -> None:
    base_url = governed["base_url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            checker = Checker(page, axe_source, shots)
            log_in(page, base_url, governed["alice"])
            change = propose(page, checker)
            log_out(page)
            log_in(page, base_url, governed["bob"])
            approve(page, checker, change)
            audit(page, checker, change)
            log_out(page)
            log_in(page, base_url, governed["alice"])
            roll_back(page, checker)
            assert len(checker.taken) >= 20
        finally:
            browser.close()


def propose(page: Page, checker: Checker) -> str:
    page.get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()
    checker.check("catalog")
    page.get_by_role("link", name="Growth").click()
    expect(page.get_by_role("heading", name="Growth version 1")).to_be_visible()
    checker.check("plan")
    page.get_by_role("link", name="Propose a change to this plan").click()
    expect(page.get_by_role("heading", name="Propose a catalog change")).to_be_visible()
    checker.check("change-editor")
    document = page.locator("#document")
    text = document.input_value()
    assert "unit_amount: '0.10'" in text, text
    # a bad value: the located catalog error appears while typing
    document.fill(text.replace("unit_amount: '0.10'", "unit_amount: '0.1x'"))
    errors = page.locator("#validation-errors")
    expect(errors).to_contain_text("plans[0].charges[1].unit_amount")
    checker.check("change-editor-error")
    # then a good one: the diff
    document.fill(text.replace("unit_amount: '0.10'", "unit_amount: '0.12'"))
    diff = page.locator("#diff")
    expect(diff).to_contain_text("plans[growth].charges[api].unit_amount")
    expect(diff.locator("td.new")).to_have_text("0.12")
    # and the impact on the last closed period
    page.get_by_role("button", name="Preview diff and impact").click()
    impact = page.locator("#impact")
    expect(impact).to_contain_text("USD")
    delta = impact.locator("strong").inner_text()
    assert float(delta) > 0, delta  # a dearer call on last month's usage
    page.get_by_label("Reason (kept in the audit log)").fill("compute costs up 20%")
    checker.check("change-editor-impact")
    page.get_by_role("button", name="Propose change").click()
    expect(page.get_by_role("heading", name=re.compile(r"Change chg_"))).to_be_visible()
    expect(page.locator("#change-status")).to_have_text("pending_approval")
    expect(page.get_by_role("status")).to_contain_text("another key must approve")
    checker.check("change-pending")
    found = re.search(r"/console/approvals/(chg_[^?]+)", page.url)
    assert found is not None, page.url
    return found.group(1)


def approve(page: Page, checker: Checker, change: str) -> None:
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals", level=1)).to_be_visible()
    expect(page.locator("tbody")).to_contain_text(change)
    checker.check("approvals")
    page.get_by_role("link", name=change).click()
    expect(page.locator("#diff")).to_contain_text("0.12")
    expect(page.locator("#impact")).to_contain_text("USD")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", name=re.compile("Confirm: Approve"))).to_be_visible()
    page.get_by_label("Reason (kept in the audit log)").fill("ok with finance")
    checker.check("approve-confirm")
    page.get_by_role("button", name="Confirm: Approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    expect(page.locator("#change-status")).to_have_text(re.compile("approved|active"))
    checker.check("change-approved")
    # an approver may not propose: the editor answers the 403 page naming the role it needs
    page.goto(page.url.split("/console/")[0] + "/console/catalog/changes/new")
    expect(page.get_by_role("heading", name="Not allowed for your roles")).to_be_visible()
    expect(page.locator("main")).to_contain_text("pricing_editor")
    checker.errors[:] = [e for e in checker.errors if "403" not in e]  # the page's own status
    checker.check("refused")


def audit(page: Page, checker: Checker, change: str) -> None:
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    page.get_by_label("Object").fill(f"catalog/changes/{change}")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit-entries tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("alice")
    expect(rows.nth(0)).to_contain_text("console changes propose")
    expect(rows.nth(1)).to_contain_text("bob")
    expect(rows.nth(1)).to_contain_text("console changes approve")
    checker.check("audit")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.locator("#verify-result")).to_contain_text("The chain verifies")
    checker.check("audit-verified")


def roll_back(page: Page, checker: Checker) -> None:
    page.get_by_role("link", name="Catalog").click()
    page.get_by_role("link", name="Growth").click()
    expect(page.get_by_role("heading", name="Growth version 2")).to_be_visible()
    page.get_by_role("link", name="Roll back to version 1").click()
    expect(page.get_by_role("heading", name="Roll back Growth to version 1")).to_be_visible()
    checker.check("rollback")
    page.get_by_label("Reason (kept in the audit log)").fill("undo the rise")
    page.get_by_role("button", name="Propose rollback").click()
    expect(page.locator("#change-status")).to_have_text("pending_approval")
    expect(page.locator("#diff")).to_contain_text("0.10")
