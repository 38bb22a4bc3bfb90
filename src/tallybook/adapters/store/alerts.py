"""Alert rules, fired alerts and the evaluation queue (``ports.AlertStore``,
``ports.AlertQueue``); tables in ``schema_rollups``.

``fire`` inserts each fired row with ``ON CONFLICT DO NOTHING`` on the UNIQUE key
(alert, customer, threshold, period start) and writes ``alert.triggered`` outbox rows for
exactly the rows it inserted, in the same transaction: two evaluators racing (two servers
on one PostgreSQL) fire once; on PostgreSQL the loser waits for the winner's commit and
then inserts nothing.

``claim`` takes the marks of up to ``limit`` customers whose lease is free (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL; SQLite serialises writers) and stamps a lease; ``done``
deletes exactly the claimed marks, so marks ingest wrote during the evaluation stay for
the next pass; ``release`` frees them for another try.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from tallybook.adapters.store.failures import translated
from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_rollups import (
    alert_pending,
    alert_settings,
    alerts,
    fired_alerts,
)
from tallybook.domain.alerts import Alert, AlertType, Fired, threshold_text
from tallybook.domain.notifications import alert_message
from tallybook.services.ports import PendingAlerts


class AlertStore:
    """``ports.AlertStore`` and ``ports.AlertQueue`` on SQLAlchemy."""

    def __init__(self, engine: Engine, outbox: OutboxWriter):
        self._engine = engine
        self._outbox = outbox
        self._postgres = engine.dialect.name == "postgresql"

    # -- rules ----------------------------------------------------------------------------

    def insert_alert(self, tenant_id: str, alert: Alert, request_hash: str) -> bool:
        row = {
            "tenant_id": tenant_id,
            "id": alert.id,
            "customer_id": alert.customer,
            "plan": alert.plan,
            "type": alert.type.value,
            "charge": alert.charge,
            "thresholds": [threshold_text(t) for t in alert.thresholds],
            "request_hash": request_hash,
            "created_at": alert.created_at,
        }
        try:
            with translated(), self._engine.begin() as conn:
                conn.execute(insert(alerts).values(**row))
        except IntegrityError:
            return False
        return True

    def get_alert(self, tenant_id: str, alert_id: str) -> tuple[Alert, str] | None:
        stmt = select(alerts).where(alerts.c.tenant_id == tenant_id, alerts.c.id == alert_id)
        with translated(), self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else (_alert(row), str(row.request_hash))

    def page_alerts(self, tenant_id: str, *, limit: int, after: str | None) -> list[Alert]:
        stmt = select(alerts).where(alerts.c.tenant_id == tenant_id)
        if after is not None:
            stmt = stmt.where(alerts.c.id > after)
        stmt = stmt.order_by(alerts.c.id).limit(limit)
        with translated(), self._engine.connect() as conn:
            return [_alert(row) for row in conn.execute(stmt)]

    def all_alerts(self, tenant_id: str) -> list[Alert]:
        stmt = select(alerts).where(alerts.c.tenant_id == tenant_id).order_by(alerts.c.id)
        with translated(), self._engine.connect() as conn:
            return [_alert(row) for row in conn.execute(stmt)]

    def delete_alert(self, tenant_id: str, alert_id: str) -> bool:
        stmt = delete(alerts).where(alerts.c.tenant_id == tenant_id, alerts.c.id == alert_id)
        with translated(), self._engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def default_allowance(self, tenant_id: str) -> bool:
        stmt = select(alert_settings.c.default_allowance).where(
            alert_settings.c.tenant_id == tenant_id
        )
        with translated(), self._engine.connect() as conn:
            found = conn.execute(stmt).scalar()
        return found is None or bool(found)

    def set_default_allowance(self, tenant_id: str, enabled: bool, now: datetime) -> None:
        dialect_insert: Any = pg_insert if self._postgres else sqlite_insert
        stmt = dialect_insert(alert_settings).values(
            tenant_id=tenant_id, default_allowance=int(enabled), updated_at=now
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id"],
            set_={"default_allowance": int(enabled), "updated_at": now},
        )
        with translated(), self._engine.begin() as conn:
            conn.execute(stmt)

    # -- fired alerts -----------------------------------------------------------------------

    def fired_keys(
        self, tenant_id: str, customer: str, period_starts: Sequence[datetime]
    ) -> set[tuple[str, str, datetime]]:
        if not period_starts:
            return set()
        f = fired_alerts.c
        stmt = select(f.alert_id, f.threshold, f.period_start).where(
            f.tenant_id == tenant_id,
            f.customer_id == customer,
            f.period_start.in_(list(dict.fromkeys(period_starts))),
        )
        with translated(), self._engine.connect() as conn:
            return {(a, t, s) for a, t, s in conn.execute(stmt)}

    def fire(self, tenant_id: str, fired: Sequence[Fired], now: datetime) -> list[Fired]:
        dialect_insert: Any = pg_insert if self._postgres else sqlite_insert
        inserted: list[Fired] = []
        with translated(), self._engine.begin() as conn:
            for item in fired:
                stmt = (
                    dialect_insert(fired_alerts)
                    .values(**_fired_row(tenant_id, item))
                    .on_conflict_do_nothing()
                    .returning(fired_alerts.c.id)
                )
                if conn.execute(stmt).first() is not None:
                    inserted.append(item)
            if inserted:
                self._outbox.add(conn, tenant_id, [alert_message(f) for f in inserted], now)
        return inserted

    def page_fired(
        self, tenant_id: str, customer: str, *, limit: int, before: str | None
    ) -> list[Fired]:
        f = fired_alerts.c
        stmt = select(fired_alerts).where(f.tenant_id == tenant_id, f.customer_id == customer)
        if before is not None:
            stmt = stmt.where(f.id < before)
        stmt = stmt.order_by(f.id.desc()).limit(limit)
        with translated(), self._engine.connect() as conn:
            return [_fired(row) for row in conn.execute(stmt)]

    # -- the evaluation queue ---------------------------------------------------------------

    def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[PendingAlerts]:
        p = alert_pending.c
        free = or_(p.claimed_until.is_(None), p.claimed_until <= now)
        stmt = (
            select(p.tenant_id, p.customer_id, p.mark)
            .where(free)
            .order_by(p.touched_at)
            .limit(limit * _MARKS_PER_CUSTOMER)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        until = now + timedelta(seconds=lease_seconds)
        found: dict[tuple[str, str], list[str]] = {}
        with translated(), self._engine.begin() as conn:
            for tenant_id, customer, mark in conn.execute(stmt):
                key = (tenant_id, customer)
                if key in found or len(found) < limit:
                    found.setdefault(key, []).append(mark)
            for (tenant_id, customer), marks in found.items():
                marks[:] = self._all_free_marks(conn, tenant_id, customer, free, marks)
                conn.execute(
                    update(alert_pending)
                    .where(p.tenant_id == tenant_id, p.customer_id == customer, p.mark.in_(marks))
                    .values(claimed_until=until)
                )
        return [PendingAlerts(t, c, tuple(m)) for (t, c), m in found.items()]

    def _all_free_marks(
        self, conn: Any, tenant_id: str, customer: str, free: Any, seen: list[str]
    ) -> list[str]:
        """Every unclaimed mark of a claimed customer, not only those among the oldest
        rows read: one evaluation answers them all. Claiming only some left the busy
        customer's older marks behind, so the next claim of the same pass met the
        customer again and ended the pass (``AlertEvaluator.run_pass``): under sustained
        ingest a pass then evaluated one batch of customers per debounce interval and the
        backlog -- and alert latency -- grew without bound."""
        p = alert_pending.c
        stmt = select(p.mark).where(p.tenant_id == tenant_id, p.customer_id == customer, free)
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list(dict.fromkeys([*seen, *conn.execute(stmt).scalars()]))

    def done(self, pending: PendingAlerts) -> None:
        self._marks(pending, None)

    def release(self, pending: PendingAlerts) -> None:
        self._marks(pending, False)

    def _marks(self, pending: PendingAlerts, keep: bool | None) -> None:
        """Delete (``keep`` None) or release (False) the claimed marks."""
        p = alert_pending.c
        where = and_(
            p.tenant_id == pending.tenant_id,
            p.customer_id == pending.customer,
            p.mark.in_(list(pending.marks)),
        )
        stmt: Any = delete(alert_pending) if keep is None else update(alert_pending)
        if keep is not None:
            stmt = stmt.values(claimed_until=None)
        with translated(), self._engine.begin() as conn:
            conn.execute(stmt.where(where))


_MARKS_PER_CUSTOMER = 20  # rows read per customer claimed (busy customers have several)


def _alert(row: Any) -> Alert:
    return Alert(
        id=row.id,
        type=AlertType(row.type),
        thresholds=tuple(Decimal(t) for t in row.thresholds),
        customer=row.customer_id,
        plan=row.plan,
        charge=row.charge,
        created_at=row.created_at,
    )


def _fired_row(tenant_id: str, fired: Fired) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": fired.id,
        "alert_id": fired.alert,
        "customer_id": fired.customer,
        "threshold": threshold_text(fired.threshold),
        "period_start": fired.period_start,
        "period_end": fired.period_end,
        "type": fired.type.value,
        "charge": fired.charge,
        "value": fired.value,
        "limit": fired.limit,
        "fired_at": fired.fired_at,
    }


def _fired(row: Any) -> Fired:
    return Fired(
        alert=row.alert_id,
        customer=row.customer_id,
        type=AlertType(row.type),
        charge=row.charge,
        threshold=Decimal(row.threshold),
        value=row.value,
        limit=row.limit,
        period_start=row.period_start,
        period_end=row.period_end,
        fired_at=row.fired_at,
        id=row.id,
    )
