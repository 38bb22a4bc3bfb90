"""Per-customer feature overrides in the store (``ports.EntitlementStore``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.schema_entitlements import entitlement_overrides as t
from tallybook.services.ports import FeatureOverrideRow


class EntitlementStore:
    def __init__(self, engine: Engine):
        self._engine = engine
        self._insert: Any = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def overrides(self, tenant_id: str, customer: str) -> dict[str, FeatureOverrideRow]:
        stmt = select(t).where(t.c.tenant_id == tenant_id, t.c.customer_id == customer)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return {
            r.feature: FeatureOverrideRow(
                r.customer_id, r.feature, r.enabled, r.limit_units, r.hard, r.updated_at
            )
            for r in rows
        }

    def put_override(self, tenant_id: str, row: FeatureOverrideRow) -> None:
        values = {
            "enabled": row.enabled,
            "limit_units": row.limit,
            "hard": row.hard,
            "updated_at": row.updated_at,
        }
        stmt = self._insert(t).values(
            tenant_id=tenant_id, customer_id=row.customer, feature=row.feature, **values
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "customer_id", "feature"], set_=values
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def delete_override(self, tenant_id: str, customer: str, feature: str) -> bool:
        stmt = delete(t).where(
            t.c.tenant_id == tenant_id, t.c.customer_id == customer, t.c.feature == feature
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0
