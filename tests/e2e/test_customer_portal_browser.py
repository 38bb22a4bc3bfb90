"""The customer portal in headless Chromium at 390 px wide, against a real ``tallybook
serve`` on 127.0.0.1 (issue 10).

The operator makes a portal link for Acme (``POST /v1/customers/acme/portal-sessions``);
the browser opens it, sees its usage, features, invoices and alerts section, and sets a
hard spend limit through the form; the API then reports the limit. No table overflows
the 390 px viewport, the page reports no CSP violation, the link works only once, and
neither the link token nor the session token appears in the server's log.
Screenshots: /tmp/customer-portal-390.png, /tmp/operator-customer-390.png.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import RunningServer, ServerFactory
from tests.e2e.test_portal_browser import ARGS, CATALOG, SHOTS, chromium_path, seed

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
WIDTH = 390
__all__ = ["chromium_path"]

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('table, section, .card')].filter(
    (el) => el.getBoundingClientRect().right > width + 0.5 || el.scrollWidth > el.clientWidth + 1);
  return {page: document.documentElement.scrollWidth, width,
          wide: wide.map((el) => el.tagName + '.' + el.className)};
}"""


@pytest.fixture
def acme(server: ServerFactory, sqlite_url: str) -> Iterator[tuple[RunningServer, httpx.Client]]:
    handle = server(sqlite_url)
    base_url, api_key, _ = handle
    catalog: dict[str, Any] = copy.deepcopy(CATALOG)
    catalog["plans"][0]["features"] = [
        {"key": "sso", "type": "boolean"},
        {"key": "api_access", "type": "metered", "meter": "api_calls", "limit": 100000},
    ]
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as api:
        seed(api)
        assert api.put("/v1/catalog", json=catalog).is_success  # a new version: Acme stays
        # on the first, so an override gives Acme the metered feature
        override = {"enabled": True}
        assert api.put("/v1/customers/acme/entitlements/api_access", json=override).is_success
        yield handle, api


def test_customer_opens_the_portal_at_390px_and_sets_a_spend_limit(
    chromium_path: str, acme: tuple[RunningServer, httpx.Client]
) -> None:
    from playwright.sync_api import sync_playwright

    handle, api = acme
    made = api.post("/v1/customers/acme/portal-sessions")
    assert made.status_code == 201, made.text
    url = made.json()["url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 844})
            violations: list[str] = []
            page.on(
                "console",
                lambda m: (
                    violations.append(m.text) if "Content Security Policy" in m.text else None
                ),
            )
            page.goto(url)
            expect(page).to_have_url(f"{handle.base_url}/portal/account")
            expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
            expect(page.get_by_role("heading", name="Usage this period")).to_be_visible()
            expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
            expect(page.locator("main")).to_contain_text("INV-")
            assert_fits(page)
            page.get_by_role("link", name="View invoice").first.click()
            expect(page.get_by_role("heading", name="Invoice INV-")).to_be_visible()
            assert_fits(page)
            page.screenshot(path=str(SHOTS / "customer-invoice-390.png"), full_page=True)
            page.get_by_role("link", name="Back").click()
            set_hard_limit(page)
            assert_fits(page)
            page.screenshot(path=str(SHOTS / "customer-portal-390.png"), full_page=True)
            assert violations == []
            again = browser.new_page(viewport={"width": WIDTH, "height": 844})
            again.goto(url)
            expect(again.get_by_role("heading", name="This link cannot be used")).to_be_visible()
            operator_page_fits(browser, handle)
        finally:
            browser.close()
    limit = api.get("/v1/customers/acme/spend-limit").json()
    assert (limit["amount"], limit["mode"], limit["blocking"]) == ("150.00", "hard", True)
    assert api.get("/v1/customers/acme/entitlements/api_access").json()["reason"] == (
        "spend_limit_reached"
    )
    token = url.split("token=")[1]
    log = handle.log_tail(1_000_000)
    assert token not in log and "tbs_" not in log


def set_hard_limit(page: Page) -> None:
    page.get_by_label("Limit per period (USD)").fill("150.00")
    page.get_by_label("Pause metered features").check()
    page.get_by_role("button", name="Save limit").click()
    expect(page.get_by_role("status")).to_contain_text("Spend limit saved.")
    expect(page.locator("#spend-limit")).to_contain_text("metered features are paused")
    expect(page.get_by_role("table", name="Spend limits reached")).to_be_visible()


def assert_fits(page: Page) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["page"] <= WIDTH and found["wide"] == [], found


def operator_page_fits(browser: Any, handle: RunningServer) -> None:
    """The operator's dashboard and customer page are readable at 390 px too (their
    tables stack)."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 844})
    page.goto(f"{handle.base_url}/portal/login")
    page.get_by_label("API key").fill(handle.api_key)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    dashboard = page.evaluate(OVERFLOW)
    page.screenshot(path=str(SHOTS / "operator-dashboard-390.png"), full_page=True)
    assert dashboard["page"] <= WIDTH and dashboard["wide"] == [], dashboard
    page.goto(f"{handle.base_url}/portal/customers/acme")
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
    found = page.evaluate(OVERFLOW)
    page.screenshot(path=str(SHOTS / "operator-customer-390.png"), full_page=True)
    assert found["page"] <= WIDTH and found["wide"] == [], found
