"""Outbox and webhook tables.

``outbox``            one row per reported fact, written in the fact's own transaction;
                      ``dispatched_at`` is set once the worker has fanned it out.
``outbox_sequences``  the last ``sequence`` given per (tenant, customer); '' for
                      tenant-wide facts. Incremented in the fact's transaction.
``webhook_endpoints`` receivers: URL, event filter, signing secret (and the previous one
                      until ``previous_secret_until`` after a rotation), status.
``webhook_messages``  one notification of one fact to one endpoint: its ``id`` is the
                      ``webhook-id`` header, the same on every attempt. ``next_attempt_at``
                      orders the delivery queue; ``claim_token`` marks the worker that
                      holds the current attempt (its lease ends at ``next_attempt_at``).
``webhook_attempts``  one row per attempt (the primary key records each attempt once).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import JsonType, UtcMicros

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(40), nullable=False),
    Column("tenant_id", String(64), nullable=False),
    Column("type", String(64), nullable=False),
    Column("customer_id", String(255), nullable=True),
    Column("sequence", BigInteger, nullable=False),
    Column("occurred_at", UtcMicros, nullable=False),
    Column("data", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("dispatched_at", UtcMicros, nullable=True),
    PrimaryKeyConstraint("id", name="pk_outbox"),
)
Index("ix_outbox_dispatch", outbox.c.dispatched_at, outbox.c.created_at)

outbox_sequences = Table(
    "outbox_sequences",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("last_sequence", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_outbox_sequences"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("description", String(500), nullable=True),
    Column("events", JsonType, nullable=False),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", String(200), nullable=True),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), nullable=True),
    Column("previous_secret_until", UtcMicros, nullable=True),
    Column("secret_rotated_at", UtcMicros, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_endpoints"),
)

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("event_id", String(40), nullable=False),
    Column("endpoint_id", String(255), nullable=False),
    Column("type", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_attempt_at", UtcMicros, nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    Column("delivered_at", UtcMicros, nullable=True),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_messages"),
    UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_messages_event_endpoint"),
)
Index("ix_webhook_messages_due", webhook_messages.c.status, webhook_messages.c.next_attempt_at)
Index("ix_webhook_messages_endpoint", webhook_messages.c.tenant_id, webhook_messages.c.endpoint_id)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("message_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UtcMicros, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    PrimaryKeyConstraint("tenant_id", "message_id", "attempt", name="pk_webhook_attempts"),
)
