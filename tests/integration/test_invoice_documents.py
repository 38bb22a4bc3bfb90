"""Invoice documents (``/v1/invoices/{id}.html`` and ``.pdf``) on SQLite and PostgreSQL.

January 2026 closed by a billing run on Feb 2: the hybrid plan's $410 invoice for
``c1`` (200 platform + 70,000 billable calls x 0.003), and a parent whose child is on a
graduated plan (tiers 0-10,000 at 0.002, above at 0.001; 15,000 tokens = 20 + 5 = $25).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.integration.test_previews import HYBRID, ok, send_calls

TIERED_PLAN: dict[str, Any] = {
    "key": "tokens",
    "name": "Tokens",
    "currency": "USD",
    "interval": "month",
    "billing_anchor": "calendar",
    "charges": [
        {
            "key": "llm",
            "type": "usage",
            "meter": "tokens",
            "name": "LLM tokens",
            "model": "graduated",
            "tiers": [
                {"up_to": 10000, "unit_amount": "0.002"},
                {"up_to": None, "unit_amount": "0.001"},
            ],
        }
    ],
}
CATALOG: dict[str, Any] = {
    "meters": [
        *HYBRID["meters"],
        {"key": "tokens", "event_type": "llm", "aggregation": "sum", "value": "tokens"},
    ],
    "plans": [*HYBRID["plans"], TIERED_PLAN],
}
START = "2026-01-01T00:00:00Z"


@pytest.fixture
def app_container(settings: Settings) -> Iterator[Container]:
    container = build(settings, clock=FixedClock(datetime(2026, 2, 2, tzinfo=UTC)))
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


@pytest.fixture
def api(app_container: Container) -> Iterator[TestClient]:
    app = create_app(container=app_container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        yield client


@pytest.fixture
def invoices(api: TestClient) -> dict[str, dict[str, Any]]:
    """January's finalized invoices by customer."""
    ok(api.put("/v1/catalog", json=CATALOG))
    customers = [
        {"id": "c1", "currency": "USD", "name": "Acme Corp", "email": "ap@acme.test"},
        {"id": "parent", "currency": "USD", "name": "Holding Ltd"},
        {"id": "kid", "currency": "USD", "name": "Kid Studio", "parent": "parent"},
    ]
    for customer in customers:
        ok(api.post("/v1/customers", json=customer), 201)
    for customer, plan in (("c1", "growth"), ("parent", "growth"), ("kid", "tokens")):
        sub = {"customer": customer, "plan": plan, "start": START}
        ok(api.post("/v1/subscriptions", json=sub), 201)
    send_calls(
        api,
        "c1",
        ("2026-01-03T10:00:00Z", 40000),
        ("2026-01-14T10:00:00Z", 50000),
        ("2026-01-30T23:59:59Z", 30000),
    )
    event = {"id": "t1", "customer": "kid", "type": "llm", "timestamp": "2026-01-09T08:00:00Z"}
    ok(api.post("/v1/events", json={**event, "properties": {"tokens": 15000}}))
    ok(api.post("/v1/billing-runs", json={"as_of": "2026-02-02T00:00:00Z"}))
    found = ok(api.get("/v1/invoices"))["data"]
    return {invoice["customer"]: invoice for invoice in found}


def pdf_text(data: bytes) -> str:
    """The text of a PDF as poppler's ``pdftotext`` extracts it (UTF-8, reading order)."""
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, capture_output=True, check=True
    )
    return done.stdout.decode("utf-8")


