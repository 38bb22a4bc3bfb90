"""Payment-provider sync: customer ids, invoice sync state, handled events,
reconciliation runs and rows (schema_payments.py).

Revision ID: 0011_stripe
Revises: 0012_credits_rest
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0011_stripe"
down_revision = "0012_credits_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_customers",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "provider", "customer_id", name="pk_provider_customers"
        ),
    )
    op.create_table(
        "provider_invoices",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("remote_id", sa.String(255), nullable=True),
        sa.Column("remote_status", sa.String(32), nullable=True),
        sa.Column("local_status", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tt.UtcMicros(), nullable=False),
        sa.Column("claim_token", sa.String(40), nullable=True),
        sa.Column("claimed_until", tt.UtcMicros(), nullable=True),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "provider", "invoice_id", name="pk_provider_invoices"),
    )
    op.create_index(
        "ix_provider_invoices_due",
        "provider_invoices",
        ["provider", "status", "next_attempt_at"],
    )
    op.create_table(
        "provider_events",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("received_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name="pk_provider_events"),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("start_at", tt.UtcMicros(), nullable=False),
        sa.Column("end_at", tt.UtcMicros(), nullable=False),
        sa.Column("fix", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("summary", tt.JsonType, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_reconciliation_runs"),
    )
    op.create_index(
        "ix_reconciliation_runs_latest",
        "reconciliation_runs",
        ["provider", "tenant_id", "created_at"],
    )
    op.create_table(
        "reconciliation_rows",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(64), nullable=True),
        sa.Column("number", sa.String(32), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("local_total", tt.DecimalType(), nullable=True),
        sa.Column("local_status", sa.String(16), nullable=True),
        sa.Column("remote_id", sa.String(255), nullable=True),
        sa.Column("remote_total", tt.DecimalType(), nullable=True),
        sa.Column("remote_status", sa.String(32), nullable=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("drift", tt.DecimalType(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "run_id", "position", name="pk_reconciliation_rows"),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_rows")
    op.drop_table("reconciliation_runs")
    op.drop_table("provider_events")
    op.drop_table("provider_invoices")
    op.drop_table("provider_customers")
