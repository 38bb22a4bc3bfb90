"""Governance: audit log and chain heads, governance settings, catalog changes, price
overrides.

Revision ID: 0010_governance
Revises: 0015_rollups_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0010_governance"
down_revision = "0015_rollups_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", tt.UtcMicros(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_key", sa.String(64), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("object", sa.String(500), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_tenant_id_object", "audit_log", ["tenant_id", "object"])
    op.create_index("ix_audit_log_tenant_id_actor", "audit_log", ["tenant_id", "actor"])
    op.create_index("ix_audit_log_tenant_id_at", "audit_log", ["tenant_id", "at"])
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_audit_heads"),
    )
    op.create_table(
        "governance_settings",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("require_approval", sa.Boolean(), nullable=False),
        sa.Column("max_increase_pct", tt.DecimalType(), nullable=True),
        sa.Column("max_decrease_pct", tt.DecimalType(), nullable=True),
        sa.Column("min_notice_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_governance_settings"),
    )
    op.create_table(
        "catalog_changes",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("author_key", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("document", tt.JsonType, nullable=False),
        sa.Column("effective_at", tt.UtcMicros(), nullable=False),
        sa.Column("timing", sa.String(16), nullable=False),
        sa.Column("existing", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("diff", tt.JsonType, nullable=False),
        sa.Column("checks", tt.JsonType, nullable=False),
        sa.Column("impact", tt.JsonType, nullable=False),
        sa.Column("versions", tt.JsonType, nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("decided_key", sa.String(64), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", tt.UtcMicros(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_catalog_changes"),
    )
    op.create_index(
        "ix_catalog_changes_tenant_id_status", "catalog_changes", ["tenant_id", "status"]
    )
    op.create_table(
        "price_overrides",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("charge", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("multiplier", tt.DecimalType(), nullable=True),
        sa.Column("price", tt.JsonType, nullable=True),
        sa.Column("valid_from", tt.UtcMicros(), nullable=False),
        sa.Column("valid_to", tt.UtcMicros(), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_price_overrides"),
    )
    op.create_index(
        "ix_price_overrides_tenant_id_level_target",
        "price_overrides",
        ["tenant_id", "level", "target"],
    )


def downgrade() -> None:
    for table in (
        "price_overrides",
        "catalog_changes",
        "governance_settings",
        "audit_heads",
        "audit_log",
    ):
        op.drop_table(table)
