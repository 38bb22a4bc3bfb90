"""The outbox's internal consumer for payment-provider sync: sync marks written with the
fact.

When a payment provider is configured, ``bootstrap`` hands the stores a
``SyncMarkingOutbox`` instead of a plain ``OutboxWriter``. Besides the outbox rows it
writes, on the same connection (so in the transaction that finalizes, voids or pays the
invoice; a rollback takes both away):

``invoice.finalized``  a ``provider_invoices`` row ``pending``, due now, never claimed
                       (``attempts`` 0): the sync worker's queue entry;
``invoice.voided``     a row already ``synced`` becomes ``pending`` again, due now (the
                       remote invoice must be voided); a row never claimed is removed (the
                       invoice never went to the provider, and now never will);
``invoice.paid``       a row never claimed is removed (paid here before any push: the
                       provider must not collect it a second time).

The worker (``services.sync.worker``) claims due ``pending`` rows with the same lease as
every other sync (``SyncStore.claim``); the scheduler's sweep still finds anything these
marks miss (invoices finalized before the provider was configured).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_payments import provider_invoices
from tallybook.domain.payments import SyncStatus
from tallybook.domain.webhooks import OutboxMessage

FINALIZED, VOIDED, PAID = "invoice.finalized", "invoice.voided", "invoice.paid"


class SyncMarkingOutbox(OutboxWriter):
    """An ``OutboxWriter`` that also marks invoices for ``provider``'s sync (see the
    module docstring). ``enabled`` governs the outbox rows only: the marks are written
    even when webhooks are off."""

    def __init__(self, provider: str, *, enabled: bool = True):
        super().__init__(enabled=enabled)
        self.provider = provider

    def add(
        self, conn: Connection, tenant_id: str, messages: Sequence[OutboxMessage], now: datetime
    ) -> None:
        super().add(conn, tenant_id, messages, now)
        finalized = [_invoice(m) for m in messages if m.type == FINALIZED]
        voided = [_invoice(m) for m in messages if m.type == VOIDED]
        paid = [_invoice(m) for m in messages if m.type == PAID]
        if finalized:
            self._mark_new(conn, tenant_id, finalized, now)
        if voided:
            self._mark_void(conn, tenant_id, voided, now)
        if voided or paid:
            p = provider_invoices.c
            conn.execute(
                delete(provider_invoices).where(
                    self._rows(tenant_id, voided + paid),
                    p.status == SyncStatus.PENDING.value,
                    p.attempts == 0,
                )
            )

    def _rows(self, tenant_id: str, invoice_ids: list[str]) -> ColumnElement[bool]:
        p = provider_invoices.c
        return and_(
            p.tenant_id == tenant_id, p.provider == self.provider, p.invoice_id.in_(invoice_ids)
        )

    def _mark_new(
        self, conn: Connection, tenant_id: str, invoice_ids: list[str], now: datetime
    ) -> None:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "tenant_id": tenant_id,
                "provider": self.provider,
                "invoice_id": invoice_id,
                "status": SyncStatus.PENDING.value,
                "attempts": 0,
                "generation": 1,
                "next_attempt_at": now,
                "updated_at": now,
            }
            for invoice_id in invoice_ids
        ]
        conn.execute(dialect_insert(provider_invoices).on_conflict_do_nothing(), rows)

    def _mark_void(
        self, conn: Connection, tenant_id: str, invoice_ids: list[str], now: datetime
    ) -> None:
        p = provider_invoices.c
        conn.execute(
            update(provider_invoices)
            .where(self._rows(tenant_id, invoice_ids), p.status == SyncStatus.SYNCED.value)
            .values(status=SyncStatus.PENDING.value, next_attempt_at=now, updated_at=now)
        )


def _invoice(message: OutboxMessage) -> str:
    return str(message.data["invoice"])
