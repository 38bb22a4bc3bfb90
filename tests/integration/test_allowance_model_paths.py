"""The allowance model's quick path (a whole single-version period with one plain line,
re-rated with the pricing registry) gives exactly what re-rating every period with the
billing engine's ``period_lines`` gives, on SQLite and PostgreSQL: graduated tiers with a
flat amount charged at zero usage, a package price, a partial first period, a mid-period
plan change and a cancellation (those go through ``period_lines``). The periods are
final, so the quick path reads the per-period usage summary while the forced one rates
every period from the events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tallybook.bootstrap import Container
from tallybook.services import allowance_model
from tallybook.services.rerating import Window


def _usage(key: str, model: dict[str, Any], included: int) -> dict[str, Any]:
    return {"key": key, "type": "usage", "meter": "api_calls", "included": included, **model}


GRADUATED = {
    "model": "graduated",
    "tiers": [
        {"up_to": 1000, "unit_amount": "0.013", "flat_amount": "2.00"},
        {"up_to": None, "unit_amount": "0.0071"},
    ],
}
PACKAGE = {"model": "package", "package_size": 100, "package_amount": "1.50", "rounding": "up"}


def _plan(key: str, charge: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "currency": "USD",
        "interval": "month",
        "billing_anchor": "calendar",
        "charges": [
            {"key": "platform", "type": "flat", "amount": "30.00", "timing": "in_advance"},
            charge,
            _usage("storage", {"model": "per_unit", "unit_amount": "0.5"}, 3),
        ],
    }


CATALOG = {
    "meters": [
        {"key": "api_calls", "event_type": "api_call", "aggregation": "sum", "value": "calls"}
    ],
    "plans": [
        _plan("tiered", _usage("api", GRADUATED, 500)),
        _plan("packed", _usage("api", PACKAGE, 250)),
    ],
}
CANDIDATES = ["current", "p50", "p90", "0", "733.5", "20000"]


def _seed(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    events: list[dict[str, Any]] = []
    canceled = ""
    for n in range(14):
        cid = f"c{n}"
        plan = "tiered" if n % 3 else "packed"
        start = "2025-01-15T00:00:00Z" if n in (4, 5) else "2025-01-01T00:00:00Z"
        assert client.post("/v1/customers", json={"id": cid, "currency": "USD"}).status_code == 201
        body = {"customer": cid, "plan": plan, "start": start}
        created = client.post("/v1/subscriptions", json=body)
        assert created.status_code == 201, created.text
        sid = created.json()["id"]
        if n == 7:
            change = {"plan": "packed", "at": "2025-02-10T00:00:00Z"}
            assert client.post(f"/v1/subscriptions/{sid}/change", json=change).status_code == 200
        if n == 8:
            canceled = sid
        for month in range(1, 4):
            calls = (n * 397 + month * 211) % 3100  # some below, some above the allowances
            events.append(
                {
                    "id": f"{cid}-{month}",
                    "customer": cid,
                    "type": "api_call",
                    "timestamp": f"2025-{month:02d}-16T00:00:00Z",
                    "properties": {"calls": calls},
                }
            )
    assert client.post("/v1/events", json=events).json()["accepted"] == len(events)
    # canceled after its events are stored: the cancellation bills its periods at once,
    # and events arriving after that would be late usage (test_period_usage.py)
    cancel = {"at": "2025-03-20T00:00:00Z", "mode": "immediately"}
    assert client.post(f"/v1/subscriptions/{canceled}/cancel", json=cancel).status_code == 200


def test_quick_path_matches_period_lines(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(client)
    window = Window(
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
        datetime(2025, 5, 1, tzinfo=UTC),
    )
    service = container.percentiles
    quick = {"yes": 0, "no": 0, "summary": 0}
    original = allowance_model._quick_charge
    fees = allowance_model._Fees.total

    def counting(*args: Any) -> Any:
        found = original(*args)
        quick["yes" if found is not None else "no"] += 1
        return found

    def summarized(*args: Any) -> Any:
        quick["summary"] += 1  # a whole period priced from the summary
        return fees(*args)

    monkeypatch.setattr(allowance_model, "_quick_charge", counting)
    monkeypatch.setattr(allowance_model._Fees, "total", summarized)
    unbilled = {}
    for final in (False, True):
        if final:
            # every period final: whole ones are then priced from the per-period usage
            # summary in the quick path (the forced one rates them from the events)
            run = client.post("/v1/billing-runs", json={"as_of": "2025-05-01T02:00:00Z"})
            assert run.status_code == 200, run.text
        for plan in ("tiered", "packed"):
            fast = service.allowance_model("default", plan, "api", window, CANDIDATES)
            with monkeypatch.context() as forced:
                forced.setattr(allowance_model, "_plain", lambda charge: False)
                slow = service.allowance_model("default", plan, "api", window, CANDIDATES)
            assert fast == slow
            assert any(row.customers_over for row in fast)
            assert len({row.total for row in fast}) > 2  # the candidates do change the totals
            if final:
                assert fast == unbilled[plan]  # the summary changes nothing
            else:
                unbilled[plan] = fast
    # every path was taken: whole periods quick from the events (before the run) and from
    # the summary (after); partial, changed and canceled ones through period_lines
    assert quick["yes"] >= 20 and quick["summary"] >= 20 and quick["no"] >= 3
