"""The per-period usage summary (``period_usage``) on SQLite and PostgreSQL: a billing run
that finalizes period invoices writes it; migration 0019's backfill writes the same rows
from the stored invoices; percentiles read from it equal percentiles rated from the
events (a filtered meter, a weighted meter, per-dimension prices, a mid-period plan
change); a late event leaves the summary as billed until a billing run writes its
adjustment, which drops the period so it is rated from the events again."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from tallybook.adapters.store.schema_analytics import period_usage
from tallybook.bootstrap import Container
from tallybook.domain.analytics.period_usage import MARKER
from tallybook.services.rerating import Window

CATALOG: dict[str, Any] = {
    "meters": [
        {
            "key": "eu_calls",
            "event_type": "call",
            "aggregation": "sum",
            "value": "n",
            "filter": {"region": ["eu"]},
        },
        {
            "key": "credits",
            "aggregation": "sum",
            "sources": [
                {"event_type": "call", "value": "n", "multiplier": "0.5"},
                {"event_type": "image", "multiplier": 4},
            ],
        },
        {
            "key": "tokens",
            "event_type": "tokens",
            "aggregation": "sum",
            "value": "n",
            "group_by": ["model"],
        },
    ],
    "plans": [
        {
            "key": key,
            "name": key,
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "platform", "type": "flat", "amount": fee, "timing": "in_advance"},
                {
                    "key": "eu",
                    "type": "usage",
                    "meter": "eu_calls",
                    "included": 100,
                    "model": "per_unit",
                    "unit_amount": "0.01",
                },
                {
                    "key": "credits",
                    "type": "usage",
                    "meter": "credits",
                    "included": 50,
                    "model": "per_unit",
                    "unit_amount": "0.02",
                },
                {
                    "key": "tokens",
                    "type": "usage",
                    "meter": "tokens",
                    "model": "per_unit",
                    "unit_amount": "0.001",
                    "prices_by_dimension": {"big": {"model": "per_unit", "unit_amount": "0.01"}},
                },
            ],
        }
        for key, fee in (("basic", "10.00"), ("pro", "30.00"))
    ],
}
WINDOW = Window(
    datetime(2025, 1, 1, tzinfo=UTC),
    datetime(2025, 4, 1, tzinfo=UTC),
    datetime(2025, 6, 1, tzinfo=UTC),
)
PCTS = [Decimal(0), Decimal(50), Decimal(90), Decimal(100)]


def _seed(client: TestClient) -> None:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    events: list[dict[str, Any]] = []
    for n in range(8):
        cid = f"u{n}"
        assert client.post("/v1/customers", json={"id": cid, "currency": "USD"}).status_code == 201
        body = {"customer": cid, "plan": "basic", "start": "2025-01-01T00:00:00Z"}
        created = client.post("/v1/subscriptions", json=body)
        assert created.status_code == 201, created.text
        if n == 3:
            change = {"plan": "pro", "at": "2025-02-10T00:00:00Z"}
            sid = created.json()["id"]
            assert client.post(f"/v1/subscriptions/{sid}/change", json=change).status_code == 200
        for month in (1, 2, 3):
            for i, (kind, props) in enumerate(
                (
                    ("call", {"n": 40 + 17 * n + month, "region": "eu"}),
                    ("call", {"n": 25 * n, "region": "us"}),
                    ("image", {}),
                    ("tokens", {"n": 300 + n, "model": "big" if n % 2 else "small"}),
                    ("tokens", {"n": 1000, "model": "small"}),
                )
            ):
                events.append(
                    {
                        "id": f"{cid}-{month}-{i}",
                        "customer": cid,
                        "type": kind,
                        "timestamp": f"2025-{month:02d}-{5 + 3 * i:02d}T00:00:00Z",
                        "properties": props,
                    }
                )
    accepted = client.post("/v1/events", json=events).json()["accepted"]
    assert accepted == len(events)


def _run(client: TestClient, as_of: str) -> None:
    run = client.post("/v1/billing-runs", json={"as_of": as_of})
    assert run.status_code == 200, run.text


def _rows(container: Container) -> list[tuple[Any, ...]]:
    t = period_usage.c
    stmt = select(
        t.subscription_id,
        t.period_start,
        t.period_end,
        t.charge,
        t.customer_id,
        t.used,
        t.amount,
        t.lines,
        t.included,
        t.span_start,
        t.span_end,
    ).order_by(t.subscription_id, t.period_start, t.charge)
    with container.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(stmt)]


def _percentiles(container: Container, raw: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    service = container.percentiles
    with monkeypatch.context() as patch:
        if raw:
            patch.setattr(service, "_summary", None)  # every period rated from the events
        return service.percentiles("default", WINDOW, PCTS)


def test_billing_run_writes_the_summary_and_readers_match_the_events(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(client)
    assert _rows(container) == []  # nothing final yet: everything is read from events
    _run(client, "2025-04-01T02:00:00Z")
    rows = _rows(container)
    # 8 subscriptions x 3 periods, each with its marker and three usage charges
    assert len([r for r in rows if r[3] == MARKER]) == 24
    assert {r[3] for r in rows} == {MARKER, "eu", "credits", "tokens"}
    u0_jan = {r[3]: r for r in rows if r[4] == "u0" and r[1].month == 1}
    assert u0_jan["eu"][5] == Decimal(41)  # the filter keeps the eu call only
    assert u0_jan["credits"][5] == Decimal("24.5")  # (41 + 0) * 0.5 + 4 * 1
    u1_jan = {r[3]: r for r in rows if r[4] == "u1" and r[1].month == 1}
    assert u1_jan["tokens"][5] == Decimal(1301)  # two dimension lines, summed
    assert u1_jan["tokens"][7] == 2 and u1_jan["tokens"][8] is None  # not plain
    assert u0_jan["eu"][7] == 1 and u0_jan["eu"][8] == Decimal(100)  # plain, allowance 100
    changed = [r for r in rows if r[4] == "u3" and r[1].month == 2 and r[3] == "eu"]
    assert changed[0][7] == 2 and changed[0][8] is None  # split by the plan change
    summarized = _percentiles(container, raw=False, monkeypatch=monkeypatch)
    from_events = _percentiles(container, raw=True, monkeypatch=monkeypatch)
    assert summarized == from_events
    assert {(r.plan, r.charge) for r in summarized} >= {("basic", "eu"), ("basic", "tokens")}
    assert any(r.periods for r in summarized)


def test_backfill_writes_what_finalization_wrote(client: TestClient, container: Container) -> None:
    from importlib import import_module

    migration = import_module("tallybook.adapters.store.migrations.versions.0019_period_usage")
    _seed(client)
    _run(client, "2025-04-01T02:00:00Z")
    written = _rows(container)
    assert written
    with container.engine.begin() as conn:
        conn.execute(delete(period_usage))
    with container.engine.begin() as conn:
        assert migration.backfill(conn) > 0
    assert _rows(container) == written
    with container.engine.begin() as conn:
        migration.backfill(conn)  # twice: the rows already there are kept
    assert _rows(container) == written


def test_late_event_is_in_the_summary_once_a_run_adjusts(
    client: TestClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(client)
    _run(client, "2025-02-01T02:00:00Z")  # January final
    late = {
        "id": "late-1",
        "customer": "u1",
        "type": "call",
        "timestamp": "2025-01-20T00:00:00Z",
        "properties": {"n": 5000, "region": "eu"},
    }
    assert client.post("/v1/events", json=[late]).json()["accepted"] == 1
    window = Window(WINDOW.start, datetime(2025, 2, 1, tzinfo=UTC), WINDOW.now)
    service = container.percentiles

    def eu_max(raw: bool) -> Decimal | None:
        with monkeypatch.context() as patch:
            if raw:
                patch.setattr(service, "_summary", None)
            rows = service.percentiles("default", window, [Decimal(100)], plan="basic", charge="eu")
        return rows[0].values["p100"]

    # as billed: the late event is not on any invoice yet
    assert eu_max(raw=False) == Decimal(160)
    assert eu_max(raw=True) == Decimal(5058)
    # the next run writes February's invoice (a draft: in its grace) with January's
    # adjustment: January of u1 leaves the summary and is rated from the events again
    _run(client, "2025-03-01T00:30:00Z")
    assert eu_max(raw=False) == Decimal(5058)
    left = [r for r in _rows(container) if r[4] == "u1" and r[1].month == 1]
    assert left == []
