"""``event_batches``: the outbox of ingest batches to ship to ClickHouse (issue 15).

Written only when raw events are read from ClickHouse (``TALLYBOOK_EVENTS_URL``), in the
ingest transaction that inserted the batch's first occurrences into ``events`` (the
dedupe ledger, primary key ``(tenant_id, source, id)`` with the body hash):

    id           TEXT    the batch id; ClickHouse's ``insert_deduplication_token``
    tenant_id    TEXT    owner tenant
    event_keys   JSON    ``[[source, id], ...]`` of the events the batch inserted
    created_at   BIGINT  the ingest's received time, microseconds since the epoch
    shipped_at   BIGINT  when the shipper's insert was acknowledged; NULL until then
    attempts     INT     how many times a shipper claimed the batch
    claimed_until BIGINT a shipper's lease on the batch (micros); NULL when free

The shipper claims unshipped rows whose lease is free (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; ``attempts + 1``, ``claimed_until`` set and committed), inserts their events
into ClickHouse with the batch id as dedup token, then sets ``shipped_at``. A batch
claimed before (a shipper died) ships only the keys ClickHouse does not hold yet; the
token and ``FINAL`` on every read stay as the safety net (``adapters/clickhouse/shipper``).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import JsonType, UtcMicros

event_batches = Table(
    "event_batches",
    metadata,
    Column("id", String(40), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("event_keys", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("shipped_at", UtcMicros, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", UtcMicros, nullable=True),
    PrimaryKeyConstraint("id", name="pk_event_batches"),
)
Index("ix_event_batches_unshipped", event_batches.c.shipped_at, event_batches.c.id)
