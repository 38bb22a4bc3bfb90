"""The debounced alert evaluator on both stores (``AlertEvaluator.run_pass`` and its
thread): several ingest batches between two passes -- within one debounce window -- are
answered by ONE evaluation per customer, a threshold they cross fires exactly once, and a
crossing after the window fires in the next pass. Counts of evaluations, never timings."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from tallybook.adapters.clock import FixedClock
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.alerts import Fired
from tallybook.services.alert_evaluator import AlertEvaluator
from tallybook.services.alerts import AlertService
from tests.conftest import TEST_KEY
from tests.integration.test_alerts_api import CATALOG, NOW, customer, fired, send


class Counting(AlertService):
    """The real ``AlertService`` of a container, counting evaluations per customer;
    ``during(customer)`` runs inside an evaluation (ingest touching the customer then)."""

    def __init__(self, real: AlertService) -> None:
        self._real = real
        self.calls: Counter[str] = Counter()
        self.during: Callable[[str], None] | None = None
        self._lock = threading.Lock()

    def evaluate(
        self, tenant_id: str, customer_id: str, now: datetime | None = None
    ) -> list[Fired]:
        with self._lock:
            self.calls[customer_id] += 1
        if self.during is not None:
            self.during(customer_id)
        return self._real.evaluate(tenant_id, customer_id, now)


@pytest.fixture
def stack(settings: Settings) -> Iterator[tuple[Container, TestClient]]:
    container = build(settings, clock=FixedClock(NOW))
    container.tenants.bootstrap_default(TEST_KEY)
    app = create_app(container=container)
    with TestClient(app, headers={"Authorization": f"Bearer {TEST_KEY}"}) as client:
        assert client.put("/v1/catalog", json=CATALOG).status_code == 200
        yield container, client
    container.close()


def evaluator(
    container: Container, counting: Counting, debounce: float = 0.0, batch: int = 50
) -> AlertEvaluator:
    """An evaluator over the container's own queue (the marks ingest writes)."""
    queue = container.alert_evaluator._queue
    return AlertEvaluator(
        counting,
        queue,
        container.clock,
        poll_seconds=0.05,
        debounce_seconds=debounce,
        batch=batch,
    )


def thresholds(client: TestClient, name: str) -> list[str]:
    """The customer's fired thresholds, ascending (the fixed clock gives them one time)."""
    return sorted((f["threshold"] for f in fired(client, name)), key=int)


def test_batches_between_passes_evaluate_each_customer_once_and_fire_once(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    counting = Counting(container.alerts)
    passes = evaluator(container, counting)
    customer(client, "a")
    customer(client, "b")
    send(client, "a", 700)  # three batches for a within one window: 700, 750, 810 of 1000
    send(client, "a", 50)
    send(client, "b", 10)
    send(client, "a", 60)
    send(client, "b", 10)
    assert passes.run_pass() == 2
    assert counting.calls == Counter({"a": 1, "b": 1})  # one evaluation answers them all
    assert thresholds(client, "a") == ["80"]
    assert thresholds(client, "b") == []
    assert passes.run_pass() == 0  # every mark was answered
    send(client, "a", 1)  # still past 80 %: evaluated again, nothing new
    send(client, "a", 1)
    assert passes.run_pass() == 1
    assert thresholds(client, "a") == ["80"]
    send(client, "a", 200)  # a later window: 1012 of 1000 crosses 100 %
    assert passes.run_pass() == 1
    assert counting.calls == Counter({"a": 3, "b": 1})
    assert thresholds(client, "a") == ["80", "100"]
    assert container.alerts.evaluate("default", "a") == []  # never twice


def test_a_customer_touched_during_a_pass_is_evaluated_in_the_next_one(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    counting = Counting(container.alerts)
    passes = evaluator(container, counting)
    customer(client, "a")
    customer(client, "b")
    send(client, "a", 500)
    send(client, "b", 900)

    def ingest_meanwhile(name: str) -> None:
        if name == "a" and counting.calls["a"] == 1:
            send(client, "a", 400)  # committed while a's first evaluation runs

    counting.during = ingest_meanwhile
    assert passes.run_pass() == 2  # a once (its new mark ends the pass), b once
    assert counting.calls == Counter({"a": 1, "b": 1})
    assert thresholds(client, "b") == ["80"]
    assert passes.run_pass() == 1  # the mark left by the batch during the pass
    assert counting.calls["a"] == 2
    assert thresholds(client, "a") == ["80"]  # 900 of 1000, fired once
    assert passes.run_pass() == 0


def test_a_busy_customers_backlog_is_answered_by_one_evaluation(
    stack: tuple[Container, TestClient],
) -> None:
    """A customer with more marks than one claim reads (20 rows per customer claimed) is
    claimed with all its marks: the pass goes on to the next customer instead of meeting
    the busy one again and ending (alert latency grew without bound under sustained
    ingest when it did)."""
    container, client = stack
    counting = Counting(container.alerts)
    passes = evaluator(container, counting, batch=1)  # reads 20 oldest marks per claim
    customer(client, "busy")
    customer(client, "quiet")
    for _ in range(25):
        send(client, "busy", 40)  # 25 marks, 1000 of 1000 in the end
    send(client, "quiet", 850)
    assert passes.run_pass() == 2
    assert counting.calls == Counter({"busy": 1, "quiet": 1})
    assert thresholds(client, "busy") == ["80", "100"]
    assert thresholds(client, "quiet") == ["80"]
    assert passes.run_pass() == 0


def test_the_debouncing_thread_fires_each_threshold_once(
    stack: tuple[Container, TestClient],
) -> None:
    container, client = stack
    counting = Counting(container.alerts)
    thread = evaluator(container, counting, debounce=0.2)
    container.ingest.after_commit = thread.wake  # as bootstrap wires the served one
    customer(client, "a")
    thread.start()
    try:
        batches = [300, 300, 250, 1, 1]  # 850 of 1000 after the third
        for amount in batches:
            send(client, "a", amount)
        wait_for(lambda: thresholds(client, "a") == ["80"])
        send(client, "a", 200)  # 1052: a crossing after those windows
        wait_for(lambda: thresholds(client, "a") == ["80", "100"])
    finally:
        thread.stop()
    assert thresholds(client, "a") == ["80", "100"]  # each once
    assert 2 <= counting.calls["a"] <= len(batches) + 1  # never more than one per batch


def wait_for(condition: Callable[[], bool], guard: float = 30.0) -> None:
    """Poll ``condition`` until true; fails after ``guard`` seconds (a hang guard only)."""
    deadline = time.monotonic() + guard
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
