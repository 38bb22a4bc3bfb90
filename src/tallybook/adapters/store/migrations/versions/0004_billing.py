"""Billing: customers, plans, subscriptions, invoices.

Revision ID: 0004_billing
Revises: 0003_catalog
"""

from __future__ import annotations

revision = "0004_billing"
down_revision = "0003_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
