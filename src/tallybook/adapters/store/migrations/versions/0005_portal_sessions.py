"""Portal sessions: server-side, revocable browser logins (the cookie holds a random token).

Revision ID: 0005_portal_sessions
Revises: 0004_billing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0005_portal_sessions"
down_revision = "0004_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("expires_at", tt.UtcMicros(), nullable=False),
        sa.Column("revoked_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_portal_sessions"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_portal_sessions_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name="fk_portal_sessions_key_id_api_keys"
        ),
    )
    op.create_index("ix_portal_sessions_key_id", "portal_sessions", ["key_id"])
    op.create_index("ix_portal_sessions_expires_at", "portal_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("portal_sessions")
