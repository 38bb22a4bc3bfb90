"""Revenue recognition through the HTTP API on both stores (issue 16): a year-long fee
billed in advance is recognized 1/12 a month (the last month takes the rounding rest),
usage in its month, a credit note reverses over the credited line's period; JSON and CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_customers_api import error

D = Decimal
CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "annual",
            "name": "Annual",
            "currency": "EUR",
            "interval": "year",
            "charges": [{"key": "licence", "type": "flat", "amount": "1000.00"}],
        },
        {
            "key": "monthly",
            "name": "Monthly",
            "currency": "EUR",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {
                    "key": "calls",
                    "type": "usage",
                    "meter": "calls",
                    "model": "per_unit",
                    "unit_amount": "0.50",
                }
            ],
        },
    ],
}
URL = "/v1/analytics/revenue-recognition"


def _setup(client: TestClient) -> dict[str, Any]:
    assert client.patch("/v1/tenant", json={"grace_seconds": 0}).status_code == 200
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    for customer in ("yearly", "usage"):
        body = {"id": customer, "currency": "EUR", "timezone": "Europe/Berlin"}
        assert client.post("/v1/customers", json=body).status_code == 201
    start = "2026-01-01T00:00:00+01:00"  # midnight in Berlin
    for customer, plan in (("yearly", "annual"), ("usage", "monthly")):
        sub = {"customer": customer, "plan": plan, "start": start}
        assert client.post("/v1/subscriptions", json=sub).status_code == 201, plan
    events = [
        {"id": f"c{n}", "customer": "usage", "type": "call", "timestamp": "2026-02-10T10:00:00Z"}
        for n in range(10)
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 10
    assert (
        client.post("/v1/billing-runs", json={"as_of": "2026-03-01T00:00:00Z"}).status_code == 200
    )
    found = client.get("/v1/invoices", params={"customer": "yearly"}).json()["data"]
    [invoice] = [i for i in found if i["lines"] and i["lines"][0]["charge"] == "licence"]
    return invoice


def test_a_year_in_advance_is_recognized_a_twelfth_a_month(client: TestClient) -> None:
    invoice = _setup(client)
    rows = client.get(URL, params={"from": "2026-01", "to": "2026-12"}).json()["data"]
    licence = [r for r in rows if r["charge"] == "licence"]
    assert [r["month"] for r in licence] == [f"2026-{m:02d}" for m in range(1, 13)]
    # 1000.00 / 12 = 83.333...: eleven months of 83.33, the last takes the rest
    assert [r["recognized"] for r in licence] == ["83.33"] * 11 + ["83.37"]
    assert sum(D(r["recognized"]) for r in licence) == D("1000.00")
    assert {r["invoice"] for r in licence} == {invoice["id"]}
    assert licence[0]["service_start"] == "2025-12-31T23:00:00Z"  # Berlin months
    calls = [r for r in rows if r["charge"] == "calls"]
    assert [(r["month"], r["recognized"]) for r in calls] == [("2026-02", "5.00")]

    # a window of two months shows only those months' shares
    some = client.get(URL, params={"from": "2026-03", "to": "2026-04"}).json()["data"]
    assert [(r["month"], r["recognized"]) for r in some] == [
        ("2026-03", "83.33"),
        ("2026-04", "83.33"),
    ]


def test_a_credit_note_reverses_over_the_credited_period(client: TestClient) -> None:
    invoice = _setup(client)
    note = client.post(
        f"/v1/invoices/{invoice['id']}/credit-notes",
        json={
            "lines": [{"line": 0, "amount": "120.00"}],
            "reason": "discount agreed",
            "refund": "external",
        },
    )
    assert note.status_code == 201, note.text
    rows = client.get(URL, params={"from": "2026-01", "to": "2026-12"}).json()["data"]
    reversed_ = [r for r in rows if r["type"] == "credit_note"]
    assert [r["recognized"] for r in reversed_] == ["-10.00"] * 12
    assert reversed_[0]["source"] == "CN-000001"


def test_the_csv_has_the_same_rows(client: TestClient) -> None:
    _setup(client)
    answer = client.get(f"{URL}.csv", params={"from": "2026-01", "to": "2026-12"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 13
    assert rows[0]["month"] == "2026-01" and rows[0]["recognized"] == "83.33"
    assert sum(D(r["recognized"]) for r in rows) == D("1005.00")


def test_bad_windows_are_coded_4xx(client: TestClient) -> None:
    assert error(client.get(URL, params={"from": "2026-13", "to": "2026-12"})) == (
        422,
        "invalid_month",
    )
    assert error(client.get(URL, params={"from": "2026-05", "to": "2026-01"})) == (
        422,
        "invalid_window",
    )
    assert error(client.get(URL, params={"from": "2000-01", "to": "2026-01"})) == (
        422,
        "window_too_long",
    )
    assert client.get(URL, params={"from": "2026-01"}).status_code == 422
