"""The event store: batched, deduplicated writes and keyset-paginated reads.

A request's events go through ``EventStore.write_batch(tenant_id, received, batch)`` in
ONE short transaction with a ``BatchWriter``. ``insert`` puts a batch's events in
with the raw driver -- SQLite: ``executemany`` of ``INSERT .. ON CONFLICT DO NOTHING``;
PostgreSQL: ``COPY`` into a per-session temp stage, then one ``INSERT .. SELECT .. ON
CONFLICT DO NOTHING`` -- and, only when some keys already existed, reads back their
stored body hashes so ``domain.metering.dedupe`` can tell duplicates from conflicts. ``dead_letters``
records rejected events; ``resolve`` closes a dead letter. Nothing is acknowledged before
the commit, and the primary key ``(tenant_id, source, id)`` -- not a cache -- decides
what is a duplicate.

SQLite allows one writer at a time, so on SQLite the writers of a process queue for a
group commit (``events_group``) rather than on SQLite's busy handler, which sleeps in
steps of up to 100 ms; requests that queued meanwhile share the next transaction.

With ``ship`` (raw events read from ClickHouse, ``TALLYBOOK_EVENTS_URL``) every insert
that stored an event also writes the batch's ``event_batches`` row (``schema_shipping``)
in the same transaction, for ``adapters.clickhouse.shipper``.

Tables and columns: see ``schema_events``.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Text,
    cast,
    insert,
    literal,
    select,
    tuple_,
    type_coerce,
    update,
)

from tallybook.adapters.store.db import is_postgres
from tallybook.adapters.store.events_group import GroupCommit
from tallybook.adapters.store.failures import translated, with_retries
from tallybook.adapters.store.ledger_partitions import MONTH_OF_TS
from tallybook.adapters.store.rollups import RollupWriter
from tallybook.adapters.store.schema_events import events, rejected_events
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.domain.ids import new_id
from tallybook.domain.instants import from_micros
from tallybook.domain.metering.bounds import DUMP_DEPTH, MAX_STORED_CHARS, MAX_STORED_STRING, cut
from tallybook.domain.metering.dedupe import BatchResult, EventBatch
from tallybook.domain.metering.events import DeadLetter, Key, NewEvent, RejectedEvent, StoredEvent

T = TypeVar("T")

_COLUMNS = "tenant_id, source, id, customer, type, ts, properties, body_hash, received_at"
_SQLITE_INSERT = (
    f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_SQLITE_HASHES = (
    "SELECT source, id, body_hash FROM events WHERE tenant_id = ? AND source = ? "
    "AND id IN (SELECT value FROM json_each(?))"
)
# PostgreSQL: COPY the batch into a per-session temp stage, then one INSERT .. SELECT.
_PG_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS events_stage (source text, id text, customer text, "
    "type text, ts bigint, properties jsonb, body_hash text) ON COMMIT DELETE ROWS; "
    "DELETE FROM events_stage"
)
_PG_COPY = "COPY events_stage FROM STDIN"
# ``events`` is partitioned by the UTC month of ``ts`` (``ledger_month``, 0019) and its key
# includes it: keys stored in another month (a conflicting body with another timestamp, a
# retry of an event sent without one after the month turned) leave the stage here, found
# across every partition, and count as already stored (``ledger_partitions``).
_PG_ELSEWHERE = (
    "DELETE FROM events_stage s USING events e WHERE e.tenant_id = %s "
    "AND e.source = s.source AND e.id = s.id "
    f"AND e.ledger_month <> {MONTH_OF_TS.format(ts='s.ts')} RETURNING s.source, s.id, "
    "e.body_hash"
)
_PG_INSERT = (
    f"INSERT INTO events ({_COLUMNS}, ledger_month) SELECT %s, source, id, customer, type, ts, "
    f"properties, body_hash, %s, {MONTH_OF_TS.format(ts='ts')} FROM events_stage ORDER BY source, id ON CONFLICT DO NOTHING "
    "RETURNING source, id"
)  # one key order for every writer: concurrent batches of the same keys never deadlock
# SQLite: the rows this transaction inserted are those past the largest rowid before it
_SQLITE_LAST_ROWID = "SELECT coalesce(max(rowid), 0) FROM events"
_SQLITE_NEW_KEYS = "SELECT source, id FROM events WHERE rowid > ?"
_PG_HASHES = (
    "SELECT e.source, e.id, e.body_hash FROM events_stage s "
    "JOIN events e ON e.tenant_id = %s AND e.source = s.source AND e.id = s.id"
)
_REJECTED = [c for c in rejected_events.c if c.name != "tenant_id"]  # RejectedEvent order
_sequence = itertools.count()


def new_rejected_id(received_micros: int) -> str:
    """``rej_`` + time-ordered hex: ids sort by creation (within a process, exactly)."""
    return f"rej_{received_micros:014x}{next(_sequence) & 0xFFFFFF:06x}{secrets.token_hex(3)}"


class BatchWriter:
    """The open write transaction of one batch (see ``EventStore.batch``)."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: str,
        received_micros: int,
        postgres: bool,
        rollups: RollupWriter | None = None,
        ship: bool = False,
    ):
        self._conn = conn
        self._tenant = tenant_id
        self._received = received_micros
        self._postgres = postgres
        self._rollups = rollups
        self._ship = ship
        self._raw: Any = conn.connection.driver_connection

    def insert(self, rows: Sequence[NewEvent]) -> tuple[int, dict[Key, str]]:
        """Insert the events whose keys are new. Returns the number inserted and, when some
        keys already existed, the stored body hash of every key of ``rows``. The events
        really inserted are rolled up in the same transaction (``rollups.RollupWriter``)."""
        if not rows:
            return 0, {}
        cursor = self._raw.cursor()
        elsewhere: dict[Key, str] = {}
        try:
            if self._postgres:
                cursor.execute(_PG_STAGE)
                with cursor.copy(_PG_COPY) as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(_PG_ELSEWHERE, (self._tenant,))
                elsewhere = {(s, i): h for s, i, h in cursor.fetchall()}
                cursor.execute(_PG_INSERT, (self._tenant, self._received))
            else:
                last = cursor.execute(_SQLITE_LAST_ROWID).fetchone()[0] if self._rollups else 0
                tenant, received = self._tenant, self._received
                cursor.executemany(_SQLITE_INSERT, [(tenant, *r, received) for r in rows])
            inserted = int(cursor.rowcount)
            if self._ship and inserted:
                self._outbox(rows)
            if inserted == len(rows):
                self._roll_up(rows)
                return inserted, {}
            if self._rollups is not None and inserted:
                if not self._postgres:
                    cursor.execute(_SQLITE_NEW_KEYS, (last,))
                new = {(s, i) for s, i in cursor.fetchall()}
                self._roll_up([r for r in rows if (r.source, r.id) in new])
            return inserted, {**self._stored_hashes(cursor, rows), **elsewhere}
        finally:
            cursor.close()

    def _roll_up(self, new_rows: Sequence[NewEvent]) -> None:
        if self._rollups is not None:
            self._rollups.write(self._conn, self._tenant, self._received, new_rows)

    def _outbox(self, rows: Sequence[NewEvent]) -> None:
        """The batch's outbox row for the ClickHouse shipper (``schema_shipping``), in
        this transaction. Keys that were already stored are listed too: their stored rows
        are shipped again unchanged, which ``FINAL`` reads once."""
        self._conn.execute(
            insert(event_batches).values(
                id=new_id("bat"),
                tenant_id=self._tenant,
                event_keys=[[row.source, row.id] for row in rows],
                created_at=from_micros(self._received),
                shipped_at=None,
            )
        )

    def _stored_hashes(self, cursor: Any, rows: Sequence[NewEvent]) -> dict[Key, str]:
        if self._postgres:
            cursor.execute(_PG_HASHES, (self._tenant,))
            return {(s, i): h for s, i, h in cursor.fetchall()}
        by_source: dict[str, list[str]] = {}
        for row in rows:
            by_source.setdefault(row.source, []).append(row.id)
        found: dict[Key, str] = {}
        for source, ids in by_source.items():
            cursor.execute(_SQLITE_HASHES, (self._tenant, source, orjson.dumps(ids).decode()))
            found.update(((s, i), h) for s, i, h in cursor.fetchall())
        return found

    def dead_letters(self, letters: Sequence[DeadLetter]) -> list[str]:
        if not letters:
            return []
        ids = [new_rejected_id(self._received) for _ in letters]
        received = from_micros(self._received)
        self._conn.execute(
            insert(rejected_events),
            [
                {
                    "id": rid,
                    "tenant_id": self._tenant,
                    "format": d.format,
                    "received_at": received,
                    "source": d.source,
                    "event_id": d.event_id,
                    "code": d.code,
                    "message": d.message,
                    "event": dump_raw(d.event),
                    "status": "open",
                }
                for rid, d in zip(ids, letters, strict=True)
            ],
        )
        return ids

    def resolve(self, rejected_id: str, status: str, at: datetime) -> bool:
        """Move an open dead letter to ``replayed`` or ``discarded``; False if not open."""
        column = "replayed_at" if status == "replayed" else "discarded_at"
        stmt = (
            update(rejected_events)
            .where(
                rejected_events.c.tenant_id == self._tenant,
                rejected_events.c.id == rejected_id,
                rejected_events.c.status == "open",
            )
            .values({"status": status, column: at})
        )
        return self._conn.execute(stmt).rowcount == 1


