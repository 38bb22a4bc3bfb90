"""Roles on every route: walk the OpenAPI document and call each operation with a key of
each single role; the answer is ``403 forbidden`` exactly when the contract's role list
does not allow it (CONTRACT.md, governance). The expectation below is written from the
contract's sentences, independently of ``api.access``'s table."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.api.access import allowed_roles

ROLES = ("viewer", "billing", "pricing_editor", "pricing_approver", "ingest")
VIEWERS = {"viewer", "billing", "pricing_editor", "pricing_approver"}
PUBLIC = {"/healthz", "/readyz", "/metrics", "/v1/providers/stripe/webhook"}


def expected(method: str, path: str) -> set[str]:
    """Who besides admin may call ``method path``, from the contract's role sentences."""
    if method == "GET":
        if path.startswith("/v1/keys"):
            return set()
        if re.fullmatch(r"/v1/customers/\{customer_id\}/entitlements(/\{feature\})?", path):
            return VIEWERS | {"ingest"}  # "ingest: only event ingestion and entitlement checks"
        return set(VIEWERS)
    if path in ("/v1/events", "/api/v1/events") or path.startswith("/v1/events/rejected"):
        return {"ingest"}  # event ingestion (and fixing rejected events)
    if path.endswith(("/approve", "/reject")):
        return {"pricing_approver"}
    pricing = ("/v1/catalog", "/v1/plans", "/v1/meters", "/v1/backtests", "/v1/experiments")
    if path.startswith(pricing) or path.startswith("/v1/analytics/allowance-model"):
        return {"pricing_editor"}
    billing = (
        "/v1/customers",
        "/v1/subscriptions",
        "/v1/invoices",
        "/v1/billing-runs",
        "/v1/credit-grants",
        "/v1/reconciliation-runs",  # billing ops: Stripe reconciliation
        "/v1/tax-rates",  # finance: tax rates (credit notes are under /v1/invoices)
    )
    if path.startswith(billing) or path == "/v1/analytics/acquisition-spend":
        return {"billing"}
    return set()  # keys, webhooks, tenant settings: admin only


def _operations(client: TestClient) -> list[tuple[str, str]]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if path not in PUBLIC and method in ("get", "post", "put", "patch", "delete")
    )


@pytest.fixture
def role_keys(client: TestClient) -> dict[str, str]:
    keys = {}
    for role in ROLES:
        answer = client.post("/v1/keys", json={"name": f"only-{role}", "roles": [role]})
        assert answer.status_code == 201, answer.text
        keys[role] = answer.json()["key"]
    return keys


def test_the_route_table_matches_the_contract_for_every_route(client: TestClient) -> None:
    operations = _operations(client)
    assert len(operations) > 60
    for method, path in operations:
        assert allowed_roles(method, path) == expected(method, path), (method, path)


def test_every_route_answers_every_role_as_the_contract_says(
    client: TestClient, role_keys: dict[str, str]
) -> None:
    checked = 0
    for method, path in _operations(client):
        url = re.sub(r"\{[^}]+\}", "x_missing", path)
        for role, key in role_keys.items():
            answer = client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                content=b"{}" if method != "GET" else None,
            )
            body = answer.json() if _is_json(answer) else None
            code = _code(body)
            if role in expected(method, path):
                assert code != "forbidden", (role, method, path, answer.text)
            else:
                assert (answer.status_code, code) == (403, "forbidden"), (role, method, path)
            checked += 1
    assert checked == len(role_keys) * len(_operations(client))


def test_roles_combine_and_admin_may_do_everything(client: TestClient) -> None:
    both = client.post("/v1/keys", json={"name": "both", "roles": ["billing", "ingest"]}).json()
    headers = {"Authorization": f"Bearer {both['key']}"}
    assert client.post("/v1/customers", json={"id": "c", "currency": "USD"}, headers=headers)
    events = [{"id": "e1", "customer": "c", "type": "t"}]
    assert client.post("/v1/events", json=events, headers=headers).status_code == 200
    denied = client.put("/v1/catalog", json={}, headers=headers)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["allowed"] == [
        "admin",
        "pricing_editor",
    ]
    assert client.get("/v1/keys").status_code == 200  # the admin test key


def test_an_unknown_role_is_refused(client: TestClient) -> None:
    answer = client.post("/v1/keys", json={"name": "x", "roles": ["superuser"]})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_roles"


def _is_json(answer: Any) -> bool:
    return str(answer.headers.get("content-type", "")).startswith(
        ("application/json", "application/problem+json")
    )


def _code(body: Any) -> str | None:
    """The error code of a JSON error body or of an RFC 7807 problem (``/api/v1``)."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return body.get("code")


def test_an_ingest_only_key_cannot_open_the_portal(client: TestClient) -> None:
    ingest = client.post("/v1/keys", json={"name": "pipe", "roles": ["ingest"]}).json()["key"]
    viewer = client.post("/v1/keys", json={"name": "eyes", "roles": ["viewer"]}).json()["key"]
    refused = client.post("/portal/login", data={"api_key": ingest}, follow_redirects=False)
    assert refused.status_code == 403 and "may not view" in refused.text
    allowed = client.post("/portal/login", data={"api_key": viewer}, follow_redirects=False)
    assert allowed.status_code == 303
