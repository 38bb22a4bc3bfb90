"""A real ``tallybook serve`` fires threshold alerts within seconds of the ingest that
crossed them: the background evaluator is woken after the commit and the delivery worker
sends the signed ``alert.triggered`` messages to a real local receiver."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import ServerFactory
from tests.e2e.test_webhooks_crash import wait_for
from tests.integration.test_alerts_api import CATALOG
from tests.webhook_receiver import running_receiver

pytestmark = pytest.mark.e2e

ENV = {"TALLYBOOK_WEBHOOK_POLL_SECONDS": "0.05", "TALLYBOOK_ALERT_POLL_SECONDS": "0.5"}


def test_alerts_arrive_within_seconds_of_the_crossing_ingest(
    server: ServerFactory, db_url: str
) -> None:
    handle = server(db_url, env=ENV)
    api = httpx.Client(base_url=handle.base_url, headers=handle.headers, timeout=10)
    with running_receiver() as receiver:
        body = {"url": receiver.url, "events": ["alert.triggered"]}
        created = api.post("/v1/webhook-endpoints", json=body)
        assert created.status_code == 201, created.text
        receiver.secrets.append(created.json()["secret"])
        assert api.put("/v1/catalog", json=CATALOG).status_code == 200
        assert api.post("/v1/customers", json={"id": "acme", "currency": "USD"}).is_success
        subscribed = api.post("/v1/subscriptions", json={"customer": "acme", "plan": "growth"})
        assert subscribed.status_code == 201, subscribed.text
        assert api.get("/v1/customers/acme/usage").status_code == 200  # rollup stored
        events = [{"id": "a", "customer": "acme", "type": "api_call", "properties": {"n": 850}}]
        assert api.post("/v1/events", json=events).json()["accepted"] == 1
        committed = time.monotonic()
        wait_for(lambda: len(receiver.ok()) == 1, 10, "the 80 % alert")
        first_latency = time.monotonic() - committed
        events = [{"id": "b", "customer": "acme", "type": "api_call", "properties": {"n": 150}}]
        assert api.post("/v1/events", json=events).json()["accepted"] == 1
        wait_for(lambda: len(receiver.ok()) == 2, 10, "the 100 % alert")
        time.sleep(1.0)  # nothing else arrives
        got = receiver.ok()
        fired = api.get("/v1/customers/acme/alerts").json()["data"]
    api.close()
    assert first_latency < 5
    assert len(got) == 2 and all(r.verified == [0] for r in got)
    assert [r.json["data"]["threshold"] for r in got] == ["80", "100"]
    assert sorted(f["threshold"] for f in fired) == ["100", "80"]
