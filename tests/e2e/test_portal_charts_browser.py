"""The portal's daily usage charts (Chart.js, from ``node_modules`` via the console's asset
route) drawn in headless Chromium at 1440 and 390 px, in the operator portal (customer
page) and the customer portal session page (``/portal/account``), against a real
``tallybook serve`` on 127.0.0.1.

Each chart: the canvas has a non-zero size and fits the viewport, a Chart instance is
bound to it, its data are the page's JSON data island (days still to come are ``null``),
and the page logs no console error or warning. Screenshots:
``$TALLYBOOK_SCREENSHOTS/portal-chart-{operator,customer}-{1440,390}.png``.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e.conftest import RunningServer
from tests.e2e.test_customer_portal_browser import acme
from tests.e2e.test_portal_browser import ARGS, DAYS, SHOTS, chromium_path

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
__all__ = ["acme", "chromium_path"]
WIDTHS = (1440, 390)

CHART = """() => {
  const canvas = document.querySelector('canvas[data-chart]');
  const chart = window.Chart && window.Chart.getChart(canvas);
  const island = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
  const box = canvas.getBoundingClientRect();
  return {width: box.width, height: box.height, right: box.right,
          viewport: document.documentElement.clientWidth,
          type: chart ? chart.config.type : null,
          drawn: chart ? chart.data.datasets[0].data : null,
          island: island.values,
          page: document.scrollingElement.scrollWidth};
}"""


def watch(page: Page, messages: list[str]) -> None:
    def record(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            messages.append(f"{message.type}: {message.text}")

    page.on("console", record)
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))


def assert_chart_drawn(page: Page, name: str) -> None:
    expect(page.get_by_role("img", name="API calls per day, current period")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-charts-ready", "true")
    found = page.evaluate(CHART)
    assert found["type"] == "bar", found
    assert found["width"] > 100 and found["height"] > 100, found
    assert found["right"] <= found["viewport"] + 0.5, found
    assert found["page"] <= found["viewport"], found  # no horizontal scrolling
    came = [value for value in found["island"] if value is not None]
    assert len(came) >= DAYS and None in found["island"]  # days to come are empty slots
    assert found["drawn"] == [None if v is None else float(v) for v in found["island"]]
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_charts_render_at_1440_and_390_px(
    chromium_path: str, acme: tuple[RunningServer, httpx.Client]
) -> None:
    from playwright.sync_api import sync_playwright

    handle, api = acme
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            for width in WIDTHS:
                messages: list[str] = []
                page = browser.new_page(viewport={"width": width, "height": 900})
                watch(page, messages)
                page.goto(f"{handle.base_url}/portal/login")
                page.get_by_label("API key").fill(handle.api_key)
                page.get_by_role("button", name="Log in").click()
                page.goto(f"{handle.base_url}/portal/customers/acme")
                assert_chart_drawn(page, f"portal-chart-operator-{width}")
                link = api.post("/v1/customers/acme/portal-sessions")
                assert link.status_code == 201, link.text
                customer = browser.new_page(viewport={"width": width, "height": 900})
                watch(customer, messages)
                customer.goto(link.json()["url"])
                expect(customer).to_have_url(f"{handle.base_url}/portal/account")
                assert_chart_drawn(customer, f"portal-chart-customer-{width}")
                assert messages == [], messages
                page.close()
                customer.close()
        finally:
            browser.close()
