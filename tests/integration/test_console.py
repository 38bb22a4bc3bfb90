"""The console over HTTP (ASGI client) on both stores: login by reading keys, sessions that
end with the key, CSRF on every POST, SQL search and pagination, CSV, bad input.

The browser flows (charts, htmx, axe-core) are in ``tests/e2e/test_console_browser.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from tallybook.console.experiments import histogram
from tests.conftest import TEST_KEY


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def browser(client: TestClient) -> Iterator[TestClient]:
    """A logged-in console browser (cookie session of the admin test key)."""
    with TestClient(client.app) as session:
        login = session.post("/console/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert login.status_code == 303, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        yield session


def test_reading_keys_log_in_and_revoking_the_key_ends_the_session(
    client: TestClient,
) -> None:
    ingest = client.post("/v1/keys", json={"name": "i", "roles": ["ingest"]}).json()
    viewer = client.post("/v1/keys", json={"name": "v", "roles": ["viewer"]}).json()
    admin = client.post("/v1/keys", json={"name": "a", "roles": ["admin"]}).json()
    with TestClient(client.app) as session:
        assert session.get("/console", follow_redirects=False).headers["location"] == (
            "/console/login"
        )
        wrong = session.post("/console/login", data={"api_key": "tb_nope"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        refused = session.post("/console/login", data={"api_key": ingest["key"]})
        assert refused.status_code == 403 and "reading role" in refused.text
        # the portal and the console share sessions: a viewer's reads the console
        portal = session.post("/portal/login", data={"api_key": viewer["key"]})
        assert portal.status_code == 200
        assert session.get("/console", follow_redirects=False).status_code == 200
        ok = session.post("/console/login", data={"api_key": admin["key"]}, follow_redirects=False)
        assert ok.status_code == 303
        page = session.get("/console")
        assert page.status_code == 200 and "Overview" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert client.delete(f"/v1/keys/{admin['id']}").status_code == 200
        assert session.get("/console", follow_redirects=False).status_code == 303


def test_login_from_another_site_is_refused(client: TestClient) -> None:
    with TestClient(client.app) as session:
        answer = session.post(
            "/console/login",
            data={"api_key": TEST_KEY},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403


def test_customer_search_pages_in_sql_and_csv(client: TestClient, browser: TestClient) -> None:
    for n in range(30):
        body = {"id": f"c{n:02d}", "name": f"Name {n:02d}", "currency": "USD"}
        body["email"] = f"billing{n}@example.test"
        assert client.post("/v1/customers", json=body).status_code == 201
    first = browser.get("/console/customers", params={"q": "name"})
    assert first.status_code == 200
    ids = re.findall(r"<code>(c\d\d)</code>", first.text)
    assert ids == [f"c{n:02d}" for n in range(25)]
    next_url = re.search(r'href="(/console/customers\?[^"]*cursor=[^"]+)"', first.text)
    assert next_url is not None
    second = browser.get(next_url.group(1).replace("&amp;", "&"))
    assert re.findall(r"<code>(c\d\d)</code>", second.text) == [f"c{n:02d}" for n in range(25, 30)]
    by_email = browser.get("/console/customers", params={"q": "BILLING7@example.test"})
    assert re.findall(r"<code>(c\d\d)</code>", by_email.text) == ["c07"]
    csv = browser.get("/console/customers.csv", params={"q": "Name 1"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "id,name,email,currency,timezone"
    assert len(csv.text.splitlines()) == 1 + 10
    assert browser.get("/console/customers", params={"bogus": "1"}).status_code == 400
    assert browser.get("/console/customers", params={"q": "x" * 300}).status_code == 422
    missing = browser.get("/console/customers/nobody")
    assert missing.status_code == 404 and "nobody" in missing.text


def test_grant_credits_needs_the_csrf_token_and_a_confirmation(
    client: TestClient, browser: TestClient
) -> None:
    body = {"id": "acme", "name": "Acme", "currency": "EUR"}
    assert client.post("/v1/customers", json=body).status_code == 201
    slashed = {"id": "org/team #1", "name": "Slashed", "currency": "EUR"}
    assert client.post("/v1/customers", json=slashed).status_code == 201
    listed = browser.get("/console/customers", params={"q": "slashed"}).text
    link = re.search(r'href="(/console/customers/org[^"]+)"', listed)
    assert link is not None and browser.get(link.group(1)).status_code == 200
    assert browser.get("/console/customers/acme", params={"granted": "x"}).status_code == 422
    page = browser.get("/console/customers/acme")
    token = csrf_of(page.text)
    form = {"amount": "12.34", "category": "promotional", "nonce": "abc123"}
    forged = browser.post("/console/customers/acme/grant", data={**form, "confirm": "yes"})
    assert forged.status_code == 403
    asked = browser.post("/console/customers/acme/grant", data={**form, "csrf": token})
    assert asked.status_code == 200 and "Confirm credit grant" in asked.text
    assert client.get("/v1/customers/acme/credit-grants").json()["data"] == []
    done = {**form, "csrf": token, "confirm": "yes"}
    for _ in range(2):  # a double submit: one grant
        granted = browser.post("/console/customers/acme/grant", data=done, follow_redirects=False)
        assert granted.status_code == 303
    grants = client.get("/v1/customers/acme/credit-grants").json()["data"]
    assert [(g["amount"], g["currency"]) for g in grants] == [("12.34", "EUR")]
    bad = browser.post(
        "/console/customers/acme/grant",
        data={**form, "amount": "lots", "csrf": token, "confirm": "yes"},
    )
    assert bad.status_code == 422 and "decimal number" in bad.text


def test_invoice_filters_are_checked(browser: TestClient) -> None:
    assert browser.get("/console/invoices").status_code == 200
    bad_status = browser.get("/console/invoices", params={"status": "lost"})
    assert bad_status.status_code == 422 and "status must be one of" in bad_status.text
    bad_number = browser.get("/console/invoices", params={"number": "INV-x"})
    assert bad_number.status_code == 422
    bad_period = browser.get("/console/invoices", params={"period": "2026-13"})
    assert bad_period.status_code == 422
    assert browser.get("/console/invoices/inv_nope").status_code == 404


def test_operations_and_experiments_pages_answer(browser: TestClient) -> None:
    assert browser.get("/console/operations").status_code == 200
    assert browser.get("/console/operations", params={"status": "lost"}).status_code == 422
    assert browser.get("/console/operations/endpoints.csv").status_code == 200
    assert browser.get("/console/operations/nothing.csv").status_code == 404
    assert browser.get("/console/experiments").status_code == 200
    token = csrf_of(browser.get("/console/experiments").text)
    bad = browser.post(
        "/console/experiments/backtests",
        data={"csrf": token, "plan": "x", "candidate": "{", "from": "2026-01", "to": "2026-02"},
    )
    assert bad.status_code == 422 and "not JSON" in bad.text


def test_logout_needs_the_token_and_ends_the_session(browser: TestClient) -> None:
    page = browser.get("/console")
    assert browser.post("/console/logout", follow_redirects=False).status_code == 303
    assert browser.get("/console", follow_redirects=False).status_code == 200  # still in
    out = browser.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.headers["location"] == "/console/login"
    assert browser.get("/console", follow_redirects=False).status_code == 303


def test_histogram_bins_deltas() -> None:
    deltas = [Decimal(v) for v in ("-10", "-5", "0", "0", "10")]
    chart = histogram(deltas, bins=4)
    assert chart["values"] == [1, 1, 2, 1]
    assert chart["labels"][0] == "-10.00 to -5.00"
    assert histogram([]) == {"labels": [], "values": []}
    assert histogram([Decimal("3")] * 3) == {"labels": ["3"], "values": [3]}
