"""A RevOps user's month in the console (issue 14, "Done when"), in one browser session.

Headless Chromium (Playwright, Debian's /usr/bin/chromium) against a real ``tallybook serve``
on SQLite and a real webhook receiver that answered 500 until the message failed, then 204.
The walkthrough is the one in ``docs/console.md`` ("A month in the console"):

1. the admin logs in, reads the overview (MRR panel, failed webhook count, customers in
   overage) and opens the customer in overage from it;
2. grants that customer credits (confirmed on a second page);
3. backtests a dearer API unit price on the closed months first;
4. proposes that price change in the change editor's common-edit form (diff, then impact);
5. a second key (``pricing_approver``) logs in and approves it; the author's key could not;
6. the admin refreshes MRR on the overview;
7. retries the failed webhook message on the Operations page (the receiver gets it).

The customer, change and Operations pages must not scroll sideways at 390 px.

Every page is checked at 1440 px and 390 px (console errors, axe-core serious/critical,
a screenshot under ``TALLYBOOK_SCREENSHOTS`` or a pytest tmp dir). Not covered here: a
Stripe drift report (needs the Stripe stand-in, ``tests/e2e/test_stripe*``).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.test_console_browser import (
    Checker,
    axe_source,
    console,
    experiments,
    log_in,
    ok,
    operations,
    overview,
    shots,
)
from tests.e2e.test_portal_browser import ARGS, chromium_path

__all__ = ["axe_source", "chromium_path", "console", "shots"]  # fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_month_in_the_console(
    chromium_path: str, console: dict[str, Any], axe_source: str, shots: Path
) -> None:
    base_url, api = console["base_url"], console["api"]
    approver = ok(api.post("/v1/keys", json={"name": "bob", "roles": ["pricing_approver"]}))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            checker = Checker(page, axe_source, shots)
            log_in(page, checker, base_url, console)
            overview(page, checker)
            overage_customer_and_grant(page, checker, api)
            experiments(page, checker)
            change = propose_with_common_edit(page, checker)
            # the author may not approve its own change: no Approve button (it could only
            # fail with approval_self_forbidden), only Reject (withdraw)
            expect(page.locator("#own-change")).to_contain_text("another key must approve")
            expect(page.get_by_role("button", name="Approve")).to_have_count(0)
            expect(page.get_by_role("button", name="Reject")).to_be_visible()
            page.get_by_role("button", name="Log out").click()
            second = browser.new_page(viewport={"width": 1440, "height": 900})
            approve_with_second_key(second, Checker(second, axe_source, shots), base_url, approver)
            second.close()
            page.goto(f"{base_url}/console/login")
            page.get_by_label("API key").fill(console["api_key"])
            page.get_by_role("button", name="Log in").click()
            expect(page).to_have_url(f"{base_url}/console")
            page.get_by_role("button", name="Refresh MRR").click()
            expect(page.locator("#mrr-figure")).to_contain_text("$")
            checker.check("month-mrr")
            page.get_by_role("link", name="Retry them in Operations").click()
            expect(
                page.get_by_role("button", name=re.compile("Retry message")).first
            ).to_be_visible()
            fits_390(page)
            operations(page, checker, api, console["receiver"])
            statuses = ok(api.get(f"/v1/catalog/changes/{change}"))["status"]
            assert statuses in ("approved", "active"), statuses
            assert len(checker.taken) >= 14
        finally:
            browser.close()


def fits_390(page: Page) -> None:
    """At 390 px the page does not scroll sideways (wide tables scroll in their card).

    Reproduction (trial of issue 14): the Operations page was 1,068 px wide at 390 px, the
    Retry button off screen: a table's absolutely positioned visually-hidden header escaped
    its scrolling card, which was not positioned."""
    page.set_viewport_size({"width": 390, "height": 900})
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1440, "height": 900})
    assert width <= 390, f"{page.url}: {width} px wide at 390 px"


def overage_customer_and_grant(page: Page, checker: Checker, api: Any) -> None:
    """From the overview's "Customers in overage" to Acme Corp; grant it $40.00."""
    page.locator("#overage-list").get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("overage")
    checker.check("month-customer")
    fits_390(page)
    page.get_by_label("Amount (USD)").fill("40")
    page.get_by_label("Note").fill("overage goodwill")
    page.get_by_role("button", name="Grant credits").click()
    expect(page.get_by_role("heading", name="Confirm credit grant")).to_be_visible()
    page.get_by_role("button", name="Confirm grant").click()
    expect(page.get_by_role("status")).to_contain_text("Credits granted")
    expect(page.locator("#credit-balance")).to_have_text("$40.00")
    grants = ok(api.get("/v1/customers/acme/credit-grants"))["data"]
    assert [(Decimal(g["amount"]), g["description"]) for g in grants] == [
        (Decimal(40), "overage goodwill")
    ]


def propose_with_common_edit(page: Page, checker: Checker) -> str:
    """Catalog -> Propose a change: API unit price 0.003 -> 0.004, the diff, the impact."""
    page.get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()
    page.get_by_role("link", name="Propose a change").first.click()
    expect(page.get_by_role("heading", name="Propose a catalog change")).to_be_visible()
    page.get_by_role("button", name="Edit this plan").click()  # Growth, the one plan
    page.get_by_label("Charge").select_option("api")
    page.get_by_label("Field").select_option(label="Unit price")
    page.get_by_label("New value").fill("0.004")
    page.get_by_role("button", name="Apply to the document").click()
    diff = page.locator("#diff")
    expect(diff).to_contain_text("plans[growth].charges[api].unit_amount")
    expect(diff.locator("td.new")).to_have_text("0.004")
    page.get_by_role("button", name="Preview diff and impact").click()
    expect(page.locator("#impact")).to_contain_text("USD")
    page.get_by_label("Reason (kept in the audit log)").fill("backtested: +revenue on overage")
    checker.check("month-propose")
    page.get_by_role("button", name="Propose change").click()
    expect(page.locator("#change-status")).to_have_text("pending_approval")
    checker.check("month-pending")
    fits_390(page)
    found = re.search(r"/console/approvals/(chg_[^?]+)", page.url)
    assert found is not None, page.url
    return found.group(1)


def approve_with_second_key(
    page: Page, checker: Checker, base_url: str, approver: dict[str, Any]
) -> None:
    """The ``pricing_approver`` key finds the change in Approvals and approves it."""
    page.goto(f"{base_url}/console/login")
    page.get_by_label("API key").fill(approver["key"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/console")
    page.get_by_role("link", name="Approvals").click()
    page.locator("tbody a").first.click()
    expect(page.locator("#diff")).to_contain_text("0.004")
    page.get_by_role("button", name="Approve").click()
    page.get_by_label("Reason (kept in the audit log)").fill("backtest looks right")
    checker.check("month-approve-confirm")
    page.get_by_role("button", name="Confirm: Approve").click()
    expect(page.locator("#change-status")).to_have_text(re.compile("approved|active"))
    checker.check("month-approved")
