"""The event store itself: batch writes, dedupe answers, group commit isolation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select

from tallybook.adapters.store.db import make_engine
from tallybook.adapters.store.events import BatchWriter, DeadLetter, EventStore, NewEvent
from tallybook.adapters.store.migrate import upgrade
from tallybook.adapters.store.schema_events import events, rejected_events


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
    first = store.write("t1", 1, lambda tx: tx.insert([row("a"), row("b")]))
    assert first == (2, {})
    again = store.write("t1", 2, lambda tx: tx.insert([row("a", "x" * 32), row("c"), row("b")]))
    assert again == (1, {("", "a"): "h" * 32, ("", "b"): "h" * 32, ("", "c"): "h" * 32})
    other_tenant = store.write("t2", 3, lambda tx: tx.insert([row("a", "x" * 32)]))
    assert other_tenant == (1, {})
    other_source = store.write("t1", 3, lambda tx: tx.insert([row("a", source="s")]))
    assert other_source == (1, {})
    assert count(engine) == 5


@pytest.mark.parametrize("group", [0, 20_000], ids=["plain", "group-commit"])
def test_a_failing_shared_write_leaves_the_others_intact(engine: Engine, group: int) -> None:
    """A group whose transaction fails is re-run request by request."""
    store = EventStore(engine, group_commit_rows=group)
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def writer(n: int) -> None:
        def work(tx: BatchWriter) -> None:
            tx.insert([row(f"w{n}-{i}") for i in range(50)])
            tx.dead_letters([DeadLetter("native", None, f"w{n}", "invalid_id", "m", "{}")])
            if n % 4 == 0:
                raise RuntimeError(f"writer {n} fails after writing")

        start.wait()
        try:
            store.write("t", n, work, size=50, shared=True)
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
    [rid] = store.write(
        "t", 1, lambda tx: tx.dead_letters([DeadLetter("native", None, "e", "c", "m", "{}")])
    )
    now = datetime.now(UTC)
    assert store.write("t", 2, lambda tx: tx.resolve(rid, "discarded", now)) is True
    assert store.write("t", 3, lambda tx: tx.resolve(rid, "replayed", now)) is False
    assert store.write("other", 3, lambda tx: tx.resolve(rid, "discarded", now)) is False
    letter = store.get_rejected("t", rid)
    assert letter is not None and letter.status == "discarded"
    assert store.get_rejected("other", rid) is None
