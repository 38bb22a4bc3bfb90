"""Tenants and hashed API keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from tallybook.adapters.store.schema import api_keys, tenants
from tallybook.services.ports import ApiKeyRow, KeyIdentity, LastAdminKey, TenantRow


def _roles(text: str) -> tuple[str, ...]:
    return tuple(r for r in text.split(",") if r)


def _key_row(r: Any) -> ApiKeyRow:
    return ApiKeyRow(
        r.id, r.tenant_id, r.prefix, r.name, r.created_at, r.revoked_at, _roles(r.roles)
    )


class TenantStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def get(self, tenant_id: str) -> TenantRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        if row is None:
            return None
        return TenantRow(row.id, row.name, row.grace_seconds, row.seller, bool(row.email_invoices))

    def create(self, tenant_id: str, name: str, now: datetime, grace_seconds: int) -> TenantRow:
        with self._engine.begin() as conn:
            conn.execute(
                insert(tenants).values(
                    id=tenant_id, name=name, created_at=now, grace_seconds=grace_seconds
                )
            )
        return TenantRow(tenant_id, name, grace_seconds)

    def set_grace(self, tenant_id: str, grace_seconds: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(tenants).where(tenants.c.id == tenant_id).values(grace_seconds=grace_seconds)
            )

    def set_finance(self, tenant_id: str, values: Mapping[str, Any]) -> None:
        """Set ``seller`` (JSON or None) and/or ``email_invoices`` of the tenant."""
        allowed = {k: v for k, v in values.items() if k in ("seller", "email_invoices")}
        if not allowed:
            return
        with self._engine.begin() as conn:
            conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(allowed))

    def count_keys(self, tenant_id: str) -> int:
        with self._engine.connect() as conn:
            stmt = select(func.count()).where(api_keys.c.tenant_id == tenant_id)
            return int(conn.execute(stmt).scalar_one())

    def add_key(
        self,
        key_id: str,
        tenant_id: str,
        key_hash: str,
        prefix: str,
        name: str,
        now: datetime,
        roles: Sequence[str] = ("admin",),
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    tenant_id=tenant_id,
                    key_hash=key_hash,
                    prefix=prefix,
                    name=name,
                    created_at=now,
                    roles=",".join(roles),
                )
            )

    def identity_for_hash(self, key_hash: str) -> KeyIdentity | None:
        """The active (not revoked) key with this hash."""
        stmt = select(api_keys.c.tenant_id, api_keys.c.id, api_keys.c.roles, api_keys.c.name).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return KeyIdentity(row.tenant_id, row.id, _roles(row.roles), row.name)

    def get_key(self, tenant_id: str, key_id: str) -> ApiKeyRow | None:
        stmt = select(api_keys).where(api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _key_row(row)

    def page_keys(self, tenant_id: str, *, limit: int, after: str | None) -> list[ApiKeyRow]:
        """Keys by id (revoked ones too), after the id ``after``."""
        stmt = select(api_keys).where(api_keys.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(api_keys.c.id > after)
        stmt = stmt.order_by(api_keys.c.id).limit(limit)
        with self._engine.connect() as conn:
            return [_key_row(r) for r in conn.execute(stmt)]

    def revoke_key(self, tenant_id: str, key_id: str, now: datetime) -> ApiKeyRow | None:
        """Revoke the key (kept as it is when already revoked); None when there is no such
        key. Raises ``LastAdminKey`` instead of leaving the tenant without an active admin
        key. Revocations of one tenant are serialised (the tenant row is locked on
        PostgreSQL; SQLite write transactions are ``BEGIN IMMEDIATE``)."""
        with self._engine.begin() as conn:
            conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())
            where = (api_keys.c.tenant_id == tenant_id, api_keys.c.id == key_id)
            row = conn.execute(select(api_keys).where(*where)).first()
            if row is None:
                return None
            if row.revoked_at is None:
                if (
                    "admin" in _roles(row.roles)
                    and self._other_admins(conn, tenant_id, key_id) == 0
                ):
                    raise LastAdminKey(key_id)
                conn.execute(update(api_keys).where(*where).values(revoked_at=now))
                row = conn.execute(select(api_keys).where(*where)).first()
            return _key_row(row)

    def _other_admins(self, conn: Connection, tenant_id: str, key_id: str) -> int:
        stmt = select(api_keys.c.roles).where(
            api_keys.c.tenant_id == tenant_id,
            api_keys.c.id != key_id,
            api_keys.c.revoked_at.is_(None),
        )
        return sum(1 for roles in conn.scalars(stmt) if "admin" in _roles(roles))

    def hash_known(self, key_hash: str) -> bool:
        """Whether a key with this hash was ever stored (revoked ones included)."""
        stmt = select(api_keys.c.id).where(api_keys.c.key_hash == key_hash)
        with self._engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def tenant_for_hash(self, key_hash: str) -> str | None:
        stmt = select(api_keys.c.tenant_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        with self._engine.connect() as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def list_keys(self, tenant_id: str) -> list[ApiKeyRow]:
        stmt = (
            select(api_keys)
            .where(api_keys.c.tenant_id == tenant_id)
            .order_by(api_keys.c.created_at)
        )
        with self._engine.connect() as conn:
            return [_key_row(r) for r in conn.execute(stmt)]
