"""Seller logos (issue 16): ``tenant_logos``, the uploaded images by tenant and SHA-256.

Revision ID: 0019_tenant_logos
Revises: 0013_stripe_customer_claims
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0019_tenant_logos"
down_revision = "0013_stripe_customer_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_logos",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "sha256", name="pk_tenant_logos"),
    )


def downgrade() -> None:
    op.drop_table("tenant_logos")
