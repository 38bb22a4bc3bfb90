"""The dedupe ledger by month: partitions, retention, exactly-once across months (issue 15).

PostgreSQL partitions ``events`` by the UTC month of the event's time (``ledger_month``);
SQLite has one table. Both apply ``event_ledger_retention_months``. The clock is fixed
so the months are the test's, not the machine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from tallybook.adapters.clock import FixedClock
from tallybook.adapters.store import ledger_partitions
from tallybook.adapters.store.ledger_partitions import existing_months
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.bootstrap import Container, build
from tallybook.config import Settings
from tallybook.domain.metering.dedupe import BatchResult

from ..conftest import TEST_KEY

TENANT = "default"


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).astimezone(UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-11-30T23:59:00+00:00"))


def _build(db_url: str, clock: FixedClock, retention: int | None) -> Container:
    settings = Settings(
        database_url=db_url,
        api_key=TEST_KEY,
        log_json=False,
        scheduler_interval_seconds=0,
        event_ledger_retention_months=retention,
    )
    container = build(settings, clock=clock)
    container.tenants.bootstrap_default(TEST_KEY)
    return container


@pytest.fixture
def ledger(db_url: str, clock: FixedClock) -> Iterator[Container]:
    container = _build(db_url, clock, retention=2)
    yield container
    container.close()


def ev(event_id: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": event_id, "customer": "acme", "type": "api_call"}
    event.update(fields)
    return event


def send(container: Container, *items: dict[str, Any]) -> tuple[int, int, int]:
    result: BatchResult = container.ingest.ingest(TENANT, list(items))
    return result.accepted, result.duplicates, result.conflicts


def stored(container: Container, event_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(events)
    if event_id is not None:
        stmt = stmt.where(events.c.id == event_id)
    with container.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def months(container: Container) -> list[tuple[int, int]]:
    with container.engine.connect() as conn:
        return existing_months(conn)


def rows_in(container: Container, table: str) -> int:
    with container.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_retry_sent_next_month_is_a_duplicate(ledger: Container, clock: FixedClock) -> None:
    stamped = ev("stamped", timestamp="2026-11-30T23:00:00Z", properties={"n": 1})
    bare = ev("bare", properties={"n": 2})  # stored at the clock's instant: November
    assert send(ledger, stamped, bare) == (2, 0, 0)
    clock.set(at("2026-12-01T00:00:05+00:00"))
    # bare's retry now gets a December instant: found in November's partition all the same
    assert send(ledger, bare, stamped) == (0, 2, 0)
    clock.set(at("2027-01-20T10:00:00+00:00"))
    assert send(ledger, stamped) == (0, 1, 0)
    assert stored(ledger) == 2


def test_the_same_id_with_another_month_is_a_conflict(ledger: Container, clock: FixedClock) -> None:
    assert send(ledger, ev("k", timestamp="2026-11-15T12:00:00Z")) == (1, 0, 0)
    clock.set(at("2026-12-03T00:00:00+00:00"))
    other_month = ev("k", timestamp="2026-12-02T12:00:00Z")
    assert send(ledger, other_month, ev("k2")) == (1, 0, 1)
    assert send(ledger, ev("k", timestamp="2026-11-20T12:00:00Z")) == (0, 0, 1)
    assert stored(ledger, "k") == 1
    with ledger.engine.connect() as conn:
        ts = conn.execute(select(events.c.ts).where(events.c.id == "k")).scalar_one()
    assert ts == at("2026-11-15T12:00:00+00:00")


@pytest.mark.postgres
def test_partitions_are_made_ahead_and_late_rows_move_in(pg_url: str, clock: FixedClock) -> None:
    container = _build(pg_url, clock, retention=None)
    try:
        today = datetime.now(UTC)
        assert (today.year, today.month) in months(container)  # the migration's, from "now"
        clock.set(at("2031-05-02T08:00:00+00:00"))
        # no partition for May 2031 yet: the event waits in the default partition
        assert send(container, ev("may", timestamp="2031-05-01T00:00:00Z")) == (1, 0, 0)
        assert rows_in(container, "events_default") == 1
        report = container.ledger.run() if container.ledger else None
        assert report is not None
        assert report.created == [
            "events_p203104",
            "events_p203105",
            "events_p203106",
            "events_p203107",
        ]
        assert rows_in(container, "events_default") == 0
        assert rows_in(container, "events_p203105") == 1
        assert container.ledger is not None and container.ledger.run().created == []
        # and the moved row still decides dedupe
        assert send(container, ev("may", timestamp="2031-05-01T00:00:00Z")) == (0, 1, 0)
        with container.engine.connect() as conn:
            key = conn.execute(
                text(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = "
                    "'pk_events' AND conrelid = 'events'::regclass"
                )
            ).scalar_one()
        assert key == "PRIMARY KEY (tenant_id, source, id, ledger_month)"
    finally:
        container.close()


def _spread(container: Container) -> None:
    """Events in Jan 2026 (late), Nov 2026, Dec 2026 and Mar 2027 (clock in Mar 2027)."""
    stamps = {
        "jan": "2026-01-15T00:00:00Z",
        "nov": "2026-11-15T00:00:00Z",
        "dec": "2026-12-31T23:59:59Z",
        "mar": "2027-03-01T00:00:00Z",
    }
    sent = send(container, *(ev(k, timestamp=v) for k, v in stamps.items()))
    assert sent == (4, 0, 0)


def test_retention_drops_months_before_the_horizon(db_url: str, clock: FixedClock) -> None:
    clock.set(at("2027-03-10T00:00:00+00:00"))
    container = _build(db_url, clock, retention=2)  # keep Jan 2027 onwards
    try:
        _spread(container)
        assert container.ledger is not None
        report = container.ledger.run()
        assert not report.held
        with container.engine.connect() as conn:
            left = conn.execute(select(events.c.id).order_by(events.c.id)).scalars().all()
        assert left == ["mar"]
        if container.engine.dialect.name == "postgresql":
            # Nov and Dec were in the migration's partitions (dropped whole) or in the
            # default one (deleted), depending on the day the database was made
            assert report.dropped or report.deleted == 3
            assert min(months(container)) == (2027, 1)
            assert rows_in(container, "events_default") == 0
        else:
            assert report.deleted == 3
        # past the horizon dedupe is gone: the retried id is accepted again (docs/scaling.md)
        assert send(container, ev("dec", timestamp="2026-12-31T23:59:59Z")) == (1, 0, 0)
        assert send(container, ev("mar", timestamp="2027-03-01T00:00:00Z")) == (0, 1, 0)
    finally:
        container.close()


def test_retention_deletes_in_bounded_chunks(
    db_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_partitions, "DELETE_CHUNK", 3)
    clock.set(at("2027-03-10T00:00:00+00:00"))
    container = _build(db_url, clock, retention=2)
    try:
        old = [ev(f"old{i}", timestamp="2026-01-15T00:00:00Z") for i in range(8)]
        assert send(container, *old, ev("new"))[0] == 9
        assert container.ledger is not None
        assert container.ledger.run().deleted == 8
        assert stored(container) == 1
    finally:
        container.close()


def test_retention_waits_for_unshipped_batches(db_url: str, clock: FixedClock) -> None:
    clock.set(at("2027-03-10T00:00:00+00:00"))
    container = _build(db_url, clock, retention=2)
    try:
        _spread(container)
        with container.engine.begin() as conn:
            conn.execute(
                insert(event_batches).values(
                    id="bat_waiting",
                    tenant_id=TENANT,
                    event_keys=[["", "nov"]],
                    created_at=clock.now(),
                    shipped_at=None,
                )
            )
        assert container.ledger is not None
        report = container.ledger.run()
        assert report.held and report.dropped == [] and report.deleted == 0
        assert stored(container) == 4
        with container.engine.begin() as conn:
            conn.execute(event_batches.update().values(shipped_at=clock.now()))
        assert not container.ledger.run().held
        assert stored(container) == 1
    finally:
        container.close()
