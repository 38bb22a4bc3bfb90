"""The event store itself: batch writes, dedupe answers, group commit isolation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy import Engine, func, select

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.events import BatchWriter, EventStore
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.schema_events import events, rejected_events
from tallybook.domain.errors import Conflict
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import DeadLetter, Key, NewEvent, Problem


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def row(event_id: str, body_hash: str = "h" * 32, source: str = "") -> NewEvent:
    return NewEvent(source, event_id, "acme", "api_call", 1_790_000_000_000_000, "{}", body_hash)


def count(engine: Engine, table: object = events) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.parametrize("group", [0, 20_000], ids=["plain", "group-commit"])
def test_insert_reports_inserted_and_stored_hashes(engine: Engine, group: int) -> None:
    store = EventStore(engine, group_commit_rows=group)

    def insert(tenant: str, received: int, rows: list[NewEvent]) -> tuple[int, dict[Key, str]]:
        with store.transaction(tenant, received) as tx:
            return tx.insert(rows)

    assert insert("t1", 1, [row("a"), row("b")]) == (2, {})
    again = insert("t1", 2, [row("a", "x" * 32), row("c"), row("b")])
    assert again == (1, {("", "a"): "h" * 32, ("", "b"): "h" * 32, ("", "c"): "h" * 32})
    assert insert("t2", 3, [row("a", "x" * 32)]) == (1, {})
    assert insert("t1", 3, [row("a", source="s")]) == (1, {})
    assert count(engine) == 5


class FailingBatch(EventBatch):
    """A batch whose settling fails after its events were inserted."""

    def settle(self, inserted: int, stored: dict[Key, str]) -> tuple[BatchResult, list[DeadLetter]]:
        super().settle(inserted, stored)
        raise RuntimeError(f"writer {self.fmt} fails after writing")


def batch_of(n: int, *, failing: bool) -> EventBatch:
    """50 valid events and one rejected one (a dead letter)."""
    items: list[object] = [{"id": f"w{n}-{i}"} for i in range(50)] + [{"id": f"w{n}"}]
    batch = (FailingBatch if failing else EventBatch)(str(n), items)
    for i in range(50):
        batch.add(i, row(f"w{n}-{i}"))
    batch.reject(50, items[50], Problem("invalid_id", "m"))
    return batch


@pytest.mark.parametrize("group", [0, 20_000], ids=["plain", "group-commit"])
def test_a_failing_shared_write_leaves_the_others_intact(engine: Engine, group: int) -> None:
    """A group whose transaction fails is re-run request by request."""
    store = EventStore(engine, group_commit_rows=group)
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def writer(n: int) -> None:
        batch = batch_of(n, failing=n % 4 == 0)
        start.wait()
        try:
            result = store.write_batch("t", n, batch)
            assert (result.accepted, result.rejected) == (50, 1)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(str(e) for e in errors) == [f"writer {n} fails after writing" for n in (0, 4, 8)]
    assert count(engine) == 9 * 50
    assert count(engine, rejected_events) == 9


def test_resolve_only_moves_open_letters(engine: Engine) -> None:
    store = EventStore(engine)
    with store.transaction("t", 1) as tx:
        [rid] = tx.dead_letters([DeadLetter("native", None, "e", "c", "m", {})])
    now = datetime.now(UTC)

    def resolve(tenant: str, status: str) -> bool:
        with store.transaction(tenant, 2) as tx:
            return tx.resolve(rid, status, now)

    assert resolve("t", "discarded") is True
    assert resolve("t", "replayed") is False
    assert resolve("other", "discarded") is False
    letter = store.get_rejected("t", rid)
    assert letter is not None and letter.status == "discarded" and letter.event == "{}"
    assert store.get_rejected("other", rid) is None


def test_run_transaction_reruns_after_a_deadlock_and_keeps_nothing_of_the_failed_try(
    engine: Engine,
) -> None:
    """Dead-letter replay and discard use ``run_transaction``: a deadlock (PostgreSQL
    ``40P01``, raised here by the work on its first try after it wrote) rolls that try back
    and runs the work again, as ``write_batch`` does; a domain error is not retried."""
    store = EventStore(engine)
    with store.transaction("t", 1) as tx:
        [rid] = tx.dead_letters([DeadLetter("native", None, "e", "c", "m", {})])
    now = datetime.now(UTC)
    tries: list[int] = []

    def work(tx: BatchWriter) -> bool:
        tries.append(len(tries))
        moved = tx.resolve(rid, "discarded", now)
        if len(tries) == 1:
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return moved

    assert store.run_transaction("t", 2, work) is True
    assert tries == [0, 1]  # the first try's resolve was rolled back, so the second moved it

    def refused(tx: BatchWriter) -> None:
        tries.append(len(tries))
        raise Conflict("no", code="conflict")

    with pytest.raises(Conflict):
        store.run_transaction("t", 3, refused)
    assert len(tries) == 3
