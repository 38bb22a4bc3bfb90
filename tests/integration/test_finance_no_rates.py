"""A tenant without tax rates skips the per-line tax work (``TenantRates.tax``'s fast
path, issue 7) with the same invoices: no taxes, the reverse-charge note still printed,
the parties still snapshot; and once the tenant adds a rate, the next run taxes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

D = Decimal

CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "std",
            "name": "std",
            "currency": "EUR",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "100.00"},
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "0.50",
                },
            ],
        }
    ],
}


def _setup(client: TestClient) -> None:
    assert client.patch("/v1/tenant", json={"grace_seconds": 0}).status_code == 200
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for customer, details in (("plain", {}), ("rc", {"tax_exempt": "reverse_charge"})):
        body = {"id": customer, "currency": "EUR", "name": f"{customer} Ltd"}
        assert client.post("/v1/customers", json=body).status_code == 201
        if details:
            assert client.patch(f"/v1/customers/{customer}", json=details).status_code == 200
        sub = {"customer": customer, "plan": "std", "start": "2026-01-01T00:00:00Z"}
        assert client.post("/v1/subscriptions", json=sub).status_code == 201
        events = [
            {
                "id": f"{customer}{n}",
                "customer": customer,
                "type": "call",
                "timestamp": "2026-01-10T00:00:00Z",
            }
            for n in range(10)
        ]
        assert client.post("/v1/events", json=events).json()["accepted"] == 10


def _run(client: TestClient, as_of: str) -> None:
    run = client.post("/v1/billing-runs", json={"as_of": as_of})
    assert run.status_code == 200, run.text


def _issued(client: TestClient, customer: str, issue_at: str) -> dict[str, Any]:
    found = client.get("/v1/invoices", params={"customer": customer}).json()["data"]
    issued = [i for i in found if i["issue_at"] == issue_at]
    assert len(issued) == 1, found
    invoice: dict[str, Any] = issued[0]
    assert invoice["status"] == "finalized"
    return invoice


def test_no_rates_no_taxes_then_a_new_rate_taxes_the_next_run(client: TestClient) -> None:
    _setup(client)
    _run(client, "2026-02-01T00:30:00Z")

    plain = _issued(client, "plain", "2026-02-01T00:00:00Z")
    # January usage 10 x 0.50 = 5.00 and February's fee 100.00, nothing taxed
    assert (D(plain["subtotal"]), D(plain["tax_total"]), D(plain["total"])) == (
        D("105.00"),
        D("0.00"),
        D("105.00"),
    )
    assert plain["taxes"] == [] and plain["tax_note"] is None
    assert all(line["tax_amount"] is None for line in plain["lines"])
    assert plain["parties"]["buyer"]["legal_name"] == "plain Ltd"
    assert plain["parties"]["buyer"]["customer"] == "plain"
    assert plain["parties"]["seller"]["legal_name"]  # the tenant's name stands in

    rc = _issued(client, "rc", "2026-02-01T00:00:00Z")
    assert "Reverse charge" in rc["tax_note"]  # the note needs no rate
    assert D(rc["total"]) == D("105.00")

    rate = {"id": "vat", "name": "VAT", "percentage": "20"}
    assert client.post("/v1/tax-rates", json=rate).status_code == 201
    assert client.patch("/v1/customers/plain", json={"tax_rates": ["vat"]}).status_code == 200
    _run(client, "2026-03-01T00:30:00Z")

    march = _issued(client, "plain", "2026-03-01T00:00:00Z")
    assert (D(march["subtotal"]), D(march["tax_total"]), D(march["total"])) == (
        D("100.00"),
        D("20.00"),
        D("120.00"),
    )
    assert {t["rate"]: t["amount"] for t in march["taxes"]} == {"vat": "20.00"}
    # February's invoice is final: the new rate does not reach it
    assert _issued(client, "plain", "2026-02-01T00:00:00Z") == plain
