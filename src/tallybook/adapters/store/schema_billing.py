"""Billing tables: customers, subscriptions, invoices, the (subscription, period) slots
they bill and the per-tenant invoice number counter.

``customers``      the tenant's customers; ``parent_id`` is the bill-to parent (one level).
``subscriptions``  one row per subscription; the schedule (phases, quantities, discounts)
                   is a JSON document rewritten under the row's lock. ``account_id`` is
                   the bill-to customer (the parent, or the customer itself);
                   ``billed_through`` the issue time of the last final slot and
                   ``next_issue_at`` the next slot's, so a run reads only due rows.
``invoices``       one row per (bill-to customer, kind, period); lines are a JSON array
                   (a final invoice never changes, so it is stored as one document).
                   ``number`` is NULL while draft and gapless per tenant once final.
``invoice_slots``  (subscription, kind, period start) -> invoice: the primary key makes
                   it impossible to bill one subscription period on two invoices.
``invoice_counters`` the last number given per tenant, incremented in the transaction
                   that finalizes (a rollback gives the number back: no gaps).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import DecimalType, JsonType, UtcMicros

customers = Table(
    "customers",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(255), nullable=False),
    Column("name", String(255), nullable=True),
    Column("email", String(320), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("parent_id", String(255), nullable=True),
    Column("created_at", UtcMicros, nullable=False),
    Column("archived_at", UtcMicros, nullable=True),
    Column("billing", JsonType, nullable=True),  # buyer details (domain.finance.parties)
    PrimaryKeyConstraint("tenant_id", "id", name="pk_customers"),
)
Index("ix_customers_parent", customers.c.tenant_id, customers.c.parent_id)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("account_id", String(255), nullable=False),
    Column("plan_key", String(255), nullable=False),
    Column("plan_version", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("start_at", UtcMicros, nullable=False),
    Column("end_at", UtcMicros, nullable=True),
    Column("billed_through", UtcMicros, nullable=True),
    Column("next_issue_at", UtcMicros, nullable=True),
    Column("schedule", JsonType, nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_subscriptions"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name="fk_subscriptions_tenant_id_customers",
    ),
)
Index("ix_subscriptions_customer", subscriptions.c.tenant_id, subscriptions.c.customer_id)
Index("ix_subscriptions_account", subscriptions.c.tenant_id, subscriptions.c.account_id)
Index("ix_subscriptions_due", subscriptions.c.tenant_id, subscriptions.c.next_issue_at)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("id", String(40), nullable=False),
    Column("number", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("customer_id", String(255), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("period_start", UtcMicros, nullable=False),
    Column("period_end", UtcMicros, nullable=False),
    Column("issue_at", UtcMicros, nullable=False),
    Column("subtotal", DecimalType, nullable=False),
    Column("discount_total", DecimalType, nullable=False),
    Column("credits_applied", DecimalType, nullable=False),
    Column("total", DecimalType, nullable=False),
    Column("lines", JsonType, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("updated_at", UtcMicros, nullable=False),
    Column("finalized_at", UtcMicros, nullable=True),
    Column("voided_at", UtcMicros, nullable=True),
    Column("paid_at", UtcMicros, nullable=True),
    Column("tax_total", DecimalType, nullable=True),  # NULL: before taxes existed (0)
    Column("tax_note", String(500), nullable=True),
    Column("parties", JsonType, nullable=True),  # seller and buyer snapshot once final
    PrimaryKeyConstraint("tenant_id", "id", name="pk_invoices"),
    UniqueConstraint(
        "tenant_id",
        "customer_id",
        "kind",
        "period_start",
        "period_end",
        name="uq_invoices_period",
    ),
    UniqueConstraint("tenant_id", "number", name="uq_invoices_number"),
)
Index("ix_invoices_customer", invoices.c.tenant_id, invoices.c.customer_id, invoices.c.period_start)
Index("ix_invoices_status", invoices.c.tenant_id, invoices.c.status)
# invoice lists filtered by status, in number order (the console's and GET /v1/invoices)
Index("ix_invoices_status_number", invoices.c.tenant_id, invoices.c.status, invoices.c.number)

invoice_slots = Table(
    "invoice_slots",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("subscription_id", String(40), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("period_start", UtcMicros, nullable=False),
    Column("invoice_id", String(40), nullable=False),
    PrimaryKeyConstraint(
        "tenant_id", "subscription_id", "kind", "period_start", name="pk_invoice_slots"
    ),
    ForeignKeyConstraint(
        ["tenant_id", "invoice_id"],
        ["invoices.tenant_id", "invoices.id"],
        name="fk_invoice_slots_tenant_id_invoices",
    ),
)
Index("ix_invoice_slots_invoice", invoice_slots.c.tenant_id, invoice_slots.c.invoice_id)

invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("last_number", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", name="pk_invoice_counters"),
)
