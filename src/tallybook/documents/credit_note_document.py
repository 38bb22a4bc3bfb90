"""A credit note as a document of its own (issue 16): the view the HTML page and the PDF
(``/v1/credit-notes/{id}.html`` and ``.pdf``, and the credit-note e-mail's attachment)
both render.

It shows the note's number (``CN-000001`` or the seller's prefix), the invoice it
corrects (number and date), each credited line (the invoice line's description and
service period, the amount credited, the tax given back at each rate), the tax per rate
(``domain.finance.credit_notes.note_taxes``), subtotal, tax and total, the reason and
the refund method. The parties are the invoice's: its parties snapshot (seller with the
logo it was finalized with, buyer), exactly as ``invoice_document.document_view`` shows
them on the invoice itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tallybook.documents import formats
from tallybook.documents.invoice_document import document_view
from tallybook.documents.invoice_json import invoice_json
from tallybook.documents.invoice_view import Party, TaxView
from tallybook.domain.billing.invoice import Invoice
from tallybook.domain.finance.credit_notes import CreditNote, NoteTax, note_taxes
from tallybook.domain.finance.logos import Logo

if TYPE_CHECKING:
    from tallybook.services.billing.invoices import InvoiceService
    from tallybook.services.customers import CustomerService
    from tallybook.services.finance.credit_notes import CreditNoteService
    from tallybook.services.finance.parties import InvoiceSettings
    from tallybook.services.tenants import TenantService

Money = Callable[[object], str]
REFUNDS = {
    "credit_balance": "Credited to the customer's credit balance",
    "external": "Refunded outside Tallybook",
}


@dataclass(frozen=True, slots=True)
class NoteLineView:
    """One credited line: the invoice line's description and period, the amount
    credited (before exclusive tax) and the tax given back at each rate."""

    description: str
    period: str
    amount: str
    tax: str = ""


@dataclass(frozen=True, slots=True)
class CreditNoteView:
    """Everything the credit-note page and PDF print, formatted for ``locale``."""

    title: str
    number: str
    invoice_number: str
    issuer: Party
    bill_to: Party
    currency: str
    lines: tuple[NoteLineView, ...]
    subtotal: str
    taxes: tuple[TaxView, ...]
    tax_total: str
    total: str
    reason: str
    refund: str
    facts: tuple[tuple[str, str], ...]
    footer: str = ""
    logo: Logo | None = None
    logo_url: str = ""
    customer_id: str = ""  # the bill-to customer's id


def credit_note_view(
    customers: CustomerService,
    tenants: TenantService,
    tenant: str,
    note: CreditNote,
    invoice: Invoice,
    notes: Sequence[CreditNote],
    locale: str,
    *,
    settings: InvoiceSettings | None = None,
) -> CreditNoteView:
    """The view of ``note`` on ``invoice`` (``notes``: the invoice's credit notes, to
    recompute the tax per rate), with the invoice's parties."""
    invoice_doc = invoice_json(invoice, notes)
    on_invoice = document_view(customers, tenants, tenant, invoice_doc, locale, settings=settings)
    customer = customers.get_many(tenant, {invoice.customer}).get(invoice.customer)
    tz = customer.timezone if customer is not None else None
    currency = note.currency

    def money(value: object) -> str:
        return formats.money(value, currency, locale)

    totals, by_line = note_taxes(invoice, note, notes)
    lines = []
    for item in note.lines:
        source = invoice.lines[item.line] if item.line < len(invoice.lines) else None
        period = ""
        if source is not None:
            period = formats.period_label(source.period_start, source.period_end, tz, locale)
        lines.append(
            NoteLineView(
                description=item.description or item.charge,
                period=period,
                amount=money(item.amount),
                tax=" \u00b7 ".join(
                    _line_tax(t, money, locale) for t in by_line.get(item.line, ())
                ),
            )
        )
    invoice_number = invoice.display_number or invoice.id
    facts = [("Issued", formats.moment(note.created_at, tz, locale))]
    facts.append(("Corrects invoice", invoice_number))
    facts.append(("Invoice issued", formats.moment(invoice.issue_at, tz, locale)))
    facts.append(("Currency", currency))
    return CreditNoteView(
        title=f"Credit note {note.display_number}",
        number=note.display_number,
        invoice_number=invoice_number,
        issuer=on_invoice.issuer,
        bill_to=on_invoice.bill_to,
        currency=currency,
        lines=tuple(lines),
        subtotal=money(note.subtotal),
        taxes=tuple(_tax_row(t, money, locale) for t in totals),
        tax_total=money(note.tax_total),
        total=money(note.total),
        reason=note.reason,
        refund=REFUNDS.get(note.refund.value, note.refund.value),
        facts=tuple(facts),
        footer=on_invoice.footer,
        logo=on_invoice.logo,
        logo_url=on_invoice.logo_url,
        customer_id=invoice.customer,
    )


def _rate(tax: NoteTax, locale: str) -> str:
    return f"{tax.name} {formats.percent(tax.percentage, locale)}"


def _line_tax(tax: NoteTax, money: Money, locale: str) -> str:
    kind = "incl." if tax.inclusive else "+"
    return f"{kind} {_rate(tax, locale)}: {money(tax.amount)}"


def _tax_row(tax: NoteTax, money: Money, locale: str) -> TaxView:
    prefix = "incl. " if tax.inclusive else ""
    label = f"{prefix}{_rate(tax, locale)} on {money(tax.credited)}"
    return TaxView(label, money(tax.amount), tax.inclusive)


def load_credit_note_view(
    invoices: InvoiceService,
    credit_notes: CreditNoteService,
    customers: CustomerService,
    tenants: TenantService,
    settings: InvoiceSettings | None,
    tenant: str,
    note_id: str,
    locale: str,
) -> CreditNoteView:
    """The view of the credit note ``note_id`` of ``tenant`` (NotFound
    ``credit_note_not_found``), read with its invoice and the invoice's notes."""
    note = credit_notes.get(tenant, note_id)
    invoice = invoices.get(tenant, note.invoice)
    notes = credit_notes.of_invoices(tenant, [invoice.id])
    return credit_note_view(
        customers, tenants, tenant, note, invoice, notes, locale, settings=settings
    )
