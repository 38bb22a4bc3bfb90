"""Plan credits (``credit_grant`` charges) through the HTTP API on SQLite and PostgreSQL:
catalog checks with locations, the round trip of the charge, grants that may not name
it, no invoice line for it, a plan credit granted once per period however often the run
goes, and no rollover when the charge has none."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error


def _catalog(*extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
        "plans": [
            {
                "key": "p",
                "currency": "USD",
                "interval": "month",
                "billing_anchor": "calendar",
                "charges": [
                    {"key": "base", "type": "flat", "amount": "5.00", "timing": "in_arrears"},
                    {
                        "key": "calls",
                        "type": "usage",
                        "meter": "calls",
                        "model": "per_unit",
                        "unit_amount": "1",
                    },
                    *extra,
                ],
            }
        ],
    }


def _credit(**fields: Any) -> dict[str, Any]:
    return {"key": "pc", "type": "credit_grant", "amount": "20.00", **fields}


@pytest.mark.parametrize(
    ("charge", "location"),
    [
        (_credit(amount="0"), "plans[0].charges[2].amount"),
        (_credit(amount="-1"), "plans[0].charges[2].amount"),
        (_credit(amount="1.005"), "plans[0].charges[2].amount"),
        (_credit(priority=101), "plans[0].charges[2].priority"),
        (_credit(rollover={"max": "1.00", "min": "2.00"}), "plans[0].charges[2].rollover.max"),
        (_credit(rollover={"max": "1.001"}), "plans[0].charges[2].rollover.max"),
        (_credit(rollover={"cap": "1"}), "plans[0].charges[2].rollover.cap"),
        (_credit(applies_to={"charges": ["ghost"]}), "plans[0].charges[2].applies_to.charges[0]"),
        (_credit(applies_to={"charges": ["pc"]}), "plans[0].charges[2].applies_to.charges[0]"),
        (_credit(applies_to={"charges": []}), "plans[0].charges[2].applies_to.charges"),
    ],
)
def test_bad_plan_credits_are_refused_at_their_location(
    client: TestClient, charge: dict[str, Any], location: str
) -> None:
    response = client.put("/v1/catalog", json=_catalog(charge))
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "invalid_catalog"
    assert location in {issue["location"] for issue in body["details"]["issues"]}, body


def test_the_charge_round_trips_and_grants_may_not_name_it(client: TestClient) -> None:
    charge = _credit(priority=10, applies_to="all", rollover={"max": "15.00"})
    assert client.put("/v1/catalog", json=_catalog(charge)).status_code == 200
    plan = client.get("/v1/catalog").json()["plans"][0]
    assert plan["charges"][2] == {
        "key": "pc",
        "type": "credit_grant",
        "amount": "20.00",
        "priority": 10,
        "applies_to": "all",
        "rollover": {"max": "15.00", "min": "0"},
    }
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    grant = {"amount": "1.00", "currency": "USD", "applies_to": {"charges": ["pc"]}}
    assert error(client.post("/v1/customers/a/credit-grants", json=grant)) == (
        422,
        "unknown_charge",
    )


def test_granted_once_per_period_paying_all_lines_without_a_line_of_its_own(
    client: TestClient,
) -> None:
    # scope "all": the 5.00 flat fee and 3 calls (3.00) are paid from the 20.00; no rollover
    charge = _credit(applies_to="all")
    assert client.put("/v1/catalog", json=_catalog(charge)).status_code == 200
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    body = {"customer": "a", "plan": "p", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=body).status_code == 201
    calls = [
        {"id": f"c{n}", "customer": "a", "type": "call", "timestamp": "2026-01-05T00:00:00Z"}
        for n in range(3)
    ]
    assert client.post("/v1/events", json=calls).json()["accepted"] == 3
    for as_of in ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-02-01T02:00:00Z"):
        assert client.post("/v1/billing-runs", json={"as_of": as_of}).status_code == 200
    client.post("/v1/billing-runs", json={"as_of": "2026-02-01T03:00:00Z"})
    [january] = client.get("/v1/invoices?customer=a").json()["data"]
    assert [(line["type"], line["amount"]) for line in january["lines"]] == [
        ("flat", "5.00"),
        ("usage", "3.00"),
        ("credit", "-8.00"),
    ]
    assert january["total"] == "0.00"
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    assert [(e["type"], e["amount"], e["at"][:10]) for e in ledger] == [
        ("grant", "20.00", "2026-01-01"),  # January's, once despite two runs at its start
        ("grant", "20.00", "2026-02-01"),  # February's
        ("debit", "-8.00", "2026-02-01"),
        ("expiry", "-12.00", "2026-02-01"),  # no rollover policy: the rest expires
    ]
    grants = client.get("/v1/customers/a/credit-grants").json()["data"]
    assert [(g["source"], g["category"], g["remaining"], g["expires_at"]) for g in grants] == [
        ("plan", "promotional", "0.00", "2026-02-01T00:00:00Z"),
        ("plan", "promotional", "20.00", "2026-03-01T00:00:00Z"),
    ]
    assert not [
        i for i in client.get("/v1/invoices?customer=a").json()["data"] if i["kind"] != "period"
    ]


def test_one_late_run_closes_periods_in_order_like_one_run_a_period(client: TestClient) -> None:
    """docs/credits.md's rollover example billed by a single run as of April 1st: each
    period's rollover is written when its invoice is final, before the next one draws."""
    charge = _credit(key="monthly", amount="50.00", rollover={"max": "30.00", "min": "5.00"})
    catalog = _catalog(charge)
    catalog["plans"][0]["charges"] = catalog["plans"][0]["charges"][1:]  # no flat fee
    assert client.put("/v1/catalog", json=catalog).status_code == 200
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    body = {"customer": "a", "plan": "p", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=body).status_code == 201
    calls = [
        {
            "id": f"{month}-{n}",
            "customer": "a",
            "type": "call",
            "timestamp": f"2026-{month}-10T00:00:00Z",
        }
        for month, count in (("01", 10), ("02", 90), ("03", 5))
        for n in range(count)
    ]
    assert client.post("/v1/events", json=calls).json()["accepted"] == 105
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-04-01T01:30:00Z"}).status_code == 200
    )
    invoices = client.get("/v1/invoices?customer=a").json()["data"]
    assert [(i["period_start"][:7], i["total"]) for i in invoices] == [
        ("2026-01", "0.00"),
        ("2026-02", "10.00"),
        ("2026-03", "0.00"),
    ]
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    assert [e["amount"] for e in ledger if e["type"] == "rollover"] == ["30.00", "5.00", "30.00"]
    assert ledger[-1]["balance_after"] == "80.00"
    assert min(Decimal(e["balance_after"]) for e in ledger) >= 0


