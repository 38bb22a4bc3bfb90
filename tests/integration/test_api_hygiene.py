"""Issue 17 item 12: unknown query parameters, content types, the window message, one
pagination style, invoice order and CLI dates in the customer's zone (both stores)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from tallybook.adapters.store.schema_billing import invoices
from tallybook.bootstrap import Container
from tallybook.cli import app as cli
from tests.integration.test_customers_api import CATALOG, error

METHODS = ("get", "post", "put", "patch", "delete")


def _operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    document = client.get("/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                found.append((method, re.sub(r"\{[^}]+\}", "x", path), item[method]))
    return found


def _declared_query(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def test_every_route_refuses_an_unknown_query_parameter(client: TestClient) -> None:
    operations = _operations(client)
    assert len(operations) > 40  # the walk really covers the API
    for method, path, operation in operations:
        response = client.request(method, path, params={"emial": "x@example.test"})
        where = f"{method.upper()} {path}"
        assert response.status_code == 400, f"{where}: {response.status_code} {response.text}"
        body = response.json()
        # the OpenMeter routes answer application/problem+json with a top-level code
        code = body["error"]["code"] if "error" in body else body["code"]
        assert code == "unknown_parameter", where
        if "error" in body:
            details = body["error"]["details"]
            assert details["unknown"] == ["emial"]
            # what the check allows is exactly what the OpenAPI document declares
            assert set(details["allowed"]) == _declared_query(operation), where


def test_declared_filters_are_not_refused(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for path, params in [
        ("/v1/customers", {"email": "a@b.test", "q": "ac", "include_archived": "true"}),
        ("/v1/invoices", {"status": "draft", "number": "INV-000001", "limit": "5"}),
        ("/v1/plans", {"include_archived": "true"}),
        ("/v1/events", {"from": "2026-01-01T00:00:00Z", "order": "asc"}),
        (
            "/api/v1/meters/calls/query",
            {
                "from": "2026-01-01T00:00:00Z",
                "to": "2026-01-03T00:00:00Z",
                "windowSize": "DAY",
                "filterGroupBy[region]": "eu",
            },
        ),
    ]:
        response = client.get(path, params=params)
        assert response.status_code == 200, f"{path}: {response.text}"


def test_customers_email_filter_no_longer_lists_everyone(client: TestClient) -> None:
    for n, email in enumerate(("a@acme.test", "b@beta.test")):
        client.post("/v1/customers", json={"id": f"c{n}", "currency": "USD", "email": email})
    found = client.get("/v1/customers", params={"email": "A@ACME.test"}).json()["data"]
    assert [c["id"] for c in found] == ["c0"]


def test_every_body_is_refused_with_415_for_a_wrong_content_type(client: TestClient) -> None:
    checked = 0
    for method, path, operation in _operations(client):
        if "requestBody" not in operation:
            continue
        checked += 1
        response = client.request(
            method, path, content=b"{}", headers={"content-type": "text/plain"}
        )
        where = f"{method.upper()} {path}"
        assert response.status_code == 415, f"{where}: {response.status_code} {response.text}"
        body = response.json()
        code = body["error"]["code"] if "error" in body else body["code"]
        assert code == "unsupported_media_type", where
    assert checked >= 15


def test_put_catalog_needs_a_json_or_yaml_content_type(client: TestClient) -> None:
    text = json.dumps(CATALOG).encode()
    assert error(
        client.put("/v1/catalog", content=text, headers={"content-type": "text/plain"})
    ) == (
        415,
        "unsupported_media_type",
    )
    bare = client.put("/v1/catalog", content=text, headers={"content-type": ""})
    assert error(bare) == (415, "unsupported_media_type")
    for media in ("application/json", "application/yaml", "text/yaml"):
        ok = client.put("/v1/catalog", content=text, headers={"content-type": media})
        assert ok.status_code == 200, (media, ok.text)


def test_the_window_error_names_every_window(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    response = client.get(
        "/v1/meters/calls/usage",
        params={"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "window": "week"},
    )
    assert error(response) == (422, "invalid_window")
    message = response.json()["error"]["message"]
    for window in ("minute", "hour", "day", "month"):
        assert window in message


def _walk(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get(path, params=query).json()
        assert set(page) == {"data", "next_cursor"}, page
        assert len(page["data"]) <= 1
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_every_list_pages_with_limit_and_an_opaque_cursor(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for n in range(3):
        client.post("/v1/customers", json={"id": f"c{n}", "currency": "USD"})
        client.post(
            "/v1/subscriptions",
            json={"customer": f"c{n}", "plan": "monthly", "start": "2026-01-01T00:00:00Z"},
        )
    assert [c["id"] for c in _walk(client, "/v1/customers")] == ["c0", "c1", "c2"]
    assert len(_walk(client, "/v1/subscriptions")) == 3
    client.post("/v1/billing-runs", json={"as_of": "2026-03-01T00:00:00Z"})
    every = client.get("/v1/invoices", params={"limit": 1000}).json()["data"]
    assert len(every) >= 6
    assert [i["id"] for i in _walk(client, "/v1/invoices")] == [i["id"] for i in every]
    assert len(_walk(client, "/v1/keys")) == 1
    lists = [
        path
        for method, path, operation in _operations(client)
        if method == "get" and "cursor" in _declared_query(operation)
    ]
    assert {"/v1/customers", "/v1/subscriptions", "/v1/invoices", "/v1/keys"} <= set(lists)
    # nested lists (a customer's credit grants and ledger) need their parent to exist
    client.post("/v1/customers", json={"id": "x", "currency": "USD"})
    for path in lists:
        assert client.get(path, params={"limit": 1000}).status_code == 200, path
        assert client.get(path, params={"limit": 1001}).status_code == 422, path
        assert client.get(path, params={"cursor": "not-ours"}).status_code == 422, path


def test_invoices_are_listed_in_number_order_drafts_last(
    client: TestClient, container: Container
) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for n in range(3):
        client.post("/v1/customers", json={"id": f"c{n}", "currency": "USD"})
        client.post(
            "/v1/subscriptions",
            json={"customer": f"c{n}", "plan": "monthly", "start": "2026-01-01T00:00:00Z"},
        )
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-02-01T00:30:00Z"}).status_code == 200
    )
    finals = [i for i in _walk(client, "/v1/invoices") if i["sequence"] is not None]
    assert len(finals) >= 3
    # Renumber so that id order and number order disagree (numbers stay unique).
    by_id = sorted(finals, key=lambda i: i["id"])
    top = max(i["sequence"] for i in finals)
    with container.engine.begin() as conn:
        for offset, invoice in enumerate(by_id):
            conn.execute(
                update(invoices)
                .where(invoices.c.id == invoice["id"])
                .values(number=top + 100 - offset)
            )
    listed = _walk(client, "/v1/invoices")
    numbers = [i["sequence"] for i in listed if i["sequence"] is not None]
    assert numbers == sorted(numbers) and len(numbers) == len(finals)
    drafts = [i for i in listed if i["sequence"] is None]
    assert listed[len(numbers) :] == drafts  # drafts after every numbered invoice
    assert [d["id"] for d in drafts] == sorted(d["id"] for d in drafts)
    whole = client.get("/v1/invoices", params={"limit": 1000}).json()["data"]
    assert [i["id"] for i in whole] == [i["id"] for i in listed]  # stable across page sizes


def test_cli_shows_invoice_dates_in_the_customers_zone(
    container: Container, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.catalog.apply("default", CATALOG)
    container.customers.create("default", "paris", currency="USD", timezone="Europe/Paris")
    from datetime import UTC, datetime

    start = datetime(2025, 12, 31, 23, tzinfo=UTC)  # 2026-01-01 00:00 in Paris
    container.subscriptions.create("default", "paris", "monthly", start=start)
    container.billing.run("default", datetime(2026, 3, 1, tzinfo=UTC))
    monkeypatch.setenv("TALLYBOOK_DATABASE_URL", db_url)
    runner = CliRunner()
    human = runner.invoke(cli, ["invoices", "show", "1"], terminal_width=200)
    assert human.exit_code == 0, human.output
    assert "2026-01-01 to 2026-02-01 (Europe/Paris)" in human.output
    assert "2025-12-31" not in human.output
    machine = runner.invoke(cli, ["invoices", "show", "1", "--json"])
    assert json.loads(machine.output)["period_start"] == "2025-12-31T23:00:00Z"
