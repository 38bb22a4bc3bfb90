"""Upcoming invoice and current usage, on SQLite and PostgreSQL, checked by hand.

The hybrid plan (shared example): $200 a month in arrears, 50,000 API calls included,
$0.003 per extra call; calendar months, customer in UTC.

Mid-period, clock at 2026-01-16T00:00Z (15 of 31 days gone), 90,000 calls so far:
billable 40,000 -> $120.00; the upcoming invoice is $200 + $120 = $320.00. Projection:
90,000 x 31/15 = 186,000 calls -> 136,000 billable -> $408.00, total $608.00.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY

MID_JANUARY = datetime(2026, 1, 16, tzinfo=UTC)
HYBRID: dict[str, Any] = {
    "meters": [
        {"key": "api_calls", "event_type": "api_batch", "aggregation": "sum", "value": "calls"}
    ],
    "plans": [
        {
            "key": "growth",
            "name": "Growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": "200.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "api_calls",
                    "included": 50000,
                    "model": "per_unit",
                    "unit_amount": "0.003",
                    "name": "API calls",
                },
            ],
        }
    ],
}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MID_JANUARY)


@pytest.fixture
def app_container(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


@pytest.fixture
def api(app_container: Container) -> Iterator[TestClient]:
    app = create_app(container=app_container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        yield client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def setup_hybrid(api: TestClient, customer: str = "c1", **extra: Any) -> None:
    ok(api.put("/v1/catalog", json=HYBRID))
    ok(api.post("/v1/customers", json={"id": customer, "currency": "USD", **extra}), 201)
    start = "2026-01-01T00:00:00Z"
    ok(
        api.post(
            "/v1/subscriptions", json={"customer": customer, "plan": "growth", "start": start}
        ),
        201,
    )


def send_calls(api: TestClient, customer: str, *calls: tuple[str, int]) -> None:
    events = [
        {
            "id": f"{customer}-{i}",
            "customer": customer,
            "type": "api_batch",
            "timestamp": ts,
            "properties": {"calls": n},
        }
        for i, (ts, n) in enumerate(calls)
    ]
    assert ok(api.post("/v1/events", json=events))["accepted"] == len(events)


def test_usage_mid_period_matches_hand_computation(api: TestClient) -> None:
    setup_hybrid(api)
    send_calls(api, "c1", ("2026-01-03T10:00:00Z", 40000), ("2026-01-14T10:00:00Z", 50000))
    body = ok(api.get("/v1/customers/c1/usage"))
    assert body["period_start"] == "2026-01-01T00:00:00Z"
    assert body["period_end"] == "2026-02-01T00:00:00Z"
    assert body["as_of"] == "2026-01-16T00:00:00Z"
    assert body["plans"] == ["Growth"]
    [charge] = body["charges"]
    assert charge["charge"] == "api" and charge["meter"] == "api_calls"
    assert (charge["used"], charge["included"], charge["remaining"]) == ("90000", "50000", "0")
    assert (charge["billable"], charge["amount"]) == ("40000", "120.00")
    assert (charge["projected_used"], charge["projected_amount"]) == ("186000", "408.00")
    assert (body["amount"], body["projected_total"]) == ("320.00", "608.00")


def test_remaining_allowance_before_it_is_used_up(api: TestClient) -> None:
    setup_hybrid(api)
    send_calls(api, "c1", ("2026-01-03T10:00:00Z", 20000))
    [charge] = ok(api.get("/v1/customers/c1/usage"))["charges"]
    # 20,000 x 31/15 = 41,333.33 -> 41,333 projected calls: still inside the allowance
    assert (charge["remaining"], charge["billable"], charge["amount"]) == ("30000", "0", "0.00")
    assert (charge["projected_used"], charge["projected_amount"]) == ("41333", "0.00")


def test_upcoming_invoice_is_the_410_dollar_invoice_on_the_last_day(
    api: TestClient, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 1, 31, tzinfo=UTC))
    setup_hybrid(api)
    send_calls(
        api,
        "c1",
        ("2026-01-03T10:00:00Z", 40000),
        ("2026-01-14T10:00:00Z", 50000),
        ("2026-01-30T23:59:59Z", 30000),
    )
    body = ok(api.get("/v1/customers/c1/upcoming-invoice"))
    assert body["status"] == "preview" and body["id"] is None and body["number"] is None
    assert (body["period_start"], body["period_end"]) == (
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
    )
    amounts = {line["charge"]: (line["quantity"], line["amount"]) for line in body["lines"]}
    assert amounts == {"platform": ("1", "200.00"), "api": ("70000", "210.00")}
    assert (body["subtotal"], body["total"]) == ("410.00", "410.00")
    # 120,000 x 31/30 = 124,000 -> 74,000 billable -> $222.00
    assert body["projected_total"] == "422.00"
    assert body["as_of"] == "2026-01-31T00:00:00Z"


def test_upcoming_invoice_is_never_stored(api: TestClient) -> None:
    setup_hybrid(api)
    ok(api.get("/v1/customers/c1/upcoming-invoice"))
    assert ok(api.get("/v1/invoices", params={"customer": "c1"}))["data"] == []


def test_parent_upcoming_invoice_holds_child_lines(api: TestClient) -> None:
    setup_hybrid(api, "parent", name="Parent Co")
    ok(api.post("/v1/customers", json={"id": "child", "currency": "USD", "parent": "parent"}), 201)
    sub = {"customer": "child", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    ok(api.post("/v1/subscriptions", json=sub), 201)
    send_calls(api, "child", ("2026-01-05T00:00:00Z", 60000))
    body = ok(api.get("/v1/customers/parent/upcoming-invoice"))
    assert body["customer"] == "parent"
    owners = sorted({line["customer"] for line in body["lines"]})
    assert owners == ["child", "parent"]
    assert body["total"] == "430.00"  # two platform fees + 10,000 billable child calls
    child = ok(api.get("/v1/customers/child/usage"))
    assert [c["billable"] for c in child["charges"]] == ["10000"]
    assert ok(api.get("/v1/customers/parent/usage"))["charges"][0]["used"] == "0"


def test_customer_without_subscription(api: TestClient) -> None:
    ok(api.post("/v1/customers", json={"id": "lonely", "currency": "EUR"}), 201)
    response = api.get("/v1/customers/lonely/upcoming-invoice")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_upcoming_invoice"
    body = ok(api.get("/v1/customers/lonely/usage"))
    assert body["charges"] == [] and body["period_start"] is None
    assert (body["currency"], body["amount"], body["projected_total"]) == ("EUR", "0", "0")


@pytest.mark.parametrize("path", ["upcoming-invoice", "usage"])
def test_unknown_customer_is_404(api: TestClient, path: str) -> None:
    response = api.get(f"/v1/customers/nobody/{path}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"


@pytest.mark.parametrize("path", ["upcoming-invoice", "usage"])
def test_other_tenant_cannot_see_the_customer(
    api: TestClient, app_container: Container, path: str
) -> None:
    setup_hybrid(api)
    other = app_container.tenants.create_key("other-tenant").key
    response = api.get(f"/v1/customers/c1/{path}", headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"


@pytest.mark.parametrize("path", ["upcoming-invoice", "usage"])
def test_previews_need_an_api_key(api: TestClient, path: str) -> None:
    response = api.get(f"/v1/customers/c1/{path}", headers={"Authorization": ""})
    assert response.status_code == 401
