"""Invoices for finance, the rest: the credit-note number prefix kept on each note, and
e-mail deliveries of credit notes.

Revision ID: 0015_finance_series
Revises: 0014_finance
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_finance_series"
down_revision = "0014_finance"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("credit_notes", sa.Column("number_prefix", sa.String(20), nullable=True))
    op.add_column("email_deliveries", sa.Column("credit_note_id", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("email_deliveries") as batch:
        batch.drop_column("credit_note_id")
    with op.batch_alter_table("credit_notes") as batch:
        batch.drop_column("number_prefix")
