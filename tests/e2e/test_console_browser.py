"""The operator console in headless Chromium (Playwright, Debian's /usr/bin/chromium)
against a real ``tallybook serve`` on 127.0.0.1, with a real local webhook receiver.

Seeded as the portal's browser test (Acme over its allowance, Globex near it, Initech
far from it, opening invoices issued), plus a webhook endpoint whose receiver answers
500 until the (shrunk) retry schedule is over, so its messages fail, and 204 after
and an event stamped in the future (dead-lettered; replayable once its time has come).

The browser logs in (a wrong key and an ingest-only key are refused), reads the overview,
finds a customer by name and by email, grants credits (with confirmation), marks an
invoice paid, retries a failed webhook message (the receiver gets it again) and replays
the dead letter. Every page is checked at 1440 px and 390 px for console errors and with
axe-core (from ``node_modules``) for serious or critical violations; screenshots go to
``TALLYBOOK_SCREENSHOTS`` (default: a pytest tmp dir) and their paths are printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import ServerFactory
from tests.e2e.test_portal_browser import ARGS, chromium_path, seed
from tests.webhook_receiver import Received, Receiver, running_receiver

__all__ = ["chromium_path"]  # the fixture, imported for this module

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (1440, 390)
ENV = {
    "TALLYBOOK_WEBHOOK_POLL_SECONDS": "0.05",
    "TALLYBOOK_WEBHOOK_BACKOFF_SCALE": "0.00001",  # the ~100 h schedule in ~4 s
    "TALLYBOOK_WEBHOOK_TIMEOUT_SECONDS": "2",
    "TALLYBOOK_MAX_FUTURE_SECONDS": "0",
    "TALLYBOOK_NODE_MODULES": str(REPO / "node_modules"),
}
FUTURE = 3  # seconds ahead the dead-lettered event is stamped
HISTORY = 70  # days of Umbrella's usage: two closed monthly periods


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("TALLYBOOK_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("console-shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci` (make install does)")
    return AXE.read_text()


def ok(response: httpx.Response) -> Any:
    assert response.is_success, response.text
    return response.json()


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def console(server: ServerFactory, sqlite_url: str) -> Iterator[dict[str, Any]]:
    with running_receiver() as receiver:
        broken = {"yes": True}

        def answer(_r: Received) -> tuple[int, dict[str, str]]:
            return (500, {}) if broken["yes"] else (204, {})

        receiver.answer = answer
        handle = server(sqlite_url, env=ENV)
        with httpx.Client(base_url=handle.base_url, headers=handle.headers, timeout=20) as api:
            endpoint = ok(
                api.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.url},
                )
            )
            receiver.secrets.append(endpoint["secret"])
            seed(api)
            wait_for(
                lambda: bool(
                    ok(api.get("/v1/webhook-messages", params={"status": "failed"}))["data"]
                ),
                60,
                "a failed webhook message (retry schedule exhausted)",
            )
            broken["yes"] = False
            ahead = datetime.now(UTC) + timedelta(seconds=FUTURE)
            event = {
                "id": "late-1",
                "customer": "acme",
                "type": "api_batch",
                "timestamp": ahead.isoformat(),
                "properties": {"calls": 10},
            }
            assert ok(api.post("/v1/events", json=[event]))["rejected"] == 1
            seed_history(api)
            ingest = ok(api.post("/v1/keys", json={"name": "pipe", "roles": ["ingest"]}))
            yield {
                "base_url": handle.base_url,
                "api_key": handle.api_key,
                "ingest_key": ingest["key"],
                "api": api,
                "receiver": receiver,
            }


def seed_history(api: httpx.Client) -> None:
    """Umbrella: subscribed 70 days ago with daily usage, so closed periods exist."""
    now = datetime.now(UTC)
    start = (now - timedelta(days=HISTORY)).replace(hour=0, minute=0, second=0, microsecond=0)
    body = {"id": "umbrella", "name": "Umbrella", "currency": "USD"}
    ok(api.post("/v1/customers", json=body))
    sub = {"customer": "umbrella", "plan": "growth", "start": start.isoformat()}
    ok(api.post("/v1/subscriptions", json=sub))
    events = [
        {
            "id": f"umbrella-{day}",
            "customer": "umbrella",
            "type": "api_batch",
            "timestamp": (start + timedelta(days=day, hours=12)).isoformat(),
            "properties": {"calls": 1500 + 100 * (day % 7)},
        }
        for day in range(HISTORY)
    ]
    assert ok(api.post("/v1/events", json=events))["accepted"] == HISTORY
    ok(api.post("/v1/billing-runs", json={"as_of": now.isoformat()}))


class Checker:
    """Console errors of a page, and axe-core runs; screenshots at both widths."""

    def __init__(self, page: Page, axe: str, shots: Path):
        self.page, self.axe, self.shots = page, axe, shots
        self.errors: list[str] = []
        self.taken: list[Path] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def check(self, name: str) -> None:
        """At each width: no console error, no serious/critical axe violation, a shot."""
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.wait_for_load_state("load")
            expect(self.page.locator("html")).to_have_attribute("data-console-ready", "true")
            self.page.evaluate(self.axe)
            result = self.page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))"
            )
            bad = [v for v in result if v["impact"] in ("serious", "critical")]
            assert bad == [], f"{name} at {width}px: {bad}"
            path = self.shots / f"console-{name}-{width}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
            print(f"screenshot: {path}")
        assert self.errors == [], f"{name}: console errors {self.errors}"


def test_console_month_of_work(
    chromium_path: str, console: dict[str, Any], axe_source: str, shots: Path
) -> None:
    base_url = console["base_url"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            checker = Checker(page, axe_source, shots)
            log_in(page, checker, base_url, console)
            overview(page, checker)
            keyboard(page)
            customers_and_grant(page, checker, base_url, console["api"])
            invoices(page, checker, console["api"])
            operations(page, checker, console["api"], console["receiver"])
            experiments(page, checker)
            csv_and_csrf(page, base_url)
            log_out(page, base_url)
            assert len(checker.taken) >= 14
        finally:
            browser.close()


def log_in(page: Page, checker: Checker, base_url: str, console: dict[str, Any]) -> None:
    page.goto(f"{base_url}/console")
    expect(page).to_have_url(f"{base_url}/console/login")
    checker.check("login")
    page.get_by_label("API key").fill("tb_wrong_key")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("API key").fill(console["ingest_key"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("needs a key with a reading role")
    page.get_by_label("API key").fill(console["api_key"])
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/console")
    checker.errors.clear()  # the refused logins answered 401 and 403 on purpose


def overview(page: Page, checker: Checker) -> None:
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.locator("#mrr-figure")).to_contain_text("$")  # the MRR panel, by htmx
    expect(page.locator("#failed-count")).not_to_have_text("0")
    overage = page.locator("#overage-list")  # loaded by htmx after the page
    expect(overage).to_contain_text("Acme Corp")
    expect(overage).not_to_contain_text("Globex")
    canvas = page.locator("#movements-chart")
    expect(canvas).to_be_visible()
    page.wait_for_function("!!window.Chart && Object.keys(Chart.instances).length === 1")
    # Chart.js drew: the canvas got a backing store sized by the library
    assert page.evaluate("document.getElementById('movements-chart').width") > 0
    checker.check("overview")


def keyboard(page: Page) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Customers")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Customers", level=1)).to_be_visible()


def customers_and_grant(page: Page, checker: Checker, base_url: str, api: httpx.Client) -> None:
    page.get_by_label("Id, name or email").fill("billing@globex.test")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Globex")
    page.get_by_label("Id, name or email").fill("acm")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    checker.check("customers")
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.get_by_role("heading", name="Acme Corp", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("overage")
    expect(page.locator("#credit-balance")).to_have_text("$0.00")
    checker.check("customer")
    page.get_by_label("Amount (USD)").fill("25.50")
    page.get_by_label("Note").fill("goodwill")
    page.get_by_role("button", name="Grant credits").click()
    expect(page.get_by_role("heading", name="Confirm credit grant")).to_be_visible()
    expect(page.locator("main")).to_contain_text("$25.50")
    checker.check("grant-confirm")
    fields = page.evaluate(
        "Object.fromEntries(new FormData(document.querySelector('main form')).entries())"
    )
    page.get_by_role("button", name="Confirm grant").click()
    expect(page.get_by_role("status")).to_contain_text("Credits granted")
    expect(page.locator("#credit-balance")).to_have_text("$25.50")
    grants = ok(api.get("/v1/customers/acme/credit-grants"))["data"]
    assert [(g["amount"], g["description"]) for g in grants] == [("25.50", "goodwill")]
    again = page.request.post(f"{base_url}/console/customers/acme/grant", form=fields)
    assert again.ok  # the same confirmed form sent twice: still one grant
    assert len(ok(api.get("/v1/customers/acme/credit-grants"))["data"]) == 1


def invoices(page: Page, checker: Checker, api: httpx.Client) -> None:
    page.get_by_role("link", name="Invoices").click()
    expect(page.get_by_role("heading", name="Invoices", level=1)).to_be_visible()
    expect(page.locator("tbody tr").first).to_contain_text("INV-")
    page.get_by_label("Customer id").fill("acme")
    page.get_by_label("Status").select_option("finalized")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    checker.check("invoices")
    page.locator("tbody tr").first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Invoice INV-")).to_be_visible()
    expect(page.locator("main")).to_contain_text("$200.00")
    checker.check("invoice")
    page.get_by_role("button", name="Mark paid").click()
    page.get_by_role("button", name="Confirm: Mark paid").click()
    expect(page.locator("#invoice-status")).to_have_text("paid")
    listed = ok(api.get("/v1/invoices", params={"customer": "acme"}))["data"]
    assert [i["status"] for i in listed] == ["paid"]


def operations(page: Page, checker: Checker, api: httpx.Client, receiver: Receiver) -> None:
    page.get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    failed = ok(api.get("/v1/webhook-messages", params={"status": "failed"}))["data"]
    assert failed
    checker.check("operations")
    before = len(receiver.received)
    message = failed[0]["id"]
    page.get_by_role("button", name=f"Retry message {message}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Message {message} queued")
    wait_for(
        lambda: ok(api.get(f"/v1/webhook-messages/{message}"))["status"] == "delivered",
        30,
        "the retried message delivered",
    )
    assert len(receiver.received) > before
    assert receiver.ok()[-1].id == message
    time.sleep(FUTURE)  # the dead-lettered event's time has come
    page.reload()
    replay = page.get_by_role("button", name="Replay event").first
    replay.click()
    expect(page.get_by_role("status")).to_contain_text("replayed: accepted")
    assert ok(api.get("/v1/events/rejected", params={"status": "open"}))["data"] == []


def experiments(page: Page, checker: Checker) -> None:
    page.get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("heading", name="Experiments", level=1)).to_be_visible()
    checker.check("experiments")
    candidate = page.get_by_label("Candidate plan (JSON, as in the catalog)")
    text = candidate.input_value()
    assert '"0.003"' in text
    candidate.fill(text.replace('"0.003"', '"0.004"'))
    page.get_by_role("button", name="Run backtest").click()
    expect(page.get_by_role("heading", name="Backtest bt_")).to_be_visible()
    # the page polls itself (htmx) until the job is done
    expect(page.locator("#backtest-status")).to_contain_text("succeeded", timeout=60_000)
    delta = page.locator("#backtest-delta strong").inner_text()
    assert Decimal(delta) > 0, delta  # a dearer unit price on Umbrella's overage
    expect(page.locator("main")).to_contain_text("umbrella")
    page.wait_for_function("Object.keys(Chart.instances).length === 1")
    checker.check("backtest")
    page.get_by_role("link", name="Experiments").first.click()
    page.get_by_label("Usage charge key").fill("api")
    page.get_by_role("button", name="Model").click()
    rows = page.locator("#al-h ~ .table-card tbody tr")
    expect(rows).to_have_count(4)
    for label in ("current", "p50", "p75", "p90"):
        expect(page.locator("#al-h ~ .table-card")).to_contain_text(label)
    page.wait_for_function("Object.keys(Chart.instances).length === 1")
    checker.check("allowance")


def csv_and_csrf(page: Page, base_url: str) -> None:
    got = page.request.get(f"{base_url}/console/customers.csv?q=acme")
    assert got.status == 200
    assert got.headers["content-type"].startswith("text/csv")
    assert got.text().splitlines() == [
        "id,name,email,currency,timezone",
        "acme,Acme Corp,billing@acme.test,USD,UTC",
    ]
    got = page.request.get(f"{base_url}/console/invoices.csv?status=paid")
    assert len(got.text().splitlines()) == 2
    refused = page.request.post(
        f"{base_url}/console/customers/acme/grant",
        form={"amount": "1000", "confirm": "yes"},
    )
    assert refused.status == 403
    unknown = page.request.get(f"{base_url}/console/customers?bogus=1")
    assert unknown.status == 400


def log_out(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/console")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base_url}/console/login")
    page.goto(f"{base_url}/console/customers")
    expect(page).to_have_url(f"{base_url}/console/login")


def test_console_says_when_assets_are_missing(
    chromium_path: str, server: ServerFactory, sqlite_url: str, tmp_path: Path
) -> None:
    handle = server(sqlite_url, env={"TALLYBOOK_NODE_MODULES": str(tmp_path / "none")})
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{handle.base_url}/console/login")
            expect(page.get_by_role("alert")).to_contain_text("Console assets are not installed")
            expect(page.get_by_role("alert")).to_contain_text("npm ci")
            expect(page.get_by_role("button", name="Log in")).to_be_visible()
        finally:
            browser.close()
    missing = httpx.get(f"{handle.base_url}/console/assets/htmx.min.js")
    assert missing.status_code == 404
    assert "npm ci" in missing.json()["error"]["message"]


def test_redoc_renders_offline(chromium_path: str, server: ServerFactory, sqlite_url: str) -> None:
    """``/redoc`` from npm: the API's operations render, no request leaves 127.0.0.1 and
    no CSP violation or other error reaches the console."""
    handle = server(sqlite_url, env={"TALLYBOOK_NODE_MODULES": str(REPO / "node_modules")})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            outside: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: (
                    outside.append(r.url)
                    if not r.url.startswith((handle.base_url, "data:", "blob:"))
                    else None
                ),
            )
            page.goto(f"{handle.base_url}/redoc")
            try:  # a large spec on a loaded machine: a generous hang guard
                expect(page.locator("#redoc")).to_contain_text("/v1/customers", timeout=60_000)
            except AssertionError:
                raise AssertionError(f"ReDoc did not render: {errors}") from None
            expect(page.get_by_role("heading", name="Tallybook").first).to_be_visible()
            assert errors == [] and outside == [], (errors, outside)
        finally:
            browser.close()
