"""The overview's MRR snapshot (issue 14): ``mrr_snapshots``, one stored MRR/retention
document per tenant, refreshed by the scheduler instead of computed in a page request.

Revision ID: 0020_mrr_snapshots
Revises: 0019_invoice_status_number
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0020_mrr_snapshots"
down_revision = "0019_invoice_status_number"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mrr_snapshots",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("computed_at", tt.UtcMicros(), nullable=False),
        sa.Column("document", tt.JsonType, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_mrr_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("mrr_snapshots")
