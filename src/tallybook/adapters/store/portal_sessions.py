"""Portal sessions in the store: created at login, checked on every page, revoked at logout.

A session is valid while it is neither revoked nor expired **and** the API key it was
opened with is not revoked: revoking a key ends every browser session opened with it,
with no cache to clear (each check reads the store).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from tallybook.adapters.store.schema import api_keys
from tallybook.adapters.store.schema_portal import portal_sessions
from tallybook.adapters.store.tenants import _roles
from tallybook.services.ports import ActiveKey, KeyIdentity

KEEP_EXPIRED = timedelta(days=7)  # expired rows are deleted after this (housekeeping)


class PortalSessionStore:
    """SQL for ``portal_sessions``; tokens arrive here already hashed (SHA-256 hex)."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def active_key(self, key_hash: str) -> ActiveKey | None:
        """The unrevoked API key with this hash, or None."""
        stmt = select(api_keys.c.id, api_keys.c.tenant_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else ActiveKey(row.id, row.tenant_id)

    def create(self, token_hash: str, key: ActiveKey, now: datetime, expires_at: datetime) -> None:
        """Store a new session (and delete sessions expired for a week)."""
        with self._engine.begin() as conn:
            conn.execute(
                delete(portal_sessions).where(portal_sessions.c.expires_at < now - KEEP_EXPIRED)
            )
            conn.execute(
                insert(portal_sessions).values(
                    token_hash=token_hash,
                    tenant_id=key.tenant_id,
                    key_id=key.id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def tenant(self, token_hash: str, now: datetime) -> str | None:
        """The tenant of a live operator session (not revoked, not expired, its key not
        revoked); customer portal sessions are not operator sessions."""
        stmt = (
            select(portal_sessions.c.tenant_id)
            .join(api_keys, api_keys.c.id == portal_sessions.c.key_id)
            .where(
                portal_sessions.c.token_hash == token_hash,
                portal_sessions.c.customer_id.is_(None),  # customer sessions: customer_portal
                portal_sessions.c.revoked_at.is_(None),
                portal_sessions.c.expires_at > now,
                api_keys.c.revoked_at.is_(None),
            )
        )
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def identity(self, token_hash: str, now: datetime) -> KeyIdentity | None:
        """Tenant, key id and roles of the key behind a live session (as ``tenant``), or None."""
        stmt = (
            select(api_keys.c.tenant_id, api_keys.c.id, api_keys.c.roles, api_keys.c.name)
            .join(portal_sessions, api_keys.c.id == portal_sessions.c.key_id)
            .where(
                portal_sessions.c.token_hash == token_hash,
                portal_sessions.c.revoked_at.is_(None),
                portal_sessions.c.expires_at > now,
                api_keys.c.revoked_at.is_(None),
            )
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return KeyIdentity(row.tenant_id, row.id, _roles(row.roles), row.name or "")

    def revoke(self, token_hash: str, now: datetime) -> bool:
        """Revoke one session; True when a live one was revoked."""
        stmt = (
            update(portal_sessions)
            .where(
                portal_sessions.c.token_hash == token_hash, portal_sessions.c.revoked_at.is_(None)
            )
            .values(revoked_at=now)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0
