"""The e-mail of a finalized invoice (``ports.MailComposer``): to the customer's billing
addresses, from the configured sender (or the seller's e-mail), the invoice as a PDF
attachment and a link to its page when ``public_url`` is set.

A credit note's e-mail (``credit_note`` given) goes to the same people: its subject and
text name the note (number, date, amount, refund, reason) and its invoice, and the PDF
attached is the credit note's own document (``CN-000001.pdf``,
``documents.credit_note_pdf``: the credited lines, tax per rate, reason and refund, with
the invoice's parties). It adds the ``X-Tallybook-Credit-Note`` header.

Recipients: the buyer's ``billing_emails`` kept on the invoice (its parties snapshot),
else the customer's current ones, else the customer's ``email``. The PDF is written in
the buyer's ``locale`` (default en_US). Headers: ``X-Tallybook-Invoice`` (the id) and
``X-Tallybook-Tenant`` let a mailbox rule or a test find the invoice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tallybook.documents import formats
from tallybook.documents.credit_note_document import credit_note_view
from tallybook.documents.invoice_document import document_view
from tallybook.documents.invoice_json import invoice_json
from tallybook.documents.links import credit_note_urls, invoice_urls
from tallybook.domain.errors import TallybookError
from tallybook.domain.finance.delivery import Attachment, Mail, PermanentFailure

if TYPE_CHECKING:
    from tallybook.services.billing.invoices import InvoiceService
    from tallybook.services.customers import CustomerService
    from tallybook.services.finance.credit_notes import CreditNoteService
    from tallybook.services.finance.parties import InvoiceSettings
    from tallybook.services.tenants import TenantService


class InvoiceMail:
    def __init__(
        self,
        invoices: InvoiceService,
        customers: CustomerService,
        tenants: TenantService,
        settings: InvoiceSettings,
        credit_notes: CreditNoteService,
        *,
        sender: str | None,
        public_url: str | None,
    ):
        self._invoices = invoices
        self._customers = customers
        self._tenants = tenants
        self._settings = settings
        self._credit_notes = credit_notes
        self._sender = sender
        self._public_url = public_url.rstrip("/") if public_url else None

    def compose(self, tenant_id: str, invoice_id: str, credit_note: str | None = None) -> Mail:
        invoice = self._invoices.get(tenant_id, invoice_id)
        notes = self._credit_notes.of_invoices(tenant_id, [invoice.id])
        note = None
        if credit_note is not None:
            note = next((n for n in notes if n.id == credit_note), None)
            if note is None:
                raise PermanentFailure(f"invoice {invoice.id!r} has no credit note {credit_note!r}")
        document = invoice_json(invoice, notes)
        buyer = _buyer(document)
        customer = self._customers.get(tenant_id, invoice.customer)
        recipients = tuple(
            buyer.get("billing_emails") or customer.billing.billing_emails or ()
        ) or ((customer.email,) if customer.email else ())
        if not recipients:
            raise PermanentFailure(f"customer {customer.id!r} has no billing e-mail address")
        seller = self._settings.seller(tenant_id)
        sender = self._sender or seller.email
        if not sender:
            raise PermanentFailure("no sender: set TALLYBOOK_SMTP_FROM or the seller's email")
        try:
            locale = formats.check_locale(buyer.get("locale") or customer.billing.locale)
        except TallybookError:
            locale = formats.DEFAULT_LOCALE
        view = document_view(
            self._customers,
            self._tenants,
            tenant_id,
            document,
            locale,
            settings=self._settings,
        )
        number = view.number or invoice.id
        headers = [("X-Tallybook-Invoice", invoice.id), ("X-Tallybook-Tenant", tenant_id)]
        subject = f"Invoice {number} from {view.issuer.name}"
        lines = [
            f"Dear {view.bill_to.name},",
            "",
            f"please find attached invoice {number} from {view.issuer.name}"
            f" for {view.period}: {view.total} ({view.currency}).",
        ]
        # the PDF renderers (fpdf and its fonts, ~50 MB resident) load on the first mail,
        # not with the container: a billing run's process never needs them
        from tallybook.documents.credit_note_pdf import render_credit_note_pdf
        from tallybook.documents.invoice_pdf import render_invoice_pdf

        if note is None:
            attachment = Attachment(_file_name(number), render_invoice_pdf(view, locale=locale))
        else:
            shown = note.display_number
            described = next((row for row in view.notes if row.startswith(shown)), shown)
            subject = f"Credit note {shown} for invoice {number} from {view.issuer.name}"
            headers.append(("X-Tallybook-Credit-Note", note.id))
            lines = [
                f"Dear {view.bill_to.name},",
                "",
                f"{view.issuer.name} issued a credit note on invoice {number}:",
                described,
                "",
                f"The credit note {shown} is attached.",
            ]
            note_view = credit_note_view(
                self._customers, self._tenants, tenant_id, note, invoice, notes, locale,
                settings=self._settings,
            )  # fmt: skip
            attachment = Attachment(
                _file_name(shown), render_credit_note_pdf(note_view, locale=locale)
            )
        if view.tax_note and note is None:
            lines += ["", view.tax_note]
        if self._public_url:
            page = invoice_urls(invoice.id)[0] if note is None else credit_note_urls(note.id)[0]
            lines += ["", f"View it online: {self._public_url}{page}"]
        if view.footer:
            lines += ["", view.footer]
        return Mail(
            sender=sender,
            recipients=recipients,
            subject=subject,
            text="\n".join(lines) + "\n",
            attachments=(attachment,),
            headers=tuple(headers),
        )


def _file_name(stem: str) -> str:
    """``stem``.pdf with the characters a number prefix may hold that file names should
    not (``/``) replaced."""
    return stem.replace("/", "-") + ".pdf"


def _buyer(document: Mapping[str, Any]) -> Mapping[str, Any]:
    parties = document.get("parties")
    buyer = parties.get("buyer") if isinstance(parties, Mapping) else None
    return buyer if isinstance(buyer, Mapping) else {}
