"""The overview's stored MRR snapshots (``ports.MrrSnapshotStore``, table ``mrr_snapshots``).

A snapshot is replaced whole (upsert on the tenant). ``stale_tenants`` is the scheduler's
question: tenants with subscriptions whose snapshot is missing, older than a bound, or
older than an invoice's finalization or void (``invoices.finalized_at``/``voided_at``:
a billing run or a finalized invoice changed usage MRR since).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.schema_analytics import mrr_snapshots as m
from tallybook.adapters.store.schema_billing import invoices as i
from tallybook.adapters.store.schema_billing import subscriptions as s
from tallybook.services.ports import StoredSnapshot


class MrrSnapshotStore:
    """``ports.MrrSnapshotStore`` over SQLAlchemy Core (SQLite and PostgreSQL)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._insert: Any = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def get(self, tenant_id: str) -> StoredSnapshot | None:
        stmt = select(m.c.computed_at, m.c.document).where(m.c.tenant_id == tenant_id)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else StoredSnapshot(row.computed_at, row.document)

    def put(self, tenant_id: str, snapshot: StoredSnapshot) -> None:
        values = {"computed_at": snapshot.computed_at, "document": snapshot.document}
        stmt = self._insert(m).values(tenant_id=tenant_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["tenant_id"], set_=values)
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def stale_tenants(self, older_than: datetime) -> list[str]:
        tenants = select(s.c.tenant_id).distinct().subquery()
        newer_invoice = exists().where(
            i.c.tenant_id == tenants.c.tenant_id,
            or_(i.c.finalized_at > m.c.computed_at, i.c.voided_at > m.c.computed_at),
        )
        stmt = (
            select(tenants.c.tenant_id)
            .select_from(tenants.outerjoin(m, m.c.tenant_id == tenants.c.tenant_id))
            .where(
                or_(
                    m.c.tenant_id.is_(None),
                    m.c.computed_at < older_than,
                    and_(m.c.tenant_id.is_not(None), newer_invoice),
                )
            )
            .order_by(tenants.c.tenant_id)
        )
        with self._engine.connect() as conn:
            return [row.tenant_id for row in conn.execute(stmt)]
