"""Commitment renewal through the HTTP API on SQLite and PostgreSQL: coded 4xx for a
rollover that cannot happen, a postpaid term renewed with a true-up per term, chained
renewals in one late run, no renewal when the subscription ends with the term, and a
renewed term that a hand-given term would overlap."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error

CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "m",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "1",
                }
            ],
        }
    ],
}


def _subscribe(client: TestClient, **commitment: Any) -> tuple[int, dict[str, Any]]:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    if client.get("/v1/customers/a").status_code == 404:
        assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).status_code == 201
    body = {
        "customer": "a",
        "plan": "m",
        "start": "2026-01-01T00:00:00Z",
        "commitment": {"term_end": "2026-02-01T00:00:00Z", "amount": "10.00", **commitment},
    }
    response = client.post("/v1/subscriptions", json=body)
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("commitment", "code"),
    [
        (
            {"kind": "postpaid", "renew": True, "rollover_fraction": "0.5"},
            "invalid_rollover_fraction",
        ),
        (
            {"kind": "prepaid", "renew": False, "rollover_fraction": "0.5"},
            "invalid_rollover_fraction",
        ),
        (
            {"kind": "prepaid", "renew": True, "rollover_fraction": "1.5"},
            "invalid_rollover_fraction",
        ),
        (
            {"kind": "prepaid", "renew": True, "rollover_fraction": "-0.1"},
            "invalid_rollover_fraction",
        ),
        ({"kind": "prepaid", "renew": True, "rollover_fraction": "x"}, "invalid_number"),
        ({"kind": "prepaid", "renew": "sometimes"}, "invalid_request"),
    ],
)
def test_a_rollover_that_cannot_happen_is_refused(
    client: TestClient, commitment: dict[str, Any], code: str
) -> None:
    status, body = _subscribe(client, **commitment)
    assert (status, body["error"]["code"]) == (422, code)
    assert client.get("/v1/subscriptions?customer=a").json()["data"] == []


def _calls(client: TestClient, month: int, count: int) -> None:
    events = [
        {
            "id": f"{month}-{n}",
            "customer": "a",
            "type": "call",
            "timestamp": f"2026-{month:02}-10T00:00:00Z",
        }
        for n in range(count)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == count


def test_postpaid_renews_each_month_with_a_true_up_per_term_in_one_late_run(
    client: TestClient,
) -> None:
    status, sub = _subscribe(client, kind="postpaid", renew=True)
    assert status == 201, sub
    _calls(client, 1, 4)  # January 4.00: true-up 6.00
    _calls(client, 2, 12)  # February 12.00: none
    # one run as of March 1st: both terms ended, the chain is Jan, Feb, Mar (current)
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"}).status_code == 200
    )
    invoices = client.get("/v1/invoices?customer=a").json()["data"]
    assert [(i["period_start"][:7], i["total"]) for i in invoices] == [
        ("2026-01", "10.00"),
        ("2026-02", "12.00"),
    ]
    assert [line["amount"] for line in invoices[0]["lines"] if line["type"] == "true_up"] == [
        "6.00"
    ]
    status_now = client.get(f"/v1/subscriptions/{sub['id']}/commitment").json()
    assert (status_now["term_start"], status_now["term_end"]) == (
        "2026-03-01T00:00:00Z",
        "2026-04-01T00:00:00Z",
    )
    # a term given by hand may not overlap the renewed ones
    overlapping = client.post(
        f"/v1/subscriptions/{sub['id']}/commitment",
        json={
            "kind": "postpaid",
            "amount": "5.00",
            "term_start": "2026-03-15T00:00:00Z",
            "term_end": "2026-05-01T00:00:00Z",
        },
    )
    assert error(overlapping) == (422, "overlapping_commitment")
    # a second run renews nothing more
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-03-01T03:00:00Z"}).status_code == 200
    )
    again = client.get(f"/v1/subscriptions/{sub['id']}/commitment").json()
    assert (again["id"], again["term_start"]) == (status_now["id"], status_now["term_start"])


def test_no_renewal_when_the_subscription_ends_with_the_term(client: TestClient) -> None:
    status, sub = _subscribe(client, kind="prepaid", renew=True, rollover_fraction="1")
    assert status == 201, sub
    at = {"mode": "immediately", "at": "2026-02-01T00:00:00Z"}  # the term's end
    cancel = client.post(f"/v1/subscriptions/{sub['id']}/cancel", json=at)
    assert cancel.status_code == 200, cancel.text
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-02-01T02:00:00Z"}).status_code == 200
    )
    last = client.get(f"/v1/subscriptions/{sub['id']}/commitment").json()
    assert (last["term_start"], last["remaining"]) == ("2026-01-01T00:00:00Z", "0.00")
    ledger = client.get("/v1/customers/a/credit-ledger").json()["data"]
    assert [e["type"] for e in ledger] == ["grant", "expiry"]  # nothing rolled over
