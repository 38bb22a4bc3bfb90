"""Tenants and hashed API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update

from tallybook.adapters.store.schema import api_keys, tenants
from tallybook.services.ports import ApiKeyRow, TenantRow


class TenantStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def get(self, tenant_id: str) -> TenantRow | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
        return None if row is None else TenantRow(row.id, row.name, row.grace_seconds)

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

    def count_keys(self, tenant_id: str) -> int:
        with self._engine.connect() as conn:
            stmt = select(func.count()).where(api_keys.c.tenant_id == tenant_id)
            return int(conn.execute(stmt).scalar_one())

    def add_key(
        self, key_id: str, tenant_id: str, key_hash: str, prefix: str, name: str, now: datetime
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
                )
            )

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
            return [
                ApiKeyRow(r.id, r.tenant_id, r.prefix, r.name, r.created_at, r.revoked_at)
                for r in conn.execute(stmt)
            ]
