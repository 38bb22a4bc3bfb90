"""Payment-provider sync: a lease per customer creation (``provider_customer_claims``,
schema_payments.py), so two workers in any process create one remote customer.

Revision ID: 0013_stripe_customer_claims
Revises: 0018_invoice_totals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0013_stripe_customer_claims"
down_revision = "0018_invoice_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_customer_claims",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("claim_token", sa.String(40), nullable=True),
        sa.Column("claimed_until", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "provider", "customer_id", name="pk_provider_customer_claims"
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_customer_claims")
