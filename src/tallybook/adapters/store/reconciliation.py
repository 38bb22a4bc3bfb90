"""Reconciliation runs and rows (``ports.ReconciliationStore``), and the local invoices a
run compares. A run, its rows and its ``reconciliation.drift`` outbox message are written
in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_billing import invoices
from tallybook.adapters.store.schema_payments import reconciliation_rows, reconciliation_runs
from tallybook.domain.billing.numbering import invoice_prefix
from tallybook.domain.webhooks import OutboxMessage
from tallybook.services.ports import (
    LocalInvoice,
    ReconciliationRow,
    ReconciliationRun,
)

FINAL = ("finalized", "paid", "void")


def _run(row: Any) -> ReconciliationRun:
    summary = row.summary or {}
    return ReconciliationRun(
        id=row.id,
        provider=row.provider,
        start=row.start_at,
        end=row.end_at,
        fix=bool(row.fix),
        status=row.status,
        checked=int(row.checked),
        ok=int(row.ok),
        counts={k: int(v) for k, v in (summary.get("counts") or {}).items()},
        drift={k: Decimal(v) for k, v in (summary.get("drift") or {}).items()},
        trigger=row.trigger,
        created_at=row.created_at,
        error=row.error,
    )


def _row(row: Any) -> ReconciliationRow:
    return ReconciliationRow(
        invoice=row.invoice_id,
        number=row.number,
        currency=row.currency,
        local_total=row.local_total,
        local_status=row.local_status,
        remote_id=row.remote_id,
        remote_total=row.remote_total,
        remote_status=row.remote_status,
        category=row.category,
        drift=row.drift,
        action=row.action,
        applied=bool(row.applied),
        error=row.error,
    )


class ReconciliationStore:
    def __init__(self, engine: Engine, outbox: OutboxWriter | None = None):
        self._engine = engine
        self._outbox = outbox

    def final_invoices(
        self, tenant_id: str, start: datetime, end: datetime, *, after: int | None, limit: int
    ) -> list[LocalInvoice]:
        i = invoices.c
        stmt = (
            select(
                i.id,
                i.number,
                i.customer_id,
                i.currency,
                i.total,
                i.status,
                i.finalized_at,
                i.parties,
            )
            .where(
                i.tenant_id == tenant_id,
                i.status.in_(FINAL),
                i.finalized_at >= start,
                i.finalized_at < end,
            )
            .order_by(i.number)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(i.number > after)
        with self._engine.connect() as conn:
            return [
                LocalInvoice(
                    id=r.id,
                    number=r.number,
                    customer=r.customer_id,
                    currency=r.currency,
                    total=Decimal(r.total),
                    status=r.status,
                    finalized_at=r.finalized_at,
                    prefix=invoice_prefix(r.parties),
                )
                for r in conn.execute(stmt)
            ]

    def invoice_statuses(self, tenant_id: str, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        i = invoices.c
        with self._engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                stmt = select(i.id, i.status).where(i.tenant_id == tenant_id, i.id.in_(chunk))
                found.update({r.id: r.status for r in conn.execute(stmt)})
        return found

    def save(
        self,
        tenant_id: str,
        run: ReconciliationRun,
        rows: Sequence[ReconciliationRow],
        messages: Sequence[OutboxMessage],
    ) -> None:
        summary = {
            "counts": dict(run.counts),
            "drift": {k: f"{v:f}" for k, v in run.drift.items()},
        }
        head = {
            "tenant_id": tenant_id,
            "id": run.id,
            "provider": run.provider,
            "start_at": run.start,
            "end_at": run.end,
            "fix": run.fix,
            "status": run.status,
            "trigger": run.trigger,
            "checked": run.checked,
            "ok": run.ok,
            "summary": summary,
            "error": run.error,
            "created_at": run.created_at,
        }
        values = [
            {
                "tenant_id": tenant_id,
                "run_id": run.id,
                "position": position,
                "invoice_id": row.invoice,
                "number": row.number,
                "currency": row.currency,
                "local_total": row.local_total,
                "local_status": row.local_status,
                "remote_id": row.remote_id,
                "remote_total": row.remote_total,
                "remote_status": row.remote_status,
                "category": row.category,
                "drift": row.drift,
                "action": row.action,
                "applied": row.applied,
                "error": None if row.error is None else row.error[:2000],
            }
            for position, row in enumerate(rows)
        ]
        with self._engine.begin() as conn:
            conn.execute(insert(reconciliation_runs), head)
            for start in range(0, len(values), 1000):
                conn.execute(insert(reconciliation_rows), values[start : start + 1000])
            if self._outbox is not None:
                self._outbox.add(conn, tenant_id, messages, run.created_at)

    def get(self, tenant_id: str, run_id: str) -> ReconciliationRun | None:
        r = reconciliation_runs.c
        stmt = select(reconciliation_runs).where(r.tenant_id == tenant_id, r.id == run_id)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else _run(row)

    def rows(
        self, tenant_id: str, run_id: str, *, after: int | None = None, limit: int | None = None
    ) -> list[tuple[int, ReconciliationRow]]:
        r = reconciliation_rows.c
        stmt = (
            select(reconciliation_rows)
            .where(r.tenant_id == tenant_id, r.run_id == run_id)
            .order_by(r.position)
        )
        if after is not None:
            stmt = stmt.where(r.position > after)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._engine.connect() as conn:
            return [(int(row.position), _row(row)) for row in conn.execute(stmt)]

    def page(self, tenant_id: str, *, limit: int, after: str | None) -> list[ReconciliationRun]:
        r = reconciliation_runs.c
        stmt = select(reconciliation_runs).where(r.tenant_id == tenant_id).order_by(r.id)
        if after is not None:
            stmt = stmt.where(r.id > after)
        with self._engine.connect() as conn:
            return [_run(row) for row in conn.execute(stmt.limit(limit))]

    def latest(
        self, provider: str, trigger: str | None = None
    ) -> list[tuple[str, ReconciliationRun]]:
        r = reconciliation_runs.c
        newest = select(r.tenant_id, func.max(r.created_at).label("at")).where(
            r.provider == provider
        )
        if trigger is not None:
            newest = newest.where(r.trigger == trigger)
        sub = newest.group_by(r.tenant_id).subquery()
        stmt = select(reconciliation_runs).join(
            sub, (r.tenant_id == sub.c.tenant_id) & (r.created_at == sub.c.at)
        )
        if trigger is not None:
            stmt = stmt.where(r.trigger == trigger)
        stmt = stmt.where(r.provider == provider)
        found: dict[str, ReconciliationRun] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(stmt):
                found[row.tenant_id] = _run(row)
        return sorted(found.items())
