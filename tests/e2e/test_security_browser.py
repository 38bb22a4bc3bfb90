"""Security headers in headless Chromium (issue 17, item 8): the portal pages, the invoice
page and ``/docs`` work under their Content-Security-Policy with no violation reported in
the console, and ``/docs`` (Swagger UI from a package) fetches
nothing from any other host."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.e2e import test_portal_browser as portal_test
from tests.e2e.test_portal_browser import ARGS

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
chromium_path, portal = portal_test.chromium_path, portal_test.portal


class Watch:
    """Console messages, page errors and every URL the page requested."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        self.urls: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        page.on("request", lambda request: self.urls.append(request.url))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.messages.append(f"{message.type}: {message.text}")

    def violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "pageerror" in m]


@pytest.fixture
def page(chromium_path: str) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 900})
        finally:
            browser.close()


def test_portal_pages_run_under_their_csp(page: Page, portal: tuple[str, str]) -> None:
    base_url, api_key = portal
    watch = Watch(page)
    portal_test.log_in(page, base_url, api_key)
    portal_test.check_dashboard(page)
    bar = page.get_by_role("row").filter(has_text="Acme Corp").locator(".bar rect")
    assert float(bar.get_attribute("width") or 0) == 100  # the bar is drawn without style=""
    portal_test.check_customer_page(page)
    portal_test.check_upcoming_invoice(page)
    portal_test.check_invoice_page(page)
    portal_test.log_out(page, base_url)
    assert watch.violations() == [], watch.messages
    assert all(urlsplit(url).netloc == urlsplit(base_url).netloc for url in watch.urls)


def test_the_invoice_print_button_runs_its_script(page: Page, portal: tuple[str, str]) -> None:
    base_url, api_key = portal
    watch = Watch(page)
    portal_test.log_in(page, base_url, api_key)
    page.goto(f"{base_url}/portal/customers/acme")
    page.get_by_role("link", name="View invoice").first.click()
    page.evaluate("window.print = () => { document.body.dataset.printed = 'yes'; }")
    page.get_by_role("button", name="Print").click()
    expect(page.locator("body")).to_have_attribute("data-printed", "yes")
    assert watch.violations() == [], watch.messages


def test_docs_render_from_local_assets(page: Page, portal: tuple[str, str]) -> None:
    base_url, _ = portal
    watch = Watch(page)
    response = page.goto(f"{base_url}/docs")
    assert (
        response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    )
    expect(page.locator(".swagger-ui .title")).to_contain_text("Tallybook")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert watch.violations() == [], watch.messages
    hosts = {urlsplit(url).netloc for url in watch.urls if not url.startswith("data:")}
    assert hosts == {urlsplit(base_url).netloc}, watch.urls
