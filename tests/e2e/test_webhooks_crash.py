"""Kill -9 a real ``tallybook serve`` while webhooks are undelivered: after the restart
every message is delivered, with the ``webhook-id`` it had before the crash.

The receiver (a real local HTTP server verifying every signature) answers 500 until the
server is killed, so every message is pending at the kill (some mid-attempt, some not yet
fanned out); then it answers 204. The retry schedule is shrunk (``backoff_scale``) so the
test takes seconds, not hours.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ServerFactory
from tests.integration.test_customers_api import CATALOG
from tests.webhook_receiver import Received, running_receiver

pytestmark = pytest.mark.e2e

CUSTOMERS = 20
ENV = {
    "TALLYBOOK_WEBHOOK_BACKOFF_SCALE": "0.001",
    "TALLYBOOK_WEBHOOK_POLL_SECONDS": "0.05",
    "TALLYBOOK_WEBHOOK_TIMEOUT_SECONDS": "1",
}


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_with_undelivered_messages_loses_none(server: ServerFactory, db_url: str) -> None:
    handle = server(db_url, env=ENV)
    api = httpx.Client(base_url=handle.base_url, headers=handle.headers, timeout=10)
    with running_receiver() as receiver:
        crashed = {"yes": False}

        def answer(_r: Received) -> tuple[int, dict[str, str]]:
            return (204, {}) if crashed["yes"] else (500, {})

        receiver.answer = answer
        created = api.post("/v1/webhook-endpoints", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        receiver.secrets.append(created.json()["secret"])
        assert api.put("/v1/catalog", json=CATALOG).status_code == 200
        for n in range(CUSTOMERS):
            customer = f"c{n:02d}"
            assert api.post("/v1/customers", json={"id": customer, "currency": "USD"}).is_success
            subscribed = api.post(
                "/v1/subscriptions",
                json={"customer": customer, "plan": "monthly", "quantities": {"seats": 1}},
            )
            assert subscribed.status_code == 201, subscribed.text
        wait_for(
            lambda: len(set(receiver.ids())) == CUSTOMERS, 30, "a first attempt of each message"
        )
        late = api.post("/v1/customers", json={"id": "late", "currency": "USD"})
        assert late.is_success
        assert api.post(
            "/v1/subscriptions", json={"customer": "late", "plan": "monthly"}
        ).is_success
        handle.kill()  # SIGKILL: attempts in flight, the last fact perhaps not fanned out
        before = set(receiver.ids())
        assert len(before) >= CUSTOMERS
        assert not receiver.ok(), "nothing was delivered before the crash"
        crashed["yes"] = True
        handle.start()

        def all_delivered() -> bool:
            listed = api.get("/v1/webhook-messages", params={"limit": 1000}).json()["data"]
            return len(listed) == CUSTOMERS + 1 and all(m["status"] == "delivered" for m in listed)

        wait_for(all_delivered, 60, "every message delivered after the restart")
        messages = api.get("/v1/webhook-messages", params={"limit": 1000}).json()["data"]
    api.close()
    ids = {m["id"] for m in messages}
    delivered = [r for r in receiver.ok()]
    assert {r.id for r in delivered} == ids, "each message delivered under its own id"
    assert before <= ids, "the ids seen before the crash are the ids delivered after it"
    assert len(delivered) == len(ids), "each delivered once after the restart"
    assert all(r.verified == [0] for r in receiver.received)
    customers = sorted(r.json["data"]["customer"] for r in delivered)
    assert customers == sorted([f"c{n:02d}" for n in range(CUSTOMERS)] + ["late"])
