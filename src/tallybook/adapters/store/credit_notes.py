"""Credit notes repository: one customer's transaction that reads the invoice and its
earlier notes, takes the next gapless ``CN-`` number and stores the note, with the
credits-ledger grant of a ``credit_balance`` refund (``adapters/store/credits.py``) and
the note's e-mail delivery when the tenant e-mails invoices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tallybook.adapters.store.billing_invoices import invoice_from_row
from tallybook.adapters.store.credits import CreditUnitOfWork
from tallybook.adapters.store.email_deliveries import credit_note_email_row
from tallybook.adapters.store.schema_billing import invoices
from tallybook.adapters.store.schema_finance import credit_note_counters, credit_notes
from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.finance.credit_notes import CreditNote, NoteLine, Refund


def note_from_row(row: Any) -> CreditNote:
    return CreditNote(
        id=row.id,
        number=int(row.number),
        invoice=row.invoice_id,
        customer=row.customer_id,
        currency=row.currency,
        reason=row.reason,
        refund=Refund(row.refund),
        lines=tuple(NoteLine.from_dict(d) for d in row.lines),
        created_at=row.created_at,
        grant=row.grant_id,
        prefix=row.number_prefix,
    )


def notes_of(conn: Connection, tenant_id: str, invoice_ids: Sequence[str]) -> list[CreditNote]:
    stmt = (
        select(credit_notes)
        .where(credit_notes.c.tenant_id == tenant_id, credit_notes.c.invoice_id.in_(invoice_ids))
        .order_by(credit_notes.c.number)
    )
    return [note_from_row(row) for row in conn.execute(stmt)]


class CreditNoteStore:
    def __init__(self, engine: Engine):
        self._engine = engine

    def unit_of_work(self, tenant_id: str, customer: str) -> CreditNoteUnitOfWork:
        """The customer's transaction (opened by ``with``; ``lock()`` first)."""
        return CreditNoteUnitOfWork(self._engine, tenant_id, customer)

    def of_invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> list[CreditNote]:
        """The notes of these invoices, by number."""
        with self._engine.connect() as conn:
            return notes_of(conn, tenant_id, invoice_ids)

    def get(self, tenant_id: str, note_id: str) -> CreditNote | None:
        stmt = select(credit_notes).where(
            credit_notes.c.tenant_id == tenant_id, credit_notes.c.id == note_id
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else note_from_row(row)


class CreditNoteUnitOfWork(CreditUnitOfWork):
    """The credits ledger's transaction plus the invoice, its notes and the note counter."""

    def invoice(self, invoice_id: str) -> Invoice | None:
        stmt = select(invoices).where(
            invoices.c.tenant_id == self.tenant_id, invoices.c.id == invoice_id
        )
        row = self.conn.execute(stmt).first()
        return None if row is None else invoice_from_row(row)

    def notes(self, invoice_id: str) -> list[CreditNote]:
        return notes_of(self.conn, self.tenant_id, [invoice_id])

    def take_number(self) -> int:
        """The tenant's next credit-note number (the counter row is locked until commit)."""
        dialect_insert = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        self.conn.execute(
            dialect_insert(credit_note_counters)
            .values(tenant_id=self.tenant_id, last_number=0)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        stmt = (
            update(credit_note_counters)
            .where(credit_note_counters.c.tenant_id == self.tenant_id)
            .values(last_number=credit_note_counters.c.last_number + 1)
            .returning(credit_note_counters.c.last_number)
        )
        return int(self.conn.execute(stmt).scalar_one())

    def insert_note(self, note: CreditNote) -> None:
        self.conn.execute(
            insert(credit_notes).values(
                tenant_id=self.tenant_id,
                id=note.id,
                number=note.number,
                invoice_id=note.invoice,
                customer_id=note.customer,
                currency=note.currency,
                reason=note.reason,
                refund=note.refund.value,
                grant_id=note.grant,
                number_prefix=note.prefix,
                lines=[line.to_dict() for line in note.lines],
                subtotal=note.subtotal,
                tax_total=note.tax_total,
                total=note.total,
                created_at=note.created_at,
            )
        )
        credit_note_email_row(self.conn, self.tenant_id, note.invoice, note.id, note.created_at)
