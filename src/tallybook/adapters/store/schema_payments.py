"""Payment-provider sync tables (issue 11).

``provider_customers``   tenant customer -> the provider's customer id (one per provider).
``provider_customer_claims`` a lease on creating one customer's remote customer, so two
                         workers (any process) never create two (``claim_token``,
                         ``claimed_until``); the row stays, its lease lapses.
``provider_invoices``    one invoice's sync state with one provider: ``status`` pending |
                         synced | failed, the remote id as soon as it is known, the local
                         status last mirrored, the last error, and a lease
                         (``claim_token``, ``claimed_until``) so two workers never push one
                         invoice at once; ``next_attempt_at`` delays retries;
                         ``generation`` counts remote invoices made for it (a second one
                         only when the first vanished: its idempotency keys differ).
``provider_events``      provider webhook events already handled (dedupe by event id).
``reconciliation_runs``  one comparison of a window's invoices with the provider: counts
                         and drift per currency (``summary``).
``reconciliation_rows``  its rows, in order.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

provider_customers = Table(
    "provider_customers",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("remote_id", String(255), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "provider", "customer_id", name="pk_provider_customers"),
)

provider_customer_claims = Table(
    "provider_customer_claims",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("claim_token", String(40), nullable=True),
    Column("claimed_until", UtcMicros, nullable=True),
    PrimaryKeyConstraint(
        "tenant_id", "provider", "customer_id", name="pk_provider_customer_claims"
    ),
)

provider_invoices = Table(
    "provider_invoices",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("invoice_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("remote_id", String(255), nullable=True),
    Column("remote_status", String(32), nullable=True),
    Column("local_status", String(16), nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("next_attempt_at", UtcMicros, nullable=False),
    Column("claim_token", String(40), nullable=True),
    Column("claimed_until", UtcMicros, nullable=True),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "provider", "invoice_id", name="pk_provider_invoices"),
)
Index(
    "ix_provider_invoices_due",
    provider_invoices.c.provider,
    provider_invoices.c.status,
    provider_invoices.c.next_attempt_at,
)

provider_events = Table(
    "provider_events",
    metadata,
    Column("provider", String(32), nullable=False),
    Column("event_id", String(255), nullable=False),
    Column("tenant_id", String(64), nullable=True),
    Column("type", String(128), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("received_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("provider", "event_id", name="pk_provider_events"),
)

reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("start_at", UtcMicros, nullable=False),
    Column("end_at", UtcMicros, nullable=False),
    Column("fix", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("ok", Integer, nullable=False),
    Column("summary", JsonType, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_reconciliation_runs"),
)
Index(
    "ix_reconciliation_runs_latest",
    reconciliation_runs.c.provider,
    reconciliation_runs.c.tenant_id,
    reconciliation_runs.c.created_at,
)

reconciliation_rows = Table(
    "reconciliation_rows",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("run_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("invoice_id", String(64), nullable=True),
    Column("number", String(32), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("local_total", DecimalType, nullable=True),
    Column("local_status", String(16), nullable=True),
    Column("remote_id", String(255), nullable=True),
    Column("remote_total", DecimalType, nullable=True),
    Column("remote_status", String(32), nullable=True),
    Column("category", String(32), nullable=False),
    Column("drift", DecimalType, nullable=False),
    Column("action", String(32), nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    PrimaryKeyConstraint("tenant_id", "run_id", "position", name="pk_reconciliation_rows"),
)
