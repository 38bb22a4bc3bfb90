"""Outbox and webhooks: outbox, outbox_sequences, webhook_endpoints, webhook_messages,
webhook_attempts (see ``tallybook.adapters.store.schema_webhooks``).

Revision ID: 0007_outbox_webhooks
Revises: 0005_portal_sessions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tallybook.adapters.store.types as tt

revision = "0007_outbox_webhooks"
down_revision = "0006_api_hygiene"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", tt.UtcMicros(), nullable=False),
        sa.Column("data", tt.JsonType, nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("dispatched_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_dispatch", "outbox", ["dispatched_at", "created_at"])
    op.create_table(
        "outbox_sequences",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer_id", name="pk_outbox_sequences"),
    )
    _endpoints()
    _messages()


def _endpoints() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("events", tt.JsonType, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_secret_until", tt.UtcMicros(), nullable=True),
        sa.Column("secret_rotated_at", tt.UtcMicros(), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_endpoints"),
    )


def _messages() -> None:
    op.create_table(
        "webhook_messages",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(40), nullable=False),
        sa.Column("endpoint_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tt.UtcMicros(), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", tt.UtcMicros(), nullable=False),
        sa.Column("updated_at", tt.UtcMicros(), nullable=False),
        sa.Column("delivered_at", tt.UtcMicros(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_messages"),
        sa.UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_messages_event_endpoint"),
    )
    op.create_index("ix_webhook_messages_due", "webhook_messages", ["status", "next_attempt_at"])
    op.create_index(
        "ix_webhook_messages_endpoint", "webhook_messages", ["tenant_id", "endpoint_id"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", tt.UtcMicros(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "message_id", "attempt", name="pk_webhook_attempts"),
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_endpoints")
    op.drop_table("outbox_sequences")
    op.drop_table("outbox")
