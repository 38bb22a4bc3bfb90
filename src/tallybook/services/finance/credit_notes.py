"""Credit notes of final invoices (``POST /v1/invoices/{id}/credit-notes``).

``CreditNoteService.create`` opens the customer's transaction, re-reads the invoice and
its earlier notes under the customer's lock (two notes on one invoice at once cannot
both credit the same remainder), computes the lines (``domain.finance.credit_notes``),
takes the gapless number and stores the note; a ``credit_balance`` refund adds, in the
same transaction, a grant of the note's total to the customer's credits ledger
(promotional, not billed, applies to every line, never expires, ``source``
``credit_note``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from tallybook.domain.credits.ledger import AppliesTo, Category, Entry, EntryType, Grant
from tallybook.domain.errors import NotFound
from tallybook.domain.finance.credit_notes import (
    CreditNote,
    NoteRequest,
    Refund,
    check_reason,
    format_note_number,
    note_lines,
)
from tallybook.domain.ids import new_id
from tallybook.services.billing.invoices import InvoiceService
from tallybook.services.ports import Clock, CreditNoteStore

REFUND_PRIORITY = 50


class CreditNoteService:
    def __init__(self, store: CreditNoteStore, invoices: InvoiceService, clock: Clock):
        self._store = store
        self._invoices = invoices
        self._clock = clock
        # the seller's credit_note_prefix now (bootstrap: InvoiceSettings); None: CN-
        self.prefix_of: Callable[[str], str | None] | None = None

    def create(self, tenant_id: str, reference: str, request: NoteRequest) -> CreditNote:
        """A new credit note on the invoice ``reference`` (id or number). Errors: NotFound
        ``invoice_not_found``; Conflict ``invalid_invoice_status``; ValidationError
        ``invalid_reason`` and ``domain.finance.credit_notes.note_lines``'s codes."""
        reason = check_reason(request.reason)
        found = self._invoices.get(tenant_id, reference)
        prefix = self.prefix_of(tenant_id) if self.prefix_of is not None else None
        now = self._clock.now()
        with self._store.unit_of_work(tenant_id, found.customer) as uow:
            uow.lock()
            invoice = uow.invoice(found.id)
            if invoice is None:  # pragma: no cover - invoices are never deleted once final
                raise NotFound(f"no invoice {reference!r}", code="invoice_not_found")
            lines = note_lines(invoice, request, uow.notes(invoice.id))
            note = CreditNote(
                id=new_id("cn"),
                number=0,
                invoice=invoice.id,
                customer=invoice.customer,
                currency=invoice.currency,
                reason=reason,
                refund=request.refund,
                lines=lines,
                created_at=now,
            )
            number = uow.take_number()
            grant = None
            if request.refund is Refund.CREDIT_BALANCE and note.total > 0:
                grant = _refund_grant(note, format_note_number(number, prefix), now)
                uow.insert_grant(grant)
                uow.append(
                    grant.currency,
                    [Entry(grant.id, EntryType.GRANT, grant.amount, grant.effective_at)],
                    now,
                )
            note = CreditNote(
                note.id,
                number,
                note.invoice,
                note.customer,
                note.currency,
                note.reason,
                note.refund,
                note.lines,
                note.created_at,
                None if grant is None else grant.id,
                prefix,
            )
            uow.insert_note(note)
            uow.commit()
        return note

    def of_invoice(self, tenant_id: str, reference: str) -> list[CreditNote]:
        """The invoice's credit notes, by number (NotFound ``invoice_not_found``)."""
        invoice = self._invoices.get(tenant_id, reference)
        return self._store.of_invoices(tenant_id, [invoice.id])

    def of_invoices(self, tenant_id: str, invoice_ids: Sequence[str]) -> list[CreditNote]:
        return self._store.of_invoices(tenant_id, invoice_ids) if invoice_ids else []

    def get(self, tenant_id: str, note_id: str) -> CreditNote:
        found = self._store.get(tenant_id, note_id)
        if found is None:
            raise NotFound(
                f"no credit note {note_id!r}",
                code="credit_note_not_found",
                details={"credit_note": note_id[:255]},
            )
        return found


def _refund_grant(note: CreditNote, number: str, now: datetime) -> Grant:
    """The credits-ledger grant refunding ``note``'s total."""
    return Grant(
        id=f"{note.id}_refund",
        customer=note.customer,
        currency=note.currency,
        amount=note.total,
        category=Category.PROMOTIONAL,
        priority=REFUND_PRIORITY,
        effective_at=now,
        expires_at=None,
        applies_to=AppliesTo("all"),
        created_at=now,
        description=f"Credit note {number}",
        source="credit_note",
    )