def test_an_immediate_cancellation_closes_the_period_without_rollover(client: TestClient) -> None:
    charge = _credit(rollover={"max": "100.00"})
    assert client.put("/v1/catalog", json=_catalog(charge)).status_code == 200
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    body = {"customer": "a", "plan": "p", "start": "2026-01-01T00:00:00Z"}
    sub = client.post("/v1/subscriptions", json=body).json()["id"]
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-01-01T00:00:00Z"}).status_code == 200
    )
    calls = [{"id": "c1", "customer": "a", "type": "call", "timestamp": "2026-01-05T00:00:00Z"}]
    assert client.post("/v1/events", json=calls).json()["accepted"] == 1
    cancel = {"mode": "immediately", "at": "2026-01-16T00:00:00Z"}
    assert client.post(f"/v1/subscriptions/{sub}/cancel", json=cancel).status_code == 200
    [final] = client.get("/v1/invoices?customer=a").json()["data"]
    assert final["status"] == "finalized"
    assert [(line["type"], line["amount"]) for line in final["lines"]][-1] == ("credit", "-1.00")
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    # the flat fee (prorated, not in the usage scope) is not paid; the rest expires at the
    # end, nothing rolls over (there is no next period)
    assert [(e["type"], e["amount"], e["at"]) for e in ledger] == [
        ("grant", "20.00", "2026-01-01T00:00:00Z"),
        ("debit", "-1.00", ledger[1]["at"]),
        ("expiry", "-19.00", "2026-01-16T00:00:00Z"),
    ]
