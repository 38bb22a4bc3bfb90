"""Threshold alerts through the HTTP API on both stores: default 80/100 % allowance
alerts, usage, spend and credit alerts, once per threshold and period, ascending when one
batch crosses several, signed ``alert.triggered`` webhooks to a real local receiver, never
for a rolled-back ingest, and re-evaluation after a kill."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store import rollups
from tallybook.adapters.store.schema_rollups import alert_pending, fired_alerts
from tallybook.adapters.store.schema_webhooks import outbox
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.webhook_receiver import Receiver, running_receiver

NOW = datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
CATALOG: dict[str, Any] = {
    "meters": [{"key": "calls", "event_type": "api_call", "aggregation": "sum", "value": "n"}],
    "plans": [
        {
            "key": "growth",
            "currency": "USD",
            "interval": "month",
            "billing_anchor": "calendar",
            "charges": [
                {"key": "base", "type": "flat", "amount": "20.00", "timing": "in_arrears"},
                {
                    "key": "api",
                    "type": "usage",
                    "meter": "calls",
                    "included": 1000,
                    "model": "per_unit",
                    "unit_amount": "0.01",
                },
            ],
        }
    ],
}
_ids = iter(range(1_000_000))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def stack(settings: Settings, clock: FixedClock) -> Iterator[tuple[Container, TestClient]]:
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        assert client.put("/v1/catalog", json=CATALOG).status_code == 200
        yield container, client
    container.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def customer(client: TestClient, name: str) -> None:
    assert client.post("/v1/customers", json={"id": name, "currency": "USD"}).status_code == 201
    sub = {"customer": name, "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201


def send(client: TestClient, name: str, *amounts: int) -> None:
    events = [
        {
            "id": f"ev{next(_ids)}",
            "customer": name,
            "type": "api_call",
            "timestamp": (NOW - timedelta(hours=1 + i)).isoformat(),
            "properties": {"n": n},
        }
        for i, n in enumerate(amounts)
    ]
    response = client.post("/v1/events", json=events)
    assert response.status_code == 200 and response.json()["accepted"] == len(events)


def fired(client: TestClient, name: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/customers/{name}/alerts")
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


def deliver(container: Container) -> None:
    clock = container.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(seconds=1))  # time passes between evaluations
    container.alert_evaluator.drain()
    asyncio.run(container.delivery_worker().drain())


def endpoint(client: TestClient, receiver: Receiver) -> None:
    body = {"url": receiver.url, "events": ["alert.triggered"]}
    created = client.post("/v1/webhook-endpoints", json=body)
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])


def test_default_allowance_alerts_fire_once_each_with_signed_webhooks(
    stack: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, client = stack
    endpoint(client, receiver)
    customer(client, "c1")
    send(client, "c1", 700)
    deliver(container)
    assert fired(client, "c1") == []
    send(client, "c1", 100)  # 800 of 1000: exactly 80 %
    deliver(container)
    send(client, "c1", 1)  # past 80 % again: nothing new
    deliver(container)
    assert [f["threshold"] for f in fired(client, "c1")] == ["80"]
    send(client, "c1", 199)  # 1000: 100 %
    deliver(container)
    found = fired(client, "c1")
    assert [(f["alert"], f["threshold"], f["value"], f["limit"]) for f in found] == [
        ("default:allowance:api", "80", "800", "1000"),
        ("default:allowance:api", "100", "1000", "1000"),
    ]
    assert found[0]["period_start"] == "2026-01-01T00:00:00Z"
    assert found[0]["period_end"] == "2026-02-01T00:00:00Z"
    got = receiver.ok()
    assert len(got) == 2 and all(r.verified == [0] for r in got)
    bodies = [r.json for r in got]
    assert {b["type"] for b in bodies} == {"alert.triggered"}
    data = sorted((b["sequence"], b["data"]["threshold"]) for b in bodies)
    assert [t for _, t in data] == ["80", "100"]
    first = min(bodies, key=lambda b: b["sequence"])["data"]
    assert first == {
        "alert": "default:allowance:api",
        "fired_alert": found[0]["id"],
        "type": "allowance_percent",
        "customer": "c1",
        "charge": "api",
        "threshold": "80",
        "value": "800",
        "limit": "1000",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z",
    }
    assert container.alerts.evaluate("default", "c1") == []  # re-evaluation fires nothing


def test_one_batch_crossing_both_fires_in_ascending_order(
    stack: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, client = stack
    endpoint(client, receiver)
    customer(client, "c2")
    send(client, "c2", 600, 600)
    deliver(container)
    found = fired(client, "c2")
    assert [f["threshold"] for f in found] == ["80", "100"]
    messages = sorted((r.json for r in receiver.ok()), key=lambda b: b["sequence"])
    assert [m["data"]["threshold"] for m in messages] == ["80", "100"]
    assert messages[1]["sequence"] == messages[0]["sequence"] + 1


def test_spend_amount_fires_at_the_rounded_total_not_a_cent_under(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    customer(client, "c3")
    assert client.put("/v1/alert-settings", json={"default_allowance_alerts": False}).json() == {
        "default_allowance_alerts": False
    }
    body = {"id": "spend25", "customer": "c3", "type": "spend_amount", "thresholds": ["25.00"]}
    assert client.post("/v1/alerts", json=body).status_code == 201
    send(client, "c3", 1499)  # 20.00 + 499 x 0.01 = 24.99
    deliver(container)
    total = container.previews.period_total("default", "c3")
    assert total is not None and str(total.total) == "24.99"
    assert fired(client, "c3") == []
    send(client, "c3", 1)  # 25.00
    deliver(container)
    found = fired(client, "c3")
    assert [(f["alert"], f["threshold"], f["value"], f["limit"]) for f in found] == [
        ("spend25", "25", "25.00", "25")
    ]


def test_usage_quantity_alert_for_a_plan(stack: tuple[Container, TestClient]) -> None:
    container, client = stack
    customer(client, "c4")
    body = {
        "id": "q",
        "plan": "growth",
        "type": "usage_quantity",
        "charge": "api",
        "thresholds": ["50", "10"],
    }
    created = client.post("/v1/alerts", json=body)
    assert created.status_code == 201 and created.json()["thresholds"] == ["10", "50"]
    assert client.post("/v1/alerts", json=body).status_code == 200  # the same request again
    assert client.post("/v1/alerts", json={**body, "thresholds": ["5"]}).status_code == 409
    send(client, "c4", 60)
    deliver(container)
    found = [f for f in fired(client, "c4") if f["alert"] == "q"]
    assert [f["threshold"] for f in found] == ["10", "50"]
    assert client.get("/v1/alerts").json()["data"][0]["id"] == "q"
    assert client.delete("/v1/alerts/q").status_code == 200
    assert client.get("/v1/alerts/q").status_code == 404


def test_credit_balance_below_fires_when_the_balance_falls_under(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    customer(client, "c5")
    grant = {"amount": "10.00", "currency": "USD", "category": "promotional"}
    response = client.post("/v1/customers/c5/credit-grants", json=grant)
    assert response.status_code == 201, response.text
    body = {"type": "credit_balance_below", "customer": "c5", "thresholds": ["20", "5"]}
    assert client.post("/v1/alerts", json=body).status_code == 201
    send(client, "c5", 1)
    deliver(container)
    found = [f for f in fired(client, "c5") if f["type"] == "credit_balance_below"]
    assert [(f["threshold"], f["value"]) for f in found] == [("20", "10.00")]


def test_no_alert_for_a_rolled_back_ingest(
    stack: tuple[Container, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    container, client = stack
    customer(client, "c6")
    original = rollups.RollupWriter.write

    def fail_after_writing(self: Any, *args: Any) -> None:
        original(self, *args)
        raise RuntimeError("the transaction fails after the marks were written")

    monkeypatch.setattr(rollups.RollupWriter, "write", fail_after_writing)
    events = [{"id": "x1", "customer": "c6", "type": "api_call", "properties": {"n": 5000}}]
    with pytest.raises(RuntimeError):
        client.post("/v1/events", json=events)
    monkeypatch.undo()
    with container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alert_pending)).scalar_one() == 0
    deliver(container)
    assert fired(client, "c6") == []
    assert client.get("/v1/customers/c6/usage").json()["charges"][0]["used"] == "0"


def test_a_killed_evaluation_is_taken_again_after_its_lease(
    stack: tuple[Container, TestClient], clock: FixedClock
) -> None:
    container, client = stack
    customer(client, "c7")
    send(client, "c7", 900)
    store = container.alert_evaluator._queue  # the evaluator dies after claiming
    claimed = store.claim(clock.now(), 30, 10)
    assert [p.customer for p in claimed] == ["c7"]
    assert container.alert_evaluator.run_once() == 0  # still leased
    clock.set(clock.now() + timedelta(seconds=31))
    assert container.alert_evaluator.drain() == 1
    assert [f["threshold"] for f in fired(client, "c7")] == ["80"]
    assert container.alert_evaluator.drain() == 0  # done: the mark is gone
    send(client, "c7", 50)  # marked again while claimed: evaluated on the next pass
    again = store.claim(clock.now(), 30, 10)
    send(client, "c7", 60)
    store.done(again[0])
    clock.set(clock.now() + timedelta(seconds=1))
    assert container.alert_evaluator.drain() == 1
    assert [f["threshold"] for f in fired(client, "c7")] == ["80", "100"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "allowance_percent", "charge": "api", "thresholds": ["101"]}, 422, None),
        ({"type": "allowance_percent", "charge": "api", "thresholds": ["0"]}, 422, None),
        ({"type": "allowance_percent", "charge": "api", "thresholds": ["-5"]}, 422, None),
        ({"type": "allowance_percent", "charge": "api", "thresholds": ["8e1"]}, 422, None),
        ({"type": "allowance_percent", "charge": "api", "thresholds": ["80", "80.0"]}, 422, None),
        ({"type": "allowance_percent", "charge": "api", "thresholds": []}, 422, None),
        ({"type": "allowance_percent", "thresholds": ["80"]}, 422, "charge_required"),
        ({"type": "spend_amount", "charge": "api", "thresholds": ["8"]}, 422, "charge_not_allowed"),
        ({"type": "fancy", "thresholds": ["80"]}, 422, "invalid_alert_type"),
        ({"type": "spend_amount", "thresholds": ["1"], "customer": "nobody"}, 404, None),
        ({"type": "spend_amount", "thresholds": ["1"], "plan": "nope"}, 404, None),
        (
            {"type": "usage_quantity", "plan": "growth", "charge": "zzz", "thresholds": ["1"]},
            404,
            "charge_not_found",
        ),
        ({"type": "spend_amount", "thresholds": ["1"], "id": "a:b"}, 422, "invalid_alert_id"),
        ({"type": "spend_amount", "thresholds": ["1"], "extra": 1}, 422, None),
        ({"type": "spend_amount", "thresholds": [1]}, 422, None),
    ],
)
def test_bad_alerts_are_refused(
    stack: tuple[Container, TestClient], body: dict[str, Any], status: int, code: str | None
) -> None:
    _, client = stack
    response = client.post("/v1/alerts", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "details"}
    if code is not None:
        assert error["code"] == code


def test_listing_bounds(stack: tuple[Container, TestClient]) -> None:
    _, client = stack
    assert client.get("/v1/alerts?limit=0").status_code == 422
    assert client.get("/v1/alerts?bogus=1").status_code in (400, 422)
    assert client.get("/v1/alerts?cursor=zzz").status_code == 422
    assert client.get("/v1/customers/nobody/alerts").status_code == 404
    assert (
        client.put("/v1/alert-settings", json={"default_allowance_alerts": "no"}).status_code == 422
    )


def test_fired_rows_and_outbox_rows_match(stack: tuple[Container, TestClient]) -> None:
    container, client = stack
    customer(client, "c8")
    send(client, "c8", 2000)
    deliver(container)
    with container.engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(fired_alerts)).scalar_one()
        messages = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.type == "alert.triggered")
        ).scalar_one()
    assert rows == messages == 2


@pytest.mark.postgres
def test_two_servers_evaluating_at_once_fire_once(pg_url: str) -> None:
    """Two containers (two servers) on one PostgreSQL evaluate the same customers at the
    same moment, bypassing the queue's claims: the UNIQUE key lets each threshold fire
    once, with one outbox row each."""
    import threading

    settings = Settings(
        database_url=pg_url, api_key=TEST_KEY, log_json=False, scheduler_interval_seconds=0
    )
    servers = [build(settings, clock=FixedClock(NOW)) for _ in range(2)]
    servers[0].tenants.bootstrap_default(TEST_KEY)
    names = [f"r{i}" for i in range(8)]
    try:
        app = create_app(container=servers[0])
        with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
            assert client.put("/v1/catalog", json=CATALOG).status_code == 200
            for name in names:
                customer(client, name)
                send(client, name, 1200)
        barrier = threading.Barrier(2)
        results: list[int] = []
        lost: list[int] = []  # fire() calls that inserted less than they were given
        for server in servers:
            store = server.alert_evaluator._queue
            original = store.fire

            def counting(tenant: str, found: Any, now: Any, original: Any = original) -> Any:
                inserted = original(tenant, found, now)
                lost.append(len(found) - len(inserted))
                return inserted

            store.fire = counting  # type: ignore[method-assign]

        def evaluate(server: Container) -> None:
            count = 0
            for name in names:
                barrier.wait()
                count += len(server.alerts.evaluate("default", name))
            results.append(count)

        threads = [threading.Thread(target=evaluate, args=(s,)) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sum(results) == 2 * len(names)  # each threshold fired by one of the two
        assert sum(lost) > 0  # the two really raced: the unique key turned some away
        with servers[0].engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(fired_alerts)).scalar_one()
            messages = conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.type == "alert.triggered")
            ).scalar_one()
        assert rows == messages == 2 * len(names)
        threads = [threading.Thread(target=s.alert_evaluator.drain) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with servers[0].engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(alert_pending)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(fired_alerts)).scalar_one() == rows
    finally:
        for server in servers:
            server.close()


def test_a_childs_usage_fires_its_parents_spend_alert(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    customer(client, "mom")
    kid = {"id": "kid", "currency": "USD", "parent": "mom"}
    assert client.post("/v1/customers", json=kid).status_code == 201
    sub = {"customer": "kid", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    body = {"id": "family", "customer": "mom", "type": "spend_amount", "thresholds": ["45"]}
    assert client.post("/v1/alerts", json=body).status_code == 201
    send(client, "kid", 1500)  # mom's invoice: 20 + 20 + 500 x 0.01 = 45.00
    deliver(container)
    assert [(f["alert"], f["value"]) for f in fired(client, "mom")] == [("family", "45.00")]


def test_a_childs_ingest_reaches_its_parents_spend_limit_after_commit(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    customer(client, "mom")
    kid = {"id": "kid", "currency": "USD", "parent": "mom"}
    assert client.post("/v1/customers", json=kid).status_code == 201
    sub = {"customer": "kid", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    assert client.post("/v1/subscriptions", json=sub).status_code == 201
    limit = client.put("/v1/customers/mom/spend-limit", json={"amount": "45", "mode": "hard"})
    assert (limit.status_code, limit.json()["reached"]) == (200, False)
    send(client, "kid", 1500)  # mom's invoice: 20 + 20 + 500 x 0.01 = 45.00
    deliver(container)  # the evaluator runs after the commit; no read, no sweep
    with container.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.data).where(outbox.c.type == "spend_limit.reached")
        ).all()
    assert [(r.data["customer"], r.data["total"]) for r in rows] == [("mom", "45.00")]
