"""Two real `tallybook serve` processes on one PostgreSQL database bill at the same time:
every period is invoiced once, and invoice numbers stay gapless."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "call", "aggregation": "count"}],
    "plans": [
        {
            "key": "metered",
            "name": "Metered",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "10.00", "timing": "in_arrears"},
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
CUSTOMERS = [f"c{n:02d}" for n in range(30)]


def _seed(api: httpx.Client) -> None:
    assert api.put("/v1/catalog", json=CATALOG).status_code == 200
    events = []
    for index, customer in enumerate(CUSTOMERS):
        assert api.post("/v1/customers", json={"id": customer, "currency": "USD"}).is_success
        sub = {"customer": customer, "plan": "metered", "start": "2026-01-01T00:00:00Z"}
        assert api.post("/v1/subscriptions", json=sub).is_success
        for n in range(index % 4 + 1):
            events.append(
                {
                    "id": f"{customer}-{n}",
                    "customer": customer,
                    "type": "call",
                    "timestamp": f"2026-0{n % 3 + 1}-10T12:00:00Z",
                }
            )
    assert api.post("/v1/events", json=events).json()["accepted"] == len(events)


def _run(base_url: str, headers: dict[str, str], as_of: str) -> int:
    response = httpx.post(
        f"{base_url}/v1/billing-runs", json={"as_of": as_of}, headers=headers, timeout=60
    )
    return response.status_code


def _all_invoices(api: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = api.get("/v1/invoices", params=params).json()
        found.extend(page["data"])
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]


def test_two_servers_never_bill_a_period_twice(server: ServerFactory, pg_url: str) -> None:
    first = server(pg_url)
    second = server(pg_url)
    with httpx.Client(base_url=first.base_url, headers=first.headers, timeout=30) as api:
        _seed(api)
        runs = [
            (handle.base_url, as_of)
            for as_of in ("2026-02-01T02:00:00Z", "2026-03-01T02:00:00Z", "2026-04-01T02:00:00Z")
            for handle in (first, second, first, second)
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda r: _run(r[0], first.headers, r[1]), runs))
        assert set(statuses) == {200}

        invoices = _all_invoices(api)
    periods = [(i["customer"], i["period_start"]) for i in invoices if i["kind"] == "period"]
    assert len(periods) == len(set(periods)) == len(CUSTOMERS) * 3
    numbers = sorted(i["sequence"] for i in invoices if i["sequence"] is not None)
    assert numbers == list(range(1, len(numbers) + 1))
    c03 = [i for i in invoices if i["customer"] == "c03" and i["kind"] == "period"]
    jan = next(i for i in c03 if i["period_start"] == "2026-01-01T00:00:00Z")
    assert jan["total"] == "11.00"  # 10.00 base + 2 calls in January (n=0, n=3) x 0.50