def test_html_invoice_shows_lines_sections_and_totals(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    invoice = invoices["c1"]
    assert invoice["status"] == "finalized" and invoice["total"] == "410.00"
    response = api.get(f"/v1/invoices/{invoice['id']}.html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f"Invoice {invoice['number']}" in html
    assert "Acme Corp" in html and "ap@acme.test" in html and "Default" in html
    assert "Base fees" in html and "Usage" in html
    assert "$200.00" in html and "$210.00" in html and "$0.003" in html
    assert "120,000 used" in html and "50,000 included" in html
    assert "Jan 1, 2026 \u2013 Jan 31, 2026" in html
    assert re.search(r"Total due \(USD\)</th><td class=\"num\">\$410\.00", html)
    assert "http://" not in html and "https://" not in html
    # one inline script (the print button), allowed by its hash; nothing loaded
    assert html.count("<script") == 1 and "<script src" not in html
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp
    assert csp.count("'sha256-") == 2  # the embedded stylesheet and the print script


def test_html_invoice_groups_child_lines_and_shows_tiers(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    invoice = invoices["parent"]
    assert invoice["total"] == "225.00"  # 200 platform + 25 of the child's tokens
    html = ok_html(api, f"/v1/invoices/{invoice['id']}.html")
    assert "Holding Ltd" in html and "Billed for Kid Studio" in html
    child_part = html.split("Billed for Kid Studio", 1)[1]
    assert "LLM tokens" in child_part and "$25.00" in child_part
    assert "Tier 1: 1 \u2013 10,000" in child_part and "Tier 2: 10,001+" in child_part
    assert "$20.00" in child_part and "$5.00" in child_part


def ok_html(api: TestClient, path: str) -> str:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return response.text


def test_html_by_number_and_in_another_locale(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    number = invoices["c1"]["number"]
    html = ok_html(api, f"/v1/invoices/{number}.html?locale=fr_FR")
    assert "410,00\u00a0$US" in html and 'lang="fr"' in html
    bad = api.get(f"/v1/invoices/{number}.html?locale=xx_NOPE")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_locale"


def test_pdf_invoice_has_the_same_content(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    invoice = invoices["c1"]
    response = api.get(f"/v1/invoices/{invoice['id']}.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert f'filename="{invoice["number"]}.pdf"' in response.headers["content-disposition"]
    data = response.content
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b", data)) >= 1
    assert b"/MediaBox [0 0 595.28 841.89]" in data  # A4
    text = pdf_text(data)
    for expected in (
        f"Invoice {invoice['number']}",
        "Acme Corp",
        "$410.00",
        "$210.00",
        "BASE FEES",
    ):
        assert expected in text, expected


def test_pdf_groups_child_lines(api: TestClient, invoices: dict[str, dict[str, Any]]) -> None:
    data = api.get(f"/v1/invoices/{invoices['parent']['id']}.pdf").content
    text = pdf_text(data)
    assert "Billed for Kid Studio" in text and "Tier 2: 10,001+" in text and "$225.00" in text


@pytest.mark.parametrize("suffix", ["html", "pdf"])
def test_other_tenants_invoice_is_not_found(
    api: TestClient, app_container: Container, invoices: dict[str, dict[str, Any]], suffix: str
) -> None:
    other = app_container.tenants.create_key("other-tenant").key
    response = api.get(
        f"/v1/invoices/{invoices['c1']['id']}.{suffix}",
        headers={"Authorization": f"Bearer {other}"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "invoice_not_found"


@pytest.mark.parametrize("suffix", ["html", "pdf"])
def test_unknown_invoice_and_missing_key(api: TestClient, suffix: str) -> None:
    missing = api.get(f"/v1/invoices/inv_nope.{suffix}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "invoice_not_found"
    anonymous = api.get(f"/v1/invoices/inv_nope.{suffix}", headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_portal_cookie_opens_documents(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    path = f"/v1/invoices/{invoices['c1']['id']}.html"
    browser = TestClient(api.app, base_url="http://testserver")
    with browser:
        assert browser.get(path).status_code == 401
        login = browser.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get(path).status_code == 200
        assert browser.get(path.replace(".html", ".pdf")).content.startswith(b"%PDF")


def test_json_invoice_route_still_answers(
    api: TestClient, invoices: dict[str, dict[str, Any]]
) -> None:
    invoice = invoices["c1"]
    assert ok(api.get(f"/v1/invoices/{invoice['id']}"))["total"] == "410.00"
