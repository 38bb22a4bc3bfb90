"""Event pipeline: events (system of record) and rejected_events (dead letters).

Revision ID: 0002_events
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0002_events"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("customer", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("ts", tt.UtcMicros(), nullable=False),
        sa.Column("properties", tt.JsonType, nullable=False),
        sa.Column("received_at", tt.UtcMicros(), nullable=False),
        sa.Column("body_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "source", "id", name="pk_events"),
    )
    op.create_index("ix_events_usage", "events", ["tenant_id", "customer", "type", "ts"])
    op.create_index("ix_events_tenant_ts", "events", ["tenant_id", "ts"])
    op.create_table(
        "rejected_events",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("received_at", tt.UtcMicros(), nullable=False),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("event_id", sa.String(255), nullable=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replayed_at", tt.UtcMicros(), nullable=True),
        sa.Column("discarded_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rejected_events"),
    )
    op.create_index(
        "ix_rejected_events_tenant_status", "rejected_events", ["tenant_id", "status", "id"]
    )


def downgrade() -> None:
    op.drop_table("rejected_events")
    op.drop_table("events")
