"""Delivery limits and hygiene: bounded concurrency per endpoint, secrets never logged."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime

import pytest

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.bootstrap import Container
from tallybook.domain.webhooks import OutboxMessage
from tests.webhook_receiver import Received, running_receiver


def facts(container: Container, count: int) -> None:
    now = datetime.now(UTC)
    messages = [
        OutboxMessage("invoice.paid", now, {"invoice": f"inv_{n}"}, f"c{n}") for n in range(count)
    ]
    with container.engine.begin() as conn:
        OutboxWriter().add(conn, "default", messages, now)


def test_concurrency_per_endpoint_is_bounded(container: Container) -> None:
    with running_receiver() as slow_receiver, running_receiver() as fast_receiver:
        lock, state = threading.Lock(), {"now": 0, "max": 0}

        def slow(_r: Received) -> tuple[int, dict[str, str]]:
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            return 200, {}

        slow_receiver.answer = slow
        container.webhooks.create("default", slow_receiver.url, ["*"])
        container.webhooks.create("default", fast_receiver.url, ["*"])
        facts(container, 30)
        worker = container.delivery_worker()
        worker.options.per_endpoint = 3
        assert asyncio.run(worker.drain()) == 60
    assert len(slow_receiver.ok()) == 30 and len(fast_receiver.ok()) == 30
    assert state["max"] == 3, f"at most 3 at once to one endpoint, saw {state['max']}"


def test_secrets_never_reach_the_logs(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running_receiver() as receiver:
        receiver.answer = lambda _r: (500, {})
        created = container.webhooks.create("default", receiver.url, ["*"])
        endpoint = created.endpoint
        _, rotated = container.webhooks.rotate_secret("default", endpoint.id)
        facts(container, 3)
        asyncio.run(container.delivery_worker().drain())
        assert len(receiver.received) == 3
    assert created.secret is not None
    for secret in (created.secret, rotated):
        assert secret not in caplog.text
        assert secret[6:] not in caplog.text  # nor its base64 key
