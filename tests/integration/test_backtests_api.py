"""Backtests through the HTTP API on SQLite and PostgreSQL: a few customers re-rated with
a candidate that changes the flat fee, the allowance and the unit price, matching
docs/analytics.md "A backtest"; job polling, CSV, idempotent client ids, coded errors."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.test_analytics_api import error
from tests.integration.test_usage_percentiles_api import PLAN, setup_ten

CANDIDATE = {
    **PLAN,
    "key": "metered_v2",
    "charges": [
        {"key": "platform", "type": "flat", "amount": "40.00", "timing": "in_arrears"},
        {
            "key": "api",
            "type": "usage",
            "meter": "api_calls",
            "included": 2000,
            "model": "per_unit",
            "unit_amount": "0.02",
        },
    ],
}
BODY = {
    "from": "2025-01-01T00:00:00Z",
    "to": "2025-02-01T00:00:00Z",
    "substitutions": [{"plan": "metered", "candidate": CANDIDATE}],
    "customers": ["p4", "p7", "p10"],
}


def wait(client: TestClient, backtest_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = client.get(f"/v1/backtests/{backtest_id}").json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_backtest_of_three_customers(client: TestClient) -> None:
    setup_ten(client)
    started = client.post("/v1/backtests", json=BODY)
    assert started.status_code == 202, started.text
    assert set(started.json()) == {"id", "status"} and started.json()["status"] == "queued"
    done = wait(client, started.json()["id"])
    assert (done["status"], done["progress"], done["error"]) == ("succeeded", "100.00", None)
    assert done["summary"] == {
        "currency": "USD",
        "original_total": "257.00",  # 52.00 + 65.00 + 140.00
        "candidate_total": "290.00",  # 40.00 + 50.00 + 200.00
        "delta": "33.00",
        "delta_pct": "12.84",  # 33 / 257
        "customers_up": 1,
        "customers_down": 2,
        "customers_same": 0,
        "periods": 3,
    }
    rows = {c["customer"]: (c["original"], c["candidate"], c["delta"]) for c in done["customers"]}
    assert rows == {
        "p4": ("52.00", "40.00", "-12.00"),
        "p7": ("65.00", "50.00", "-15.00"),
        "p10": ("140.00", "200.00", "60.00"),
    }
    assert done["by_period"] == [
        {
            "period": "2025-01",
            "currency": "USD",
            "original": "257.00",
            "candidate": "290.00",
            "delta": "33.00",
            "customers": 3,
            "periods": 3,
        }
    ]
    table = client.get(f"/v1/backtests/{done['id']}.csv")
    parsed = list(csv.DictReader(io.StringIO(table.text)))
    assert [(r["customer"], r["delta"], r["delta_pct"]) for r in parsed] == [
        ("p10", "60.00", "42.86"),
        ("p4", "-12.00", "-23.08"),
        ("p7", "-15.00", "-23.08"),
    ]
    # nothing stored or numbered: no invoice exists
    assert client.get("/v1/invoices").json()["data"] == []
    listed = client.get("/v1/backtests", params={"limit": 10}).json()
    assert [b["id"] for b in listed["data"]] == [done["id"]] and listed["has_more"] is False


def test_whole_tenant_and_no_usage(client: TestClient) -> None:
    setup_ten(client)
    started = client.post("/v1/backtests", json={**BODY, "customers": None})
    done = wait(client, started.json()["id"])
    # all ten: original 672.00 (see the allowance model); candidate 10 x 40 + over 2000 at
    # 0.02: (2500-2000) + (3000-2000) + (4000-2000) + (10000-2000) = 11500 -> 230.00
    assert (done["summary"]["original_total"], done["summary"]["candidate_total"]) == (
        "672.00",
        "630.00",
    )
    assert done["total"] == 10 and done["done"] == 10


def test_tenant_without_usage_returns_zeros(client: TestClient) -> None:
    assert (
        client.put(
            "/v1/catalog",
            json={
                "meters": [
                    {
                        "key": "api_calls",
                        "event_type": "api_call",
                        "aggregation": "sum",
                        "value": "calls",
                    }
                ],
                "plans": [PLAN],
            },
        ).status_code
        == 200
    )
    started = client.post("/v1/backtests", json={**BODY, "customers": None})
    done = wait(client, started.json()["id"])
    assert done["status"] == "succeeded"
    assert done["summary"]["original_total"] == "0.00" and done["customers"] == []


def test_client_id_is_idempotent(client: TestClient) -> None:
    setup_ten(client)
    first = client.post("/v1/backtests", json={**BODY, "id": "bt-one"})
    again = client.post("/v1/backtests", json={**BODY, "id": "bt-one"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] == "bt-one"
    other = client.post("/v1/backtests", json={**BODY, "id": "bt-one", "customers": ["p1"]})
    assert error(other) == (409, "conflict")
    assert wait(client, "bt-one")["status"] == "succeeded"


def test_bad_input(client: TestClient) -> None:
    setup_ten(client)
    url = "/v1/backtests"
    assert error(client.post(url, json={**BODY, "from": BODY["to"], "to": BODY["from"]})) == (
        422,
        "invalid_window",
    )
    future = {"from": "2199-01-01T00:00:00Z", "to": "2199-02-01T00:00:00Z"}
    assert error(client.post(url, json={**BODY, **future})) == (422, "no_closed_period")
    unknown = {**BODY, "substitutions": [{"plan": "nope", "candidate": CANDIDATE}]}
    assert error(client.post(url, json=unknown)) == (404, "plan_not_found")
    broken = {**CANDIDATE, "charges": [{**CANDIDATE["charges"][1], "meter": "missing"}]}
    response = client.post(
        url, json={**BODY, "substitutions": [{"plan": "metered", "candidate": broken}]}
    )
    assert error(response) == (422, "invalid_catalog")
    locations = [i["location"] for i in response.json()["error"]["details"]["issues"]]
    assert locations == ["substitutions[0].candidate.charges[0].meter"]
    euro = {
        **BODY,
        "substitutions": [{"plan": "metered", "candidate": {**CANDIDATE, "currency": "EUR"}}],
    }
    assert error(client.post(url, json=euro)) == (422, "currency_mismatch")
    yearly = {
        **BODY,
        "substitutions": [{"plan": "metered", "candidate": {**CANDIDATE, "interval": "year"}}],
    }
    assert error(client.post(url, json=yearly)) == (422, "candidate_interval_mismatch")
    assert error(client.post(url, json={**BODY, "customers": ["ghost"]})) == (
        404,
        "customer_not_found",
    )
    assert error(client.get("/v1/backtests/nope")) == (404, "backtest_not_found")
    assert error(client.get("/v1/backtests", params={"limit": 5000})) == (422, "invalid_limit")
    assert error(client.get("/v1/backtests", params={"cursor": "%%%"})) == (422, "invalid_cursor")
    assert error(client.get("/v1/backtests", params={"page": 2})) == (400, "unknown_parameter")
