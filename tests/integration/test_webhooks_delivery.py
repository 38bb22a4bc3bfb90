"""Webhook delivery end to end in process, on both stores: facts recorded through the API,
delivered by the real worker over HTTP to a real local receiver that verifies every
signature with ``standardwebhooks``. A FixedClock walks the retry schedule."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_billing import subscriptions
from tallybook.adapters.store.schema_webhooks import outbox
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.webhooks import RETRY_SCHEDULE
from tests.conftest import TEST_KEY
from tests.integration.test_customers_api import CATALOG
from tests.webhook_receiver import Receiver, running_receiver

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def stack(settings: Settings, clock: FixedClock) -> Iterator[tuple[Container, TestClient]]:
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        yield container, client
    container.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as found:
        yield found


def deliver(container: Container) -> int:
    """Run the real worker until nothing is due at the clock's now."""
    return asyncio.run(container.delivery_worker().drain())


def endpoint(client: TestClient, receiver: Receiver, events: list[str] | None = None) -> str:
    created = client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url, "events": events or ["*"]}
    )
    assert created.status_code == 201, created.text
    receiver.secrets.append(created.json()["secret"])
    return str(created.json()["id"])


def subscribe(client: TestClient, customers: list[str]) -> list[str]:
    assert client.put("/v1/catalog", json=CATALOG).status_code == 200
    ids = []
    for customer in customers:
        assert client.post("/v1/customers", json={"id": customer, "currency": "USD"}).is_success
        created = client.post(
            "/v1/subscriptions",
            json={
                "customer": customer,
                "plan": "monthly",
                "start": "2026-01-01T00:00:00Z",
                "quantities": {"seats": 2},
            },
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return ids


def message(client: TestClient, message_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/webhook-messages/{message_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_billing_run_delivers_one_signed_invoice_finalized_per_invoice(
    stack: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, client = stack
    endpoint(client, receiver, ["invoice.finalized"])
    subscribe(client, ["a", "b", "c"])
    run = client.post("/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"}).json()
    assert run["invoices_finalized"] == 9
    assert deliver(container) == 9
    got = receiver.ok()
    assert len(got) == 9
    assert all(r.verified == [0] for r in got), "every signature verifies with the secret"
    bodies = [r.json for r in got]
    assert {b["type"] for b in bodies} == {"invoice.finalized"}
    assert all(
        r.id == b["id"] and r.id.startswith("msg_") for r, b in zip(got, bodies, strict=True)
    )
    assert len({r.id for r in got}) == 9
    finalized = client.get("/v1/invoices", params={"status": "finalized", "limit": 100}).json()
    by_id = {i["id"]: i for i in finalized["data"]}
    assert {b["data"]["invoice"] for b in bodies} == set(by_id)
    for body in bodies:
        invoice = by_id[body["data"]["invoice"]]
        assert body["data"]["number"] == invoice["number"]
        assert body["data"]["total"] == invoice["total"]
        assert body["data"]["customer"] == invoice["customer"]
        assert body["occurred_at"] == "2026-03-01T02:00:00Z"
        assert set(body) == {"id", "type", "occurred_at", "sequence", "data"}
    per_customer: dict[str, list[int]] = {}
    for body in bodies:
        per_customer.setdefault(body["data"]["customer"], []).append(body["sequence"])
    # subscription.created took sequence 1 of each customer (filtered out for this endpoint)
    assert all(sorted(s) == [2, 3, 4] for s in per_customer.values()), per_customer
    listed = client.get("/v1/webhook-messages", params={"status": "delivered"}).json()["data"]
    assert len(listed) == 9 and {m["type"] for m in listed} == {"invoice.finalized"}
    again = client.post("/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"}).json()
    assert again["invoices_finalized"] == 0 and deliver(container) == 0
    assert len(receiver.received) == 9


def test_failed_first_attempt_is_retried_with_the_same_webhook_id(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint(client, receiver)
    receiver.answer = lambda r: (500, {}) if receiver.ids().count(r.id) == 0 else (200, {})
    subscribe(client, ["a"])
    assert deliver(container) == 1
    first = receiver.received[0]
    assert first.status == 500 and first.verified == [0]
    pending = message(client, first.id)
    assert pending["status"] == "pending" and pending["attempt_count"] == 1
    assert pending["next_attempt_at"] == "2026-03-01T02:00:05Z"  # +5 s
    assert deliver(container) == 0, "not due before +5 s"
    clock.set(NOW + timedelta(seconds=5))
    assert deliver(container) == 1
    second = receiver.received[1]
    assert (second.id, second.status, second.verified) == (first.id, 200, [0])
    assert second.json == first.json  # same body, newly signed
    done = message(client, first.id)
    assert done["status"] == "delivered"
    assert [a["status_code"] for a in done["attempts"]] == [500, 200]
    assert [a["attempt"] for a in done["attempts"]] == [1, 2]


def test_schedule_then_failed_then_manual_retry(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint(client, receiver)
    receiver.answer = lambda _r: (500, {})
    subscribe(client, ["a"])
    now = NOW
    deliver(container)
    for delay in RETRY_SCHEDULE:
        msg = message(client, receiver.received[-1].id)
        assert msg["status"] == "pending"
        assert msg["next_attempt_at"] == (now + delay).isoformat().replace("+00:00", "Z")
        now += delay
        clock.set(now)
        assert deliver(container) == 1
    final = message(client, receiver.received[0].id)
    assert final["status"] == "failed" and final["attempt_count"] == 10
    assert final["next_attempt_at"] is None
    assert len(set(receiver.ids())) == 1 and len(receiver.received) == 10
    receiver.answer = lambda _r: (200, {})
    retried = client.post(f"/v1/webhook-messages/{final['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    assert deliver(container) == 1
    assert message(client, final["id"])["status"] == "delivered"
    assert receiver.received[-1].id == final["id"]


def test_retry_after_is_honoured(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint(client, receiver)
    receiver.answer = lambda _r: (503, {"Retry-After": "120"})
    subscribe(client, ["a"])
    deliver(container)
    msg = message(client, receiver.received[0].id)
    assert msg["next_attempt_at"] == "2026-03-01T02:02:00Z"
    clock.set(NOW + timedelta(seconds=119))
    assert deliver(container) == 0
    clock.set(NOW + timedelta(seconds=120))
    assert deliver(container) == 1


def test_rotation_signs_with_both_secrets_for_24_hours(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint_id = endpoint(client, receiver)  # secret 0
    rotated = client.post(f"/v1/webhook-endpoints/{endpoint_id}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != receiver.secrets[0] and new_secret.startswith("whsec_")
    assert rotated.json()["previous_secret_expires_at"] == "2026-03-02T02:00:00Z"
    receiver.secrets.append(new_secret)  # secret 1
    subscribe(client, ["a"])
    deliver(container)
    got = receiver.received[-1]
    assert got.verified == [0, 1], "old-secret and new-secret receivers both verify"
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    clock.set(NOW + timedelta(hours=24))
    assert client.post("/v1/customers", json={"id": "z", "currency": "USD"}).is_success
    client.post("/v1/subscriptions", json={"customer": "z", "plan": "monthly"})
    deliver(container)
    late = receiver.received[-1]
    assert late.verified == [1], "after 24 h only the new secret signs"
    assert len(late.headers["webhook-signature"].split(" ")) == 1
    for text in (receiver.secrets[0], new_secret):
        assert text not in client.get(f"/v1/webhook-endpoints/{endpoint_id}").text
        assert text not in client.get("/v1/webhook-endpoints").text


def test_410_disables_the_endpoint_and_nothing_is_lost(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint_id = endpoint(client, receiver)
    receiver.answer = lambda _r: (410, {})
    subscribe(client, ["a"])
    deliver(container)
    ep = client.get(f"/v1/webhook-endpoints/{endpoint_id}").json()
    assert ep["status"] == "disabled" and "410" in ep["disabled_reason"]
    assert client.post("/v1/customers", json={"id": "b", "currency": "USD"}).is_success
    client.post("/v1/subscriptions", json={"customer": "b", "plan": "monthly"})
    clock.set(NOW + timedelta(hours=1))
    assert deliver(container) == 0, "a disabled endpoint gets nothing"
    assert len(receiver.received) == 1
    pending = client.get("/v1/webhook-messages", params={"status": "pending"}).json()["data"]
    assert len(pending) == 2
    retry = client.post(f"/v1/webhook-messages/{pending[0]['id']}/retry")
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "endpoint_disabled"
    receiver.answer = lambda _r: (200, {})
    assert client.post(f"/v1/webhook-endpoints/{endpoint_id}/enable").json()["status"] == "enabled"
    assert deliver(container) == 2
    assert {r.json["type"] for r in receiver.ok()} == {"subscription.created"}
    assert len(receiver.ok()) == 2


def test_every_fact_type_is_reported(
    stack: tuple[Container, TestClient], receiver: Receiver
) -> None:
    container, client = stack
    endpoint(client, receiver)
    (sub,) = subscribe(client, ["a"])
    changed = client.post(f"/v1/subscriptions/{sub}/quantities", json={"quantities": {"seats": 3}})
    assert changed.status_code == 200, changed.text
    client.post("/v1/billing-runs", json={"as_of": "2026-03-01T02:00:00Z"})
    invoices = client.get("/v1/invoices", params={"status": "finalized"}).json()["data"]
    assert client.post(f"/v1/invoices/{invoices[0]['id']}/pay").status_code == 200
    assert client.post(f"/v1/invoices/{invoices[1]['id']}/void").status_code == 200
    canceled = client.post(f"/v1/subscriptions/{sub}/cancel", json={"mode": "end_of_period"})
    assert canceled.status_code == 200, canceled.text
    deliver(container)
    bodies = [r.json for r in receiver.ok()]
    types = sorted({b["type"] for b in bodies})
    assert types == [
        "invoice.finalized",
        "invoice.paid",
        "invoice.voided",
        "subscription.canceled",
        "subscription.changed",
        "subscription.created",
    ]
    by_type = {b["type"]: b for b in bodies}
    assert by_type["subscription.changed"]["data"]["quantities"] == {"seats": "3"}
    assert by_type["subscription.canceled"]["data"]["cancel_mode"] == "end_of_period"
    assert by_type["invoice.paid"]["data"]["invoice"] == invoices[0]["id"]
    assert by_type["invoice.voided"]["data"]["status"] == "void"
    sequences = sorted(b["sequence"] for b in bodies)
    assert sequences == list(range(1, len(bodies) + 1)), "one customer: 1, 2, 3, ..."


def test_a_rolled_back_transaction_never_produces_a_message(
    stack: tuple[Container, TestClient], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    container, client = stack
    endpoint(client, receiver)
    subscribe(client, [])
    assert client.post("/v1/customers", json={"id": "a", "currency": "USD"}).is_success
    real_add = OutboxWriter.add

    def add_then_fail(self: OutboxWriter, conn: Any, *args: Any) -> None:
        real_add(self, conn, *args)  # the row is written in the fact's transaction ...
        raise RuntimeError("the transaction fails after the outbox row was written")

    monkeypatch.setattr(OutboxWriter, "add", add_then_fail)
    with pytest.raises(RuntimeError):
        container.subscriptions.create("default", "a", "monthly")
    monkeypatch.undo()
    with container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(subscriptions)).scalar_one() == 0
    assert deliver(container) == 0 and receiver.received == []
    container.subscriptions.create("default", "a", "monthly")  # ... and a commit sends one
    assert deliver(container) == 1


def test_outbox_off_records_nothing(settings: Settings, receiver: Receiver) -> None:
    off = build(settings.model_copy(update={"outbox_enabled": False}))
    try:
        off.tenants.bootstrap_default(TEST_KEY)
        app = create_app(container=off)
        with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
            endpoint(client, receiver)
            subscribe(client, ["a"])
        assert deliver(off) == 0
        with off.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
    finally:
        off.close()


def test_metrics_count_attempts_and_show_the_lag(
    stack: tuple[Container, TestClient], receiver: Receiver, clock: FixedClock
) -> None:
    container, client = stack
    endpoint(client, receiver)
    subscribe(client, ["a"])
    clock.set(NOW + timedelta(seconds=30))
    text = client.get("/metrics").text
    assert "tallybook_webhook_lag_seconds 30.0" in text
    metrics = client.app.state.metrics  # type: ignore[attr-defined]
    asyncio.run(container.delivery_worker(metrics.count_webhook).drain())
    text = client.get("/metrics").text
    assert 'tallybook_webhook_attempts_total{result="success"} 1.0' in text
    assert 'tallybook_webhook_messages_total{status="delivered"} 1.0' in text
    assert "tallybook_webhook_lag_seconds 0.0" in text


def test_a_slow_receiver_times_out_and_is_retried(
    settings: Settings, receiver: Receiver, clock: FixedClock
) -> None:
    slow = build(settings.model_copy(update={"webhook_timeout_seconds": 0.3}), clock=clock)
    try:
        slow.tenants.bootstrap_default(TEST_KEY)
        app = create_app(container=slow)
        with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
            endpoint(client, receiver)

            calls = []

            def answer(_r: Any) -> tuple[int, dict[str, str]]:
                calls.append(1)
                if len(calls) == 1:
                    time.sleep(3.0)  # much longer than the 0.3 s timeout
                return 200, {}

            receiver.answer = answer
            subscribe(client, ["a"])
            started = time.monotonic()
            assert deliver(slow) == 1
            assert time.monotonic() - started < 2.5, "the attempt did not wait for the receiver"
            listed = client.get("/v1/webhook-messages").json()["data"]
            msg = message(client, listed[0]["id"])
            assert msg["status"] == "pending" and "timeout" in msg["attempts"][0]["error"]
            assert msg["attempts"][0]["status_code"] is None
            clock.set(NOW + timedelta(seconds=5))
            assert deliver(slow) == 1
            assert message(client, msg["id"])["status"] == "delivered"
    finally:
        slow.close()
