"""Rollups and alerts: rollup_defs, usage_rollups, alert_pending, alerts, alert_settings,
fired_alerts (see ``tallybook.adapters.store.schema_rollups``).

Revision ID: 0015_rollups_alerts
Revises: 0016_entitlements
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0015_rollups_alerts"
down_revision = "0016_entitlements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_defs",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("definition", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "fingerprint", name="pk_rollup_defs"),
    )
    op.create_table(
        "usage_rollups",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("customer", sa.String(255), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("dims_key", sa.String(32), nullable=False),
        sa.Column("dims", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("sum", tt.DecimalType(), nullable=False),
        sa.Column("min", tt.DecimalType(), nullable=True),
        sa.Column("max", tt.DecimalType(), nullable=True),
        sa.Column("raw", sa.BigInteger(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "fingerprint",
            "customer",
            "hour",
            "dims_key",
            "shard",
            name="pk_usage_rollups",
        ),
    )
    op.create_table(
        "alert_pending",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("mark", sa.String(32), nullable=False),
        sa.Column("touched_at", tt.UtcMicros(), nullable=False),
        sa.Column("claimed_until", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", "mark", name="pk_alert_pending"),
    )
    op.create_index("ix_alert_pending_touched", "alert_pending", ["touched_at"])
    _alerts()


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("plan", sa.String(255), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("charge", sa.String(255), nullable=True),
        sa.Column("thresholds", tt.JsonType, nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_alerts"),
    )
    op.create_table(
        "alert_settings",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("default_allowance", sa.Integer(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_alert_settings"),
    )
    op.create_table(
        "fired_alerts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("alert_id", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("threshold", sa.String(64), nullable=False),
        sa.Column("period_start", tt.UtcMicros(), nullable=False),
        sa.Column("period_end", tt.UtcMicros(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("charge", sa.String(255), nullable=True),
        sa.Column("value", tt.DecimalType(), nullable=False),
        sa.Column("limit", tt.DecimalType(), nullable=True),
        sa.Column("fired_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_fired_alerts"),
        sa.UniqueConstraint(
            "tenant_id",
            "alert_id",
            "customer_id",
            "threshold",
            "period_start",
            name="uq_fired_alerts_once",
        ),
    )
    op.create_index("ix_fired_alerts_customer", "fired_alerts", ["tenant_id", "customer_id"])


def downgrade() -> None:
    for name in (
        "fired_alerts",
        "alert_settings",
        "alerts",
        "alert_pending",
        "usage_rollups",
        "rollup_defs",
    ):
        op.drop_table(name)
