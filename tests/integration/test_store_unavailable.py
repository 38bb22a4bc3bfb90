"""Issue 17 item 4: a store that cannot write is a retryable 503, never a 500 (and never a
200 for an event that was not stored), on every path; ``/readyz`` says not ready.

Read-only SQLite: tests run as root, which ignores file modes, so ``chmod`` cannot make
the file read-only; the store is opened read-only instead (``sqlite:///file:...?mode=ro``
with ``uri=true``), which SQLite enforces for root too and which refuses every write with
``attempt to write a readonly database`` -- what a read-only file or mount gives.
PostgreSQL stopped mid-ingest: a throwaway second cluster (``scripts/pg-test-cluster.sh``
on a free port) is stopped while clients post events, then started again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store.schema_events import events
from tallybook.api.app import create_app
from tallybook.bootstrap import build
from tallybook.config import Settings
from tests.conftest import REPO, TEST_KEY
from tests.integration.test_billing_concurrency import CATALOG
from tests.live_server import free_port, live_server

START = datetime(2026, 1, 1, tzinfo=UTC)
EVENT = {"id": "e1", "customer": "c", "type": "api_call", "timestamp": "2026-01-15T00:00:00Z"}


def settings_for(url: str) -> Settings:
    return Settings(
        database_url=url, api_key=TEST_KEY, log_json=False, scheduler_interval_seconds=0
    )


def assert_503(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    code = body["error"]["code"] if "error" in body else body.get("code") or body.get("reason")
    assert code == "store_unavailable", body


@pytest.fixture
def read_only_sqlite(tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "tallybook.db"
    clock = FixedClock(START)
    writable = build(settings_for(f"sqlite:///{path}"), clock=clock)
    writable.tenants.bootstrap_default(TEST_KEY)
    writable.catalog.apply("default", CATALOG)
    writable.customers.create("default", "c", currency="USD")
    writable.subscriptions.create("default", "c", "hybrid", start=START)
    writable.close()
    clock.set(datetime(2026, 2, 1, 2, 0, tzinfo=UTC))  # January is due
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    container = build(settings_for(url), clock=clock, migrate=False)
    app = create_app(container=container)
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with TestClient(app, headers=headers, raise_server_exceptions=False) as client:
        yield client
    container.close()


def test_a_read_only_sqlite_store_is_503_and_not_ready(read_only_sqlite: TestClient) -> None:
    client = read_only_sqlite
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/customers").status_code == 200  # reads still work
    assert_503(client.get("/readyz"))
    assert_503(client.post("/v1/events", json=EVENT))
    assert_503(client.post("/v1/events", json=[EVENT, {**EVENT, "id": "e2"}]))
    assert_503(client.post("/v1/billing-runs", json={}))
    assert_503(client.post("/v1/customers", json={"id": "d", "currency": "USD"}))
    cloud = client.post(
        "/api/v1/events",
        json={"id": "x", "source": "s", "type": "api_call", "subject": "c"},
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert cloud.status_code == 503 and int(cloud.headers["retry-after"]) >= 1
    assert cloud.json()["code"] == "store_unavailable"


# -- PostgreSQL stopped mid-ingest ---------------------------------------------------------


def _cluster(action: str, port: int) -> str:
    env = {**os.environ, "TALLYBOOK_TEST_PG_PORT": str(port)}
    script = REPO / "scripts" / "pg-test-cluster.sh"
    done = subprocess.run(
        [str(script), action], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


@pytest.fixture
def spare_cluster(pg_template: str) -> Iterator[tuple[str, int]]:
    """A second, throwaway PostgreSQL cluster this test may stop (``pg_template`` only makes
    the test skip or fail like the other PostgreSQL tests when none is configured)."""
    port = free_port()
    try:
        _cluster("start", port)
        admin = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE spare"))
        engine.dispose()
        yield f"postgresql://postgres@127.0.0.1:{port}/spare", port
    finally:
        _cluster("stop", port)
        shutil.rmtree(f"/tmp/tallybook-pg-{port}", ignore_errors=True)


class Poster:
    """Posts batches of new events in a loop, recording what each request was told."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.acknowledged: list[str] = []
        self.answers: list[httpx.Response] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                ids = [f"e{n}-{i}" for i in range(50)]
                n += 1
                batch = [{**EVENT, "id": i} for i in ids]
                response = client.post("/v1/events", json=batch)
                self.answers.append(response)
                if response.status_code == 200 and response.json()["accepted"] == len(ids):
                    self.acknowledged += ids
                time.sleep(0.005)


@pytest.mark.postgres
def test_postgres_stopped_mid_ingest_gives_only_503s(spare_cluster: tuple[str, int]) -> None:
    url, port = spare_cluster
    container = build(settings_for(url))
    container.tenants.bootstrap_default(TEST_KEY)
    try:
        with live_server(create_app(container=container)) as base_url:
            poster = Poster(base_url)
            poster.thread.start()
            while len(poster.answers) < 10:
                time.sleep(0.01)
            _cluster("stop", port)
            down_from = len(poster.answers)
            while len(poster.answers) < down_from + 20:
                time.sleep(0.01)
            other_paths = _while_down(base_url)
            _cluster("start", port)
            _wait_ready(base_url)
            poster.stop.set()
            poster.thread.join(60)
        statuses = {r.status_code for r in poster.answers}
        assert statuses <= {200, 503}, statuses
        failed = [r for r in poster.answers if r.status_code != 200]
        assert len(failed) >= 10
        for response in failed + other_paths:
            assert_503(response)
        with container.engine.connect() as conn:
            stored = set(conn.scalars(select(events.c.id)))
        assert set(poster.acknowledged) <= stored  # never a 200 for an event not stored
    finally:
        container.close()


def _while_down(base_url: str) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        answers = [
            client.get("/readyz"),
            client.get("/v1/customers"),
            client.get("/v1/events"),
            client.get("/v1/plans/hybrid"),
            client.post("/v1/billing-runs", json={}),
            client.post(
                "/api/v1/events",
                json={"id": "x", "source": "s", "type": "api_call", "subject": "c"},
                headers={"Content-Type": "application/cloudevents+json"},
            ),
        ]
        assert client.get("/healthz").status_code == 200
    return answers


def _wait_ready(base_url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{base_url}/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError("not ready again after the store came back")