class EventStore:
    """Event writes and reads. ``write_batch`` stores one request's events; on SQLite
    (``group_commit_rows``, default 20,000 there and off on PostgreSQL, where concurrent
    transactions measured faster) batches may share a transaction with concurrent ones
    (``events_group``). ``transaction`` is a write transaction of its own (dead-letter
    replay and discard), which the caller drives through its ``BatchWriter``."""

    def __init__(
        self,
        engine: Engine,
        *,
        group_commit_rows: int | None = None,
        rollups: RollupWriter | None = None,
        ship: bool = False,
    ):
        self._engine = engine
        self._rollups = rollups
        self._postgres = is_postgres(engine)
        self._ship = ship  # raw events are read from ClickHouse: write the shipping outbox
        if group_commit_rows is None:
            group_commit_rows = 0 if self._postgres else 20_000
        self._group = GroupCommit(engine, group_commit_rows) if group_commit_rows else None

    def quiet(self) -> AbstractContextManager[Any]:
        """Hold off this store's writes while the block runs: on SQLite, where every
        transaction takes the write lock, a short read made here (such as the catalog's)
        never meets SQLITE_BUSY and its sleeping retries."""
        return self._group.database if self._group is not None else nullcontext()

    def write_batch(self, tenant_id: str, received_micros: int, batch: EventBatch) -> BatchResult:
        """Insert the batch's first occurrences, let ``batch.settle`` (the domain's dedupe
        rule) classify what did not go in, and keep its dead letters: one transaction,
        answered after the commit. The batch may be settled twice (a failed group is
        re-run request by request). It may also be run again after a deadlock or
        serialization failure (``failures.with_retries``). Store failures, the raw driver's
        included, are raised as domain errors (``StoreUnavailable``: 503)."""

        def run(conn: Connection) -> BatchResult:
            tx = BatchWriter(
                conn, tenant_id, received_micros, self._postgres, self._rollups, self._ship
            )
            inserted, stored = tx.insert(batch.firsts)
            result, letters = batch.settle(inserted, stored)
            tx.dead_letters(letters)
            return result

        def once() -> BatchResult:
            with translated():  # the raw cursor's driver errors too
                if self._group is None:
                    with self._engine.begin() as conn:
                        return run(conn)
                return self._group.submit(run, batch.size)

        return with_retries(once)

    @contextmanager
    def transaction(self, tenant_id: str, received_micros: int) -> Iterator[BatchWriter]:
        """A write transaction of its own (between groups on SQLite); an error raised in
        the block rolls it back and propagates (store failures as ``StoreUnavailable``)."""
        lock = self._group.database if self._group is not None else nullcontext()
        with translated(), lock, self._engine.begin() as conn:
            yield BatchWriter(
                conn, tenant_id, received_micros, self._postgres, self._rollups, self._ship
            )

    def run_transaction(
        self, tenant_id: str, received_micros: int, work: Callable[[BatchWriter], T]
    ) -> T:
        """``work`` in a write transaction of its own (``transaction``), run again from the
        start after a deadlock or serialization failure as ``write_batch`` is
        (``failures.with_retries``); ``work`` must therefore only touch the database
        through the writer it is given. Returns what ``work`` returns; a domain error it
        raises rolls back and propagates without a retry."""

        def once() -> T:
            with self.transaction(tenant_id, received_micros) as tx:
                return work(tx)

        return with_retries(once)

    def list_events(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        event_type: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[int, str, str] | None = None,
        newest_first: bool = True,
        limit: int = 100,
    ) -> list[StoredEvent]:
        """Events by ``(ts, source, id)``, newest or oldest first, ``start <= ts < end``;
        ``after`` is the ``(ts micros, source, id)`` of the last row of the previous page."""
        if _unmatchable(customer, event_type, *(after[1:] if after else ())):
            return []
        c = events.c
        columns = [
            c.source,
            c.id,
            c.customer,
            c.type,
            c.ts,
            cast(c.properties, Text),
            c.received_at,
        ]
        stmt = select(*columns).where(c.tenant_id == tenant_id)
        if customer is not None:
            stmt = stmt.where(c.customer == customer)
        if event_type is not None:
            stmt = stmt.where(c.type == event_type)
        if start is not None:
            stmt = stmt.where(c.ts >= start)
        if end is not None:
            stmt = stmt.where(c.ts < end)
        position = tuple_(type_coerce(c.ts, BigInteger), c.source, c.id)
        if after is not None:
            mark = tuple_(literal(after[0], BigInteger), literal(after[1]), literal(after[2]))
            stmt = stmt.where(position < mark if newest_first else position > mark)
        order = [c.ts, c.source, c.id]
        stmt = stmt.order_by(*(col.desc() if newest_first else col for col in order)).limit(limit)
        with self._engine.connect() as conn:
            return [StoredEvent(*r) for r in conn.execute(stmt)]

    def list_rejected(
        self, tenant_id: str, *, status: str | None = None, before: str | None = None, limit: int
    ) -> list[RejectedEvent]:
        """Dead letters, newest first; ``before`` is the last id of the previous page."""
        if _unmatchable(status, before):
            return []
        c = rejected_events.c
        stmt = select(*_REJECTED).where(c.tenant_id == tenant_id)
        if status is not None:
            stmt = stmt.where(c.status == status)
        if before is not None:
            stmt = stmt.where(c.id < before)
        stmt = stmt.order_by(c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [RejectedEvent(*r) for r in conn.execute(stmt)]

    def get_rejected(self, tenant_id: str, rejected_id: str) -> RejectedEvent | None:
        if _unmatchable(rejected_id):
            return None
        c = rejected_events.c
        stmt = select(*_REJECTED).where(c.tenant_id == tenant_id, c.id == rejected_id)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else RejectedEvent(*row)


def _unmatchable(*values: str | None) -> bool:
    """A NUL can match no stored text (and PostgreSQL refuses it as a parameter)."""
    return any(v is not None and "\x00" in v for v in values)


def dump_raw(raw: Any) -> str:
    """The raw event as JSON text of at most about ``MAX_STORED_CHARS`` characters, for
    the dead-letter store (``domain.metering.bounds``)."""
    try:
        text = orjson.dumps(raw).decode()
    except TypeError:  # nesting beyond orjson's limit
        text = orjson.dumps(cut(raw, DUMP_DEPTH, None)).decode()
    if len(text) <= MAX_STORED_CHARS:
        return text
    text = orjson.dumps(cut(raw, DUMP_DEPTH, MAX_STORED_STRING)).decode()
    if len(text) <= MAX_STORED_CHARS:
        return text
    head = {"truncated": True, "chars": len(text), "head": text[:MAX_STORED_CHARS]}
    return orjson.dumps(head).decode()
