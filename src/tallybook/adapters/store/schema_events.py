"""Event-pipeline tables: ``events`` (the system of record) and ``rejected_events``.

``events`` -- one row per accepted event, append-only, never updated:

    tenant_id    TEXT    owner tenant (every query filters on it first)
    source       TEXT    '' for native events; the CloudEvents ``source`` otherwise
    id           TEXT    the idempotency key (1-255 chars), unique per (tenant_id, source)
    customer     TEXT    the tenant's customer id (CloudEvents ``subject``)
    type         TEXT    event type; meters select events on it (CloudEvents ``type``)
    ts           BIGINT  event time, microseconds since the Unix epoch, UTC (``UtcMicros``)
    properties   JSON    the event's properties object (JSONB on PostgreSQL, JSON text on
                         SQLite); read values with ``json_extract(properties, '$.a.b')`` on
                         SQLite and ``properties #>> '{a,b}'`` on PostgreSQL
    received_at  BIGINT  when the server accepted it, microseconds since the epoch, UTC
    body_hash    TEXT    blake2b-128 (hex) of the event as sent (customer, type, timestamp
                         as sent or absent, properties with sorted keys); a repeated id with
                         the same hash is a duplicate, with another hash a conflict

Primary key ``(tenant_id, source, id)``: deduplication is permanent (unless
``TALLYBOOK_EVENT_LEDGER_RETENTION_MONTHS`` drops old events) and enforced by the
database in the same transaction as the write. On PostgreSQL the table is partitioned by
``ledger_month`` (``YYYYMM`` of ``ts``, a PostgreSQL-only column) and the key is
``(tenant_id, source, id, ledger_month)``; see ``ledger_partitions``. Indexes: ``ix_events_usage`` on
``(tenant_id, customer, type, ts)`` for usage queries (one customer, one event type,
a time range) and ``ix_events_tenant_ts`` on ``(tenant_id, ts)`` for listing.

``rejected_events`` -- the dead-letter store: one row per event that failed validation
or conflicted with a stored event, with the raw event as received (JSON text, so any
JSON value fits, including ones PostgreSQL's JSONB would refuse) and its reason.
``status`` is ``open`` until the event is replayed (``replayed_at`` set) or discarded
(``discarded_at`` set). ``format`` says which endpoint it came through (``native`` for
``/v1/events``, ``cloudevents`` for ``/api/v1/events``) so a replay re-validates it the
same way. Ids (``rej_`` + time-ordered hex) sort by creation.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, Text

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import JsonType, UtcMicros

events = Table(
    "events",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("source", String(255), nullable=False),
    Column("id", String(255), nullable=False),
    Column("customer", String(255), nullable=False),
    Column("type", String(255), nullable=False),
    Column("ts", UtcMicros, nullable=False),
    Column("properties", JsonType, nullable=False),
    Column("received_at", UtcMicros, nullable=False),
    Column("body_hash", String(32), nullable=False),
    PrimaryKeyConstraint("tenant_id", "source", "id", name="pk_events"),
)
Index("ix_events_usage", events.c.tenant_id, events.c.customer, events.c.type, events.c.ts)
Index("ix_events_tenant_ts", events.c.tenant_id, events.c.ts)

rejected_events = Table(
    "rejected_events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("received_at", UtcMicros, nullable=False),
    Column("source", String(255), nullable=True),
    Column("event_id", String(255), nullable=True),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("replayed_at", UtcMicros, nullable=True),
    Column("discarded_at", UtcMicros, nullable=True),
)
Index(
    "ix_rejected_events_tenant_status",
    rejected_events.c.tenant_id,
    rejected_events.c.status,
    rejected_events.c.id,
)
