"""Invoices for finance: seller profile, buyer details, taxes, parties, credit notes.

Revision ID: 0014_finance
Revises: 0010_governance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0014_finance"
down_revision = "0010_governance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("seller", tt.JsonType, nullable=True))
    op.add_column(
        "tenants",
        sa.Column("email_invoices", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("customers", sa.Column("billing", tt.JsonType, nullable=True))
    op.add_column("invoices", sa.Column("tax_total", tt.DecimalType(), nullable=True))
    op.add_column("invoices", sa.Column("tax_note", sa.String(500), nullable=True))
    op.add_column("invoices", sa.Column("parties", tt.JsonType, nullable=True))
    op.create_table(
        "tax_rates",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("percentage", tt.DecimalType(), nullable=False),
        sa.Column("inclusive", sa.Boolean(), nullable=False),
        sa.Column("country", sa.String(8), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_tax_rates"),
    )
    op.create_table(
        "credit_notes",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("refund", sa.String(32), nullable=False),
        sa.Column("grant_id", sa.String(255), nullable=True),
        sa.Column("lines", tt.JsonType, nullable=False),
        sa.Column("subtotal", tt.DecimalType(), nullable=False),
        sa.Column("tax_total", tt.DecimalType(), nullable=False),
        sa.Column("total", tt.DecimalType(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_credit_notes"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_credit_notes_number"),
    )
    op.create_index("ix_credit_notes_invoice", "credit_notes", ["tenant_id", "invoice_id"])
    op.create_table(
        "email_deliveries",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tt.UtcMicros(), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("recipients", tt.JsonType, nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.Column("sent_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_email_deliveries"),
    )
    op.create_index("ix_email_deliveries_due", "email_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_email_deliveries_invoice", "email_deliveries", ["tenant_id", "invoice_id"])
    op.create_table(
        "credit_note_counters",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_credit_note_counters"),
    )


def downgrade() -> None:
    op.drop_index("ix_email_deliveries_invoice", table_name="email_deliveries")
    op.drop_index("ix_email_deliveries_due", table_name="email_deliveries")
    op.drop_table("email_deliveries")
    op.drop_table("credit_note_counters")
    op.drop_index("ix_credit_notes_invoice", table_name="credit_notes")
    op.drop_table("credit_notes")
    op.drop_table("tax_rates")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("parties")
        batch.drop_column("tax_note")
        batch.drop_column("tax_total")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("billing")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("email_invoices")
        batch.drop_column("seller")
