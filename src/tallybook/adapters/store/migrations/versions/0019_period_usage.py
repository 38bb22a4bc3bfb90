"""Per-period usage as billed (``period_usage``, schema_analytics.py), backfilled from
every final ``period`` invoice with ``domain.analytics.period_usage`` (the rule the write
path uses), a batch of invoices at a time, then the periods corrected by late-event
adjustments of any invoice removed (as the write path removes them).

Revision ID: 0019_period_usage
Revises: 0013_stripe_customer_claims
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt
from tallybook.domain.analytics.period_usage import period_usage, stale_periods

revision = "0019_period_usage"
down_revision = "0019_ledger_partitions"
branch_labels = None
depends_on = None

BATCH = 2000

_invoices = sa.table(
    "invoices",
    sa.column("tenant_id", sa.String()),
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("customer_id", sa.String()),
    sa.column("period_start", tt.UtcMicros()),
    sa.column("period_end", tt.UtcMicros()),
    sa.column("lines", tt.JsonType),
)
_usage = sa.table(
    "period_usage",
    sa.column("tenant_id", sa.String()),
    sa.column("subscription_id", sa.String()),
    sa.column("period_start", tt.UtcMicros()),
    sa.column("charge", sa.String()),
    sa.column("period_end", tt.UtcMicros()),
    sa.column("customer_id", sa.String()),
    sa.column("used", tt.DecimalType()),
    sa.column("amount", tt.DecimalType()),
    sa.column("lines", sa.Integer()),
    sa.column("included", tt.DecimalType()),
    sa.column("span_start", tt.UtcMicros()),
    sa.column("span_end", tt.UtcMicros()),
)


def upgrade() -> None:
    op.create_table(
        "period_usage",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("period_start", tt.UtcMicros(), nullable=False),
        sa.Column("charge", sa.String(255), nullable=False),
        sa.Column("period_end", tt.UtcMicros(), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("used", tt.DecimalType(), nullable=False),
        sa.Column("amount", tt.DecimalType(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("included", tt.DecimalType(), nullable=True),
        sa.Column("span_start", tt.UtcMicros(), nullable=True),
        sa.Column("span_end", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "subscription_id", "period_start", "charge", name="pk_period_usage"
        ),
    )
    op.create_index(
        "ix_period_usage_start", "period_usage", ["tenant_id", "period_start"], unique=False
    )
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> int:
    """Write the rows of every non-draft period invoice (voids too: the usage was
    measured all the same), then remove the periods that any invoice's (a draft's too)
    late-event adjustments correct. Returns the number of invoices read."""
    # the write path's helpers, given this migration's description of the table
    from tallybook.adapters.store.period_usage import insert_rows, remove_stale, usage_row

    after: tuple[str, str] | None = None
    done = 0
    stale: dict[str, set[tuple[str, datetime]]] = {}
    while True:
        i = _invoices.c
        stmt = sa.select(
            i.tenant_id,
            i.id,
            i.status,
            i.kind,
            i.customer_id,
            i.period_start,
            i.period_end,
            i.lines,
        )
        if after is not None:
            stmt = stmt.where(sa.tuple_(i.tenant_id, i.id) > after)
        batch = conn.execute(stmt.order_by(i.tenant_id, i.id).limit(BATCH)).all()
        if not batch:
            break
        rows: list[dict[str, Any]] = []
        for tenant_id, _, status, kind, customer, start, end, lines in batch:
            if kind == "period" and status != "draft":
                rows += [usage_row(tenant_id, r) for r in period_usage(lines, customer, start, end)]
            stale.setdefault(tenant_id, set()).update(stale_periods(lines))
        insert_rows(conn, rows, _usage)
        done += len(batch)
        after = (batch[-1].tenant_id, batch[-1].id)
    for tenant_id, found in stale.items():
        remove_stale(conn, tenant_id, found, _usage)
    return done


def downgrade() -> None:
    op.drop_index("ix_period_usage_start", table_name="period_usage")
    op.drop_table("period_usage")
