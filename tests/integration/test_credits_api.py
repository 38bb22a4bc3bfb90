"""Credits and commitments through the HTTP API on SQLite and PostgreSQL: bad input with
codes, idempotent ids, the ledger's shape, void and reversal, and a finalization that
fails leaving the ledger and the invoice as they were."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.store.billing import BillingUnitOfWork
from tallybook.bootstrap import Container
from tests.integration.test_customers_api import CATALOG, error

GRANTS = "/v1/customers/a/credit-grants"


def _setup(client: TestClient) -> str:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    created = client.post(
        "/v1/subscriptions",
        json={
            "customer": "a",
            "plan": "monthly",
            "start": "2026-01-01T00:00:00Z",
            "quantities": {"seats": 1},
        },
    )
    assert created.status_code == 201, created.text
    events = [
        {"id": f"e{n}", "customer": "a", "type": "call", "timestamp": "2026-01-10T00:00:00Z"}
        for n in range(30)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 30
    sub: str = created.json()["id"]
    return sub


def _grant(**extra: Any) -> dict[str, Any]:
    body = {"amount": "20.00", "currency": "USD", "effective_at": "2026-01-01T00:00:00Z"}
    body.update(extra)
    return body


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (_grant(amount="0"), 422, "invalid_amount"),
        (_grant(amount="-5.00"), 422, "invalid_amount"),
        (_grant(amount="1.001"), 422, "invalid_amount"),
        (_grant(amount="abc"), 422, "invalid_number"),
        (_grant(currency="ZZZ"), 422, "unknown_currency"),
        (_grant(currency="EUR"), 422, "currency_mismatch"),
        (_grant(expires_at="2025-12-01T00:00:00Z"), 422, "invalid_expiry"),
        (_grant(priority=101), 422, "invalid_priority"),
        (_grant(priority=-1), 422, "invalid_priority"),
        (_grant(applies_to={"charges": ["nope"]}), 422, "unknown_charge"),
        (_grant(applies_to="some"), 422, "invalid_applies_to"),
        (_grant(category="gift"), 422, "invalid_category"),
        (_grant(effective_at="yesterday"), 422, "invalid_instant"),
    ],
)
def test_bad_grants_are_coded_4xx(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    _setup(client)
    assert error(client.post(GRANTS, json=body)) == (status, code)
    assert client.get(GRANTS).json()["data"] == []
    assert client.get("/v1/customers/a/credit-ledger").json()["data"] == []


def test_ids_are_idempotent_and_a_changed_body_conflicts(client: TestClient) -> None:
    _setup(client)
    first = client.post(GRANTS, json=_grant(id="g1"))
    assert first.status_code == 201, first.text
    again = client.post(GRANTS, json=_grant(id="g1"))
    assert again.status_code == 200 and again.json()["id"] == "g1"
    assert error(client.post(GRANTS, json=_grant(id="g1", amount="21.00"))) == (409, "conflict")
    assert len(client.get(GRANTS).json()["data"]) == 1
    assert error(client.post("/v1/customers/nobody/credit-grants", json=_grant())) == (
        404,
        "customer_not_found",
    )
    assert error(client.get("/v1/customers/a/credits?x=1")) == (400, "unknown_parameter")
    assert error(client.get("/v1/customers/a/credit-ledger?limit=1001")) == (422, "invalid_limit")


def test_finalization_draws_and_a_void_reverses_exactly_once(client: TestClient) -> None:
    _setup(client)
    client.post(GRANTS, json=_grant(id="small", amount="20.00", priority=10))
    client.post(GRANTS, json=_grant(id="big", amount="100.00", applies_to="all"))
    run = client.post("/v1/billing-runs", json={"as_of": "2026-02-02T00:00:00Z"})
    assert run.status_code == 200, run.text
    invoices = client.get("/v1/invoices?customer=a").json()["data"]
    january = next(
        i for i in invoices if i["period_start"].startswith("2026-01") and i["kind"] == "period"
    )
    # 30 calls at 1.00 + next period's seat 10.00 in advance; "small" pays usage first (priority 10),
    # "big" (all lines) pays the remaining 10.00 of usage and the 10.00 seat fee.
    credit = {
        line["charge"]: Decimal(line["amount"])
        for line in january["lines"]
        if line["type"] == "credit"
    }
    assert credit == {"small": Decimal("-20.00"), "big": Decimal("-20.00")}
    assert Decimal(january["credits_applied"]) == Decimal("40.00")
    assert Decimal(january["total"]) == Decimal(january["subtotal"]) - Decimal("40.00")
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    opening = next(i for i in invoices if i["kind"] == "opening")  # January's seat, in advance
    debits = [e for e in ledger if e["type"] == "debit" and e["invoice"] != opening["id"]]
    assert [(e["grant"], e["amount"]) for e in ledger if e["invoice"] == opening["id"]] == [
        ("big", "-10.00")
    ]
    assert {(e["grant"], e["amount"], e["invoice"]) for e in debits} == {
        ("small", "-20.00", january["id"]),
        ("big", "-20.00", january["id"]),
    }
    assert [Decimal(e["balance_after"]) for e in ledger][-1] == sum(
        Decimal(e["amount"]) for e in ledger
    )
    assert Decimal(client.get("/v1/customers/a/credits").json()["balance"]) == Decimal("70.00")

    assert client.post(f"/v1/invoices/{january['id']}/void").status_code == 200
    assert error(client.post(f"/v1/invoices/{january['id']}/void")) == (
        409,
        "invalid_invoice_status",
    )
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    given_back = [(e["grant"], e["amount"]) for e in ledger if e["type"] == "reversal"]
    assert sorted(given_back) == [("big", "20.00"), ("small", "20.00")]
    grants = {g["id"]: g["remaining"] for g in client.get(GRANTS).json()["data"]}
    assert grants == {"small": "20.00", "big": "90.00"}  # the opening invoice keeps its 10.00


def test_void_grant_and_the_live_balance(client: TestClient) -> None:
    _setup(client)
    client.post(GRANTS, json=_grant(id="g", amount="50.00"))
    body = client.get("/v1/customers/a/credits").json()
    assert body["currency"] == "USD" and Decimal(body["balance"]) == Decimal("50.00")
    assert body["grants"] == [{"id": "g", "remaining": "50.00", "priority": 50, "expires_at": None}]
    # the open January draft (if any) and the current period would draw: available <= balance
    assert Decimal(body["available"]) <= Decimal(body["balance"])
    voided = client.post("/v1/credit-grants/g/void")
    assert voided.status_code == 200 and voided.json()["remaining"] == "0"
    assert client.post("/v1/credit-grants/g/void").status_code == 200  # nothing left: no entry
    types = [e["type"] for e in client.get("/v1/customers/a/credit-ledger").json()["data"]]
    assert types == ["grant", "void"]
    assert error(client.post("/v1/credit-grants/nope/void")) == (404, "credit_grant_not_found")


def test_a_failed_finalization_leaves_ledger_and_invoices_as_they_were(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(client)
    client.post(GRANTS, json=_grant(id="g", amount="20.00"))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(BillingUnitOfWork, "write_credits", broken)
    with pytest.raises(RuntimeError):
        container.billing.run("default", container.clock.now().replace(year=2026, month=2, day=2))
    assert client.get("/v1/invoices?customer=a").json()["data"] == []
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    assert [e["type"] for e in ledger] == ["grant"]
    monkeypatch.undo()
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-02-02T00:00:00Z"}).status_code == 200
    )
    assert [e["type"] for e in client.get("/v1/customers/a/credit-ledger").json()["data"]] == [
        "grant",
        "debit",
    ]


def test_commitment_bad_input_stores_nothing(client: TestClient) -> None:
    _setup(client)
    body = {
        "customer": "a",
        "plan": "monthly",
        "start": "2026-01-01T00:00:00Z",
        "quantities": {"seats": 1},
        "commitment": {"kind": "postpaid", "amount": "100.00", "term_end": "2025-06-01T00:00:00Z"},
    }
    before = len(client.get("/v1/subscriptions?customer=a").json()["data"])
    assert error(client.post("/v1/subscriptions", json=body)) == (422, "invalid_term")
    body["commitment"] = {"kind": "weekly", "amount": "100.00", "term_end": "2027-01-01T00:00:00Z"}
    assert error(client.post("/v1/subscriptions", json=body)) == (422, "invalid_commitment_kind")
    body["commitment"] = {"kind": "prepaid", "amount": "0", "term_end": "2027-01-01T00:00:00Z"}
    assert error(client.post("/v1/subscriptions", json=body)) == (422, "invalid_amount")
    assert len(client.get("/v1/subscriptions?customer=a").json()["data"]) == before
    sub = client.get("/v1/subscriptions?customer=a").json()["data"][0]["id"]
    assert error(client.get(f"/v1/subscriptions/{sub}/commitment")) == (404, "commitment_not_found")
    added = client.post(
        f"/v1/subscriptions/{sub}/commitment",
        json={"kind": "postpaid", "amount": "500.00", "term_end": "2026-07-01T00:00:00Z"},
    )
    assert added.status_code == 201, added.text
    status = client.get(f"/v1/subscriptions/{sub}/commitment").json()
    assert (status["kind"], status["term_start"], status["term_end"]) == (
        "postpaid",
        "2026-01-01T00:00:00Z",
        "2026-07-01T00:00:00Z",
    )
    overlapping = client.post(
        f"/v1/subscriptions/{sub}/commitment",
        json={"kind": "prepaid", "amount": "5.00", "term_end": "2026-03-01T00:00:00Z"},
    )
    assert error(overlapping) == (422, "overlapping_commitment")
