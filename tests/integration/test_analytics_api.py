"""Revenue analytics through the HTTP API on SQLite and PostgreSQL, each figure matching
the hand computation in docs/analytics.md (sections named in each test)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

METER = {"key": "api_calls", "event_type": "api_call", "aggregation": "sum", "value": "calls"}


def _plan(
    key: str, amount: str, interval: str = "month", timing: str = "in_arrears"
) -> dict[str, Any]:
    return {
        "key": key,
        "name": key.title(),
        "currency": "USD",
        "interval": interval,
        "billing_anchor": "calendar",
        "charges": [
            {"key": "platform", "type": "flat", "amount": amount, "timing": timing},
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
    "meters": [METER],
    "plans": [
        _plan("growth", "100.00"),
        _plan("scale", "300.00"),
        _plan("annual", "1200.00", interval="year", timing="in_advance"),
    ],
}


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _customer(client: TestClient, cid: str) -> None:
    assert client.post("/v1/customers", json={"id": cid, "currency": "USD"}).status_code == 201


def _subscribe(client: TestClient, cid: str, plan: str, start: str, **extra: Any) -> str:
    _customer(client, cid)
    response = client.post(
        "/v1/subscriptions", json={"customer": cid, "plan": plan, "start": start, **extra}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _by_month(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["month"]: row for row in rows}


def test_one_month_mrr_monthly_annual_discount_and_usage(client: TestClient) -> None:
    """docs/analytics.md, "One month's MRR"."""
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    _subscribe(client, "m1", "growth", "2025-01-01T00:00:00Z")
    _subscribe(client, "m2", "annual", "2025-01-01T00:00:00Z")
    _subscribe(
        client,
        "m3",
        "scale",
        "2025-01-01T00:00:00Z",
        discounts=[{"type": "percent", "percent": "20"}],
    )
    events = [
        {
            "id": "u1",
            "customer": "m1",
            "type": "api_call",
            "timestamp": "2025-01-10T00:00:00Z",
            "properties": {"calls": 3000},
        },
    ]
    assert client.post("/v1/events", json=events).json()["accepted"] == 1
    run = client.post("/v1/billing-runs", json={"as_of": "2025-02-01T02:00:00Z"})
    assert run.status_code == 200, run.text

    rows = client.get("/v1/analytics/mrr", params={"from": "2025-01", "to": "2025-01"}).json()
    assert rows == [
        {
            "month": "2025-01",
            "currency": "USD",
            "committed_mrr": "440.00",  # 100 + 1200 / 12 + 300 x 0.8
            "usage_mrr": "20.00",  # (3000 - 1000) x 0.01
            "mrr": "460.00",
            "arr": "5520.00",
            "customers": 3,
            "movements": {
                "new": "460.00",
                "expansion": "0.00",
                "contraction": "0.00",
                "churn": "0.00",
                "reactivation": "0.00",
            },
        }
    ]
    text = client.get("/v1/analytics/mrr.csv", params={"from": "2025-01", "to": "2025-01"})
    assert text.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(text.text)))
    assert parsed[0]["mrr"] == "460.00" and parsed[0]["new"] == "460.00"


def _cohort(client: TestClient) -> None:
    """Upgrade (a), downgrade (b), churn (c), new (d), steady (e): docs/analytics.md."""
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    a = _subscribe(client, "a", "growth", "2025-01-01T00:00:00Z")
    b = _subscribe(client, "b", "scale", "2025-01-01T00:00:00Z")
    c = _subscribe(client, "c", "growth", "2025-01-01T00:00:00Z")
    _subscribe(client, "d", "growth", "2025-05-01T00:00:00Z")
    _subscribe(client, "e", "growth", "2025-01-01T00:00:00Z")
    for sid, plan in ((a, "scale"), (b, "growth")):
        changed = client.post(
            f"/v1/subscriptions/{sid}/change", json={"plan": plan, "at": "2025-06-01T00:00:00Z"}
        )
        assert changed.status_code == 200, changed.text
    canceled = client.post(
        f"/v1/subscriptions/{c}/cancel",
        json={"at": "2025-04-01T00:00:00Z", "mode": "immediately"},
    )
    assert canceled.status_code == 200, canceled.text


def test_cohort_movements_retention_and_ltv(client: TestClient) -> None:
    """docs/analytics.md, "A twelve-month cohort"."""
    _cohort(client)
    months = _by_month(
        client.get("/v1/analytics/mrr", params={"from": "2025-01", "to": "2025-12"}).json()
    )
    assert len(months) == 12
    assert months["2025-01"]["mrr"] == "600.00" and months["2025-01"]["customers"] == 4
    assert months["2025-04"]["movements"]["churn"] == "-100.00"
    assert months["2025-04"]["mrr"] == "500.00"
    assert months["2025-05"]["movements"]["new"] == "100.00"
    june = months["2025-06"]["movements"]
    assert (june["expansion"], june["contraction"]) == ("200.00", "-200.00")
    assert months["2025-12"]["mrr"] == "600.00" and months["2025-12"]["arr"] == "7200.00"

    retention = client.get(
        "/v1/analytics/retention", params={"start": "2025-01", "end": "2025-12"}
    ).json()
    assert retention == {
        "start": "2025-01",
        "end": "2025-12",
        "currency": "USD",
        "customers": 4,
        "start_mrr": "600.00",
        "end_mrr": "500.00",
        "nrr": "83.33",
        "grr": "50.00",
        "logo_churn": "25.00",
        "gross_revenue_churn": "50.00",
        "net_revenue_churn": "16.67",
    }
    april = client.get(
        "/v1/analytics/ltv", params={"month": "2025-04", "gross_margin": "0.8"}
    ).json()
    assert (april["arpa"], april["logo_churn"], april["ltv"]) == ("166.67", "25.00", "533.34")
    assert "cac" not in april

    spend = client.put(
        "/v1/analytics/acquisition-spend", json={"month": "2025-05", "amount": "500"}
    )
    assert spend.status_code == 200, spend.text
    may = client.get("/v1/analytics/ltv", params={"month": "2025-05", "gross_margin": "0.8"}).json()
    assert (may["new_customers"], may["cac"], may["logo_churn"], may["ltv"]) == (
        1,
        "500.00",
        "0.00",
        None,
    )
    table = client.get("/v1/analytics/retention.csv", params={"start": "2025-01", "end": "2025-12"})
    assert next(iter(csv.DictReader(io.StringIO(table.text))))["nrr"] == "83.33"


def test_forecast_carries_committed_schedules(client: TestClient) -> None:
    _cohort(client)
    rows = client.get("/v1/analytics/forecast", params={"months": 2, "method": "mean"}).json()
    now = datetime.now(UTC)
    first = f"{now.year:04d}-{now.month:02d}"
    assert rows[0]["month"] == first and len(rows) == 2
    # a 300 + b 100 + d 100 + e 100; no final usage lines in the trailing months
    assert (rows[0]["committed_mrr"], rows[0]["usage_mrr"], rows[0]["mrr"]) == (
        "600.00",
        "0.00",
        "600.00",
    )
    assert client.get("/v1/analytics/forecast.csv").text.startswith("month,currency")


def test_bad_input_is_coded(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    mrr = "/v1/analytics/mrr"
    assert error(client.get(mrr, params={"from": "2025-05", "to": "2025-01"})) == (
        422,
        "invalid_window",
    )
    assert error(client.get(mrr, params={"from": "2025-13", "to": "2026-01"})) == (
        422,
        "invalid_month",
    )
    assert error(client.get(mrr, params={"from": "2025-01", "to": "2025-02", "x": "1"})) == (
        400,
        "unknown_parameter",
    )
    assert error(client.get(mrr, params={"from": "2000-01", "to": "2025-02"})) == (
        422,
        "window_too_long",
    )
    ltv = "/v1/analytics/ltv"
    assert error(client.get(ltv, params={"month": "2025-01", "gross_margin": "1.5"})) == (
        422,
        "invalid_gross_margin",
    )
    assert error(client.get(ltv, params={"month": "2025-01", "gross_margin": "abc"})) == (
        422,
        "invalid_gross_margin",
    )
    forecast = "/v1/analytics/forecast"
    assert error(client.get(forecast, params={"method": "magic"})) == (422, "invalid_method")
    assert error(client.get(forecast, params={"months": 0})) == (422, "invalid_months")
    spend = client.put("/v1/analytics/acquisition-spend", json={"month": "2025-01", "amount": "1"})
    assert error(spend) == (422, "currency_required")  # no customers yet
    spend = client.put(
        "/v1/analytics/acquisition-spend",
        json={"month": "2025-01", "amount": "1.001", "currency": "USD"},
    )
    assert error(spend) == (422, "invalid_amount")
