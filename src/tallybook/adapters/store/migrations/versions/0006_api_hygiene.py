"""API hygiene: archived customers and plans, roles on API keys.

``customers.archived_at`` / ``plans.archived_at``: set by the archive endpoints; archived
objects are hidden from lists unless asked for. ``api_keys.roles``: the comma-separated role
names a key carries (existing keys were all admin keys, hence the default).

Revision ID: 0006_api_hygiene
Revises: 0005_portal_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0006_api_hygiene"
down_revision = "0005_portal_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("archived_at", tt.UtcMicros(), nullable=True))
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("archived_at", tt.UtcMicros(), nullable=True))
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("roles", sa.String(200), nullable=False, server_default="admin"))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("roles")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("archived_at")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("archived_at")
