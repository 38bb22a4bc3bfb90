"""Spend limits through the HTTP API on SQLite and PostgreSQL (issue 10, part B).

The period total mid-January is the upcoming invoice: $200.00 platform fee (in arrears,
in full as planned) + 40,000 billable calls x $0.003 = $320.00. A limit of $320.01 is one
cent above it (not reached), $320.00 is reached. Credits do not lower the total (it is
"before credits"). ``spend_limit.reached`` goes out once per period and limit, signed,
to a real local receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_webhooks import outbox
from tallybook.bootstrap import Container
from tests.integration import test_entitlements_api as scenario
from tests.integration import test_previews as shared
from tests.webhook_receiver import Receiver, running_receiver

clock, app_container, api = shared.clock, shared.app_container, shared.api
ok, error, check = shared.ok, scenario.error, scenario.check
LIMIT = "/v1/customers/c1/spend-limit"


def reached_messages(container: Container) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.data).where(outbox.c.type == "spend_limit.reached")
        ).all()
    return [dict(row.data) for row in rows]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def test_one_cent_under_is_not_reached_and_at_the_total_it_is(
    api: TestClient, app_container: Container
) -> None:
    scenario.setup(api)
    under = ok(api.put(LIMIT, json={"amount": "320.01", "mode": "hard"}))
    assert under == {
        "customer": "c1",
        "amount": "320.01",
        "mode": "hard",
        "currency": "USD",
        "period_total": "320.00",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z",
        "reached": False,
        "blocking": False,
        "updated_at": "2026-01-16T00:00:00Z",
    }
    assert check(api, "calls")["has_access"] is True
    assert reached_messages(app_container) == []
    at = ok(api.put(LIMIT, json={"amount": "320.00", "mode": "hard"}))
    assert (at["reached"], at["blocking"]) == (True, True)
    assert len(reached_messages(app_container)) == 1


def test_hard_limit_blocks_metered_features_until_raised_or_next_period(
    api: TestClient, app_container: Container, clock: FixedClock
) -> None:
    scenario.setup(api)
    ok(api.put(LIMIT, json={"amount": "300", "mode": "hard"}))
    calls = check(api, "calls")
    assert (calls["has_access"], calls["reason"]) == (False, "spend_limit_reached")
    assert calls["usage"] == "90000" and calls["remaining"] == "10000"
    exports = check(api, "exports")  # a soft feature is blocked too
    assert (exports["has_access"], exports["reason"]) == (False, "spend_limit_reached")
    sso = check(api, "sso")  # boolean features are not metered: untouched
    assert (sso["has_access"], sso["reason"]) == (True, None)
    for _ in range(3):
        check(api, "calls")
        ok(api.get(LIMIT))
    assert len(reached_messages(app_container)) == 1  # once per period and limit
    raised = ok(api.put(LIMIT, json={"amount": "500.00", "mode": "hard"}))
    assert (raised["reached"], raised["blocking"]) == (False, False)
    assert check(api, "calls")["has_access"] is True
    ok(api.put(LIMIT, json={"amount": "300", "mode": "hard"}))
    assert check(api, "calls")["reason"] == "spend_limit_reached"
    clock.set(datetime(2026, 2, 2, tzinfo=UTC))  # next period: $200 so far
    february = ok(api.get(LIMIT))
    assert (february["period_total"], february["reached"]) == ("200.00", False)
    assert check(api, "calls")["has_access"] is True
    [message] = reached_messages(app_container)
    assert message == {
        "customer": "c1",
        "limit": "300",
        "mode": "hard",
        "total": "320.00",
        "currency": "USD",
        "period_start": "2026-01-01T00:00:00Z",
        "period_end": "2026-02-01T00:00:00Z",
    }


def test_soft_limit_reports_but_never_blocks(api: TestClient, app_container: Container) -> None:
    scenario.setup(api)
    soft = ok(api.put(LIMIT, json={"amount": "100.00", "mode": "soft"}))
    assert (soft["reached"], soft["blocking"]) == (True, False)
    assert check(api, "calls")["has_access"] is True
    assert len(reached_messages(app_container)) == 1


def test_the_total_is_before_credits(api: TestClient) -> None:
    scenario.setup(api)
    grant = {"amount": "100.00", "currency": "USD", "effective_at": "2026-01-01T00:00:00Z"}
    ok(api.post("/v1/customers/c1/credit-grants", json=grant), 201)
    upcoming = ok(api.get("/v1/customers/c1/upcoming-invoice"))
    assert upcoming["total"] == "220.00"  # what is due after credits
    limit = ok(api.put(LIMIT, json={"amount": "300.00", "mode": "hard"}))
    assert (limit["period_total"], limit["blocking"]) == ("320.00", True)


def test_get_and_delete(api: TestClient) -> None:
    scenario.setup(api)
    assert error(api.get(LIMIT)) == (404, "spend_limit_not_found")
    assert error(api.delete(LIMIT)) == (404, "spend_limit_not_found")
    ok(api.put(LIMIT, json={"amount": "300", "mode": "hard"}))
    assert ok(api.get(LIMIT))["amount"] == "300"
    assert api.delete(LIMIT).status_code == 204
    assert error(api.get(LIMIT)) == (404, "spend_limit_not_found")
    assert check(api, "calls")["has_access"] is True
    assert error(api.get("/v1/customers/nobody/spend-limit")) == (404, "customer_not_found")


def test_a_customer_without_a_period_never_reaches_its_limit(api: TestClient) -> None:
    scenario.setup(api)
    ok(api.post("/v1/customers", json={"id": "bare", "currency": "USD"}), 201)
    bare = ok(api.put("/v1/customers/bare/spend-limit", json={"amount": "1", "mode": "hard"}))
    assert (bare["period_total"], bare["reached"]) == (None, False)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "0", "mode": "hard"}, 422, "invalid_amount"),
        ({"amount": "-5", "mode": "hard"}, 422, "invalid_amount"),
        ({"amount": "1.001", "mode": "hard"}, 422, "invalid_amount"),
        ({"amount": "1e15", "mode": "hard"}, 422, "invalid_amount"),
        ({"amount": "ten", "mode": "hard"}, 422, "invalid_number"),
        ({"amount": "10", "mode": "strict"}, 422, "invalid_mode"),
        ({"amount": "10", "mode": "hard", "extra": 1}, 422, "invalid_request"),
        ({"mode": "hard"}, 422, "invalid_request"),
    ],
)
def test_bad_limits_are_coded_4xx(
    api: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    scenario.setup(api)
    assert error(api.put(LIMIT, json=body)) == (status, code)
    assert error(api.get(LIMIT)) == (404, "spend_limit_not_found")


def test_spend_limit_reached_is_delivered_signed_once(
    api: TestClient, app_container: Container, receiver: Receiver
) -> None:
    scenario.setup(api)
    created = ok(
        api.post(
            "/v1/webhook-endpoints", json={"url": receiver.url, "events": ["spend_limit.reached"]}
        ),
        201,
    )
    receiver.secrets.append(created["secret"])
    ok(api.put(LIMIT, json={"amount": "320.00", "mode": "soft"}))
    app_container.spend_limits.sweep()  # the scheduler's job evaluates again: no new fact
    asyncio.run(app_container.delivery_worker().drain())
    [got] = receiver.ok()
    assert got.verified == [0]
    body = got.json
    assert body["type"] == "spend_limit.reached"
    assert body["data"]["total"] == "320.00" and body["data"]["limit"] == "320.00"
    asyncio.run(app_container.delivery_worker().drain())
    assert len(receiver.received) == 1


def test_two_servers_evaluating_at_once_record_one_message(
    api: TestClient, app_container: Container, settings: Any, clock: FixedClock
) -> None:
    """Two containers (two servers) on one store evaluate the same reached limit at once."""
    import threading

    from tallybook.bootstrap import build

    scenario.setup(api)
    ok(api.put(LIMIT, json={"amount": "320.01", "mode": "hard"}))
    ok(api.post("/v1/customers/c1/credit-grants", json={"amount": "1.00", "currency": "USD"}), 201)
    second = build(settings, clock=clock, migrate=False)
    try:
        api.post(
            "/v1/events",
            json=[
                {
                    "id": "one-more",
                    "customer": "c1",
                    "type": "api_batch",
                    "timestamp": "2026-01-15T00:00:00Z",
                    "properties": {"calls": 10},
                }
            ],
        )  # +$0.03: the total is now $320.03, over the limit
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def evaluate(container: Container) -> None:
            try:
                barrier.wait()
                assert container.spend_limits.status("default", "c1").blocks
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=evaluate, args=(c,)) for c in (app_container, second) * 4
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        [message] = reached_messages(app_container)
        assert message["total"] == "320.03"
    finally:
        second.close()


def test_ingest_crossing_the_limit_records_it_without_a_read_or_the_sweep(
    api: TestClient, app_container: Container
) -> None:
    ok(api.put("/v1/catalog", json=scenario.catalog()))
    ok(api.post("/v1/customers", json={"id": "c1", "currency": "USD"}), 201)
    sub = {"customer": "c1", "plan": "growth", "start": "2026-01-01T00:00:00Z"}
    ok(api.post("/v1/subscriptions", json=sub), 201)
    below = ok(api.put(LIMIT, json={"amount": "320.00", "mode": "hard"}))
    assert (below["period_total"], below["reached"]) == ("200.00", False)
    scenario.send_calls(api, "c1", ("2026-01-03T10:00:00Z", 40000))
    app_container.alert_evaluator.drain()  # the ingest marks: $320.00 is not yet reached
    assert reached_messages(app_container) == []
    second = {"id": "c1-late", "customer": "c1", "type": "api_batch"}
    second |= {"timestamp": "2026-01-14T10:00:00Z", "properties": {"calls": 50000}}
    assert ok(api.post("/v1/events", json=[second]))["accepted"] == 1
    assert reached_messages(app_container) == []  # evaluated after commit, not inside ingest
    app_container.alert_evaluator.drain()  # what `serve` runs after each ingest commit
    [message] = reached_messages(app_container)
    assert (message["customer"], message["limit"], message["total"]) == ("c1", "320.00", "320.00")
    app_container.alert_evaluator.drain()  # nothing marked: no second record
    assert len(reached_messages(app_container)) == 1
