"""The portal in headless Chromium (Playwright, Debian's /usr/bin/chromium) against a real
``tallybook serve`` on 127.0.0.1.

Three customers subscribed 12 days ago to a plan with 50,000 API calls included: Acme
well over its allowance, Globex near it (80-100%), Initech far from it. A billing run
issues their opening invoices (the in-advance platform fee). The browser logs in, sees
the dashboard with coloured allowance bars, opens Acme's page with its daily chart (Chart.js) and
its upcoming invoice and its invoice. Screenshots: /tmp/portal.png (customer page),
/tmp/portal-dashboard.png, /tmp/portal-upcoming.png, /tmp/portal-invoice.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import IN_CI
from tests.e2e.conftest import ServerFactory

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(os.environ.get("TALLYBOOK_SCREENSHOTS", "/tmp"))
DAYS = 12
DAILY_CALLS = {"acme": 5000, "globex": 3500, "initech": 1250}  # x 12 days: 120%, 84%, 30%

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CATALOG: dict[str, Any] = {
    "meters": [
        {
            "key": "api_calls",
            "event_type": "api_batch",
            "aggregation": "sum",
            "value": "calls",
            "name": "API calls",
        },
    ],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "subscription",
            "charges": [
                {
                    "key": "platform",
                    "type": "flat",
                    "amount": "200.00",
                    "timing": "in_advance",
                    "name": "Platform",
                },
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "name": "API calls",
                    "included": 50000,
                    "model": "per_unit",
                    "unit_amount": "0.003",
                },
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"CI=true but {CHROMIUM} is missing: browser tests are required")
        pytest.skip(f"{CHROMIUM} not installed")
    return CHROMIUM


@pytest.fixture
def portal(server: ServerFactory, sqlite_url: str) -> Iterator[tuple[str, str]]:
    base_url, api_key, _handle = server(sqlite_url)
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}) as api:
        seed(api)
    yield base_url, api_key


def seed(api: httpx.Client) -> None:
    def ok(response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    now = datetime.now(UTC)
    start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    ok(api.put("/v1/catalog", json=CATALOG))
    names = {"acme": "Acme Corp", "globex": "Globex", "initech": "Initech"}
    for customer, name in names.items():
        body = {
            "id": customer,
            "name": name,
            "currency": "USD",
            "email": f"billing@{customer}.test",
        }
        ok(api.post("/v1/customers", json=body))
        sub = {"customer": customer, "plan": "growth", "start": start.isoformat()}
        ok(api.post("/v1/subscriptions", json=sub))
    events = [
        {
            "id": f"{customer}-{day}",
            "customer": customer,
            "type": "api_batch",
            "timestamp": (start + timedelta(days=day, hours=12)).isoformat(),
            "properties": {"calls": calls + 400 * (day % 3)},
        }
        for customer, calls in DAILY_CALLS.items()
        for day in range(DAYS)
    ]
    assert ok(api.post("/v1/events", json=events))["accepted"] == len(events)
    ok(api.post("/v1/billing-runs", json={"as_of": now.isoformat()}))


def test_portal_login_dashboard_customer_and_invoice(
    chromium_path: str, portal: tuple[str, str]
) -> None:
    from playwright.sync_api import sync_playwright

    base_url, api_key = portal
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            log_in(page, base_url, api_key)
            check_dashboard(page)
            check_customer_page(page)
            check_upcoming_invoice(page)
            check_invoice_page(page)
            log_out(page, base_url)
        finally:
            browser.close()


def log_in(page: Page, base_url: str, api_key: str) -> None:
    page.goto(f"{base_url}/portal")
    expect(page).to_have_url(f"{base_url}/portal/login")
    page.get_by_label("API key").fill("tb_wrong_key")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/portal")


def check_dashboard(page: Page) -> None:
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    for name, level in (("Acme Corp", "over"), ("Globex", "warn"), ("Initech", "ok")):
        bar = page.get_by_role("row").filter(has_text=name).get_by_role("progressbar")
        expect(bar).to_be_visible()
        expect(bar).to_have_class(f"bar level-{level}")
    page.screenshot(path=str(SHOTS / "portal-dashboard.png"), full_page=True)


def check_customer_page(page: Page) -> None:
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
    expect(page.get_by_role("img", name="API calls per day, current period")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-charts-ready", "true")
    drawn = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart]')).data.datasets[0].data"
    )
    assert len([value for value in drawn if value is not None]) >= DAYS
    expect(page.get_by_text("Projected at period end")).to_be_visible()
    page.screenshot(path=str(SHOTS / "portal.png"), full_page=True)


def check_upcoming_invoice(page: Page) -> None:
    page.get_by_role("link", name="Preview the upcoming invoice").click()
    expect(page.get_by_role("heading", name="Upcoming invoice")).to_be_visible()
    expect(page.locator("main")).to_contain_text("API calls")
    page.screenshot(path=str(SHOTS / "portal-upcoming.png"), full_page=True)
    page.get_by_role("link", name="Back").click()


def check_invoice_page(page: Page) -> None:
    page.get_by_role("link", name="View invoice").first.click()
    expect(page.get_by_role("heading", name="Invoice INV-")).to_be_visible()
    expect(page.locator("main")).to_contain_text("$200.00")
    expect(page.locator("main")).to_contain_text("Acme Corp")
    page.screenshot(path=str(SHOTS / "portal-invoice.png"), full_page=True)
    page.get_by_role("link", name="Back").click()
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()


def log_out(page: Page, base_url: str) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base_url}/portal/login")
    page.goto(f"{base_url}/portal")
    expect(page).to_have_url(f"{base_url}/portal/login")
