"""Catalog: meters, plans and plan versions.

Revision ID: 0003_catalog
Revises: 0002_events
"""

from __future__ import annotations

revision = "0003_catalog"
down_revision = "0002_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
