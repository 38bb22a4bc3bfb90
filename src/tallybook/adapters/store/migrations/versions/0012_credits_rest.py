"""Credits, continued: top-up rules, and the plan credit a grant comes from.

Revision ID: 0012_credits_rest
Revises: 0009_credits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0012_credits_rest"
down_revision = "0009_credits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_top_ups",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("threshold", tt.DecimalType(), nullable=False),
        sa.Column("target", tt.DecimalType(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_credit_top_ups"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name="fk_credit_top_ups_tenant_id_customers",
        ),
    )
    op.add_column("credit_grants", sa.Column("subscription_id", sa.String(40), nullable=True))
    op.add_column("credit_grants", sa.Column("charge_key", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credit_grants") as batch:
        batch.drop_column("charge_key")
        batch.drop_column("subscription_id")
    op.drop_table("credit_top_ups")
