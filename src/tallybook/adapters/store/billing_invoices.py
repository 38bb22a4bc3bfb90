"""Invoice reads and status changes (void, pay). Writes of drafts live in ``billing``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from tallybook.adapters.store.credits import append_entries, invoice_entries, lock_customer
from tallybook.adapters.store.outbox import OutboxWriter
from tallybook.adapters.store.schema_billing import invoice_slots, invoices
from tallybook.domain.billing.invoice import Invoice, InvoiceStatus, Totals
from tallybook.domain.billing.lines import line_from_dict
from tallybook.domain.billing.schedule import SlotKind
from tallybook.domain.credits.ledger import reversals
from tallybook.domain.errors import Conflict
from tallybook.domain.webhooks import OutboxMessage


def invoice_from_row(row: Any) -> Invoice:
    return Invoice(
        id=row.id,
        number=row.number,
        status=InvoiceStatus(row.status),
        customer=row.customer_id,
        currency=row.currency,
        kind=SlotKind(row.kind),
        period_start=row.period_start,
        period_end=row.period_end,
        issue_at=row.issue_at,
        lines=tuple(line_from_dict(d) for d in row.lines),
        totals=Totals(
            Decimal(row.subtotal),
            Decimal(row.discount_total),
            Decimal(row.credits_applied),
            Decimal(row.total),
            Decimal(0) if row.tax_total is None else Decimal(row.tax_total),
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finalized_at=row.finalized_at,
        voided_at=row.voided_at,
        paid_at=row.paid_at,
        tax_note=row.tax_note,
        parties=row.parties,
    )


class InvoiceStore:
    def __init__(self, engine: Engine, outbox: OutboxWriter | None = None):
        self._engine = engine
        self._outbox = outbox

    def get(self, tenant_id: str, invoice_id: str) -> Invoice | None:
        return self._one(invoices.c.id == invoice_id, tenant_id)

    def get_by_number(self, tenant_id: str, number: int) -> Invoice | None:
        return self._one(invoices.c.number == number, tenant_id)

    def _one(self, condition: Any, tenant_id: str) -> Invoice | None:
        stmt = select(invoices).where(invoices.c.tenant_id == tenant_id, condition)
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else invoice_from_row(row)

    def page(
        self,
        tenant_id: str,
        *,
        customer: str | None = None,
        status: InvoiceStatus | None = None,
        limit: int = 50,
        after: tuple[int | None, str] | None = None,
        number: int | None = None,
        period_start_from: datetime | None = None,
        period_start_to: datetime | None = None,
    ) -> Sequence[Invoice]:
        """Invoices in number order, drafts (no number yet) after them by id: a stable
        order. ``after`` is the (number, id) of the last invoice of the previous page;
        ``period_start_from``/``_to`` bound ``period_start`` as ``[from, to)``."""
        number_col, id_col = invoices.c.number, invoices.c.id
        stmt = select(invoices).where(invoices.c.tenant_id == tenant_id)
        if customer is not None:
            stmt = stmt.where(invoices.c.customer_id == customer)
        if status is not None:
            stmt = stmt.where(invoices.c.status == status.value)
        if number is not None:
            stmt = stmt.where(number_col == number)
        if period_start_from is not None:
            stmt = stmt.where(invoices.c.period_start >= period_start_from)
        if period_start_to is not None:
            stmt = stmt.where(invoices.c.period_start < period_start_to)
        # Two keyset reads rather than one ORDER BY over a CASE (which no index serves: at
        # 120,000 invoices SQLite sorted them all per page): numbered invoices by the
        # (tenant_id, number) unique index, then, when the page is not full, the drafts by id.
        found: list[Invoice] = []
        with self._engine.connect() as conn:
            if after is None or after[0] is not None:
                numbered = stmt.where(number_col.is_not(None))
                if after is not None:
                    last_number, last_id = after
                    numbered = numbered.where(
                        or_(
                            number_col > last_number,
                            and_(number_col == last_number, id_col > last_id),
                        )
                    )
                # with a customer or number filter the rows are few: "+ 0" keeps the
                # planner on that filter's index rather than walking every number
                order = number_col + 0 if customer is not None or number is not None else number_col
                rows = conn.execute(numbered.order_by(order, id_col).limit(limit))
                found = [invoice_from_row(row) for row in rows]
            if len(found) < limit:
                drafts = stmt.where(number_col.is_(None))
                if after is not None and after[0] is None:
                    drafts = drafts.where(id_col > after[1])
                # drafts are few: found by the number index (NULL), then sorted; ordering
                # by the bare id would walk the primary key through every invoice
                rows = conn.execute(drafts.order_by(id_col + "").limit(limit - len(found)))
                found += [invoice_from_row(row) for row in rows]
        return found

    def numbers(self, tenant_id: str) -> list[int]:
        """Every invoice number given in the tenant, ascending (gaplessness checks)."""
        stmt = (
            select(invoices.c.number)
            .where(invoices.c.tenant_id == tenant_id, invoices.c.number.is_not(None))
            .order_by(invoices.c.number)
        )
        with self._engine.connect() as conn:
            return [int(n) for n in conn.scalars(stmt)]

    def slot_count(self, tenant_id: str, subscription_id: str) -> int:
        stmt = select(invoice_slots.c.invoice_id).where(
            invoice_slots.c.tenant_id == tenant_id,
            invoice_slots.c.subscription_id == subscription_id,
        )
        with self._engine.connect() as conn:
            return len(list(conn.scalars(stmt)))

    def save_status(
        self,
        tenant_id: str,
        invoice: Invoice,
        expected: InvoiceStatus,
        messages: Sequence[OutboxMessage] = (),
    ) -> None:
        """Store a status change, only if the stored status is still ``expected``; the
        outbox ``messages`` about it are written in the same transaction."""
        stmt = (
            update(invoices)
            .where(
                invoices.c.tenant_id == tenant_id,
                invoices.c.id == invoice.id,
                invoices.c.status == expected.value,
            )
            .values(
                status=invoice.status.value,
                updated_at=invoice.updated_at,
                voided_at=invoice.voided_at,
                paid_at=invoice.paid_at,
            )
        )
        with self._engine.begin() as conn:
            if invoice.status is InvoiceStatus.VOID:
                lock_customer(conn, tenant_id, invoice.customer)
            if conn.execute(stmt).rowcount != 1:
                raise Conflict(
                    f"invoice {invoice.id} changed status meanwhile; retry",
                    code="invalid_invoice_status",
                )
            if self._outbox is not None:
                self._outbox.add(conn, tenant_id, messages, invoice.updated_at)
            if invoice.status is InvoiceStatus.VOID and invoice.voided_at is not None:
                # a void gives back what the invoice drew from credits, in the same transaction
                given = reversals(
                    invoice.id, invoice_entries(conn, tenant_id, invoice.id), invoice.voided_at
                )
                append_entries(
                    conn, tenant_id, invoice.customer, invoice.currency, given, invoice.voided_at
                )
