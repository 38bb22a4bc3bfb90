"""Roles on the console: walk every console route of the app with a session of each role;
the answer is the "not allowed for your roles" 403 page exactly when the role may not
make the API call the page stands for (CONTRACT.md governance: ``viewer`` reads,
``billing`` credits and invoices, ``pricing_editor`` catalog changes, rollbacks and
pricing research, ``pricing_approver`` decisions, webhooks and dead letters stay with
``admin`` / ``ingest``). The expectation is written here from those sentences,
independently of ``console.roles``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tallybook.console.routes import PAGE_MODULES
from tests.conftest import TEST_KEY

ROLES = ("viewer", "billing", "pricing_editor", "pricing_approver", "admin")
REFUSED = "Not allowed for your roles"
NOT_CHECKED = {
    "/console/login",
    "/console/logout",
    "/console/static/{name}",
    "/console/assets/{name}",
}
# required query parameters, so that a refusal is not a 422 for their absence
QUERY = {
    "/console/experiments/allowance": {"plan": "x", "charge": "y"},
    "/console/catalog/plans/{key}/rollback": {"version": "1"},
}


def expected(method: str, path: str) -> set[str]:
    """The roles besides admin that may use ``method path`` (see the module docstring)."""
    editor = {"pricing_editor"}
    if path in ("/console/catalog/changes/new", "/console/catalog/plans/{key}/rollback"):
        return editor  # the change editor and the rollback form: proposing
    if path == "/console/experiments/allowance":
        return editor  # the allowance model is pricing research
    if method == "POST" and path == "/console/experiments/arms":
        return editor  # create, ramp, stop an experiment
    if method == "GET":
        return {"viewer", "billing", "pricing_editor", "pricing_approver"}
    if path.endswith(("/approve", "/reject")):
        return {"pricing_approver"}
    if path.startswith("/console/catalog") or path == "/console/experiments/backtests":
        return editor
    if path.startswith(("/console/customers", "/console/invoices")):
        return {"billing"}
    if path == "/console/overview/mrr/refresh":
        return {"billing"}  # who may start a billing run may refresh the MRR snapshot
    return set()  # webhook retries (admin), dead-letter replay (ingest)


def console_routes() -> list[tuple[str, str]]:
    """Every (method, path) of the console's page modules (``routes.PAGE_MODULES``)."""
    found = set()
    for name in PAGE_MODULES:
        for route in importlib.import_module(name).router.routes:
            if not isinstance(route, APIRoute) or route.path in NOT_CHECKED:
                continue
            for method in route.methods:
                if method in ("GET", "POST"):
                    found.add((method, route.path))
    return sorted(found)


@contextmanager
def session_of(client: TestClient, key: str) -> Iterator[TestClient]:
    with TestClient(client.app) as session:
        answer = session.post("/console/login", data={"api_key": key}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        yield session


@pytest.fixture
def role_keys(client: TestClient) -> dict[str, str]:
    keys = {"admin": TEST_KEY}
    for role in ROLES[:-1]:
        answer = client.post("/v1/keys", json={"name": f"only-{role}", "roles": [role]})
        assert answer.status_code == 201, answer.text
        keys[role] = answer.json()["key"]
    return keys


def test_every_console_route_answers_every_role_as_the_table_says(
    client: TestClient, role_keys: dict[str, str]
) -> None:
    routes = console_routes()
    assert len(routes) >= 30, routes
    table: dict[tuple[str, str], dict[str, bool]] = {}
    for role, key in role_keys.items():
        with session_of(client, key) as session:
            for method, path in routes:
                url = re.sub(r"\{action\}", "pay", path)
                url = re.sub(r"\{[^}]+\}", "x_missing", url)
                if method == "GET":
                    answer = session.get(url, params=QUERY.get(path), follow_redirects=False)
                else:
                    answer = session.post(url, data={}, follow_redirects=False)
                refused = answer.status_code == 403 and REFUSED in answer.text
                table.setdefault((method, path), {})[role] = not refused
    for (method, path), answers in table.items():
        allowed = expected(method, path) | {"admin"}
        assert answers == {role: role in allowed for role in ROLES}, (method, path, answers)


def test_the_nav_and_the_action_buttons_follow_the_roles(
    client: TestClient, role_keys: dict[str, str]
) -> None:
    assert client.post("/v1/customers", json={"id": "acme", "currency": "USD"}).is_success
    with session_of(client, role_keys["viewer"]) as viewer:
        page = viewer.get("/console/customers/acme")
        assert page.status_code == 200
        assert "Grant credits" not in page.text
        for label in ("Overview", "Customers", "Catalog", "Approvals", "Audit log"):
            assert f">{label}</a>" in page.text
        refused = viewer.post("/console/customers/acme/grant", data={"amount": "1"})
        assert refused.status_code == 403 and "billing" in refused.text
        experiments = viewer.get("/console/experiments").text
        assert "Run backtest" not in experiments and "needs the pricing_editor role" in experiments
    with session_of(client, role_keys["billing"]) as billing:
        assert "Grant credits" in billing.get("/console/customers/acme").text


def test_an_ingest_only_key_cannot_log_in(client: TestClient) -> None:
    ingest = client.post("/v1/keys", json={"name": "pipe", "roles": ["ingest"]}).json()["key"]
    with TestClient(client.app) as session:
        refused = session.post("/console/login", data={"api_key": ingest})
        assert refused.status_code == 403 and "reading role" in refused.text
        assert session.get("/console", follow_redirects=False).status_code == 303
