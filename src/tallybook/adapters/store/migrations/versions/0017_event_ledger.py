"""The outbox of ingest batches shipped to ClickHouse (issue 15).

Revision ID: 0017_event_ledger
Revises: 0015_finance_series
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0017_event_ledger"
down_revision = "0015_finance_series"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_batches",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("event_keys", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("shipped_at", tt.UtcMicros(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_until", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event_batches"),
    )
    op.create_index(
        "ix_event_batches_unshipped", "event_batches", ["shipped_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_event_batches_unshipped", table_name="event_batches")
    op.drop_table("event_batches")
