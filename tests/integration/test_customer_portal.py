"""The customer portal (issue 10) on SQLite and PostgreSQL: single-use, expiring links
scoped to one customer and tenant, tokens stored hashed and never logged, the account
page, and the spend limit set by the customer with CSRF protection.

Clock: 2026-02-02T02:00Z, after January closed (its invoices are final); c1 and c2 are on
the Growth plan (test_entitlements_api's catalog).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_entitlements import portal_links
from tallybook.adapters.store.schema_portal import portal_sessions
from tallybook.bootstrap import Container
from tallybook.services.tenants import hash_key
from tests.conftest import TEST_KEY
from tests.integration import test_entitlements_api as scenario
from tests.integration import test_previews as shared

app_container, api, ok = shared.app_container, shared.api, shared.ok
FEBRUARY = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 1, 16, tzinfo=UTC))


def setup(api: TestClient, clock: FixedClock) -> None:
    scenario.setup(api)
    ok(api.post("/v1/customers", json={"id": "c2", "currency": "USD", "name": "Globex"}), 201)
    start = "2026-01-01T00:00:00Z"
    ok(
        api.post("/v1/subscriptions", json={"customer": "c2", "plan": "growth", "start": start}),
        201,
    )
    ok(api.patch("/v1/customers/c1", json={"name": "Acme Corp"}))
    clock.set(FEBRUARY)
    ok(api.post("/v1/billing-runs", json={"as_of": "2026-02-02T02:00:00Z"}))
    events = [
        {
            "id": "feb-1",
            "customer": "c1",
            "type": "api_batch",
            "timestamp": "2026-02-01T10:00:00Z",
            "properties": {"calls": 7000},
        }
    ]
    ok(api.post("/v1/events", json=events))


def link(api: TestClient, customer: str = "c1", key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    body: dict[str, Any] = ok(
        api.post(f"/v1/customers/{customer}/portal-sessions", headers=headers), 201
    )
    return body


@pytest.fixture
def browser(api: TestClient) -> Iterator[TestClient]:
    with TestClient(api.app) as client:  # no API key: a customer's browser
        yield client


def enter(browser: TestClient, url: str) -> Any:
    parts = urlsplit(url)
    return browser.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found[1]


def test_a_link_opens_the_customers_own_account_once(
    api: TestClient, browser: TestClient, app_container: Container, clock: FixedClock
) -> None:
    setup(api, clock)
    made = link(api)
    assert made["customer"] == "c1"
    assert made["expires_at"] == "2026-02-02T02:15:00Z"
    assert made["url"].startswith("http://testserver/portal/enter?token=tbl_")
    token = made["url"].split("token=")[1]
    with app_container.engine.connect() as conn:
        stored = conn.execute(select(portal_links)).one()
    assert stored.token_hash == hash_key(token) and token not in repr(stored)
    opened = enter(browser, made["url"])
    assert opened.status_code == 303 and opened.headers["location"] == "/portal/account"
    assert opened.headers["referrer-policy"] == "no-referrer"
    cookie = opened.headers["set-cookie"]
    assert "tallybook_account=tbs_" in cookie and "HttpOnly" in cookie
    assert "Path=/portal/account" in cookie and "SameSite=strict" in cookie
    page = browser.get("/portal/account")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Acme Corp" in text and "Globex" not in text
    assert "Usage this period" in text and "7,000" in text  # February's usage
    assert "Spend limit" in text and "Features" in text and "Invoices" in text
    assert "Usage alerts are not available on this server yet" in text
    assert "INV-" in text  # January's invoice
    again = TestClient(api.app)
    assert enter(again, made["url"]).status_code == 403  # single use
    assert again.get("/portal/account").status_code == 401


def test_expired_and_revoked_links_do_not_open(
    api: TestClient, browser: TestClient, app_container: Container, clock: FixedClock
) -> None:
    setup(api, clock)
    made = link(api)
    clock.set(FEBRUARY + timedelta(minutes=15))
    assert enter(browser, made["url"]).status_code == 403
    assert browser.get("/portal/account").status_code == 401
    fresh = app_container.tenants.create_key("default", "support desk")
    by_key = link(api, key=fresh.key)
    app_container.keys.revoke("default", fresh.key_id)
    assert enter(browser, by_key["url"]).status_code == 403
    assert enter(browser, "http://testserver/portal/enter?token=tbl_guess").status_code == 403
    assert enter(browser, "http://testserver/portal/enter").status_code == 403


def test_a_session_sees_only_its_customer_and_tenant(
    api: TestClient, browser: TestClient, app_container: Container, clock: FixedClock
) -> None:
    setup(api, clock)
    other = app_container.tenants.create_key("other", "other tenant")
    headers = {"Authorization": f"Bearer {other.key}"}
    ok(api.put("/v1/catalog", json=scenario.catalog(), headers=headers))
    ok(
        api.post(
            "/v1/customers",
            json={"id": "c1", "currency": "USD", "name": "Other Co"},
            headers=headers,
        ),
        201,
    )
    invoices = ok(api.get("/v1/invoices?customer=c2"))["data"]
    c2_invoice = invoices[0]["id"]
    own = ok(api.get("/v1/invoices?customer=c1"))["data"][0]["id"]
    assert enter(browser, link(api, "c1", key=other.key)["url"]).status_code == 303
    page = browser.get("/portal/account").text
    assert "Other Co" in page and "Acme Corp" not in page and "INV-" not in page
    assert browser.get(f"/portal/account/invoices/{own}").status_code == 404  # other tenant's
    assert enter(browser, link(api, "c1")["url"]).status_code == 303  # now default's c1
    assert browser.get(f"/portal/account/invoices/{own}").status_code == 200
    assert browser.get(f"/portal/account/invoices/{c2_invoice}").status_code == 404
    operator = browser.get("/portal", follow_redirects=False)
    assert operator.headers.get("location") == "/portal/login"  # not an operator
    assert browser.get(f"/v1/invoices/{own}.html").status_code == 401
    assert browser.get("/v1/customers/c1").status_code == 401
    assert browser.get("/portal/account/upcoming").status_code == 200


def test_operator_sessions_do_not_open_the_account(
    api: TestClient, browser: TestClient, clock: FixedClock
) -> None:
    setup(api, clock)
    login = browser.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
    assert login.status_code == 303
    assert browser.get("/portal/account").status_code == 401
    assert error_code(api.post("/v1/customers/nobody/portal-sessions")) == (
        404,
        "customer_not_found",
    )
    assert TestClient(api.app).post("/v1/customers/c1/portal-sessions").status_code == 401


def error_code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_the_customer_sets_its_spend_limit_with_csrf(
    api: TestClient, browser: TestClient, clock: FixedClock
) -> None:
    setup(api, clock)
    enter(browser, link(api)["url"])
    csrf = csrf_of(browser.get("/portal/account").text)
    form = {"amount": "150.00", "mode": "hard", "action": "save"}
    forged = browser.post("/portal/account/spend-limit", data=form, follow_redirects=False)
    assert forged.status_code == 403
    cross = browser.post(
        "/portal/account/spend-limit",
        data={**form, "csrf": csrf},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    assert error_code(api.get("/v1/customers/c1/spend-limit")) == (404, "spend_limit_not_found")
    saved = browser.post(
        "/portal/account/spend-limit", data={**form, "csrf": csrf}, follow_redirects=False
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/portal/account?saved=limit"
    limit = ok(api.get("/v1/customers/c1/spend-limit"))
    assert (limit["amount"], limit["mode"], limit["period_total"]) == ("150.00", "hard", "200.00")
    assert limit["reached"] is True  # $200 platform fee as planned >= $150
    page = browser.get("/portal/account?saved=limit").text
    assert "Spend limit saved." in page and "metered features are paused" in page
    assert "Spend limits reached" in page
    bad = browser.post(
        "/portal/account/spend-limit", data={"amount": "1.001", "mode": "hard", "csrf": csrf}
    )
    assert bad.status_code == 422 and "more decimal places" in bad.text
    removed = browser.post(
        "/portal/account/spend-limit",
        data={"action": "remove", "csrf": csrf},
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert error_code(api.get("/v1/customers/c1/spend-limit")) == (404, "spend_limit_not_found")


def test_tokens_never_reach_the_logs(
    api: TestClient,
    browser: TestClient,
    clock: FixedClock,
    app_container: Container,
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup(api, clock)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every statement and its params
    made = link(api)
    enter(browser, made["url"])
    browser.get("/portal/account")
    enter(browser, made["url"])  # reused: refused
    link_token = made["url"].split("token=")[1]
    session_token = browser.cookies.get("tallybook_account")
    assert session_token
    with app_container.engine.connect() as conn:
        hashes = conn.execute(select(portal_sessions.c.token_hash)).scalars().all()
    assert hash_key(session_token) in hashes and session_token not in hashes
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any("portal_links" in r.getMessage() for r in server_side)  # SQL was logged
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in server_side)
    assert link_token not in logged and session_token not in logged


def test_signing_out_ends_the_session(
    api: TestClient, browser: TestClient, clock: FixedClock
) -> None:
    setup(api, clock)
    enter(browser, link(api)["url"])
    page = browser.get("/portal/account").text
    csrf = csrf_of(page)
    copied = browser.cookies.get("tallybook_account")
    ignored = browser.post("/portal/account/logout", data={}, follow_redirects=False)
    assert ignored.status_code == 303 and browser.get("/portal/account").status_code == 200
    out = browser.post("/portal/account/logout", data={"csrf": csrf})
    assert out.status_code == 200 and "signed out" in out.text
    assert browser.get("/portal/account").status_code == 401
    with TestClient(api.app, cookies={"tallybook_account": copied or ""}) as thief:
        assert thief.get("/portal/account").status_code == 401  # revoked in the store
