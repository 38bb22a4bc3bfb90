"""Catalog: meters, plans and plan versions.

Revision ID: 0003_catalog
Revises: 0002_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0003_catalog"
down_revision = "0002_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("definition", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_meters"),
    )
    op.create_table(
        "plans",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_plans"),
    )
    op.create_table(
        "plan_versions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", "version", name="pk_plan_versions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "key"],
            ["plans.tenant_id", "plans.key"],
            name="fk_plan_versions_tenant_id_plans",
        ),
    )


def downgrade() -> None:
    op.drop_table("plan_versions")
    op.drop_table("plans")
    op.drop_table("meters")
