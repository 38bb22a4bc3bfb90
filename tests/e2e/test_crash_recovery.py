"""Crash recovery: SIGKILL the server in the middle of a sustained ingest.

A retrying client (the Tallybook SDK, ``tallybook.client.Client``) sends 20,000 events
with distinct ids in batches of 500 while a watcher SIGKILLs the server twice, each time
once a given share of the events is stored, and restarts it on the same database. The
batch in flight at the kill is either committed (its retry is then a duplicate) or rolled
back (its retry stores it): afterwards the store holds exactly the ids that were sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.schema_events import events
from tallybook.client import Client
from tests.e2e.conftest import RunningServer, ServerFactory

pytestmark = pytest.mark.e2e

N = 20_000
KILL_AT = (N // 4, N // 2)  # stored events at which the server is killed


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def watch_and_kill(
    handle: RunningServer, engine: Engine, kills: list[int], done: threading.Event
) -> None:
    for threshold in KILL_AT:
        while not done.is_set() and stored(engine) < threshold:
            time.sleep(0.005)
        if done.is_set():
            return
        handle.kill()
        kills.append(stored(engine))
        time.sleep(0.3)  # the client now meets refused connections and backs off
        handle.start()


def test_sigkill_mid_ingest_loses_nothing_and_doubles_nothing(
    server: ServerFactory, db_url: str, store: Engine
) -> None:
    handle = server(db_url)
    kills: list[int] = []
    done = threading.Event()
    watcher = threading.Thread(target=watch_and_kill, args=(handle, store, kills, done))
    watcher.start()
    started = time.monotonic()
    client = Client(
        handle.api_key,
        handle.base_url,
        batch_size=500,
        flush_interval=0.05,
        max_queue=N,
        max_retries=200,
        backoff_base=0.05,
        backoff_max=0.5,
        timeout=15,
    )
    try:
        for i in range(N):
            client.track(f"cust-{i % 97}", "api_call", {"tokens": i % 1000}, id=f"crash-{i:06d}")
        assert client.flush(timeout=50), "the client did not finish in time"
    finally:
        client.close(timeout=5)
        done.set()
        watcher.join()
    stats = client.stats
    assert time.monotonic() - started < 60
    assert len(kills) == 2, f"the server was killed {len(kills)} times"
    assert all(0 < k < N for k in kills), kills
    assert stats.failed == 0
    assert stats.retries >= 2
    assert stats.accepted + stats.duplicates == N
    assert stored(store) == N
    with store.connect() as conn:
        distinct = select(func.count(func.distinct(events.c.id)))
        assert conn.execute(distinct).scalar_one() == N
