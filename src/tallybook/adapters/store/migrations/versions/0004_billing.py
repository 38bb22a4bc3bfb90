"""Billing: customers, subscriptions, invoices, invoice slots and number counters.

Revision ID: 0004_billing
Revises: 0003_catalog
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0004_billing"
down_revision = "0003_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _customers()
    _subscriptions()
    _invoices()
    op.create_table(
        "invoice_slots",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", tt.UtcMicros(), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name="fk_invoice_slots_tenant_id_invoices",
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "subscription_id", "kind", "period_start", name="pk_invoice_slots"
        ),
    )
    op.create_index("ix_invoice_slots_invoice", "invoice_slots", ["tenant_id", "invoice_id"])
    op.create_table(
        "invoice_counters",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_invoice_counters"),
    )


def _customers() -> None:
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(255), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_customers"),
    )
    op.create_index("ix_customers_parent", "customers", ["tenant_id", "parent_id"])


def _subscriptions() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("plan_key", sa.String(255), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("start_at", tt.UtcMicros(), nullable=False),
        sa.Column("end_at", tt.UtcMicros(), nullable=True),
        sa.Column("billed_through", tt.UtcMicros(), nullable=True),
        sa.Column("next_issue_at", tt.UtcMicros(), nullable=True),
        sa.Column("schedule", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_subscriptions_tenant_id_customers",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_customer", "subscriptions", ["tenant_id", "customer_id"])
    op.create_index("ix_subscriptions_account", "subscriptions", ["tenant_id", "account_id"])
    op.create_index("ix_subscriptions_due", "subscriptions", ["tenant_id", "next_issue_at"])


def _invoices() -> None:
    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", tt.UtcMicros(), nullable=False),
        sa.Column("period_end", tt.UtcMicros(), nullable=False),
        sa.Column("issue_at", tt.UtcMicros(), nullable=False),
        sa.Column("subtotal", tt.DecimalType(), nullable=False),
        sa.Column("discount_total", tt.DecimalType(), nullable=False),
        sa.Column("credits_applied", tt.DecimalType(), nullable=False),
        sa.Column("total", tt.DecimalType(), nullable=False),
        sa.Column("lines", tt.JsonType, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.Column("finalized_at", tt.UtcMicros(), nullable=True),
        sa.Column("voided_at", tt.UtcMicros(), nullable=True),
        sa.Column("paid_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_invoices"),
        sa.UniqueConstraint(
            "tenant_id",
            "customer_id",
            "kind",
            "period_start",
            "period_end",
            name="uq_invoices_period",
        ),
        sa.UniqueConstraint("tenant_id", "number", name="uq_invoices_number"),
    )
    op.create_index(
        "ix_invoices_customer", "invoices", ["tenant_id", "customer_id", "period_start"]
    )
    op.create_index("ix_invoices_status", "invoices", ["tenant_id", "status"])


def downgrade() -> None:
    op.drop_table("invoice_counters")
    op.drop_table("invoice_slots")
    op.drop_table("invoices")
    op.drop_table("subscriptions")
    op.drop_table("customers")
