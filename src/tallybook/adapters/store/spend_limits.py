"""Spend limits and the limits reached (``ports.SpendLimitStore``).

A hit and its ``spend_limit.reached`` outbox row are written in one transaction; the hit's
primary key (tenant, customer, period start, limit amount) is inserted with
``ON CONFLICT DO NOTHING``, and the outbox row is written only when the insert took, so
two evaluations at once (two servers, or the scheduler and a check) record one message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_entitlements import spend_limit_hits as h
from tallybook.adapters.store.schema_entitlements import spend_limits as s
from tallybook.domain.spend_limits import SpendHit, SpendLimit, SpendMode
from tallybook.domain.webhooks import OutboxMessage


class SpendLimitStore:
    def __init__(self, engine: Engine, outbox: OutboxWriter):
        self._engine = engine
        self._outbox = outbox
        self._insert: Any = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def get(self, tenant_id: str, customer: str) -> SpendLimit | None:
        stmt = select(s).where(s.c.tenant_id == tenant_id, s.c.customer_id == customer)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return SpendLimit(row.amount, SpendMode(row.mode), row.currency, row.updated_at)

    def put(self, tenant_id: str, customer: str, limit: SpendLimit) -> None:
        values = {
            "amount": limit.amount,
            "mode": limit.mode.value,
            "currency": limit.currency,
            "updated_at": limit.updated_at,
        }
        stmt = self._insert(s).values(tenant_id=tenant_id, customer_id=customer, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["tenant_id", "customer_id"], set_=values)
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def delete(self, tenant_id: str, customer: str) -> bool:
        stmt = delete(s).where(s.c.tenant_id == tenant_id, s.c.customer_id == customer)
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    def record_hit(self, tenant_id: str, hit: SpendHit, message: OutboxMessage) -> bool:
        stmt = (
            self._insert(h)
            .values(
                tenant_id=tenant_id,
                customer_id=hit.customer,
                period_start=hit.period_start,
                limit_amount=hit.limit,
                period_end=hit.period_end,
                mode=hit.mode.value,
                total=hit.total,
                currency=hit.currency,
                reached_at=hit.at,
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "customer_id", "period_start", "limit_amount"]
            )
            .returning(h.c.customer_id)
        )
        with self._engine.begin() as conn:
            if conn.execute(stmt).first() is None:  # (rowcount is not reliable here on psycopg)
                return False
            self._outbox.add(conn, tenant_id, [message], hit.at)
        return True

    def hits(self, tenant_id: str, customer: str, *, limit: int = 20) -> list[SpendHit]:
        stmt = (
            select(h)
            .where(h.c.tenant_id == tenant_id, h.c.customer_id == customer)
            .order_by(h.c.reached_at.desc(), h.c.limit_amount.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            SpendHit(
                r.customer_id,
                r.period_start,
                r.period_end,
                r.limit_amount,
                SpendMode(r.mode),
                r.total,
                r.currency,
                r.reached_at,
            )
            for r in rows
        ]

    def limited_customers(
        self, *, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str]]:
        stmt = select(s.c.tenant_id, s.c.customer_id).order_by(s.c.tenant_id, s.c.customer_id)
        if after is not None:
            stmt = stmt.where(
                or_(
                    s.c.tenant_id > after[0],
                    and_(s.c.tenant_id == after[0], s.c.customer_id > after[1]),
                )
            )
        with self._engine.connect() as conn:
            return [(r.tenant_id, r.customer_id) for r in conn.execute(stmt.limit(limit))]
