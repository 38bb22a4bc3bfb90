"""The shipper: committed ingest batches from PostgreSQL (or SQLite) to ClickHouse.

Ingest commits a batch's events to ``events`` (the dedupe ledger: the primary key
``(tenant_id, source, id)`` decides first occurrences) together with its ``event_batches``
row (``schema_shipping``); the client is answered after that commit. The shipper then,
per round:

1. claims the oldest unshipped batches whose lease is free (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so several shippers never wait on each other): ``attempts + 1`` and
   ``claimed_until = now + lease``, committed before anything goes to ClickHouse;
2. per batch, reads its stored events; a batch claimed before (``attempts`` was above 0:
   an earlier shipper died or its lease ran out) first asks ClickHouse which of its keys
   it already holds and inserts only the others, so a batch's events are inserted once;
3. inserts them as one block with ``insert_deduplication_token = batch id`` and marks the
   batch shipped (its own commit).

Killed (``kill -9``) after a claim, the batch waits for its lease to run out; the next
shipper finds the keys the dead one got into ClickHouse and skips them. Only a shipper
still inserting after its lease ran out can race a second one: then the dedup token drops
the repeated block (within the deduplication window), and rows that got in anyway are
equal on the whole sorting key, which ``FINAL`` (every usage read) and merges collapse.
Either way each event is counted once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
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
from tallybook.adapters.clickhouse.schema import quote_name, row
from tallybook.adapters.store.db import is_postgres
from tallybook.adapters.store.failures import translated
from tallybook.adapters.store.schema_events import events
from tallybook.adapters.store.schema_shipping import event_batches
from tallybook.domain.metering.events import NewEvent

_KEYS_PER_QUERY = 1000


class Shipper:
    """Moves committed batches to ClickHouse (see module doc). ``lease`` is how long a
    claimed batch is left to its shipper before another may take it (default 60 s).
    ``after_insert`` is called with each batch id after its ClickHouse insert and before
    the commit marking it shipped (tests stop the process there)."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        now: Callable[[], datetime],
        *,
        lease: timedelta = timedelta(seconds=60),
        after_insert: Callable[[str], None] | None = None,
    ):
        self._engine = engine
        self._executor = executor
        self._now = now
        self._lease = lease
        self._postgres = is_postgres(engine)
        self._after_insert = after_insert
        self.skipped_keys = 0  # events found already in ClickHouse on a retry (a counter)

    def ship_once(self, limit: int = 100) -> int:
        """Claim up to ``limit`` unshipped batches and ship each; how many were claimed.
        ``StoreUnavailable`` when either store fails (a claimed batch stays unshipped and
        is retried once its lease runs out)."""
        with translated():
            claimed = self._claim(limit)
            for batch_id, tenant_id, keys, attempts in claimed:
                with self._engine.connect() as conn:
                    found = _events(conn, tenant_id, keys, self._postgres)
                token = batch_id
                if attempts > 0 and found:
                    held = self._held(tenant_id, [e for e, _ in found])
                    if held:
                        self.skipped_keys += len(held)
                        found = [(e, r) for e, r in found if (e.source, e.id) not in held]
                        token = _rest_token(batch_id, [e for e, _ in found])
                self._executor.insert(
                    "events", [row(tenant_id, e, r) for e, r in found], token=token
                )
                if self._after_insert is not None:
                    self._after_insert(batch_id)
                with self._engine.begin() as conn:
                    conn.execute(
                        update(event_batches)
                        .where(event_batches.c.id == batch_id)
                        .values(shipped_at=self._now(), claimed_until=None)
                    )
        return len(claimed)

    def _claim(self, limit: int) -> list[tuple[str, str, list[list[str]], int]]:
        """The batches this shipper takes: ``(id, tenant, keys, attempts before)``."""
        c = event_batches.c
        now = self._now()
        stmt = (
            select(c.id, c.tenant_id, c.event_keys, c.attempts)
            .where(c.shipped_at.is_(None))
            .where((c.claimed_until.is_(None)) | (c.claimed_until <= now))
            .order_by(c.shipped_at, c.id)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        with self._engine.begin() as conn:
            batches = [(b[0], b[1], b[2], int(b[3])) for b in conn.execute(stmt).all()]
            if batches:
                conn.execute(
                    update(event_batches)
                    .where(c.id.in_([b[0] for b in batches]))
                    .values(attempts=c.attempts + 1, claimed_until=now + self._lease)
                )
        return batches

    def _held(self, tenant_id: str, found: Sequence[NewEvent]) -> set[tuple[str, str]]:
        """The ``(source, id)`` of ``found`` that ClickHouse already holds (one query,
        narrowed to the batch's time range so the primary index prunes parts)."""
        table = f"{quote_name(self._executor.database)}.events"
        rows = self._executor.query(
            f"SELECT DISTINCT source, id FROM {table} WHERE tenant_id = {{t:String}}"
            " AND ts >= fromUnixTimestamp64Micro({lo:Int64}, 'UTC')"
            " AND ts <= fromUnixTimestamp64Micro({hi:Int64}, 'UTC')"
            " AND has({ids:Array(String)}, id)",
            {
                "t": tenant_id,
                "lo": min(e.ts for e in found),
                "hi": max(e.ts for e in found),
                "ids": sorted({e.id for e in found}),
            },
        )
        wanted = {(e.source, e.id) for e in found}
        return {(str(r[0]), str(r[1])) for r in rows} & wanted

    def ship_all(self, limit: int = 100) -> int:
        """Ship until nothing is left unshipped; how many batches."""
        total = 0
        while shipped := self.ship_once(limit):
            total += shipped
        return total

    def pending(self) -> int:
        """How many batches wait to be shipped (claimed or not)."""
        c = event_batches.c
        with self._engine.connect() as conn:
            stmt = select(func.count()).select_from(event_batches).where(c.shipped_at.is_(None))
            return int(conn.execute(stmt).scalar_one())


def _rest_token(batch_id: str, rest: Sequence[NewEvent]) -> str:
    """The dedup token of a batch's remainder: ClickHouse would drop a smaller block
    under the batch's own token (already seen), so the rest gets one of its own, the
    same for the same remainder (two racing retries still insert it once)."""
    digest = hashlib.sha256("\n".join(sorted(f"{e.source}\t{e.id}" for e in rest)).encode())
    return f"{batch_id}/{len(rest)}/{digest.hexdigest()[:32]}"


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
