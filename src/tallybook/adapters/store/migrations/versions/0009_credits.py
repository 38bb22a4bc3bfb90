"""Credits: grants, the append-only ledger of their entries, and commitment terms.

Revision ID: 0009_credits
Revises: 0008_analytics
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0009_credits"
down_revision = "0008_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_grants",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_at", tt.UtcMicros(), nullable=False),
        sa.Column("expires_at", tt.UtcMicros(), nullable=True),
        sa.Column("applies_to", tt.JsonType, nullable=False),
        sa.Column("purchase_price", tt.DecimalType(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_credit_grants"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_credit_grants_tenant_id_customers",
        ),
    )
    op.create_index("ix_credit_grants_customer", "credit_grants", ["tenant_id", "customer_id"])
    op.create_table(
        "credit_entries",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("grant_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("at", tt.UtcMicros(), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=True),
        sa.Column("line", sa.Integer(), nullable=True),
        sa.Column("balance_after", tt.DecimalType(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "currency", "seq", name="pk_credit_entries"
        ),
    )
    op.create_index("ix_credit_entries_grant", "credit_entries", ["tenant_id", "grant_id"])
    op.create_index("ix_credit_entries_invoice", "credit_entries", ["tenant_id", "invoice_id"])
    op.create_table(
        "commitments",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("term_start", tt.UtcMicros(), nullable=False),
        sa.Column("term_end", tt.UtcMicros(), nullable=False),
        sa.Column("applies_to", tt.JsonType, nullable=False),
        sa.Column("rollover_fraction", tt.DecimalType(), nullable=False),
        sa.Column("renew", sa.Integer(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_commitments"),
    )
    op.create_index("ix_commitments_account", "commitments", ["tenant_id", "account_id"])
    op.create_index("ix_commitments_subscription", "commitments", ["tenant_id", "subscription_id"])


def downgrade() -> None:
    op.drop_table("commitments")
    op.drop_table("credit_entries")
    op.drop_table("credit_grants")
