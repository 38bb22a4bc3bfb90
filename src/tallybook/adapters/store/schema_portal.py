"""Portal sessions: a browser's login, stored by the SHA-256 of its random token.

``customer_id`` is NULL for an operator's session (opened with an API key) and names the
customer of a customer portal session (opened by a single-use link, issue 10)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from tallybook.adapters.store.schema import metadata
from tallybook.adapters.store.types import UtcMicros

portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant_id", String(64), ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(64), ForeignKey("api_keys.id"), nullable=False),
    Column("created_at", UtcMicros, nullable=False),
    Column("expires_at", UtcMicros, nullable=False),
    Column("revoked_at", UtcMicros, nullable=True),
    Column("customer_id", String(255), nullable=True),
)
Index("ix_portal_sessions_key_id", portal_sessions.c.key_id)
Index("ix_portal_sessions_expires_at", portal_sessions.c.expires_at)
