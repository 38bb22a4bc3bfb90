"""The outbox's sequence numbers taken for a whole batch at once (one upsert per page of
customers) are the numbers one message at a time gives: per customer, consecutive, in
message order, continuing each customer's earlier counter; on both stores."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_webhooks import outbox, outbox_sequences
from tallybook.bootstrap import Container
from tallybook.domain.webhooks import OutboxMessage

NOW = datetime(2026, 2, 1, 2, tzinfo=UTC)


def _message(customer: str | None, n: int) -> OutboxMessage:
    return OutboxMessage("invoice.finalized", NOW, {"n": n}, customer)


def _stored(container: Container, tenant: str) -> tuple[list[Any], list[Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.customer_id, outbox.c.sequence, outbox.c.type, outbox.c.data)
            .where(outbox.c.tenant_id == tenant)
            .order_by(outbox.c.customer_id, outbox.c.sequence)
        ).all()
        counters = conn.execute(
            select(outbox_sequences.c.customer_id, outbox_sequences.c.last_sequence)
            .where(outbox_sequences.c.tenant_id == tenant)
            .order_by(outbox_sequences.c.customer_id)
        ).all()
    return [tuple(r) for r in rows], [tuple(r) for r in counters]


def test_a_mixed_batch_numbers_as_one_message_at_a_time(container: Container) -> None:
    writer = OutboxWriter()
    earlier = {"c0001": 2, "c0007": 1, None: 3}  # customers whose counters already exist
    # 1,200 customers (more than one 1,000-row page), some with several messages, one
    # tenant-wide (no customer), in shuffled order
    customers: list[str | None] = [f"c{n:04d}" for n in range(1_200)]
    batch = [*customers, "c0001", "c0001", "c0500", None, None, "c1199"]
    random.Random(5).shuffle(batch)
    messages = [_message(c, n) for n, c in enumerate(batch)]
    for tenant in ("one", "many"):
        with container.engine.begin() as conn:
            for customer, count in earlier.items():
                writer.add(conn, tenant, [_message(customer, -1)] * count, NOW)
    upserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("INSERT INTO outbox_sequences"):
            upserts.append(statement)

    with container.engine.begin() as conn:
        for message in messages:
            writer.add(conn, "one", [message], NOW)
    event.listen(container.engine, "before_cursor_execute", count)
    try:
        with container.engine.begin() as conn:
            writer.add(conn, "many", messages, NOW)
    finally:
        event.remove(container.engine, "before_cursor_execute", count)

    one, many = _stored(container, "one"), _stored(container, "many")
    assert many == one
    assert 1 <= len(upserts) <= 2  # one statement per page of customers, not one each
    rows, counters = many
    by_customer: dict[str | None, list[tuple[int, int]]] = {}
    for customer, sequence, _type, data in rows:
        by_customer.setdefault(customer, []).append((sequence, data["n"]))
    for customer, numbered in by_customer.items():
        sequences = [s for s, _ in numbered]
        assert sequences == list(range(1, len(numbered) + 1)), customer
        fresh = [n for _, n in numbered if n >= 0]
        assert fresh == sorted(fresh), customer  # message order kept
    assert dict(counters)["c0001"] == 2 + 3
    assert dict(counters)[""] == 3 + 2  # tenant-wide messages count under ""
    assert len(counters) == 1_201


def test_an_empty_batch_writes_nothing(container: Container) -> None:
    with container.engine.begin() as conn:
        OutboxWriter().add(conn, "default", [], NOW)
    assert _stored(container, "default") == ([], [])
