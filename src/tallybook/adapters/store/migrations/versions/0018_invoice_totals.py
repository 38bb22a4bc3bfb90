"""Per-invoice usage revenue for MRR (``invoice_totals``, schema_analytics.py), backfilled
for every invoice finalized before this migration with ``domain.analytics.usage_revenue``
(the rule the write path uses), a batch of invoices at a time.

Revision ID: 0018_invoice_totals
Revises: 0017_event_ledger
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt
from tallybook.domain.analytics.usage_revenue import usage_revenue

revision = "0018_invoice_totals"
down_revision = "0017_event_ledger"
branch_labels = None
depends_on = None

BATCH = 2000

_invoices = sa.table(
    "invoices",
    sa.column("tenant_id", sa.String()),
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("customer_id", sa.String()),
    sa.column("currency", sa.String()),
    sa.column("issue_at", tt.UtcMicros()),
    sa.column("lines", tt.JsonType),
)
_totals = sa.table(
    "invoice_totals",
    sa.column("tenant_id", sa.String()),
    sa.column("invoice_id", sa.String()),
    sa.column("customer_id", sa.String()),
    sa.column("month", sa.String()),
    sa.column("currency", sa.String()),
    sa.column("issue_at", tt.UtcMicros()),
    sa.column("usage_total", tt.DecimalType()),
)


def upgrade() -> None:
    op.create_table(
        "invoice_totals",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issue_at", tt.UtcMicros(), nullable=False),
        sa.Column("usage_total", tt.DecimalType(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "invoice_id", "customer_id", "month", name="pk_invoice_totals"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name="fk_invoice_totals_tenant_id_invoices",
        ),
    )
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> int:
    """Write the rows of every non-draft invoice (voids too: MRR filters by status, as
    for an invoice voided later). Returns the number of invoices read."""
    after: tuple[str, str] | None = None
    done = 0
    while True:
        i = _invoices.c
        stmt = sa.select(i.tenant_id, i.id, i.customer_id, i.currency, i.issue_at, i.lines).where(
            i.status != "draft"
        )
        if after is not None:
            stmt = stmt.where(sa.tuple_(_invoices.c.tenant_id, _invoices.c.id) > after)
        batch = conn.execute(
            stmt.order_by(_invoices.c.tenant_id, _invoices.c.id).limit(BATCH)
        ).all()
        if not batch:
            return done
        rows: list[dict[str, Any]] = [
            {
                "tenant_id": tenant_id,
                "invoice_id": invoice_id,
                "customer_id": line_customer,
                "month": month,
                "currency": currency,
                "issue_at": issue_at,
                "usage_total": amount,
            }
            for tenant_id, invoice_id, customer, currency, issue_at, lines in batch
            for (line_customer, month), amount in usage_revenue(lines, customer).items()
        ]
        if rows:
            conn.execute(sa.insert(_totals), rows)
        done += len(batch)
        after = (batch[-1].tenant_id, batch[-1].id)


def downgrade() -> None:
    op.drop_table("invoice_totals")
