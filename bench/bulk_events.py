"""Bulk loader of bench data into both event stores: PostgreSQL's ledger and chDB.

For ``bench/clickhouse.py`` at the issue's size (10,000,000 events), where going through
``IngestService`` and the shipper (~4,000 events/s each on this machine) would take hours.
This is a bench tool, not a way round exactly-once: it writes generated, distinct events
that no client sent, into fresh stores, with nobody else writing.

* PostgreSQL: one ``COPY`` into ``events`` (the dedupe ledger) with ``ledger_month`` (the
  UTC month of ``ts``, as the ingest insert computes it) after creating the monthly
  partitions the events fall in (``ledger_partitions.create_month``). With
  ``rebuild_indexes`` the primary key and the indexes of ``events`` are dropped first and
  recreated from their own definitions afterwards (faster for millions of rows); then
  ``VACUUM (ANALYZE)``, as autovacuum would do next.
* chDB: the SAME rows through the shipper's encoding (``adapters.clickhouse.schema.row``:
  the flattening of properties into ``properties``/``keys``/``wide``, instants as
  ``seconds.micros``, ``version`` = received micros), inserted with the executor's
  ``insert`` in blocks of ``block`` rows (a dedup token per block).
* The outbox (``event_batches``) is **bypassed**: no batch rows are written, so nothing
  is left for a shipper and ``LedgerMaintenance`` never sees unshipped batches. The two
  stores hold the same events because both are written from the same ``NewEvent`` values;
  ``pg_aggregates`` and ``chdb_aggregates`` check it (count and sum per customer).

Both stores are written in one pass over the events; the PostgreSQL transaction commits
at the end (a failure part way leaves chDB with some blocks and PostgreSQL with none:
throw both stores away).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from sqlalchemy import create_engine

from tallybook.adapters.clickhouse.executors import Executor
from tallybook.adapters.clickhouse.schema import quote_name, row
from tallybook.adapters.store import ledger_partitions as ledger
from tallybook.adapters.store.db import normalize_url
from tallybook.domain.metering.events import NewEvent

EVENT_TYPE = "llm_completion"
WHALE = "whale"
_MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")
_REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
_COLUMNS = (
    "tenant_id, source, id, customer, type, ts, properties, body_hash, received_at, ledger_month"
)


def month_events(
    n_events: int,
    customers: int,
    *,
    whale_events: int,
    year: int,
    month: int,
    seed: int = 7,
) -> Iterator[NewEvent]:
    """``n_events`` distinct ``llm_completion`` events spread evenly over ``year``-``month``
    (UTC) in time order: ``whale_events`` of them (every k-th) for the customer ``whale``,
    the others for ``cust_00000`` .. ``cust_{customers - 2}`` at random, so ``customers``
    customers in all. Properties ``{"tokens": int 1-7999, "model", "region"}``; the body
    hash as ingest computes it (blake2b of customer, type, ts and the properties)."""
    rng = random.Random(seed)
    lo = ledger.month_start_micros(year, month)
    hi = ledger.month_start_micros(*ledger.add_months(year, month, 1))
    step = (hi - lo) // n_events
    every = n_events // whale_events if whale_events else 0
    others = customers - 1 if whale_events else customers
    for seq in range(n_events):
        ts = lo + seq * step
        if every and seq % every == 0 and seq // every < whale_events:
            customer = WHALE
        else:
            customer = f"cust_{rng.randrange(others):05d}"
        body = orjson.dumps(
            {
                "tokens": rng.randrange(1, 8000),
                "model": _MODELS[rng.randrange(4)],
                "region": _REGIONS[rng.randrange(3)],
            }
        )
        digest = hashlib.blake2b(orjson.dumps((customer, EVENT_TYPE, ts)), digest_size=16)
        digest.update(body)
        yield NewEvent(
            "", f"evt_{seq:010d}", customer, EVENT_TYPE, ts, body.decode(), digest.hexdigest()
        )


def load(
    pg_url: str,
    executor: Executor,
    tenant_id: str,
    events: Iterable[NewEvent],
    *,
    received_micros: int,
    months: Iterable[tuple[int, int]],
    block: int = 100_000,
    rebuild_indexes: bool = False,
) -> int:
    """Write ``events`` into PostgreSQL's ``events`` (migrated database ``pg_url``) and
    chDB's ``events`` (``executor``, schema created) for ``tenant_id`` (see module doc);
    how many. The ledger must be partitioned (migration ``0019_ledger_partitions``);
    ``months`` (``(year, month)``) get their partitions first (an event of another month
    lands in ``events_default``, as on ingest)."""
    engine = create_engine(normalize_url(pg_url))
    url = normalize_url(pg_url).replace("postgresql+psycopg://", "postgresql://")
    for year, month in months:
        _create_month(engine, year, month)
    engine.dispose()
    pending: list[dict[str, Any]] = []
    count = 0
    blocks = 0
    with psycopg.connect(url) as conn:
        rebuild = _drop_indexes(conn) if rebuild_indexes else []
        with conn.cursor() as cur, cur.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy:
            for event in events:
                at = datetime.fromtimestamp(event.ts // 1_000_000, UTC)
                month = ledger.month_key(at.year, at.month)
                copy.write_row((tenant_id, *event, received_micros, month))
                pending.append(row(tenant_id, event, received_micros))
                count += 1
                if len(pending) >= block:
                    blocks += 1
                    executor.insert("events", pending, token=f"bulk-{received_micros}-{blocks}")
                    pending.clear()
            if pending:
                blocks += 1
                executor.insert("events", pending, token=f"bulk-{received_micros}-{blocks}")
        for statement in rebuild:
            conn.execute(statement)
    # what autovacuum would do next: hint bits and the visibility map set, statistics
    # taken, so neither runs during the reads that follow
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) events")
    return count


def _create_month(engine: Any, year: int, month: int) -> None:
    """The partition of ``year``-``month`` unless it exists (its own transaction)."""
    with engine.begin() as sa:
        if not ledger.is_partitioned(sa):
            raise RuntimeError("events is not partitioned: run the migrations first")
        if (year, month) not in set(ledger.existing_months(sa)):
            ledger.create_month(sa, year, month)


def _drop_indexes(conn: psycopg.Connection[Any]) -> list[str]:
    """Drop the primary key and indexes of ``events``; the statements recreating them."""
    rows = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'events'::regclass AND contype = 'p'"
    ).fetchall()
    statements = [f"ALTER TABLE events ADD CONSTRAINT {n} {d}" for n, d in rows]
    indexes = conn.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'events'::regclass "
        "AND NOT x.indisprimary"
    ).fetchall()
    # a partitioned table's index reads ``ON ONLY events``: recreate it on every partition
    statements += [d.replace(" ON ONLY ", " ON ", 1) for _, d in indexes]
    for name, _ in rows:
        conn.execute(f"ALTER TABLE events DROP CONSTRAINT {name}")
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    return statements


def pg_aggregates(pg_url: str, tenant_id: str) -> dict[str, tuple[int, Decimal]]:
    """``customer -> (events, sum of tokens)`` from PostgreSQL's ledger (exact numeric)."""
    url = normalize_url(pg_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT customer, count(*), sum((properties->>'tokens')::numeric) FROM events "
            "WHERE tenant_id = %s GROUP BY customer",
            (tenant_id,),
        ).fetchall()
    return {str(c): (int(n), Decimal(s)) for c, n, s in rows}


def chdb_aggregates(executor: Executor, tenant_id: str) -> dict[str, tuple[int, Decimal]]:
    """``customer -> (events, sum of tokens)`` from chDB (``FINAL``, as every read;
    exact: ``toDecimal256OrNull`` of the text as sent, summed as text)."""
    rows = executor.query(
        "SELECT customer, count(), toString(sum(toDecimal256OrNull(properties['tokens'], 0))) "
        f"FROM {quote_name(executor.database)}.events FINAL WHERE tenant_id = {{t:String}} "
        "GROUP BY customer",
        {"t": tenant_id},
    )
    return {str(c): (int(n), Decimal(str(s))) for c, n, s in rows}
