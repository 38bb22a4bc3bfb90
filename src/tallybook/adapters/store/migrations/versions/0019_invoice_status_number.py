"""Invoice lists filtered by status in number order read an index
(``ix_invoices_status_number``) instead of sorting every invoice of the status
(``bench/console.py``: 120,000 invoices).

Revision ID: 0019_invoice_status_number
Revises: 0013_stripe_customer_claims
"""

from __future__ import annotations

from alembic import op

revision = "0019_invoice_status_number"
down_revision = "0019_period_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_invoices_status_number", "invoices", ["tenant_id", "status", "number"])


def downgrade() -> None:
    op.drop_index("ix_invoices_status_number", table_name="invoices")
