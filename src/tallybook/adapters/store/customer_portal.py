"""Customer portal links and customer sessions (``ports.CustomerPortalStore``).

A link is consumed with one conditional ``UPDATE ... WHERE used_at IS NULL AND
expires_at > now``: of two browsers racing with one link, exactly one gets a session.
A customer session is a ``portal_sessions`` row with ``customer_id`` set, opened with the
key that made the link, so revoking that key ends it (as for operator sessions).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from tallybook.adapters.store.schema import api_keys
from tallybook.adapters.store.schema_entitlements import portal_links as links
from tallybook.adapters.store.schema_portal import portal_sessions as sessions
from tallybook.services.ports import PortalLink

KEEP_EXPIRED = timedelta(days=7)  # links expired this long ago are deleted (housekeeping)


class CustomerPortalStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def create_link(
        self,
        token_hash: str,
        tenant_id: str,
        customer: str,
        key_id: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        row = {
            "token_hash": token_hash,
            "tenant_id": tenant_id,
            "customer_id": customer,
            "key_id": key_id,
            "created_at": now,
            "expires_at": expires_at,
        }
        with self._engine.begin() as conn:
            conn.execute(delete(links).where(links.c.expires_at < now - KEEP_EXPIRED))
            conn.execute(insert(links).values(**row))

    def consume_link(self, token_hash: str, now: datetime) -> PortalLink | None:
        live_key = (
            select(api_keys.c.id)
            .where(api_keys.c.id == links.c.key_id, api_keys.c.revoked_at.is_(None))
            .exists()
        )
        stmt = (
            update(links)
            .where(
                links.c.token_hash == token_hash,
                links.c.used_at.is_(None),
                links.c.expires_at > now,
                live_key,
            )
            .values(used_at=now)
            .returning(links.c.tenant_id, links.c.customer_id, links.c.key_id)
        )
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return PortalLink(row.tenant_id, row.customer_id, row.key_id)

    def create_session(
        self, token_hash: str, link: PortalLink, now: datetime, expires_at: datetime
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(sessions).values(
                    token_hash=token_hash,
                    tenant_id=link.tenant_id,
                    key_id=link.key_id,
                    customer_id=link.customer,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def customer_session(self, token_hash: str, now: datetime) -> tuple[str, str] | None:
        stmt = (
            select(sessions.c.tenant_id, sessions.c.customer_id)
            .join(api_keys, api_keys.c.id == sessions.c.key_id)
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.customer_id.is_not(None),
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                api_keys.c.revoked_at.is_(None),
            )
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (row.tenant_id, row.customer_id)
