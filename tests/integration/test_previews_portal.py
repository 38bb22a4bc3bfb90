"""The portal pages over the ASGI app, on SQLite and PostgreSQL (no browser).

Clock at 2026-01-16T00:00Z on the hybrid plan (50,000 calls included): ``c1`` has used
90,000 calls (180%, over), ``c2`` 42,000 (84%, near), ``c3`` none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.conftest import TEST_KEY
from tests.integration import test_previews as shared
from tests.integration.test_previews import HYBRID, ok, send_calls

# The clocked app of test_previews (fixtures are found by the names they are bound to).
clock, app_container, api = shared.clock, shared.app_container, shared.api

START = "2026-01-01T00:00:00Z"


@pytest.fixture
def seeded(api: TestClient) -> TestClient:
    ok(api.put("/v1/catalog", json=HYBRID))
    for customer, name in (("c1", "Acme Corp"), ("c2", "Globex"), ("c3", "Initech")):
        ok(api.post("/v1/customers", json={"id": customer, "currency": "USD", "name": name}), 201)
        sub = {"customer": customer, "plan": "growth", "start": START}
        ok(api.post("/v1/subscriptions", json=sub), 201)
    send_calls(api, "c1", ("2026-01-03T10:00:00Z", 40000), ("2026-01-14T10:00:00Z", 50000))
    send_calls(api, "c2", ("2026-01-10T10:00:00Z", 42000))
    return api


@pytest.fixture
def browser(seeded: TestClient) -> Iterator[TestClient]:
    """A client without the bearer header, like a browser, logged in through the form."""
    with TestClient(seeded.app) as client:
        response = client.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/portal"
        yield client


def test_pages_need_a_login(api: TestClient) -> None:
    with TestClient(api.app) as anonymous:
        for path in ("/portal", "/portal/customers/c1", "/portal/customers/c1/upcoming"):
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/portal/login"
        assert "API key" in anonymous.get("/portal/login").text


def test_bad_key_is_refused_and_sets_no_cookie(api: TestClient) -> None:
    with TestClient(api.app) as anonymous:
        response = anonymous.post("/portal/login", data={"api_key": "tb_nope"})
        assert response.status_code == 401
        assert "not valid" in response.text and "set-cookie" not in response.headers


def test_login_from_another_site_is_refused(api: TestClient) -> None:
    with TestClient(api.app) as anonymous:
        response = anonymous.post(
            "/portal/login",
            data={"api_key": TEST_KEY},
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert response.status_code == 403 and "set-cookie" not in response.headers
        same = anonymous.post(
            "/portal/login",
            data={"api_key": TEST_KEY},
            headers={"Origin": "http://testserver"},
            follow_redirects=False,
        )
        assert same.status_code == 303


def test_login_cookie_is_http_only_and_strict(api: TestClient) -> None:
    with TestClient(api.app) as anonymous:
        response = anonymous.post(
            "/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False
        )
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("tallybook_portal=")
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http in tests; set over https


def test_dashboard_lists_customers_with_allowance_bars(browser: TestClient) -> None:
    html = browser.get("/portal").text
    assert "Acme Corp" in html and "Globex" in html and "Initech" in html
    bars = re.findall(
        r'<div class="bar level-(\w+)" role="progressbar"[^>]*aria-valuenow="(\d+)"', html
    )
    assert bars == [("over", "100"), ("warn", "84"), ("ok", "0")]
    assert "90,000 / 50,000" in html and "180%" in html
    assert "$320.00" in html and "$608.00" in html  # c1: so far, projected
    assert "1 near" in html and "1 over" in html


def test_customer_page_has_chart_usage_and_preview_link(browser: TestClient) -> None:
    html = browser.get("/portal/customers/c1").text
    assert "<h1>Acme Corp</h1>" in html
    canvas = re.search(r'<canvas id="chart-1" [^>]*>', html)
    assert canvas is not None
    assert 'role="img"' in canvas.group(0)
    assert 'aria-label="api_calls per day, current period"' in canvas.group(0)
    island = re.search(
        r'<script type="application/json" id="chart-data-1">(.*?)</script>', html, re.S
    )
    assert island is not None
    data = json.loads(island.group(1))
    assert data["label"] == "api_calls" and data["color"].startswith("#")
    assert data["labels"] == [str(day) for day in range(1, 32)]  # the whole of January
    values = data["values"]
    assert values[:16].count(None) == 0 and values[16:] == [None] * 15  # Jan 17-31 to come
    assert values[2] == "40000" and values[13] == "50000" and values[4] == "0"
    assert data["titles"][2] == "Jan 3, 2026: 40,000"
    assert data["titles"][20] == "Jan 21, 2026: to come"
    # The same numbers as a table (screen readers, no script), only for days that came.
    table = re.findall(r"<tr><td>(Jan \d+, 2026)</td><td class=\"num\">([\d,]+)</td></tr>", html)
    assert len(table) == 16 and ("Jan 3, 2026", "40,000") in table
    assert '<script src="/console/assets/chart.umd.min.js" defer></script>' in html
    assert '<svg class="chart"' not in html  # no hand-drawn chart (allowance bars stay)
    assert "Projected by period end: 186,000 (372%)" in html
    assert "/portal/customers/c1/upcoming" in html
    assert "No invoices yet." in html


def test_upcoming_invoice_page(browser: TestClient) -> None:
    html = browser.get("/portal/customers/c1/upcoming").text
    assert "Upcoming invoice" in html and "$320.00" in html and "Preview" in html
    assert 'href="/portal/customers/c1"' in html


def test_unknown_customer_is_an_html_404(browser: TestClient) -> None:
    response = browser.get("/portal/customers/nobody")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no customer" in response.text


def test_another_tenant_sees_only_its_own_customers(
    seeded: TestClient, app_container: Container
) -> None:
    other = app_container.tenants.create_key("other-tenant").key
    with TestClient(seeded.app) as client:
        client.post("/portal/login", data={"api_key": other})
        assert "Acme Corp" not in client.get("/portal").text
        assert client.get("/portal/customers/c1").status_code == 404


def test_logout_forgets_the_key(browser: TestClient) -> None:
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', browser.get("/portal").text)
    assert csrf is not None
    response = browser.post("/portal/logout", data={"csrf": csrf[1]}, follow_redirects=False)
    assert response.status_code == 303
    assert 'tallybook_portal=""' in response.headers["set-cookie"]
    assert browser.get("/portal", follow_redirects=False).status_code == 303


def test_pages_use_only_local_assets(browser: TestClient) -> None:
    for path in ("/portal", "/portal/customers/c1", "/portal/login"):
        html = browser.get(path).text
        assert not re.search(r"(src|href)=\"(https?:)?//", html), path
        scripts = re.findall(r"<script[^>]*>", html)
        assert all('src="/' in tag or 'type="application/json"' in tag for tag in scripts)
    chart_page = browser.get("/portal/customers/c1").text
    for asset in ("/console/assets/chart.umd.min.js", "/portal/static/portal.js"):
        assert f'<script src="{asset}" defer></script>' in chart_page
    script = browser.get("/portal/static/portal.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "http" not in script.text  # no network address in the chart code
    css = browser.get("/portal/static/portal.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "url(" not in css.text and "@import" not in css.text
    assert browser.get("/portal/static/../app.py").status_code == 404


def test_customer_page_shows_the_credit_balance_and_the_preview_the_credit(
    browser: TestClient, seeded: TestClient
) -> None:
    assert "Credit balance" not in browser.get("/portal/customers/c1").text  # no grants
    grant = {"id": "g1", "amount": "1000.00", "currency": "USD", "effective_at": START}
    ok(seeded.post("/v1/customers/c1/credit-grants", json=grant), 201)
    credits = seeded.get("/v1/customers/c1/credits").json()
    assert credits["balance"] == "1000.00"
    html = browser.get("/portal/customers/c1").text
    assert "Credit balance" in html and "$1,000.00" in html
    available = f"${Decimal(credits['available']):,.2f} available now"
    assert available in html
    upcoming = browser.get("/portal/customers/c1/upcoming").text
    assert "Credit g1" in upcoming
