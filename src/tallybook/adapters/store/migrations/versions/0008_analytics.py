"""Analytics: backtest jobs, experiments, experiment assignments, acquisition spend.

Revision ID: 0008_analytics
Revises: 0005_portal_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0008_analytics"
down_revision = "0007_outbox_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backtests",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("request", tt.JsonType, nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("result", tt.JsonType, nullable=True),
        sa.Column("error", tt.JsonType, nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_backtests"),
    )
    op.create_table(
        "experiments",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("control_plan", sa.String(255), nullable=False),
        sa.Column("treatment_plan", sa.String(255), nullable=False),
        sa.Column("share", tt.DecimalType(), nullable=False),
        sa.Column("start_at", tt.UtcMicros(), nullable=False),
        sa.Column("end_at", tt.UtcMicros(), nullable=True),
        sa.Column("stopped_at", tt.UtcMicros(), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name="pk_experiments"),
    )
    op.create_table(
        "experiment_assignments",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("experiment_key", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("assigned_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "experiment_key", "customer_id", name="pk_experiment_assignments"
        ),
    )
    op.create_index(
        "ix_experiment_assignments_customer",
        "experiment_assignments",
        ["tenant_id", "customer_id"],
    )
    op.create_table(
        "acquisition_spend",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "currency", name="pk_acquisition_spend"),
    )


def downgrade() -> None:
    op.drop_table("acquisition_spend")
    op.drop_index("ix_experiment_assignments_customer", table_name="experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_table("experiments")
    op.drop_table("backtests")
