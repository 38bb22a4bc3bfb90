"""Entitlement overrides, spend limits and their hits, customer portal links and sessions.

Revision ID: 0016_entitlements
Revises: 0011_stripe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0016_entitlements"
down_revision = "0011_stripe"
branch_labels = None
depends_on = None


def _customer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        name=f"fk_{table}_customer",
    )


def upgrade() -> None:
    op.create_table(
        "entitlement_overrides",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("feature", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("limit_units", tt.DecimalType(), nullable=True),
        sa.Column("hard", sa.Boolean(), nullable=True),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "feature", name="pk_entitlement_overrides"
        ),
        _customer_fk("entitlement_overrides"),
    )
    op.create_table(
        "spend_limits",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_spend_limits"),
        _customer_fk("spend_limits"),
    )
    op.create_table(
        "spend_limit_hits",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("period_start", tt.UtcMicros(), nullable=False),
        sa.Column("limit_amount", tt.DecimalType(), nullable=False),
        sa.Column("period_end", tt.UtcMicros(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("total", tt.DecimalType(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reached_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "customer_id", "period_start", "limit_amount", name="pk_spend_limit_hits"
        ),
    )
    op.create_table(
        "portal_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("expires_at", tt.UtcMicros(), nullable=False),
        sa.Column("used_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_portal_links"),
        _customer_fk("portal_links"),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_portal_links_key_id_api_keys"
        ),
    )
    op.create_index("ix_portal_links_expires_at", "portal_links", ["expires_at"])
    with op.batch_alter_table("portal_sessions") as batch:
        batch.add_column(sa.Column("customer_id", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions") as batch:
        batch.drop_column("customer_id")
    op.drop_index("ix_portal_links_expires_at", table_name="portal_links")
    op.drop_table("portal_links")
    op.drop_table("spend_limit_hits")
    op.drop_table("spend_limits")
    op.drop_table("entitlement_overrides")
