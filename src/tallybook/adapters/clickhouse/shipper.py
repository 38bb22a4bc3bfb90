"""The shipper: committed ingest batches from PostgreSQL (or SQLite) to ClickHouse.

Ingest commits a batch's events to ``events`` (the dedupe ledger: the primary key
``(tenant_id, source, id)`` decides first occurrences) together with its ``event_batches``
row (``schema_shipping``); the client is answered after that commit. The shipper then,
per round, in ONE database transaction:

1. claims the oldest unshipped batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   several shippers never wait on each other),
2. reads each batch's stored events and inserts them into ClickHouse as one block with
   ``insert_deduplication_token = batch id``,
3. marks the batches shipped and commits.

Killed (``kill -9``) anywhere before step 3's commit, the batches stay unshipped and the
next round inserts them again: ClickHouse drops a block whose token it has seen (within
the deduplication window), and a block that got through anyway has rows equal on the
whole sorting key, which ``FINAL`` (every usage read) and merges collapse. Killed after
the commit, nothing is left to do. Either way each event is counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Text,
    cast,
    func,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)

from tallybook.adapters.clickhouse.executors import Executor
from tallybook.adapters.clickhouse.schema import row
from tallybook.adapters.store.db import is_postgres
from tallybook.adapters.store.failures import translated
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.domain.metering.events import NewEvent

_KEYS_PER_QUERY = 1000


class Shipper:
    """Moves committed batches to ClickHouse (see module doc). ``after_insert`` is called
    with each batch id after its ClickHouse insert and before the commit (tests stop the
    process there)."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        now: Callable[[], datetime],
        *,
        after_insert: Callable[[str], None] | None = None,
    ):
        self._engine = engine
        self._executor = executor
        self._now = now
        self._postgres = is_postgres(engine)
        self._after_insert = after_insert

    def ship_once(self, limit: int = 100) -> int:
        """Ship up to ``limit`` unshipped batches in one transaction; how many shipped.
        ``StoreUnavailable`` when either store fails (nothing is marked shipped then)."""
        c = event_batches.c
        stmt = (
            select(c.id, c.tenant_id, c.event_keys)
            .where(c.shipped_at.is_(None))
            .order_by(c.shipped_at, c.id)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        with translated(), self._engine.begin() as conn:
            batches = conn.execute(stmt).all()
            for batch_id, tenant_id, keys in batches:
                rows = [
                    row(tenant_id, e, received)
                    for e, received in _events(conn, tenant_id, keys, self._postgres)
                ]
                self._executor.insert("events", rows, token=batch_id)
                if self._after_insert is not None:
                    self._after_insert(batch_id)
            if batches:
                conn.execute(
                    update(event_batches)
                    .where(c.id.in_([b[0] for b in batches]))
                    .values(shipped_at=self._now())
                )
        return len(batches)

    def ship_all(self, limit: int = 100) -> int:
        """Ship until nothing is left unshipped; how many batches."""
        total = 0
        while shipped := self.ship_once(limit):
            total += shipped
        return total

    def pending(self) -> int:
        """How many batches wait to be shipped."""
        c = event_batches.c
        with self._engine.connect() as conn:
            stmt = select(func.count()).select_from(event_batches).where(c.shipped_at.is_(None))
            return int(conn.execute(stmt).scalar_one())


_PG_EVENTS = text(
    "SELECT e.source, e.id, e.customer, e.type, e.ts, CAST(e.properties AS text), e.body_hash, "
    "e.received_at FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[])) AS k(source, id) "
    "JOIN events e ON e.tenant_id = :tenant AND e.source = k.source AND e.id = k.id"
)  # a join on the primary key: a (source, id) IN list of 1,000 pairs planned 10x slower


def _events(
    conn: Connection, tenant_id: str, keys: Sequence[Sequence[str]], postgres: bool
) -> list[tuple[NewEvent, int]]:
    """The stored events of ``keys`` with their received instants (micros)."""
    c = events.c
    found: list[tuple[NewEvent, int]] = []
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = [(str(k[0]), str(k[1])) for k in keys[start : start + _KEYS_PER_QUERY]]
        if postgres:
            result = conn.execute(
                _PG_EVENTS,
                {
                    "sources": [k[0] for k in chunk],
                    "ids": [k[1] for k in chunk],
                    "tenant": tenant_id,
                },
            )
        else:
            result = conn.execute(
                select(
                    c.source,
                    c.id,
                    c.customer,
                    c.type,
                    type_coerce(c.ts, BigInteger),
                    cast(c.properties, Text),
                    c.body_hash,
                    type_coerce(c.received_at, BigInteger),
                ).where(c.tenant_id == tenant_id, tuple_(c.source, c.id).in_(chunk))
            )
        for r in result:
            values: list[Any] = list(r)
            found.append((NewEvent(*values[:7]), int(values[7])))
    return found
