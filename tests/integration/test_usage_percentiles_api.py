"""Usage percentiles and the allowance model through the HTTP API on SQLite and
PostgreSQL: ten customers' January usage, matching docs/analytics.md "Percentiles and
the allowance model"."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_analytics_api import error

# calls used by p1..p10 in January 2025
USAGE = [500, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 10000]
PLAN = {
    "key": "metered",
    "name": "Metered",
    "currency": "USD",
    "interval": "month",
    "billing_anchor": "calendar",
    "charges": [
        {"key": "platform", "type": "flat", "amount": "50.00", "timing": "in_arrears"},
        {
            "key": "api",
            "type": "usage",
            "meter": "api_calls",
            "included": 1000,
            "model": "per_unit",
            "unit_amount": "0.01",
        },
    ],
}
CATALOG = {
    "meters": [
        {"key": "api_calls", "event_type": "api_call", "aggregation": "sum", "value": "calls"}
    ],
    "plans": [PLAN],
}
WINDOW = {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}


def setup_ten(client: TestClient, catalog: dict[str, Any] = CATALOG) -> None:
    """Ten customers p1..p10 on ``metered`` from 2025-01-01 with USAGE in January, and a
    February event that lies outside the window."""
    assert client.put("/v1/catalog", json=catalog).status_code == 200
    events: list[dict[str, Any]] = []
    for n, calls in enumerate(USAGE, start=1):
        cid = f"p{n}"
        assert client.post("/v1/customers", json={"id": cid, "currency": "USD"}).status_code == 201
        created = client.post(
            "/v1/subscriptions",
            json={"customer": cid, "plan": "metered", "start": "2025-01-01T00:00:00Z"},
        )
        assert created.status_code == 201, created.text
        # split in two events to check the per-period sum
        half = calls // 2
        for i, value in enumerate((half, calls - half)):
            events.append(
                {
                    "id": f"{cid}-{i}",
                    "customer": cid,
                    "type": "api_call",
                    "timestamp": f"2025-01-{10 + i:02d}T00:00:00Z",
                    "properties": {"calls": value},
                }
            )
    events.append(
        {
            "id": "late",
            "customer": "p1",
            "type": "api_call",
            "timestamp": "2025-02-03T00:00:00Z",
            "properties": {"calls": 99999},
        }
    )
    assert client.post("/v1/events", json=events).json()["accepted"] == len(events)


def test_percentiles_of_ten_customers(client: TestClient) -> None:
    setup_ten(client)
    rows = client.get(
        "/v1/analytics/usage-percentiles",
        params={**WINDOW, "plan": "metered", "charge": "api", "percentiles": "50,75,90"},
    ).json()
    assert rows == [
        {
            "plan": "metered",
            "charge": "api",
            "currency": "USD",
            "p50": "1750",  # position 4.5: 1500 + 0.5 x (2000 - 1500)
            "p75": "2875",  # position 6.75: 2500 + 0.75 x (3000 - 2500)
            "p90": "4600",  # position 8.1: 4000 + 0.1 x (10000 - 4000)
            "mean": "2650",
            "customers": 10,
            "periods": 10,
        }
    ]
    table = client.get(
        "/v1/analytics/usage-percentiles.csv",
        params={**WINDOW, "plan": "metered", "charge": "api", "percentiles": "50,75,90"},
    )
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert (parsed[0]["p90"], parsed[0]["periods"]) == ("4600", "10")


def test_allowance_model_at_current_and_percentiles(client: TestClient) -> None:
    setup_ten(client)
    response = client.post(
        "/v1/analytics/allowance-model",
        json={
            "plan": "metered",
            "charge": "api",
            **WINDOW,
            "candidates": ["current", "p50", "p75", "p90", "12000"],
        },
    )
    assert response.status_code == 200, response.text
    rows = {r["candidate"]: r for r in response.json()}
    figures = {
        name: (r["over_allowance_units"], r["overage_revenue"], r["customers_over"], r["total"])
        for name, r in rows.items()
    }
    assert figures == {
        "current": ("17200", "172.00", 7, "672.00"),
        "p50": ("12750", "127.50", 5, "627.50"),
        "p75": ("8375", "83.75", 3, "583.75"),
        "p90": ("5400", "54.00", 1, "554.00"),
        "12000": ("0", "0.00", 0, "500.00"),
    }
    allowances = [r["allowance"] for r in response.json()]
    assert allowances == ["1000", "1750", "2875", "4600", "12000"]
    table = client.post(
        "/v1/analytics/allowance-model.csv",
        json={"plan": "metered", "charge": "api", **WINDOW, "candidates": ["p90"]},
    )
    assert next(iter(csv.DictReader(io.StringIO(table.text))))["total"] == "554.00"


def test_bad_input(client: TestClient) -> None:
    setup_ten(client)
    url = "/v1/analytics/usage-percentiles"
    assert error(client.get(url, params={**WINDOW, "plan": "nope"})) == (404, "plan_not_found")
    assert error(client.get(url, params={**WINDOW, "plan": "metered", "charge": "zz"})) == (
        404,
        "charge_not_found",
    )
    assert error(client.get(url, params={**WINDOW, "percentiles": "50,101"})) == (
        422,
        "invalid_percentile",
    )
    assert error(client.get(url, params={**WINDOW, "percentiles": "-1"})) == (
        422,
        "invalid_percentile",
    )
    reversed_window = {"from": WINDOW["to"], "to": WINDOW["from"]}
    assert error(client.get(url, params=reversed_window)) == (422, "invalid_window")
    future = {"from": "2199-01-01T00:00:00Z", "to": "2199-02-01T00:00:00Z"}
    assert error(client.get(url, params=future)) == (422, "no_closed_period")
    assert error(client.get(url, params={**WINDOW, "bogus": "1"})) == (400, "unknown_parameter")
    assert error(client.get(url, params={"from": "yesterday", "to": WINDOW["to"]})) == (
        422,
        "invalid_instant",
    )
    model = "/v1/analytics/allowance-model"
    body = {"plan": "metered", "charge": "api", **WINDOW}
    assert error(client.post(model, json={**body, "candidates": ["p101"]})) == (
        422,
        "invalid_percentile",
    )
    assert error(client.post(model, json={**body, "candidates": ["lots"]})) == (
        422,
        "invalid_candidate",
    )
    assert error(client.post(model, json={**body, "candidates": ["-5"]})) == (
        422,
        "invalid_candidate",
    )
    assert error(
        client.post(model, json={**body, "charge": "platform", "candidates": ["p50"]})
    ) == (
        404,
        "charge_not_found",
    )
    assert error(client.post(model, json={**body, "plan": "x", "candidates": ["p50"]})) == (
        404,
        "plan_not_found",
    )


def test_allowance_model_with_a_minimum_spend(client: TestClient) -> None:
    """A $100 minimum per period: the true-up moves with the allowance (docs/analytics.md)."""
    setup_ten(client, {**CATALOG, "plans": [{**PLAN, "minimum_spend": "100"}]})
    response = client.post(
        "/v1/analytics/allowance-model",
        json={"plan": "metered", "charge": "api", **WINDOW, "candidates": ["current", "12000"]},
    )
    assert response.status_code == 200, response.text
    rows = {r["candidate"]: (r["overage_revenue"], r["total"]) for r in response.json()}
    # current: p1-p9 pay at most 50 + 30 = 80, trued up to 100; p10 pays 140
    assert rows == {"current": ("172.00", "1040.00"), "12000": ("0.00", "1000.00")}
