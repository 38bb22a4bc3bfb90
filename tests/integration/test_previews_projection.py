"""Projections of the current period, on SQLite and PostgreSQL, checked by hand.

Calendar months in UTC; the clock is at 2026-01-16T00:00Z (15 of January's 31 days
gone, factor 31/15) unless a test moves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tests.integration import test_previews as shared
from tests.integration.test_previews import ok

# The clocked app of test_previews (fixtures are found by the names they are bound to).
clock, app_container, api = shared.clock, shared.app_container, shared.api


def plan(key: str, *charges: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "name": key.title(),
        "currency": "USD",
        "interval": "month",
        "billing_anchor": "calendar",
        "charges": list(charges),
    }


def usage_charge(meter: str, **price: Any) -> dict[str, Any]:
    return {"key": meter, "type": "usage", "meter": meter, **price}


def subscribe(api: TestClient, catalog: dict[str, Any], plan_key: str) -> str:
    ok(api.put("/v1/catalog", json=catalog))
    ok(api.post("/v1/customers", json={"id": "c1", "currency": "USD"}), 201)
    body = {"customer": "c1", "plan": plan_key, "start": "2026-01-01T00:00:00Z"}
    return str(ok(api.post("/v1/subscriptions", json=body), 201)["id"])


def send(api: TestClient, event_type: str, *events: tuple[str, dict[str, Any]]) -> None:
    batch = [
        {"id": f"e{i}", "customer": "c1", "type": event_type, "timestamp": ts, "properties": props}
        for i, (ts, props) in enumerate(events)
    ]
    assert ok(api.post("/v1/events", json=batch))["accepted"] == len(batch)


def only_charge(api: TestClient) -> dict[str, Any]:
    [charge] = ok(api.get("/v1/customers/c1/usage"))["charges"]
    return dict(charge)


def test_count_meter_projects_into_the_next_volume_tier(api: TestClient) -> None:
    meter = {"key": "requests", "event_type": "request", "aggregation": "count"}
    tiers = [{"up_to": 1000, "unit_amount": "0.10"}, {"up_to": None, "unit_amount": "0.05"}]
    catalog = {
        "meters": [meter],
        "plans": [plan("api", usage_charge("requests", model="volume", tiers=tiers))],
    }
    subscribe(api, catalog, "api")
    send(api, "request", *[(f"2026-01-{1 + i % 15:02d}T12:00:00Z", {}) for i in range(600)])
    charge = only_charge(api)
    # now: 600 x 0.10 = 60.00; projected: 600 x 31/15 = 1,240 -> all at 0.05 = 62.00
    assert (charge["used"], charge["amount"]) == ("600", "60.00")
    assert (charge["projected_used"], charge["projected_amount"]) == ("1240", "62.00")


def test_gauge_meter_is_not_scaled(api: TestClient) -> None:
    meter = {"key": "peak", "event_type": "seats", "aggregation": "max", "value": "n"}
    catalog = {
        "meters": [meter],
        "plans": [plan("peak", usage_charge("peak", model="per_unit", unit_amount="1.00"))],
    }
    subscribe(api, catalog, "peak")
    send(api, "seats", ("2026-01-03T00:00:00Z", {"n": 5}), ("2026-01-10T00:00:00Z", {"n": 8}))
    charge = only_charge(api)
    assert (charge["used"], charge["amount"]) == ("8", "8.00")
    assert (charge["projected_used"], charge["projected_amount"]) == ("8", "8.00")


def test_percentage_model_projects_more_events(api: TestClient) -> None:
    meter = {"key": "payments", "event_type": "payment", "aggregation": "sum", "value": "amount"}
    price = {"model": "percentage", "rate": "2.9", "fixed_amount": "0.30"}
    catalog = {"meters": [meter], "plans": [plan("pay", usage_charge("payments", **price))]}
    subscribe(api, catalog, "pay")
    send(api, "payment", *[(f"2026-01-0{d}T00:00:00Z", {"amount": "100.00"}) for d in (2, 5, 9)])
    charge = only_charge(api)
    # 3 payments x (2.90 + 0.30) = 9.60; projected 3 x 31/15 = 6.2 -> 6 payments = 19.20
    assert (charge["used"], charge["amount"]) == ("300.00", "9.60")
    assert charge["projected_amount"] == "19.20"


def test_cutover_plan_change_splits_the_period(api: TestClient, clock: FixedClock) -> None:
    """Small (10,000 included, 0.01) until Jan 11, then large (100,000 included, 0.005)
    with ``cutover``: each part keeps its plan's full allowance. Clock Jan 21."""
    clock.set(datetime(2026, 1, 21, tzinfo=UTC))
    meter = {"key": "api_calls", "event_type": "api_batch", "aggregation": "sum", "value": "calls"}
    small = plan(
        "small",
        {
            **usage_charge("api_calls", model="per_unit", unit_amount="0.01"),
            "key": "api",
            "included": 10000,
        },
    )
    large = plan(
        "large",
        {
            **usage_charge("api_calls", model="per_unit", unit_amount="0.005"),
            "key": "api",
            "included": 100000,
        },
    )
    sub = subscribe(api, {"meters": [meter], "plans": [small, large]}, "small")
    change = {"plan": "large", "at": "2026-01-11T00:00:00Z", "allowance_policy": "cutover"}
    ok(api.post(f"/v1/subscriptions/{sub}/change", json=change))
    send(
        api,
        "api_batch",
        ("2026-01-05T00:00:00Z", {"calls": 18000}),
        ("2026-01-15T00:00:00Z", {"calls": 30000}),
        ("2026-01-20T00:00:00Z", {"calls": 20000}),
    )
    charge = only_charge(api)
    # small part, closed: 18,000 - 10,000 = 8,000 x 0.01 = 80.00
    # large part, 10 of 21 days: 50,000 used of 100,000 -> 50,000 remaining, 0.00 so far;
    # projected 50,000 x 21/10 = 105,000 -> 5,000 x 0.005 = 25.00
    assert (charge["used"], charge["included"], charge["remaining"]) == ("68000", "110000", "50000")
    assert (charge["billable"], charge["amount"]) == ("8000", "80.00")
    assert (charge["projected_used"], charge["projected_amount"]) == ("123000", "105.00")
    body = ok(api.get("/v1/customers/c1/usage"))
    assert (body["amount"], body["projected_total"], body["plans"]) == (
        "80.00",
        "105.00",
        ["Large"],
    )
