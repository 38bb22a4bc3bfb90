"""Portal logins are server-side sessions (issue 17, item 8), on SQLite and PostgreSQL.

Reproduction: the cookie held the raw API key (full write access to the API). Now it holds
a random session token stored only hashed, revoked at logout, expiring, ended when its key
is revoked, ``Secure`` over https, and logout needs the page's anti-CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema import api_keys
from tallybook.adapters.store.schema_portal import portal_sessions
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.services.tenants import hash_key
from tests.conftest import TEST_KEY
from tests.integration import test_previews as shared

clock, app_container, api = shared.clock, shared.app_container, shared.api


def log_in(client: TestClient) -> str:
    """Log in through the form; the session token from the cookie."""
    response = client.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
    assert response.status_code == 303, response.text
    token = client.cookies.get("tallybook_portal")
    assert token is not None
    return token


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get("/portal").text)
    assert found is not None
    return found[1]


@pytest.fixture
def browser(api: TestClient) -> Iterator[TestClient]:
    with TestClient(api.app) as client:
        yield client


def test_the_cookie_holds_a_random_token_stored_hashed(
    browser: TestClient, app_container: Container
) -> None:
    token = log_in(browser)
    assert TEST_KEY not in token and token.startswith("tbs_") and len(token) >= 40
    second = TestClient(browser.app)
    assert log_in(second) != token  # a new token per login
    with app_container.engine.connect() as conn:
        stored = conn.execute(select(portal_sessions.c.token_hash)).scalars().all()
    assert hash_key(token) in stored and token not in stored


def test_logout_revokes_the_session_server_side(browser: TestClient) -> None:
    token = log_in(browser)
    response = browser.post(
        "/portal/logout", data={"csrf": csrf_of(browser)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/portal/login"
    # a copy of the cookie taken before logout no longer works
    with TestClient(browser.app, cookies={"tallybook_portal": token}) as replay:
        assert replay.get("/portal", follow_redirects=False).status_code == 303
        invoice = replay.get("/v1/invoices/inv_x.html")
        assert invoice.status_code == 401


def test_logout_without_the_csrf_token_does_nothing(browser: TestClient) -> None:
    log_in(browser)
    for data in ({}, {"csrf": "0" * 64}):
        response = browser.post("/portal/logout", data=data, follow_redirects=False)
        assert response.headers["location"] == "/portal"
        assert browser.get("/portal", follow_redirects=False).status_code == 200


def test_a_session_expires(browser: TestClient, clock: FixedClock) -> None:
    log_in(browser)
    assert browser.get("/portal", follow_redirects=False).status_code == 200
    clock.set(clock.now() + timedelta(hours=8, seconds=1))
    assert browser.get("/portal", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(browser: TestClient, app_container: Container) -> None:
    log_in(browser)
    with app_container.engine.begin() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.key_hash == hash_key(TEST_KEY))
            .values(revoked_at=app_container.clock.now())
        )
    assert browser.get("/portal", follow_redirects=False).status_code == 303


def test_a_raw_key_in_the_cookie_is_not_a_session(api: TestClient) -> None:
    with TestClient(api.app, cookies={"tallybook_portal": TEST_KEY}) as old_style:
        assert old_style.get("/portal", follow_redirects=False).status_code == 303
    with TestClient(api.app, cookies={"tallybook_portal": "x" * 5000}) as junk:
        assert junk.get("/portal", follow_redirects=False).status_code == 303


def test_cookie_is_secure_over_https_only(api: TestClient) -> None:
    with TestClient(api.app, base_url="https://testserver") as tls:
        cookie = tls.post("/portal/login", data={"api_key": TEST_KEY}, follow_redirects=False)
        assert "secure" in cookie.headers["set-cookie"].lower()
    with TestClient(api.app) as plain:
        spoofed = plain.post(
            "/portal/login",
            data={"api_key": TEST_KEY},
            headers={"X-Forwarded-Proto": "https"},
            follow_redirects=False,
        )
        assert "secure" not in spoofed.headers["set-cookie"].lower()  # proxies not trusted


def test_forwarded_proto_is_honoured_from_a_trusted_proxy(settings: Settings) -> None:
    trusting = settings.model_copy(update={"trusted_proxies": "testclient"})
    container = build(trusting)
    container.tenants.bootstrap_default(TEST_KEY)
    try:
        with TestClient(create_app(container=container)) as client:
            response = client.post(
                "/portal/login",
                data={"api_key": TEST_KEY},
                headers={"X-Forwarded-Proto": "https"},
                follow_redirects=False,
            )
            assert "secure" in response.headers["set-cookie"].lower()
    finally:
        container.close()


def test_login_posted_from_another_site_is_refused(api: TestClient) -> None:
    with TestClient(api.app) as client:
        response = client.post(
            "/portal/login",
            data={"api_key": TEST_KEY},
            headers={"Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert response.status_code == 403 and "set-cookie" not in response.headers
