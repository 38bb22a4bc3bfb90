"""Issue 17 item 3: concurrent ingest of the same ids in different orders on PostgreSQL.

Two clients post the same 2,000 ids, one in reverse order, 20 batches each (and four
clients in shuffled orders): before the fix some requests deadlocked (``DeadlockDetected``,
500). Inserts now follow one key order and deadlocks are retried in the server, so every
request succeeds and each id is stored exactly once."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from tallybook.adapters.store.schema_events import events
from tallybook.api.app import create_app
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tests.conftest import TEST_KEY
from tests.live_server import live_server

pytestmark = pytest.mark.postgres
IDS = [f"evt-{n:05d}" for n in range(2000)]
BATCHES = 20


@pytest.fixture
def pg_container(pg_url: str) -> Iterator[Container]:
    settings = Settings(
        database_url=pg_url, api_key=TEST_KEY, log_json=False, scheduler_interval_seconds=0
    )
    container = build(settings)
    container.tenants.bootstrap_default(TEST_KEY)
    yield container
    container.close()


def post_all(base_url: str, ids: list[str], statuses: list[int], accepted: list[int]) -> None:
    size = len(ids) // BATCHES
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {TEST_KEY}"}) as c:
        for start in range(0, len(ids), size):
            batch = [
                {"id": i, "customer": "c1", "type": "api_call", "timestamp": "2026-01-01T00:00:00Z"}
                for i in ids[start : start + size]
            ]
            response = c.post("/v1/events", json=batch, timeout=60)
            statuses.append(response.status_code)
            if response.status_code == 200:
                accepted.append(response.json()["accepted"])


def run_clients(container: Container, orders: list[list[str]]) -> tuple[list[int], list[int]]:
    statuses: list[int] = []
    accepted: list[int] = []
    with live_server(create_app(container=container)) as base_url:
        threads = [
            threading.Thread(target=post_all, args=(base_url, ids, statuses, accepted))
            for ids in orders
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    return statuses, accepted


def stored(container: Container) -> tuple[int, int]:
    stmt = select(func.count(), func.count(events.c.id.distinct()))
    with container.engine.connect() as conn:
        total, distinct = conn.execute(stmt).one()
    return int(total), int(distinct)


@pytest.mark.parametrize(
    "orders",
    [
        pytest.param(lambda: [IDS, IDS[::-1]], id="two-clients-one-reversed"),
        pytest.param(
            lambda: [random.Random(seed).sample(IDS, len(IDS)) for seed in range(4)],
            id="four-clients-shuffled",
        ),
    ],
)
def test_concurrent_ingest_of_the_same_ids_never_fails(pg_container: Container, orders) -> None:  # type: ignore[no-untyped-def]
    clients: list[list[str]] = orders()
    statuses, accepted = run_clients(pg_container, clients)
    assert len(statuses) == BATCHES * len(clients)
    assert [s for s in statuses if s != 200] == []
    assert sum(accepted) == len(IDS)  # each id accepted once, duplicates everywhere else
    assert stored(pg_container) == (len(IDS), len(IDS))
