"""Billing runs and invoices through the ASGI app: idempotency, numbering, statuses,
tenancy and coded errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tests.integration.test_customers_api import CATALOG, error


def _setup(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for customer in ("a", "b"):
        client.post("/v1/customers", json={"id": customer, "currency": "USD"})
        created = client.post(
            "/v1/subscriptions",
            json={
                "customer": customer,
                "plan": "monthly",
                "start": "2026-01-01T00:00:00Z",
                "quantities": {"seats": 2},
            },
        )
        assert created.status_code == 201, created.text
    events = [
        {"id": f"e{n}", "customer": "a", "type": "call", "timestamp": "2026-01-10T00:00:00Z"}
        for n in range(3)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 3


def _run(client: TestClient, as_of: str) -> dict[str, Any]:
    response = client.post("/v1/billing-runs", json={"as_of": as_of})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_runs_are_idempotent_and_numbers_gapless(client: TestClient) -> None:
    _setup(client)
    first = _run(client, "2026-03-01T02:00:00Z")
    # per customer: opening (January seats), January, February
    assert (first["invoices_created"], first["invoices_finalized"]) == (6, 6)
    again = _run(client, "2026-03-01T02:00:00Z")
    assert (again["invoices_created"], again["invoices_updated"], again["invoices_finalized"]) == (
        0,
        0,
        0,
    )
    invoices = client.get("/v1/invoices").json()["data"]
    assert sorted(i["sequence"] for i in invoices) == list(range(1, 7))
    january = next(
        i
        for i in invoices
        if i["customer"] == "a"
        and i["kind"] == "period"
        and i["period_start"].startswith("2026-01")
    )
    assert january["total"] == "23.00"  # 3 calls x 1 + February's 2 seats x 10.00 in advance
    assert {line["type"] for line in january["lines"]} == {"usage", "flat"}
    by_number = client.get(f"/v1/invoices/{january['number']}").json()
    assert by_number["id"] == january["id"]
    assert client.get(f"/v1/invoices/{january['sequence']}").json()["id"] == january["id"]


def test_drafts_then_finalized_then_paid_or_void(client: TestClient) -> None:
    _setup(client)
    _run(client, "2026-01-01T00:30:00Z")  # inside the grace period: drafts without numbers
    drafts = client.get("/v1/invoices", params={"status": "draft"}).json()["data"]
    assert len(drafts) == 2 and all(d["number"] is None for d in drafts)
    draft = next(d["id"] for d in drafts if d["customer"] == "a")  # b's is voided below
    assert error(client.post(f"/v1/invoices/{draft}/void")) == (409, "invalid_invoice_status")
    assert error(client.post(f"/v1/invoices/{draft}/pay")) == (409, "invalid_invoice_status")
    _run(client, "2026-01-01T01:00:00Z")
    final = client.get(f"/v1/invoices/{draft}").json()
    assert (final["status"], final["number"]) == ("finalized", final["number"]) and final["number"]
    paid = client.post(f"/v1/invoices/{draft}/pay").json()
    assert paid["status"] == "paid" and paid["paid_at"].endswith("Z")
    assert error(client.post(f"/v1/invoices/{draft}/void")) == (409, "invalid_invoice_status")
    other = client.get("/v1/invoices", params={"customer": "b"}).json()["data"][0]["id"]
    assert client.post(f"/v1/invoices/{other}/void").json()["status"] == "void"
    assert len(client.get("/v1/invoices", params={"status": "void"}).json()["data"]) == 1


def test_bad_requests_get_codes(client: TestClient) -> None:
    assert error(client.get("/v1/invoices", params={"status": "open"})) == (422, "invalid_status")
    assert error(client.get("/v1/invoices/inv_nothing")) == (404, "invoice_not_found")
    assert error(client.post("/v1/billing-runs", json={"as_of": "soon"})) == (
        422,
        "invalid_instant",
    )
    assert error(client.post("/v1/billing-runs", json={"as_of": 5})) == (422, "invalid_request")
    assert error(client.patch("/v1/tenant", json={"grace_seconds": -1})) == (422, "invalid_request")
    assert client.patch("/v1/tenant", json={"grace_seconds": 7200}).json()["grace_seconds"] == 7200
    assert client.get("/v1/tenant").json()["grace_seconds"] == 7200


def test_a_tenant_sees_and_bills_only_its_own(client: TestClient, container: Container) -> None:
    _setup(client)
    _run(client, "2026-02-01T02:00:00Z")
    other = container.tenants.create_key("other")
    headers = {"Authorization": f"Bearer {other.key}"}
    assert client.get("/v1/invoices", headers=headers).json()["data"] == []
    assert error(client.get("/v1/customers/a", headers=headers)) == (404, "customer_not_found")
    run = client.post(
        "/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"}, headers=headers
    ).json()
    assert run["invoices_created"] == 0
    invoice = client.get("/v1/invoices").json()["data"][0]["id"]
    assert error(client.get(f"/v1/invoices/{invoice}", headers=headers)) == (
        404,
        "invoice_not_found",
    )
